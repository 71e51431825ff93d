// The catch-up driver against a real Redis: offline stores catch up in order exactly once, then
// go live; trimmed history is reported as a gap; a Redis that lost its data is survived.

#include <bcast/broker/catchup.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/store_state.hpp>
#include <bcast/core/timer.hpp>

#include "broker_helpers.hpp"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

void publish_or_fail(core::loop& l, broker::publisher& p, const message::envelope& e) {
  std::optional<core::result<broker::publish_outcome>> out;
  p.publish(e, [&](core::result<broker::publish_outcome> r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  REQUIRE(out->ok());
}

// One store: its command client, the driver, and what it saw.
struct store {
  redis::client client;
  broker::catchup_driver driver;
  std::vector<std::string> got;    // message ids in delivery order
  std::vector<std::string> via;    // the channel each came through
  std::vector<std::uint64_t> seq;  // and its seq there
  std::vector<broker::gap_event> gaps;
  std::vector<std::string> problems;
  int progress = 0;

  store(core::loop& l, const std::string& url, const broker::store_state& state,
        broker::catchup_settings s = {}, std::vector<std::string> groups = {"region:jateng"})
      : client(l, test::broker_opts(url)),
        driver(l, client, test::broker_opts(url), broker::store_targets("s1", groups), state, s) {
    driver.on_message([this](const broker::entry& e, const message::envelope& env) {
      CHECK(env.id == e.message_id);
      got.push_back(env.id);
      via.push_back(e.target);
      seq.push_back(e.seq);
    });
    driver.on_gap([this](const broker::gap_event& g) { gaps.push_back(g); });
    driver.on_problem([this](const core::error& e) { problems.push_back(e.message()); });
    driver.on_progress([this] { ++progress; });
    driver.start();
  }
};

}  // namespace

TEST_CASE(
    "catch-up: a store that was offline gets 100 messages in order exactly once, then live ones") {
  test::redis_server server;
  core::loop l;
  redis::client pc(l, test::broker_opts(server.url()));
  broker::publisher pub(pc);
  broker::catchup_settings settings;
  settings.tracker.page_size = 30;  // several pages

  // First run: a fresh store starts at "now" and saves its position.
  publish_or_fail(l, pub, test::make_test_envelope({"all"}, "before the store existed"));
  broker::store_state saved;
  {
    store s(l, server.url(), {}, settings);
    REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
    CHECK(s.got.empty());
    saved = s.driver.snapshot("s1");
  }
  CHECK(saved.channels.at("all").seq == 1);
  CHECK(saved.channels.at("store:s1").seq == 0);

  // Offline: 100 messages, some through two matching targets, some for another store.
  std::vector<std::string> expected;
  for (int i = 0; i < 100; ++i) {
    std::vector<std::string> targets;
    if (i % 3 == 0) targets = {"all"};
    if (i % 3 == 1) targets = {"store:s1", "region:jateng"};
    if (i % 3 == 2) targets = {"region:jateng", "all", "store:s1"};
    auto e = test::make_test_envelope(targets, "offline " + std::to_string(i));
    expected.push_back(e.id);
    publish_or_fail(l, pub, e);
    publish_or_fail(l, pub, test::make_test_envelope({"store:s2"}, "not for s1"));
  }

  store s(l, server.url(), saved, settings);
  REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
  std::set<std::string> unique(s.got.begin(), s.got.end());
  CHECK(unique.size() == s.got.size());  // exactly once
  CHECK(unique == std::set<std::string>(expected.begin(), expected.end()));
  // Per channel in seq order; ids are time-ordered, so within a channel the order is the sent
  // order.
  for (const auto& ch : {"all", "store:s1", "region:jateng"}) {
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < s.got.size(); ++i) {
      if (s.via[i] == ch) seen.push_back(s.got[i]);
    }
    CHECK(std::is_sorted(seen.begin(), seen.end()));
  }
  CHECK(s.gaps.empty());
  CHECK(s.problems.empty());
  CHECK(s.progress > 0);

  auto live = test::make_test_envelope({"all", "store:s1"}, "live");
  publish_or_fail(l, pub, live);
  REQUIRE(test::run_until(l, [&] { return s.got.size() == 101; }));
  CHECK(s.got.back() == live.id);
  test::run_for(l, 50ms);
  CHECK(s.got.size() == 101);  // the second channel's copy was dropped

  // A restart from the saved state repeats nothing.
  auto state = s.driver.snapshot("s1");
  CHECK(state.channels.at("all").seq == 1 + 67 + 1);
  store again(l, server.url(), state, settings);
  REQUIRE(test::run_until(l, [&] { return again.driver.live(); }));
  test::run_for(l, 50ms);
  CHECK(again.got.empty());
}

