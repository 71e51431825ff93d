#include <bcast/broker/keys.hpp>
#include <bcast/broker/receipt_aggregator.hpp>
#include <bcast/broker/receipt_writer.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/broker/store_reach.hpp>

#include "broker_helpers.hpp"

#include <optional>
#include <string>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

void record_now(core::loop& l, broker::receipt_writer& w, const std::string& id,
                broker::receipt_state s,
                message::time_point at = std::chrono::system_clock::now()) {
  std::optional<core::result<void>> out;
  w.record(id, s, at, [&](core::result<void> r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  REQUIRE(out->ok());
}

broker::receipt_summary summarize_now(core::loop& l, broker::receipt_aggregator& a,
                                      const broker::message_record& m,
                                      std::vector<broker::known_store> stores) {
  std::optional<core::result<broker::receipt_summary>> out;
  a.summarize(m, std::move(stores),
              [&](core::result<broker::receipt_summary> r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  REQUIRE(out->ok());
  return std::move(*out).value();
}

broker::message_record record_for(std::vector<std::string> targets) {
  broker::message_record m;
  m.envelope = test::make_test_envelope(std::move(targets));
  m.json = message::encode(m.envelope);
  for (std::size_t i = 0; i < m.envelope.targets.size(); ++i)
    m.seqs[m.envelope.targets[i]] = 10 + i;
  return m;
}

const message::time_point sent_t0 = *message::parse_time("2026-11-26T10:00:00.000Z");

}  // namespace

TEST_CASE("receipt states: names and ranks") {
  for (auto s : broker::all_receipt_states)
    CHECK(broker::parse_receipt_state(broker::to_string(s)) == s);
  CHECK_FALSE(broker::parse_receipt_state("pending"));
  CHECK(broker::rank(broker::receipt_state::acknowledged) >
        broker::rank(broker::receipt_state::displayed));
  CHECK(broker::rank(broker::receipt_state::displayed) >
        broker::rank(broker::receipt_state::failed));
  CHECK(broker::rank(broker::receipt_state::expired) >
        broker::rank(broker::receipt_state::delivered));
  CHECK(broker::rank(broker::receipt_state::delivered) > broker::rank(broker::receipt_state::gap));
  // One id that reached a store genuine and forged: what it did with the genuine one counts.
  CHECK(broker::rank(broker::receipt_state::delivered) >
        broker::rank(broker::receipt_state::rejected));
  CHECK(broker::parse_receipt_state("rejected") == broker::receipt_state::rejected);
  // Head office's recall is the last word, whatever the store did before it.
  for (auto s : broker::all_receipt_states) {
    if (s == broker::receipt_state::recalled) continue;
    CHECK(broker::rank(broker::receipt_state::recalled) > broker::rank(s));
  }
  CHECK(broker::parse_receipt_state("recalled") == broker::receipt_state::recalled);
  CHECK(broker::all_receipt_states.back() == broker::receipt_state::recalled);
}

TEST_CASE("receipts: states only move forward, each keeps the time it was first reached") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::receipt_writer w(l, c, "s1");
  broker::receipt_aggregator agg(c);
  auto m = record_for({"all"});
  const std::vector<broker::known_store> stores{{"s1", {}}};

  record_now(l, w, m.envelope.id, broker::receipt_state::delivered, sent_t0);
  auto s = summarize_now(l, agg, m, stores);
  REQUIRE(s.stores.size() == 1);
  CHECK(s.stores[0].state == "delivered");
  CHECK(s.stores[0].at == "2026-11-26T10:00:00.000Z");

  record_now(l, w, m.envelope.id, broker::receipt_state::acknowledged, sent_t0 + 5s);
  // Late or repeated writes change nothing.
  record_now(l, w, m.envelope.id, broker::receipt_state::delivered, sent_t0 + 9s);
  record_now(l, w, m.envelope.id, broker::receipt_state::displayed, sent_t0 + 9s);
  record_now(l, w, m.envelope.id, broker::receipt_state::acknowledged, sent_t0 + 9s);
  s = summarize_now(l, agg, m, stores);
  CHECK(s.stores[0].state == "acknowledged");
  CHECK(s.stores[0].at == "2026-11-26T10:00:05.000Z");
  CHECK(s.delivered == 1);
  CHECK(s.displayed == 1);
  CHECK(s.acknowledged == 1);
  CHECK(server.cli("HGET '" + broker::receipts_key("s1") + "' " + m.envelope.id + ":delivered") ==
        "2026-11-26T10:00:00.000Z\n");
}

TEST_CASE("receipts: aggregation over 5 stores with one missing") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::receipt_aggregator agg(c);
  auto m = record_for({"region:jateng", "store:s5"});
  const std::vector<broker::known_store> stores{
      {"s1", {"region:jateng"}}, {"s2", {"region:jateng", "format:minimarket"}},
      {"s3", {"region:jateng"}}, {"s4", {"region:jateng"}},
      {"s5", {"region:jabar"}},  {"s6", {"region:jabar"}}};
  auto write = [&](const std::string& store, std::vector<broker::receipt_state> states) {
    broker::receipt_writer w(l, c, store);
    auto at = sent_t0;
    for (auto s : states) {
      record_now(l, w, m.envelope.id, s, at);
      at += 1s;
    }
  };
  write("s1", {broker::receipt_state::delivered, broker::receipt_state::displayed,
               broker::receipt_state::acknowledged});
  write("s2", {broker::receipt_state::delivered, broker::receipt_state::displayed});
  write("s3", {broker::receipt_state::delivered, broker::receipt_state::failed});
  write("s5", {broker::receipt_state::delivered, broker::receipt_state::expired});
  // s4 is expected and missing; s6 is not expected.

  auto s = summarize_now(l, agg, m, stores);
  CHECK(s.expected == 5);
  CHECK(s.delivered == 4);
  CHECK(s.displayed == 2);
  CHECK(s.acknowledged == 1);
  REQUIRE(s.stores.size() == 5);
  CHECK(s.stores[0].store == "s1");
  CHECK(s.stores[0].state == "acknowledged");
  CHECK(s.stores[0].at == "2026-11-26T10:00:02.000Z");
  CHECK(s.stores[1].state == "displayed");
  CHECK(s.stores[2].state == "failed");
  CHECK(s.stores[3].store == "s4");
  CHECK(s.stores[3].state == "pending");
  CHECK(s.stores[3].at.empty());
  CHECK(s.stores[4].state == "expired");

  auto j = broker::to_json(s);
  CHECK(j["expected"] == 5);
  CHECK(j["rejected"] == 0);
  CHECK(j["recalled"] == 0);
  CHECK(j["stores"][3] == nlohmann::json({{"store", "s4"}, {"state", "pending"}, {"at", nullptr}}));

  SECTION("a store whose history was trimmed past the message shows a gap") {
    broker::receipt_writer w4(l, c, "s4");
    std::optional<core::result<void>> done;
    // The message is seq 10 in region:jateng.
    w4.record_gap("region:jateng", 8, 11, sent_t0,
                  [&](core::result<void> r) { done.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return done.has_value(); }));
    REQUIRE(done->ok());
    s = summarize_now(l, agg, m, stores);
    CHECK(s.stores[3].state == "gap");
    CHECK(s.stores[3].at == "2026-11-26T10:00:00.000Z");
    CHECK(s.delivered == 4);
    CHECK(s.expected == 5);
  }
  SECTION("a store that rejected the message is listed and counted as rejected, not delivered") {
    write("s4", {broker::receipt_state::rejected});
    s = summarize_now(l, agg, m, stores);
    CHECK(s.stores[3].state == "rejected");
    CHECK(s.stores[3].at == "2026-11-26T10:00:00.000Z");
    CHECK(s.rejected == 1);
    CHECK(s.delivered == 4);
    CHECK(s.expected == 5);
    CHECK(broker::to_json(s)["rejected"] == 1);
    // A store the message was not for, that refused a copy replayed into its channel: listed,
    // so head office sees it, but not expected.
    write("s6", {broker::receipt_state::rejected});
    s = summarize_now(l, agg, m, stores);
    CHECK(s.rejected == 2);
    CHECK(s.expected == 5);
    REQUIRE(s.stores.size() == 6);
    CHECK(s.stores[5].store == "s6");
    CHECK(s.stores[5].state == "rejected");
  }
  SECTION("recalled: the state of every store that had it, and the counts stay cumulative") {
    // s1 acknowledged it, s3 failed, s4 only got the recall (the message never reached it).
    write("s1", {broker::receipt_state::recalled});
    write("s3", {broker::receipt_state::recalled});
    write("s4", {broker::receipt_state::recalled});
    s = summarize_now(l, agg, m, stores);
    CHECK(s.stores[0].state == "recalled");
    CHECK(s.stores[0].at == "2026-11-26T10:00:00.000Z");
    CHECK(s.stores[1].state == "displayed");
    CHECK(s.stores[2].state == "recalled");
    CHECK(s.stores[3].state == "recalled");
    CHECK(s.recalled == 3);
    CHECK(s.expected == 5);
    CHECK(s.delivered == 4);  // not s4
    CHECK(s.displayed == 2);  // s1 still counts, as s2 does
    CHECK(s.acknowledged == 1);
    const auto recalled_json = broker::to_json(s);
    CHECK(recalled_json["recalled"] == 3);
    CHECK(recalled_json["displayed"] == 2);
    CHECK(recalled_json["acknowledged"] == 1);
  }
  SECTION("a store that is no longer in a target group but reported still counts") {
    auto moved = stores;
    moved[0].groups = {"region:jabar"};
    s = summarize_now(l, agg, m, moved);
    CHECK(s.expected == 5);
    CHECK(s.stores[0].state == "acknowledged");
  }
}

