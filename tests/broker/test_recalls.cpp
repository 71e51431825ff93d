// Recalls and corrections in a real Redis (broker/recalls.hpp): the record is written once, the
// notice reaches every target's history but not the message log, and what may not be recalled
// is refused with the field to blame.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/recalls.hpp>
#include <bcast/broker/schedule.hpp>
#include <bcast/message/decode.hpp>

#include "broker_helpers.hpp"

#include <optional>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;
using broker::lifecycle_error;

namespace {

struct recall_fixture {
  test::redis_server server;
  core::loop l;
  redis::client c{l, test::broker_opts(server.url())};
  broker::publisher pub{c};
  broker::message_log log{c};
  broker::schedule sched{c};
  message::ulid_generator ids;
  broker::recaller recaller{c, pub, log, sched, ids};

  message::envelope sent(std::vector<std::string> targets, std::string title = "Harga baru") {
    auto e = test::make_test_envelope(std::move(targets), std::move(title));
    auto r = test::await_answer<core::result<broker::publish_outcome>>(
        l, [&](auto cb) { pub.publish(e, std::move(cb)); });
    REQUIRE_OK(r);
    return e;
  }

  broker::lifecycle_result<broker::recall_outcome> recall(
      const std::string& id, broker::recaller::visibility visible = {}) {
    return test::await_answer<broker::lifecycle_result<broker::recall_outcome>>(
        l, [&](auto cb) { recaller.recall(id, "manager", std::move(visible), std::move(cb)); });
  }

  broker::lifecycle_result<broker::publish_outcome> correct(
      const message::envelope& old, std::vector<std::string> targets,
      broker::recaller::visibility visible = {}) {
    auto y = test::make_test_envelope(std::move(targets), "Harga yang benar");
    y.supersedes = old.id;
    y.sender = "editor";
    return test::await_answer<broker::lifecycle_result<broker::publish_outcome>>(
        l, [&](auto cb) { recaller.correct(y, std::move(visible), {}, false, std::move(cb)); });
  }

  // The envelopes in `target`'s history, oldest first.
  std::vector<message::envelope> history(const std::string& target) {
    auto r = test::run_command(l, c, {"XRANGE", broker::history_key(target), "-", "+"});
    REQUIRE_OK(r);
    std::vector<message::envelope> out;
    for (const auto& entry : r->elements) {
      const auto& fields = entry.elements[1].elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str != "env") continue;
        auto e = message::decode(fields[i + 1].str);
        REQUIRE_OK(e);
        out.push_back(std::move(e).value());
      }
    }
    return out;
  }

  std::optional<broker::message_record> logged(const std::string& id) {
    auto r = test::await_answer<core::result<std::optional<broker::message_record>>>(
        l, [&](auto cb) { log.get(id, std::move(cb)); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }
};

}  // namespace

TEST_CASE("recall records: the first one filed stands, with the message log's lifetime") {
  recall_fixture f;
  const auto x = test::test_ids().next().value();
  const broker::recall_record first{"01JD0000000000000000000001", "2026-11-26T10:00:00.000Z",
                                    "admin", std::nullopt};
  const broker::recall_record second{"01JD0000000000000000000002", "2026-11-26T10:00:01.000Z",
                                     "other", std::string("01JD0000000000000000000003")};
  auto saved = test::await_answer<core::result<broker::recall_record>>(
      f.l, [&](auto cb) { f.recaller.records().save(x, first, 1h, std::move(cb)); });
  REQUIRE_OK(saved);
  CHECK(*saved == first);
  saved = test::await_answer<core::result<broker::recall_record>>(
      f.l, [&](auto cb) { f.recaller.records().save(x, second, 1h, std::move(cb)); });
  REQUIRE_OK(saved);
  CHECK(*saved == first);

  const auto ttl = test::run_command(f.l, f.c, {"PTTL", broker::recall_key(x)});
  REQUIRE_OK(ttl);
  CHECK(ttl->integer > 3500 * 1000);
  CHECK(ttl->integer <= 3600 * 1000);

  // A page's records, one GET each, and none for what was not recalled.
  const auto y = test::test_ids().next().value();
  REQUIRE_OK(test::run_command(f.l, f.c, {"SET", broker::recall_key(y), "not json"}));
  const std::vector<std::string> page{x, y, test::test_ids().next().value()};
  auto many =
      test::await_answer<core::result<std::map<std::string, broker::recall_record, std::less<>>>>(
          f.l, [&](auto cb) { f.recaller.records().get_many(page, std::move(cb)); });
  REQUIRE_OK(many);
  REQUIRE(many->size() == 1);
  CHECK(many->at(x) == first);
  CHECK(broker::to_json(first)["superseded_by"].is_null());
  CHECK(broker::to_json(second)["superseded_by"] == "01JD0000000000000000000003");
}

