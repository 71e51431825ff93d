// Idempotency-Key: the time window, the sender a key belongs to, and the bounded retry search.

#include <bcast/broker/idempotency.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/message/encode.hpp>

#include "broker_helpers.hpp"

#include <optional>
#include <string>
#include <support/assert_ok.hpp>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

using publish_result = core::result<broker::publish_outcome>;

publish_result publish_keyed(core::loop& l, broker::publisher& pub, const message::envelope& e,
                             broker::publish_options o = {}) {
  return test::await_answer<publish_result>(l, [&](auto done) { pub.publish(e, done, o); });
}

publish_result publish_keyed(core::loop& l, broker::publisher& pub, broker::message_log& log,
                             const message::envelope& e) {
  return test::await_answer<publish_result>(
      l, [&](auto done) { broker::publish_with_key(pub, log, e, {}, done); });
}

std::string id_made_at(std::chrono::system_clock::time_point t) {
  return message::make_ulid(message::unix_ms(t), {0x42});
}

// How often Redis ran `command`, also from scripts, since the last CONFIG RESETSTAT.
std::string calls_of(const test::redis_server& server, const std::string& command) {
  const auto stats = server.cli("INFO commandstats");
  const auto at = stats.find("cmdstat_" + command + ":calls=");
  if (at == std::string::npos) return "0";
  const auto from = stats.find('=', at) + 1;
  return stats.substr(from, stats.find(',', from) - from);
}

}  // namespace

TEST_CASE("idempotency key: a message id made within the window of now", "[idempotency]") {
  const auto now = std::chrono::system_clock::now();
  CHECK(broker::check_idempotency_key(id_made_at(now), now, 5min).ok());
  CHECK(broker::check_idempotency_key(id_made_at(now - 4min), now, 5min).ok());
  CHECK(broker::check_idempotency_key(id_made_at(now + 4min), now, 5min).ok());

  const auto refused = [&](const std::string& key) {
    auto r = broker::check_idempotency_key(key, now, 5min);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::invalid_argument);
    CHECK(test::contains(r.err().detail(), "Idempotency-Key"));
    return r.err().detail();
  };
  CHECK(test::contains(refused("not-a-message-id"), "ULID"));
  CHECK(test::contains(refused(message::make_ulid(0, {})), "within 5 minutes of now"));
  CHECK(test::contains(refused(message::make_ulid(0, {})), "1970-01-01T00:00:00.000Z"));
  refused(id_made_at(now - 6min));
  refused(id_made_at(now + 6min));
  CHECK(test::contains(refused("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), "far in the future"));
}

TEST_CASE("idempotency key: bound to the sender who made the message", "[idempotency]") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  broker::message_log log(c);

  auto first = test::make_test_envelope({"all", "region:jateng"}, "Harga baru");
  first.sender = "admin";
  auto sent = publish_keyed(l, pub, log, first);
  REQUIRE_OK(sent);
  CHECK_FALSE(sent->targets[0].duplicate);
  const auto record = server.cli("ZRANGE bcast:message-log 0 -1");
  const auto history = server.cli("XRANGE '" + broker::history_key("all") + "' - +");

  SECTION("another sender's message under the same id is refused and changes nothing") {
    auto other = test::make_test_envelope({"all", "region:jabar"}, "Palsu");
    other.id = first.id;
    other.sender = "jabar";
    auto r = publish_keyed(l, pub, log, other);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::conflict);
    CHECK(test::contains(r.err().message(), "another user"));
    CHECK(server.cli("ZRANGE bcast:message-log 0 -1") == record);
    CHECK(server.cli("XRANGE '" + broker::history_key("all") + "' - +") == history);
    CHECK(server.cli("EXISTS '" + broker::history_key("region:jabar") + "'") == "0\n");
  }
  SECTION("the same sender's retry answers with the recorded message and publishes nothing") {
    auto retry = first;
    retry.title = "Harga baru (again)";
    retry.sent_at = message::format_time(std::chrono::system_clock::now() + 1s);
    auto r = publish_keyed(l, pub, log, retry);
    REQUIRE_OK(r);
    CHECK(r->envelope_json == message::encode(first));
    REQUIRE(r->targets.size() == 2);
    for (const auto& t : r->targets) {
      CHECK(t.duplicate);
      CHECK(t.seq == 1);
      CHECK(t.stream_id == "0-1");
    }
    CHECK(server.cli("ZRANGE bcast:message-log 0 -1") == record);
    CHECK(server.cli("XRANGE '" + broker::history_key("all") + "' - +") == history);
  }
  SECTION("a record another sender filed while a retry was on its way stays as it was") {
    // The log had no record when the retry looked (an attempt that failed part way), and one
    // appeared before the retry filed its own: filing is one step that keeps the first.
    auto other = first;
    other.sender = "jabar";
    other.title = "Palsu";
    broker::publish_options retry;
    retry.retry = true;
    auto r = publish_keyed(l, pub, other, retry);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::conflict);
    CHECK(server.cli("ZRANGE bcast:message-log 0 -1") == record);
    CHECK(server.cli("XRANGE '" + broker::history_key("all") + "' - +") == history);
  }
}

TEST_CASE("idempotency key: an id that was never recorded is published, once", "[idempotency]") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  broker::message_log log(c);
  auto e = test::make_test_envelope({"store:s1"});
  auto first = publish_keyed(l, pub, log, e);
  REQUIRE_OK(first);
  auto again = publish_keyed(l, pub, log, e);
  REQUIRE_OK(again);
  CHECK(again->envelope_json == first->envelope_json);
  CHECK(server.cli("XLEN '" + broker::history_key("store:s1") + "'") == "1\n");
  CHECK(server.cli("ZCARD bcast:message-log") == "1\n");
}

TEST_CASE("retry search: reads at most retry_search_max entries per target, whatever the id's time",
          "[idempotency]") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher_settings s;
  s.retry_search_max = 250;
  broker::publisher pub(c, s);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(publish_keyed(l, pub, test::make_test_envelope({"all"})).ok());

  broker::publish_options retry;
  retry.retry = true;
  // Made at time 0: its floor is the oldest possible id, so only the cap ends the search.
  auto ancient = test::make_test_envelope({"all"});
  ancient.id = message::make_ulid(0, {7});
  server.cli("CONFIG RESETSTAT");
  auto r = publish_keyed(l, pub, ancient, retry);
  REQUIRE_OK(r);
  CHECK_FALSE(r->targets[0].duplicate);         // not found within the cap: appended
  CHECK(calls_of(server, "xrevrange") == "3");  // 100 + 100 + 50 entries, not all 1000

  // Within the cap a retry finds its entry.
  server.cli("CONFIG RESETSTAT");
  auto found = publish_keyed(l, pub, ancient, retry);
  REQUIRE_OK(found);
  CHECK(found->targets[0].duplicate);
  CHECK(found->targets[0].seq == 1001);
  CHECK(calls_of(server, "xrevrange") == "1");
}