TEST_CASE(
    "catch-up: counted frames get the seqs of their entries while a store subscribes mid-stream, "
    "and again after its subscription is killed") {
  test::redis_server server;
  core::loop l;
  redis::client pc(l, test::broker_opts(server.url()));
  broker::publisher pub(pc);
  const std::vector<std::string> targets{"all", "region:jateng"};
  std::vector<std::string> sent;
  int in_flight = 0;
  std::vector<std::string> failures;
  auto send = [&] {
    auto e = test::make_test_envelope(targets);
    sent.push_back(e.id);
    ++in_flight;
    pub.publish(e, [&](core::result<broker::publish_outcome> r) {
      --in_flight;
      if (!r) failures.push_back(r.err().message());
    });
  };
  // Watches the frames go by: most must be counted, or this tests nothing new. The kill below
  // drops this subscriber too, and on a busy machine it may miss many frames before it is back,
  // so the share is of the frames it saw.
  redis::subscriber watch(l, test::broker_opts(server.url()));
  int counted = 0;
  int seen = 0;
  watch.on_message([&](std::string_view, std::string_view payload) {
    ++seen;
    counted += payload.starts_with("+:") ? 1 : 0;
  });
  watch.subscribe({broker::live_channel("all")});
  REQUIRE(test::run_until(l, [&] { return watch.all_confirmed(); }));

  core::timer pump(l);
  pump.start(1ms, send, 1ms);
  test::run_for(l, 30ms);
  broker::store_state start;
  const std::vector<std::string> groups{"region:jateng"};
  for (const auto& t : broker::store_targets("s1", groups))
    start.channels[t] = broker::position{0, "0-0"};
  store s(l, server.url(), start);
  REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
  test::run_for(l, 50ms);
  const auto before_kill = s.got.size();
  server.cli("CLIENT KILL TYPE pubsub");
  test::run_for(l, 100ms);
  pump.stop();
  REQUIRE(test::run_until(l, [&] { return in_flight == 0; }));
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  REQUIRE(test::run_until(l, [&] { return s.got.size() == sent.size(); }));
  test::run_for(l, 50ms);
  CHECK(s.got == sent);  // each once, in the order sent
  CHECK(s.got.size() > before_kill);
  CHECK(seen > 0);
  CHECK(counted > seen / 2);
  CHECK(s.gaps.empty());

  // Every message was handed on with the seq its history entry has on that channel.
  std::map<std::string, std::map<std::uint64_t, std::string>> history;
  for (const auto& t : targets) {
    auto r = test::run_command(l, pc, {"XRANGE", broker::history_key(t), "-", "+"});
    REQUIRE_OK(r);
    for (const auto& item : r->elements) {
      auto e = broker::detail::read_stream_entry(t, item);
      REQUIRE(e);
      history[t][e->seq] = e->message_id;
    }
  }
  for (std::size_t i = 0; i < s.got.size(); ++i) {
    INFO(s.via[i] << " seq " << s.seq[i]);
    CHECK(history[s.via[i]][s.seq[i]] == s.got[i]);
  }
  for (const auto& t : targets) CHECK(s.driver.snapshot("s1").channels.at(t).seq == sent.size());
}

TEST_CASE(
    "catch-up: a counted frame whose entry was trimmed before its lookup: history is read "
    "again, the trimmed one is a gap") {
  test::redis_server server;
  core::loop l;
  redis::client pc(l, test::broker_opts(server.url()));
  broker::publisher_settings ps;
  ps.history_max_len = 1;
  ps.exact_trim = true;
  broker::publisher pub(pc, ps);
  auto first = test::make_test_envelope({"all"});
  publish_or_fail(l, pub, first);  // the script's, numbered: the publisher knows "all" from now on

  broker::store_state start;
  start.channels["all"] = broker::position{0, "0-0"};
  store s(l, server.url(), start);
  REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
  REQUIRE(s.got == std::vector<std::string>{first.id});

  // Both in one write: Redis has trimmed the first away before the store can look it up.
  auto trimmed = test::make_test_envelope({"all"});
  auto last = test::make_test_envelope({"all"});
  int done = 0;
  for (const auto* e : {&trimmed, &last}) {
    pub.publish(*e, [&](core::result<broker::publish_outcome> r) {
      CHECK_OK(r);
      ++done;
    });
  }
  REQUIRE(test::run_until(l, [&] { return done == 2 && s.got.size() == 2; }));
  test::run_for(l, 50ms);
  CHECK(s.got == std::vector<std::string>{first.id, last.id});
  CHECK(s.seq.back() == 3);
  REQUIRE(s.gaps.size() == 1);
  CHECK(s.gaps[0].from == 2);
  CHECK(s.gaps[0].to == 2);
  REQUIRE_FALSE(s.problems.empty());
  CHECK(s.problems[0].find("not among the newest history entries") != std::string::npos);
}