TEST_CASE(
    "recall: a notice to every target of the message, not logged, and a record; a second "
    "recall answers the first") {
  recall_fixture f;
  const auto x = f.sent({"region:jateng", "store:s9"});
  const auto recalled = f.recall(x.id);
  REQUIRE(recalled.ok());
  CHECK(recalled->published);
  const auto* r = &recalled->record;
  CHECK(r->by == "manager");
  CHECK_FALSE(r->superseded_by);
  CHECK(message::is_valid_ulid(r->id));

  for (const auto* target : {"region:jateng", "store:s9"}) {
    const auto h = f.history(target);
    REQUIRE(h.size() == 2);
    CHECK(h[0].id == x.id);
    const auto& notice = h[1];
    CHECK(notice.id == r->id);
    CHECK(notice.recalls == x.id);
    CHECK(notice.targets == x.targets);
    CHECK(notice.title == x.title);
    CHECK(notice.category == x.category);
    CHECK(notice.body.empty());
    CHECK(notice.sender == "manager");
    CHECK(notice.sent_at == r->at);
  }
  CHECK_FALSE(f.logged(r->id));  // a notice is no message of its own
  CHECK(f.logged(x.id));

  const auto again = f.recall(x.id);
  REQUIRE(again.ok());
  CHECK_FALSE(again->published);
  CHECK(again->record == *r);
  CHECK(f.history("region:jateng").size() == 2);  // nothing published the second time
}

TEST_CASE("recall: refusals name the field") {
  recall_fixture f;
  const auto x = f.sent({"region:jabar"});

  auto r = f.recall("nonsense");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().what == lifecycle_error::kind::invalid);
  CHECK(r.err().field == "id");

  r = f.recall(test::test_ids().next().value());
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().what == lifecycle_error::kind::not_found);
  CHECK(r.err().field == "id");

  // Outside the user's view: as if it did not exist, and nothing is published.
  const auto jateng_only = [](const message::envelope& e) {
    return e.targets == std::vector<std::string>{"region:jateng"};
  };
  r = f.recall(x.id, jateng_only);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().what == lifecycle_error::kind::not_found);
  CHECK(f.history("region:jabar").size() == 1);

  // Scheduled and not sent: cancelled, not recalled.
  message::envelope draft;
  draft.targets = {"all"};
  draft.category = "announcement";
  draft.title = "Nanti";
  draft.body = "Isi.";
  const auto now = std::chrono::system_clock::now();
  auto later = broker::make_scheduled(draft, "admin", now + 1h, now);
  REQUIRE_OK(later);
  REQUIRE_OK(test::await_answer<core::result<void>>(
      f.l, [&](auto cb) { f.sched.add(*later, std::move(cb)); }));
  r = f.recall(later->envelope.id);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().what == lifecycle_error::kind::conflict);
  CHECK(r.err().field == "id");
  r = f.recall(later->envelope.id, jateng_only);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().what == lifecycle_error::kind::not_found);
}

TEST_CASE("correction: recalls the original for it, then goes out; wider targets are refused") {
  recall_fixture f;
  const auto x = f.sent({"region:jateng", "store:s1"});

  auto wider = f.correct(x, {"region:jateng", "region:jabar"});
  REQUIRE_FALSE(wider.ok());
  CHECK(wider.err().what == lifecycle_error::kind::invalid);
  CHECK(wider.err().field == "targets");
  CHECK(f.history("region:jateng").size() == 1);  // nothing recalled for a refused correction

  const auto y = f.correct(x, {"region:jateng"});
  REQUIRE(y.ok());
  const auto h = f.history("region:jateng");
  REQUIRE(h.size() == 3);
  CHECK(h[1].recalls == x.id);
  CHECK(h[2].id == y->message_id);
  CHECK(h[2].supersedes == x.id);
  CHECK(f.history("store:s1").size() == 2);  // the notice, not the correction
  const auto logged = f.logged(y->message_id);
  REQUIRE(logged);
  CHECK(logged->envelope.supersedes == x.id);

  auto record = test::await_answer<core::result<std::optional<broker::recall_record>>>(
      f.l, [&](auto cb) { f.recaller.records().get(x.id, std::move(cb)); });
  REQUIRE_OK(record);
  REQUIRE(record->has_value());
  CHECK((*record)->superseded_by == y->message_id);
  CHECK((*record)->by == "editor");

  // A second correction of the same message: the first recall stands, the new one still goes out.
  const auto z = f.correct(x, {"store:s1"});
  REQUIRE(z.ok());
  CHECK(f.history("store:s1").size() == 3);
  record = test::await_answer<core::result<std::optional<broker::recall_record>>>(
      f.l, [&](auto cb) { f.recaller.records().get(x.id, std::move(cb)); });
  CHECK((*record)->superseded_by == y->message_id);

  auto unknown = message::envelope(x);
  unknown.id = test::test_ids().next().value();
  const auto missing = f.correct(unknown, {"store:s1"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().what == lifecycle_error::kind::not_found);
  CHECK(missing.err().field == "supersedes");
}