TEST_CASE("receipts: what a store wrote too long, unparsable or too much is skipped and counted") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::receipt_aggregator agg(c);
  auto m = record_for({"region:jateng"});  // seq 10 there
  const std::vector<broker::known_store> stores{{"s1", {"region:jateng"}},
                                                {"s2", {"region:jateng"}}};
  auto write = [&](std::vector<std::string> args) { REQUIRE_OK(test::run_command(l, c, args)); };
  const auto field = [&](broker::receipt_state s) {
    return broker::receipt_field(m.envelope.id, s);
  };
  // s1: a usable `delivered`, an `acknowledged` far too long, a `displayed` that is no time.
  write({"HSET", broker::receipts_key("s1"), field(broker::receipt_state::delivered),
         "2026-11-26T10:00:00.000Z", field(broker::receipt_state::acknowledged),
         std::string(3 * 1024 * 1024, '9'), field(broker::receipt_state::displayed),
         "<img src=x>"});
  // s2: 1500 gap items, the newest 1000 read: long ones and garbage among them skipped, and the one
  // that covers the message found.
  std::vector<std::string> push{"LPUSH", broker::gaps_key("s2")};
  for (int i = 0; i < 1400; ++i)
    push.push_back(broker::format_gap_record("all", 1, 2, "2026-11-26T09:00:00.000Z"));
  for (int i = 0; i < 50; ++i) push.push_back("garbage " + std::to_string(i));
  for (int i = 0; i < 49; ++i) push.push_back("region:jateng 1 2 " + std::string(1000, 'x'));
  push.push_back(broker::format_gap_record("region:jateng", 9, 11, "2026-11-26T10:00:05.000Z"));
  write(push);

  auto s = summarize_now(l, agg, m, stores);
  REQUIRE(s.stores.size() == 2);
  CHECK(s.stores[0].state == "delivered");
  CHECK(s.stores[0].at == "2026-11-26T10:00:00.000Z");
  CHECK(s.stores[1].state == "gap");
  CHECK(s.stores[1].at == "2026-11-26T10:00:05.000Z");
  // s1: acknowledged too long, displayed no time; s2: too many items, long items, garbage.
  CHECK(agg.problems() == 5);
}

