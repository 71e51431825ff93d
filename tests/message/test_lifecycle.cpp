#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/lifecycle.hpp>

#include <catch2/catch.hpp>
#include <message/fixed_now.hpp>
#include <support/assert_ok.hpp>

#include <string>

using namespace bcast::message;

namespace {

using bcast::test::now;

envelope sent(std::vector<std::string> targets) {
  envelope e;
  e.id = "01JD0000000000000000000000";
  e.targets = std::move(targets);
  e.category = "price_info";
  e.title = "Harga minyak Rp 34.900";
  e.body = "Mulai besok";
  e.priority = priority::urgent;
  e.sent_at = "2026-11-26T08:00:00.000Z";
  e.expires_at = "2026-11-30T00:00:00.000Z";
  e.sender = "admin";
  e.require_ack = true;
  e.sig = "0123456789abcdef.x";
  return e;
}

}  // namespace

TEST_CASE("a recall notice goes where the message went and names it", "[lifecycle]") {
  const auto original = sent({"region:jateng", "store:s1"});
  ulid_generator ids;
  auto notice = make_recall_notice(original, ids, "manager", now);
  REQUIRE_OK(notice);
  CHECK(is_recall_notice(*notice));
  CHECK_FALSE(is_recall_notice(original));
  CHECK(notice->recalls == original.id);
  CHECK(taken_down_by(*notice) == original.id);
  CHECK(notice->targets == original.targets);
  CHECK(notice->title == original.title);
  CHECK(notice->category == original.category);
  CHECK(notice->body.empty());
  CHECK(notice->priority == priority::normal);
  CHECK_FALSE(notice->require_ack);
  CHECK_FALSE(notice->expires_at);
  CHECK(notice->sig.empty());  // publisherd signs it
  CHECK(notice->sender == "manager");
  CHECK(notice->sent_at == "2026-11-26T09:00:00.000Z");
  CHECK(notice->id != original.id);
  CHECK(ulid_time_ms(notice->id) == unix_ms(now));
  // It goes through Redis like a message.
  auto back = decode(encode(*notice));
  REQUIRE_OK(back);
  CHECK(*back == *notice);
}

TEST_CASE("a correction takes down what it supersedes, to the same targets or fewer",
          "[lifecycle]") {
  const auto original = sent({"region:jateng", "store:s1"});
  auto correction = original;
  correction.id = "01JD0000000000000000000009";
  correction.supersedes = original.id;
  CHECK(taken_down_by(correction) == original.id);
  CHECK_FALSE(taken_down_by(original));
  CHECK_FALSE(check_correction(correction, original));
  correction.targets = {"store:s1"};
  CHECK_FALSE(check_correction(correction, original));
  correction.targets = {"store:s1", "all"};
  auto wider = check_correction(correction, original);
  REQUIRE(wider);
  CHECK(wider->field == "targets");
  CHECK_THAT(wider->message, Catch::Contains("all is not one of them"));
  // A store in region:jateng is not named by store:s2, even though it may be one of them.
  correction.targets = {"store:s2"};
  CHECK(check_correction(correction, original));

  ulid_generator ids;
  auto notice = make_recall_notice(original, ids, "admin", now);
  REQUIRE_OK(notice);
  correction.targets = original.targets;
  auto of_notice = check_correction(correction, *notice);
  REQUIRE(of_notice);
  CHECK(of_notice->field == "supersedes");
}
