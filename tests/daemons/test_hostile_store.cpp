// End-to-end: a store writes what its Redis user may write (huge values, endless lists, garbage,
// keys of another type) under its own keys. publisherd's message page and store list keep working
// for every other store, show the bad store within bounds, and say once what they skipped.

#include "publisherd_fixture.hpp"

#include <bcast/broker/acl.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/redis/client.hpp>

#include <optional>
#include <stdexcept>

using namespace bcast;
using nlohmann::json;

namespace {

// A store's own Redis user (bcastctl acl's rules), and a client logged in as it.
struct store_user {
  std::string id;
  core::loop& loop;
  std::unique_ptr<redis::client> client;

  store_user(test::redis_server& server, core::loop& l, std::string store,
             std::vector<std::string> groups)
      : id(std::move(store)), loop(l) {
    const auto password = id + "-secret";
    std::string args;
    for (const auto& a : broker::acl_setuser_args(broker::store_acl_user(id), password,
                                                  broker::store_acl_rules(id, groups)))
      args += " '" + a + "'";
    REQUIRE(server.cli(args) == "OK\n");
    auto o = redis::parse_url("redis://" + broker::store_acl_user(id) + ":" + password +
                              "@127.0.0.1:" + std::to_string(server.port()));
    REQUIRE_OK(o);
    o->command_timeout = std::chrono::seconds(20);  // tens of MB go in one command
    client = std::make_unique<redis::client>(l, o.value());
  }

  // One command as this store; it must be allowed and succeed.
  void write(const std::vector<std::string>& args) {
    std::optional<core::result<redis::reply>> out;
    client->command(args, [&](core::result<redis::reply> r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(
        loop, [&] { return out.has_value(); }, std::chrono::seconds(60)));
    REQUIRE_OK(*out);
    INFO(out->value().describe());
    REQUIRE_FALSE(out->value().is_error());
  }

  // What its subscriberd writes: a heartbeat (profile and presence).
  void beat(const std::vector<std::string>& groups) {
    broker::heartbeat hb(loop, *client, broker::store_profile{id, groups, "1.2.0"});
    std::optional<core::result<void>> done;
    hb.beat([&](core::result<void> r) { done.emplace(std::move(r)); });
    REQUIRE(test::run_until(loop, [&] { return done.has_value(); }));
    REQUIRE_OK(*done);
  }
};

json get(test::publisherd_fixture& hq, const std::string& path) {
  auto r = test::http_call(0, "GET", path, {}, {}, hq.socket);
  INFO(path << ": " << r.status << " " << r.body.substr(0, 500));
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

const json& entry(const json& list, const std::string& key, const std::string& id) {
  for (const auto& s : list) {
    if (s[key] == id) return s;
  }
  FAIL("no " << key << " " << id << " in " << list.dump());
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE(
    "hostile store: huge, malformed and mistyped store data cannot break the message page or the "
    "store list") {
  test::publisherd_fixture hq;
  core::loop l;
  store_user good(*hq.redis, l, "s1", {"region:jateng"});
  store_user evil(*hq.redis, l, "s9", {"region:jateng"});
  store_user odd(*hq.redis, l, "s8", {});
  good.beat({"region:jateng"});
  evil.beat({"region:jateng"});

  // s9's profile: 100 groups (other regions' too: groups are self-declared), of which 64 are
  // believed; then far more than a reply may hold.
  json many = json::array();
  for (int i = 0; i < 100; ++i) many.push_back("region:r" + std::to_string(i));
  evil.write({"HSET", broker::profile_key("s9"), "groups", many.dump(), "version",
              std::string(1000, 'v')});
  // s8: every one of its keys of another type than bcast uses.
  odd.write(
      {"HSET", broker::profile_key("s8"), "groups", "[\"region:jabar\"", "last_seen", "kemarin"});
  odd.write({"LPUSH", broker::receipts_key("s8"), "not a hash"});
  odd.write({"HSET", broker::gaps_key("s8"), "not", "a list"});

  auto stores = get(hq, "/api/v1/stores")["stores"];
  REQUIRE(stores.size() == 3);
  CHECK(entry(stores, "id", "s1")["groups"] == json::array({"region:jateng"}));
  CHECK(entry(stores, "id", "s1")["online"] == true);
  CHECK(entry(stores, "id", "s9")["groups"].size() == 64);
  // The evil profile now holds 70 MB: more than the 64 MiB a Redis reply may bring.
  evil.write({"HSET", broker::profile_key("s9"), "groups", std::string(70 * 1024 * 1024, '[')});
  stores = get(hq, "/api/v1/stores")["stores"];
  REQUIRE(stores.size() == 3);
  CHECK(entry(stores, "id", "s1")["groups"] == json::array({"region:jateng"}));
  CHECK(entry(stores, "id", "s9")["groups"].empty());
  CHECK(entry(stores, "id", "s9")["version"] == "");
  CHECK(entry(stores, "id", "s8")["last_seen"].is_null());
  CHECK(hq.daemon->wait_for_log(
      "store s9 wrote presence that publisherd skips: groups is 73400320 bytes"));

  auto sent = test::http_call(0, "POST", "/api/v1/messages",
                              test::simple_message("Cek gudang").dump(), {}, hq.socket);
  REQUIRE(sent.status == 201);
  const std::string id = json::parse(sent.body)["id"];
  const auto field = [&](broker::receipt_state s) { return broker::receipt_field(id, s); };
  good.write({"HSETNX", broker::receipts_key("s1"), field(broker::receipt_state::displayed),
              "2026-11-26T10:00:00.000Z"});
  // s9: a receipt time past every bound, one that is markup, and gap items by the hundred
  // thousand, long and garbled.
  evil.write({"HSETNX", broker::receipts_key("s9"), field(broker::receipt_state::acknowledged),
              std::string(70 * 1024 * 1024, '1')});
  evil.write(
      {"HSETNX", broker::receipts_key("s9"), field(broker::receipt_state::delivered), "<script>"});
  std::vector<std::string> gaps{"LPUSH", broker::gaps_key("s9")};
  for (int i = 0; i < 100000; ++i)
    gaps.push_back(i % 2 ? "all 1 999999 " + std::string(300, 't') : "garbage");
  evil.write(gaps);

  auto page = get(hq, "/api/v1/messages/" + id);
  const auto& receipts = page["receipts"];
  CHECK(receipts["expected"] == 3);
  CHECK(receipts["displayed"] == 1);
  CHECK(entry(receipts["stores"], "store", "s1")["state"] == "displayed");
  CHECK(entry(receipts["stores"], "store", "s9")["state"] == "pending");
  CHECK(entry(receipts["stores"], "store", "s8")["state"] == "pending");
  // In the order of the store ids.
  CHECK(hq.daemon->wait_for_log(
      "store s8 wrote receipts that publisherd skips: bcast:{store:s8}:receipts: WRONGTYPE"));
  CHECK(hq.daemon->wait_for_log("store s9 wrote receipts that publisherd skips"));

  // Read again: the same page, and nothing logged again for the same problems.
  CHECK(get(hq, "/api/v1/messages/" + id)["receipts"] == receipts);
  const auto logged = hq.daemon->log();
  CHECK(logged.find("store s9 wrote receipts") == logged.rfind("store s9 wrote receipts"));
  CHECK(test::peak_resident_bytes(hq.daemon->pid()) < test::daemon_memory_bound());
}
