#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>

#include "broker_helpers.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

std::vector<broker::store_presence> list_now(core::loop& l, broker::presence_directory& d) {
  std::optional<core::result<std::vector<broker::store_presence>>> out;
  d.list([&](auto r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  REQUIRE_OK(*out);
  return std::move(*out).value();
}

// Lists until `pred` holds for the listing (presence changes with time, not with an event), for
// 20 s at most.
bool list_until(core::loop& l, broker::presence_directory& d,
                const std::function<bool(const std::vector<broker::store_presence>&)>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(list_now(l, d))) return true;
    test::run_for(l, 20ms);
  }
  return false;
}

}  // namespace

TEST_CASE("presence: heartbeats make stores online; silence or a clean stop makes them offline") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::presence_directory dir(c, 10);
  // Unrelated keys, so that SCAN has to page past them.
  for (int i = 0; i < 50; ++i) server.cli("SET bcast:{all}:filler" + std::to_string(i) + " x");

  // A 1 s TTL: short enough to wait for, long enough that a loaded machine's late heartbeat does
  // not make a beating store offline.
  broker::presence_settings ps;
  ps.interval = 250ms;
  ps.ttl_intervals = 4;
  auto s1 = std::make_unique<broker::heartbeat>(
      l, c, broker::store_profile{"s1", {"region:jateng"}, "0.1.0"}, ps);
  auto s2 = std::make_unique<broker::heartbeat>(
      l, c, broker::store_profile{"s2", {"region:jabar", "format:minimarket"}, "0.1.0"}, ps);
  std::vector<std::string> errors;
  s1->start([&](const core::error& e) { errors.push_back(e.message()); });
  s2->start();

  REQUIRE(list_until(l, dir,
                     [](const auto& v) { return v.size() == 2 && v[0].online && v[1].online; }));
  auto v = list_now(l, dir);
  CHECK(v[0].id == "s1");
  CHECK(v[0].groups == std::vector<std::string>{"region:jateng"});
  CHECK(v[0].version == "0.1.0");
  CHECK(message::parse_time(v[0].last_seen).has_value());
  CHECK(v[0].first_seen <= v[0].last_seen);
  CHECK(v[1].groups == std::vector<std::string>{"region:jabar", "format:minimarket"});
  auto pttl = std::stoll(server.cli("PTTL '" + broker::presence_key("s1") + "'"));
  CHECK(pttl > 0);
  CHECK(pttl <= 1000);

  auto j = broker::to_json(v[0]);
  CHECK(j["id"] == "s1");
  CHECK(j["online"] == true);
  CHECK(j["groups"] == nlohmann::json::array({"region:jateng"}));
  CHECK(j["last_seen"].is_string());

  auto known = broker::known_stores(v);
  REQUIRE(known.size() == 2);
  CHECK(known[1].id == "s2");

  SECTION("a store that stops beating goes offline after its TTL and stays known") {
    const auto last_seen = v[1].last_seen;
    s2.reset();  // crashed: no goodbye
    REQUIRE(
        list_until(l, dir, [](const auto& list) { return list.size() == 2 && !list[1].online; }));
    auto after = list_now(l, dir);
    CHECK(after[0].online);
    CHECK(after[1].last_seen >= last_seen);
  }
  SECTION("a clean stop is offline at once") {
    std::optional<core::result<void>> stopped;
    s1->stop([&](core::result<void> r) { stopped.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return stopped.has_value(); }));
    REQUIRE_OK(*stopped);
    auto after = list_now(l, dir);
    CHECK_FALSE(after[0].online);
    CHECK(after[1].online);
  }
  SECTION("a decommissioned store can be forgotten") {
    s2.reset();
    std::optional<core::result<void>> gone;
    dir.forget("s2", [&](core::result<void> r) { gone.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return gone.has_value(); }));
    auto after = list_now(l, dir);
    REQUIRE(after.size() == 1);
    CHECK(after[0].id == "s1");
  }
  CHECK(errors.empty());
}

TEST_CASE("presence: a store's profile is read within bounds; the other stores are listed") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::presence_directory dir(c);
  auto write = [&](std::vector<std::string> args) { REQUIRE_OK(test::run_command(l, c, args)); };
  const std::string when = "2026-11-26T10:00:00.000Z";
  write({"HSET", broker::profile_key("s1"), "id", "s1", "groups", R"(["region:jateng"])", "version",
         "1.0", "last_seen", when});
  // s7: 100 groups, some of them no group at all, only the first 64 believed; a version with an
  // escape sequence; times that are no times.
  nlohmann::json many = nlohmann::json::array({"all", "store:s1", "Bad Name", 5});
  for (int i = 0; i < 100; ++i) many.push_back("region:r" + std::to_string(i));
  write({"HSET", broker::profile_key("s7"), "groups", many.dump(), "version", "1.0\x1b[31m",
         "last_seen", "yesterday", "first_seen", std::string(100, '2')});
  // s8: groups far beyond the bound, and nested deep.
  write({"HSET", broker::profile_key("s8"), "groups", std::string(8 * 1024 * 1024, '['), "version",
         "1.0"});
  // s9: groups nested deep within the bound, and JSON that is no array.
  write({"HSET", broker::profile_key("s9"), "groups",
         std::string(8000, '[') + std::string(8000, ']')});
  write({"HSET", broker::profile_key("s6"), "groups", R"({"region:jateng":1})"});

  const auto stores = list_now(l, dir);
  REQUIRE(stores.size() == 5);
  CHECK(stores[0].id == "s1");
  CHECK(stores[0].groups == std::vector<std::string>{"region:jateng"});
  CHECK(stores[0].last_seen == when);
  const auto& s7 = stores[2];
  REQUIRE(s7.id == "s7");
  REQUIRE(s7.groups.size() == 64);
  CHECK(s7.groups.front() == "region:r0");
  CHECK(s7.groups.back() == "region:r63");
  CHECK(s7.version.empty());
  CHECK(s7.last_seen.empty());
  CHECK(s7.first_seen.empty());
  CHECK(stores[3].id == "s8");
  CHECK(stores[3].groups.empty());
  CHECK(stores[3].version == "1.0");
  CHECK(stores[4].groups.empty());
  CHECK(stores[1].groups.empty());
  // s6: no array; s7: 4 no groups, 100 groups, version, last_seen, first_seen; s8: too long; s9:
  // an array in the array.
  CHECK(dir.problems() == 8);
}

TEST_CASE("presence: an empty directory") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::presence_directory dir(c);
  CHECK(list_now(l, dir).empty());
}

TEST_CASE("presence: a refused heartbeat is reported to on_error and to its caller, once") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  server.cli("SET '" + broker::profile_key("s1") + "' not-a-hash");
  broker::heartbeat hb(l, c, {"s1", {"region:jateng"}, "1.0"});
  std::vector<core::error> reported;
  hb.start([&](const core::error& e) { reported.push_back(e); });
  REQUIRE(test::run_until(l, [&] { return reported.size() == 1; }));
  CHECK(reported[0] == core::errc::server_error);
  CHECK(reported[0].detail().rfind("heartbeat: Redis: WRONGTYPE", 0) == 0);
  // The presence key was still written: the commands after a refused one run.
  CHECK(server.cli("HGET '" + broker::presence_key("s1") + "' id") == "s1\n");

  std::optional<core::result<void>> beat;
  hb.beat([&](core::result<void> r) { beat.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return beat.has_value(); }));
  REQUIRE_FALSE(beat->ok());
  CHECK(beat->err().detail() == reported[0].detail());
  CHECK(reported.size() == 2);
}