TEST_CASE(
    "catch-up: history trimmed past the position is reported as a gap, then delivery goes on") {
  test::redis_server server;
  core::loop l;
  redis::client pc(l, test::broker_opts(server.url()));
  broker::publisher_settings ps;
  ps.history_max_len = 5;
  ps.exact_trim = true;
  broker::publisher pub(pc, ps);

  broker::store_state saved;
  {
    store s(l, server.url(), {});
    REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
    saved = s.driver.snapshot("s1");
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto e = test::make_test_envelope({"all"});
    ids.push_back(e.id);
    publish_or_fail(l, pub, e);
  }
  store s(l, server.url(), saved);
  REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
  REQUIRE(s.gaps.size() == 1);
  CHECK(s.gaps[0].target == "all");
  CHECK(s.gaps[0].from == 1);
  CHECK(s.gaps[0].to == 7);
  CHECK(s.gaps[0].kind == broker::gap_kind::trimmed);
  CHECK(s.got == std::vector<std::string>(ids.begin() + 7, ids.end()));
}

TEST_CASE(
    "catch-up: Redis restarts with its data lost; the store reconnects, reports a reset, goes on") {
  test::redis_server server;
  core::loop l;
  broker::store_state start;
  start.channels["all"] = broker::position{0, "0-0"};
  auto s = std::make_unique<store>(l, server.url(), start);
  REQUIRE(test::run_until(l, [&] { return s->driver.live(); }));
  {
    redis::client pc(l, test::broker_opts(server.url()));
    broker::publisher pub(pc);
    for (int i = 0; i < 3; ++i) publish_or_fail(l, pub, test::make_test_envelope({"all"}));
  }
  REQUIRE(test::run_until(l, [&] { return s->got.size() == 3; }));

  server.restart();  // no persistence: every key is gone, seqs start again at 1
  REQUIRE(test::run_until(l, [&] { return !s->driver.live(); }));
  REQUIRE(test::run_until(l, [&] { return s->driver.live(); }));
  redis::client pc(l, test::broker_opts(server.url()));
  broker::publisher pub(pc);
  auto e = test::make_test_envelope({"all"}, "after the restart");
  publish_or_fail(l, pub, e);
  REQUIRE(test::run_until(l, [&] { return s->got.size() == 4; }));
  CHECK(s->got.back() == e.id);
  REQUIRE(s->gaps.size() == 1);
  CHECK(s->gaps[0].kind == broker::gap_kind::reset);
  CHECK(s->gaps[0].from == 4);
}

TEST_CASE("catch-up: a read that fails is retried; live messages wait for it") {
  test::redis_server server;
  core::loop l;
  redis::client pc(l, test::broker_opts(server.url()));
  broker::publisher pub(pc);
  // The history key of a channel has the wrong type until the test repairs it.
  server.cli("SET '" + broker::history_key("store:s1") + "' broken");
  broker::catchup_settings settings;
  settings.retry_delay = 50ms;
  broker::store_state start;
  start.channels["all"] = broker::position{0, "0-0"};
  start.channels["store:s1"] = broker::position{0, "0-0"};
  start.channels["region:jateng"] = broker::position{0, "0-0"};
  store s(l, server.url(), start, settings);
  REQUIRE(test::run_until(l, [&] { return !s.problems.empty(); }));
  CHECK(s.problems[0].find("WRONGTYPE") != std::string::npos);
  CHECK_FALSE(s.driver.live());
  server.cli("DEL '" + broker::history_key("store:s1") + "'");
  REQUIRE(test::run_until(l, [&] { return s.driver.live(); }));
  auto e = test::make_test_envelope({"store:s1"});
  publish_or_fail(l, pub, e);
  REQUIRE(test::run_until(l, [&] { return s.got.size() == 1; }));
}
