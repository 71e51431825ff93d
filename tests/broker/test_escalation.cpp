// Escalations in a real Redis (broker/escalation.hpp): items filed once, claims atomic and
// leased, a claimer that never finishes leaves the item for the next until max_attempts, how it
// ended is kept for the API, and the command runs in a process group of its own.

#include <bcast/broker/escalation.hpp>
#include <bcast/broker/keys.hpp>

#include "broker_helpers.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;
using broker::escalations;

namespace {

struct escalation_fixture {
  test::redis_server server;
  core::loop l;
  redis::client c{l, test::broker_opts(server.url())};
  escalations e{c, 1h};
  message::time_point now = std::chrono::time_point_cast<message::time_point::duration>(
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));

  broker::escalation_item add(message::time_point due_at,
                              std::string id = test::test_ids().next().value()) {
    broker::escalation_item item{std::move(id), due_at, 0};
    REQUIRE_OK(
        test::await_answer<core::result<void>>(l, [&](auto cb) { e.add(item, std::move(cb)); }));
    return item;
  }

  escalations::claim claim(message::time_point at, std::chrono::milliseconds lease = 30s,
                           escalations* by = nullptr) {
    auto r = test::await_answer<core::result<escalations::claim>>(
        l, [&](auto cb) { (by ? *by : e).claim_due(at, lease, 100, std::move(cb)); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }

  std::optional<broker::escalation_state> state(const std::string& id) {
    auto r = test::await_answer<core::result<std::optional<broker::escalation_state>>>(
        l, [&](auto cb) { e.state(id, std::move(cb)); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }

  std::optional<std::string> run(const std::string& command, std::vector<std::string> env = {},
                                 std::chrono::seconds timeout = 10s) {
    return test::await_answer<std::optional<std::string>>(l, [&](auto cb) {
      broker::run_escalation_command(l, command, std::move(env), timeout, std::move(cb));
    });
  }
};

}  // namespace

TEST_CASE("escalation: due escalate_after_s after sent_at, only for a message that asks") {
  auto e = test::make_test_envelope({"all"});
  CHECK_FALSE(broker::escalation_of(e));
  e.escalate_after_s = 90;
  const auto item = broker::escalation_of(e);
  REQUIRE(item);
  CHECK(item->message_id == e.id);
  CHECK(item->due_at == *message::parse_time(e.sent_at) + 90s);

  broker::receipt_summary s;
  s.expected = 3;
  s.acknowledged = 1;
  s.stores = {{"a", "pending", ""}, {"b", "acknowledged", "x"}, {"c", "displayed", "y"}};
  CHECK(broker::unacknowledged_stores(s) == std::vector<std::string>{"a", "c"});
  const auto env = broker::escalation_env(e, s);
  CHECK(env == std::vector<std::string>{"BCAST_ID=" + e.id, "BCAST_TITLE=Halo",
                                        "BCAST_UNACKNOWLEDGED=a c", "BCAST_EXPECTED=3",
                                        "BCAST_ACKNOWLEDGED=1"});
}

TEST_CASE("escalation: filed once, claimed when due and leased, done kept for the API") {
  escalation_fixture f;
  const auto item = f.add(f.now + 10s);
  f.add(f.now + 10s, item.message_id);  // a repeated add changes nothing
  CHECK(
      test::run_command(f.l, f.c, {"HGET", broker::escalation_items_key(), item.message_id})->str ==
      R"({"attempts":0,"due_at":")" + message::format_time(item.due_at) + "\"}");
  auto pending = f.state(item.message_id);
  REQUIRE(pending);
  CHECK_FALSE(pending->done);
  CHECK(broker::to_json(*pending) == nlohmann::json{{"due_at", message::format_time(item.due_at)},
                                                    {"state", "pending"},
                                                    {"result", nullptr},
                                                    {"at", nullptr}});

  CHECK(f.claim(f.now).items.empty());  // not due yet
  auto first = f.claim(f.now + 10s, 30s);
  REQUIRE(first.items.size() == 1);
  REQUIRE_OK(first.items[0].second);
  CHECK(first.items[0].second->attempts == 1);
  CHECK(first.items[0].second->due_at == item.due_at);
  CHECK(f.claim(f.now + 20s).items.empty());  // leased
  auto again = f.claim(f.now + 41s);          // the lease ran out: the claimer died
  REQUIRE(again.items.size() == 1);
  CHECK(again.items[0].second->attempts == 2);

  const broker::escalation_state done{item.due_at, true, "failed", f.now + 42s};
  REQUIRE_OK(test::await_answer<core::result<void>>(
      f.l, [&](auto cb) { f.e.finish(item.message_id, done, std::move(cb)); }));
  CHECK(f.claim(f.now + 1h).items.empty());
  auto ended = f.state(item.message_id);
  REQUIRE(ended);
  CHECK(ended->done);
  CHECK(ended->result == "failed");
  CHECK(ended->at == done.at);
  CHECK(broker::to_json(*ended)["state"] == "done");
  // Done stays done: a client's retry does not file it again.
  f.add(f.now, item.message_id);
  CHECK(f.claim(f.now + 1h).items.empty());
  const auto ttl =
      test::run_command(f.l, f.c, {"PTTL", broker::escalation_done_key(item.message_id)});
  CHECK(ttl->integer > 3'500'000);
  CHECK(ttl->integer <= 3'600'000);
  CHECK_FALSE(f.state(test::test_ids().next().value()));
}

TEST_CASE("escalation: two claimers at once claim each due item exactly once") {
  escalation_fixture f;
  redis::client other(f.l, test::broker_opts(f.server.url()));
  escalations e2(other);
  std::set<std::string> all;
  for (int i = 0; i < 40; ++i) all.insert(f.add(f.now - std::chrono::milliseconds(i)).message_id);
  std::set<std::string> got;
  int answers = 0;
  for (auto* by : {&f.e, &e2}) {
    by->claim_due(f.now, 30s, 7, [&](core::result<escalations::claim> r) {
      REQUIRE_OK(r);
      for (auto& [id, item] : r->items) CHECK(got.insert(id).second);
      ++answers;
    });
  }
  REQUIRE(test::run_until(f.l, [&] { return answers == 2; }));
  CHECK(got.size() == 14);
  // The rest, in turns, never twice.
  while (got.size() < all.size()) {
    const auto before = got.size();
    for (auto* by : {&f.e, &e2})
      for (auto& [id, item] : f.claim(f.now, 30s, by).items) CHECK(got.insert(id).second);
    REQUIRE(got.size() > before);
  }
  CHECK(got == all);
}

TEST_CASE("escalation runner: runs what is due once, a claimer that never ends is dropped") {
  escalation_fixture f;
  const auto ran = f.add(f.now - 1s);
  const auto hangs = f.add(f.now - 1s);
  const auto later = f.add(f.now + 1h);
  REQUIRE_OK(test::run_command(f.l, f.c, {"HSET", broker::escalation_items_key(), "bad", "{x"}));
  REQUIRE_OK(test::run_command(f.l, f.c, {"ZADD", broker::escalation_due_key(), "1", "bad"}));
  std::vector<std::string> handed;
  std::vector<std::pair<std::string, std::string>> dropped;
  broker::escalation_runner runner(
      f.c, f.e,
      [&](broker::escalation_item item, broker::escalation_runner::outcome done) {
        handed.push_back(item.message_id);
        // `hangs` is a publisherd that dies mid-run: it never says how it ended.
        if (item.message_id == ran.message_id) done(std::string("ok"));
      },
      [&](const std::string& id, const std::string& why) { dropped.emplace_back(id, why); },
      {.poll_every = 10ms, .lease = 50ms, .batch = 10, .max_attempts = 3});
  runner.start();
  REQUIRE(test::run_until(f.l, [&] { return dropped.size() == 2; }));
  runner.stop();
  std::size_t ran_times = 0, hung_times = 0;
  for (const auto& id : handed) {
    ran_times += id == ran.message_id;
    hung_times += id == hangs.message_id;
    CHECK(id != later.message_id);
  }
  CHECK(ran_times == 1);
  CHECK(hung_times == 3);
  std::set<std::string> dropped_ids;
  for (const auto& [id, why] : dropped) dropped_ids.insert(id);
  CHECK(dropped_ids == std::set<std::string>{"bad", hangs.message_id});
  // The runner recorded the drops before it said so, on the same connection as this read.
  CHECK(f.state(hangs.message_id)->result == "dropped");
  CHECK(f.state(ran.message_id)->result == "ok");
  CHECK_FALSE(f.state(later.message_id)->done);
}

TEST_CASE("escalation command: its environment, a failure, and a timeout that ends the group") {
  escalation_fixture f;
  const test::temp_dir dir;
  const auto out = dir.file("env");
  CHECK_FALSE(f.run("printf '%s|%s' \"$BCAST_ID\" \"$BCAST_UNACKNOWLEDGED\" > '" + out + "'",
                    {"BCAST_ID=X1", "BCAST_UNACKNOWLEDGED=a b"}));
  std::ifstream in(out);
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(written == "X1|a b");

  CHECK(f.run("echo nope >&2; exit 3") == std::optional<std::string>("exit status 3: nope"));
  // A background child holds the output pipes: the timeout still ends the run, at once.
  const auto started = std::chrono::steady_clock::now();
  CHECK(f.run("sleep 30 & sleep 30", {}, 1s) == std::optional<std::string>("timed out after 1 s"));
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}