TEST_CASE("receipts: storage is trimmed by count and by age") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::receipt_settings rs;
  rs.max_messages = 3;
  rs.trim_every = 1000;  // trimmed by hand below
  rs.max_age = std::chrono::hours(24);
  broker::receipt_writer w(l, c, "s1", rs);
  const auto now = std::chrono::system_clock::now();
  const auto now_ms = message::unix_ms(now);
  std::vector<std::string> ids;
  // Two messages from three days ago, then five from now.
  for (int i = 0; i < 7; ++i) {
    message::ulid_random r{};
    r[9] = static_cast<std::uint8_t>(i);
    ids.push_back(message::make_ulid(
        i < 2 ? now_ms - 3 * 86400000ull : now_ms + static_cast<std::uint64_t>(i), r));
    record_now(l, w, ids.back(), broker::receipt_state::delivered);
    record_now(l, w, ids.back(), broker::receipt_state::displayed);
  }
  CHECK(server.cli("HLEN '" + broker::receipts_key("s1") + "'") == "14\n");
  std::optional<core::result<void>> done;
  w.trim([&](core::result<void> r) { done.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return done.has_value(); }));
  REQUIRE(done->ok());
  CHECK(server.cli("ZCARD '" + broker::receipts_index_key("s1") + "'") == "3\n");
  CHECK(server.cli("HLEN '" + broker::receipts_key("s1") + "'") == "6\n");
  CHECK(server.cli("HEXISTS '" + broker::receipts_key("s1") + "' " + ids[6] + ":displayed") ==
        "1\n");
  CHECK(server.cli("HEXISTS '" + broker::receipts_key("s1") + "' " + ids[3] + ":displayed") ==
        "0\n");

  SECTION("gaps keep the newest max_gaps") {
    broker::receipt_settings gs;
    gs.max_gaps = 2;
    broker::receipt_writer g(l, c, "s2", gs);
    for (std::uint64_t i = 1; i <= 4; ++i) {
      std::optional<core::result<void>> ok;
      g.record_gap("all", i, i, now, [&](core::result<void> r) { ok.emplace(std::move(r)); });
      REQUIRE(test::run_until(l, [&] { return ok.has_value(); }));
    }
    CHECK(server.cli("LLEN '" + broker::gaps_key("s2") + "'") == "2\n");
    CHECK(server.cli("LINDEX '" + broker::gaps_key("s2") + "' 0").rfind("all 4 4 ", 0) == 0);
  }
}

