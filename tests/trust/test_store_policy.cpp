// What a store shows: signed by a trusted key, and addressed to it.

#include <bcast/trust/store_policy.hpp>

#include <catch2/catch.hpp>
#include <support/assert_ok.hpp>
#include <support/test_support.hpp>

using namespace bcast;

namespace {

message::envelope to(std::vector<std::string> targets) {
  message::envelope e;
  e.id = "01JD0000000000000000000000";
  e.targets = std::move(targets);
  e.category = "announcement";
  e.title = "t";
  e.body = "b";
  e.sent_at = "2026-11-26T10:00:00.123Z";
  e.sender = "admin";
  return e;
}

}  // namespace

TEST_CASE("a store shows only signed messages addressed to it", "[trust][policy]") {
  auto key = trust::signing_key::generate();
  auto stranger = trust::signing_key::generate();
  REQUIRE_OK(key);
  REQUIRE_OK(stranger);
  const std::vector<std::string> mine{"all", "store:1", "region:jateng"};
  const trust::store_policy policy(trust::keyring({key->public_half()}), false, mine);

  auto ok = to({"store:9", "region:jateng"});
  REQUIRE_OK(trust::sign(*key, ok));
  CHECK_FALSE(policy.check(ok));

  auto elsewhere = to({"store:9"});
  REQUIRE_OK(trust::sign(*key, elsewhere));
  auto why = policy.check(elsewhere);
  REQUIRE(why);
  CHECK(test::contains(*why, "not addressed to this store"));
  CHECK(test::contains(*why, "store:9"));

  // A genuine message's targets cannot be widened: the signature covers them.
  elsewhere.targets.push_back("all");
  why = policy.check(elsewhere);
  REQUIRE(why);
  CHECK(test::contains(*why, "does not match"));

  auto unsigned_msg = to({"all"});
  why = policy.check(unsigned_msg);
  REQUIRE(why);
  CHECK(test::contains(*why, "not signed"));

  auto foreign = to({"all"});
  REQUIRE_OK(trust::sign(*stranger, foreign));
  why = policy.check(foreign);
  REQUIRE(why);
  CHECK(test::contains(*why, "does not trust"));
  CHECK(test::contains(*why, stranger->id()));

  SECTION("allow_unsigned takes unsigned messages, and still checks a signature it can") {
    const trust::store_policy lax(trust::keyring({key->public_half()}), true, mine);
    CHECK_FALSE(lax.check(unsigned_msg));
    CHECK(lax.check(foreign));
    CHECK_FALSE(lax.check(ok));
    const trust::store_policy no_keys(trust::keyring(), true, mine);
    CHECK_FALSE(no_keys.check(unsigned_msg));
    CHECK_FALSE(no_keys.check(foreign));
    CHECK(no_keys.check(to({"store:2"})));  // the target check holds regardless
  }
}