TEST_CASE("receipts: written while Redis is down, they arrive once it is back") {
  test::redis_server server;
  core::loop l;
  auto o = test::broker_opts(server.url());
  o.command_timeout = 200ms;
  redis::client c(l, o);
  broker::receipt_settings rs;
  rs.retry_interval = 50ms;
  broker::receipt_writer w(l, c, "s1", rs);
  REQUIRE(test::run_command(l, c, {"PING"}).ok());
  server.stop();
  const auto id = test::make_test_envelope({"all"}).id;
  std::optional<core::result<void>> done;
  w.record(id, broker::receipt_state::displayed, sent_t0,
           [&](core::result<void> r) { done.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return w.queued() == 1; }));
  CHECK_FALSE(done.has_value());
  server.start();
  REQUIRE(test::run_until(l, [&] { return done.has_value(); }));
  REQUIRE(done->ok());
  CHECK(w.queued() == 0);
  CHECK(server.cli("HGET '" + broker::receipts_key("s1") + "' " + id + ":displayed") ==
        "2026-11-26T10:00:00.000Z\n");

  SECTION("bad input is refused at once") {
    std::optional<core::result<void>> bad;
    w.record("nope", broker::receipt_state::delivered, sent_t0,
             [&](core::result<void> r) { bad.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return bad.has_value(); }));
    CHECK(bad->err() == core::errc::invalid_argument);
  }
}

TEST_CASE("store_reach counts the stores a message reaches, the same as testing each store") {
  // A fleet of 300 stores over 5 regions and 3 formats; some in no group at all.
  std::vector<broker::known_store> fleet;
  for (int i = 0; i < 300; ++i) {
    broker::known_store s{"s" + std::to_string(i), {}};
    if (i % 7 != 0) s.groups.push_back("region:r" + std::to_string(i % 5));
    if (i % 2 == 0) s.groups.push_back("format:f" + std::to_string(i % 3));
    fleet.push_back(std::move(s));
  }
  const broker::store_reach reach(fleet);
  const std::vector<std::vector<std::string>> cases{
      {"all"},
      {"store:s3"},
      {"store:unknown"},
      {"region:r1"},
      {"region:nowhere"},
      {"region:r1", "region:r2"},
      {"region:r1", "format:f0"},             // overlapping groups: each store once
      {"region:r1", "store:s1", "store:s2"},  // s1 is in r1 already; s2 is not
      {"format:f1", "all"},
      {"store:s0", "store:s0"},
  };
  for (const auto& targets : cases) {
    auto e = test::make_test_envelope(targets);
    std::uint64_t brute = 0;
    for (const auto& s : fleet) brute += broker::store_matches_message(s, e) ? 1 : 0;
    INFO(targets.front() << " +" << targets.size() - 1);
    CHECK(reach.count(e) == brute);
  }
  CHECK(reach.count(test::make_test_envelope({"all"})) == 300);
  CHECK(broker::store_reach().count(test::make_test_envelope({"all"})) == 0);
}

TEST_CASE("receipts: a refusal is reported with what was being done and Redis's words") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  server.cli("SET '" + broker::receipts_key("s2") + "' not-a-hash");
  const auto id = test::make_test_envelope({"all"}).id;

  // The writer: one refused write of the two fails the receipt, and it is not queued again.
  broker::receipt_writer w(l, c, "s2");
  std::optional<core::result<void>> written;
  w.record(id, broker::receipt_state::delivered, sent_t0,
           [&](core::result<void> r) { written.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return written.has_value(); }));
  REQUIRE_FALSE(written->ok());
  CHECK(written->err() == core::errc::server_error);
  CHECK(written->err().detail().rfind("receipt: Redis: WRONGTYPE", 0) == 0);
  CHECK(w.queued() == 0);

  // The aggregator: one store's unreadable receipts leave that store pending and are counted;
  // they cannot keep the other stores' receipts from the summary.
  broker::receipt_aggregator agg(c);
  broker::message_record m;
  m.envelope = test::make_test_envelope({"all"});
  server.cli("HSET '" + broker::receipts_key("s1") + "' '" +
             broker::receipt_field(m.envelope.id, broker::receipt_state::displayed) + "' " +
             message::format_time(sent_t0));
  std::optional<core::result<broker::receipt_summary>> out;
  agg.summarize(m, {{"s1", {}}, {"s2", {}}, {"s3", {}}},
                [&](core::result<broker::receipt_summary> r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  REQUIRE_OK(*out);
  CHECK(out->value().expected == 3);
  CHECK(out->value().displayed == 1);
  REQUIRE(out->value().stores.size() == 3);
  CHECK(out->value().stores[1].store == "s2");
  CHECK(out->value().stores[1].state == "pending");
  CHECK(agg.problems() == 1);
}
