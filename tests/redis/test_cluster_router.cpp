// The command client and the subscriber on a real Redis Cluster (3 masters, 3 replicas): routing
// by slot, MOVED and ASK while a slot migrates, a node that is down, and sharded pub/sub.
#include <bcast/redis/client.hpp>
#include <bcast/redis/cluster_slots.hpp>
#include <bcast/redis/subscriber.hpp>

#include <catch2/catch.hpp>
#include <support/redis_cluster.hpp>
#include <support/test_support.hpp>

#include "redis_helpers.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

using test::call;
using test::opts;

std::string store_key(int n) {
  return "bcast:{store:" + std::to_string(n) + "}:probe";
}

// The node id of the node on `port`.
std::string node_id(const test::redis_cluster& cluster, std::uint16_t port) {
  return cluster.command(port, {"CLUSTER", "MYID"}).str;
}

std::set<std::uint16_t> masters_of(const test::redis_cluster& cluster) {
  std::set<std::uint16_t> out;
  for (int slot = 0; slot < 16384; slot += 500)
    out.insert(cluster.master_port_of_slot(static_cast<std::uint16_t>(slot)));
  out.erase(0);
  return out;
}

// Moves `slot`'s ownership from `from` to `to` as redis-cli's reshard ends it: every master is
// told (keys, if any, were migrated before).
void assign_slot(const test::redis_cluster& cluster, std::uint16_t slot, std::uint16_t to) {
  const auto id = node_id(cluster, to);
  const auto text = std::to_string(slot);
  cluster.command(to, {"CLUSTER", "SETSLOT", text, "NODE", id});
  for (auto port : masters_of(cluster)) {
    if (port != to) cluster.command(port, {"CLUSTER", "SETSLOT", text, "NODE", id});
  }
}

// Another master than `port`'s, for a slot to move to.
std::uint16_t other_master(const test::redis_cluster& cluster, std::uint16_t port) {
  for (int slot = 0; slot < 16384; slot += 1000) {
    const auto owner = cluster.master_port_of_slot(static_cast<std::uint16_t>(slot));
    if (owner != 0 && owner != port) return owner;
  }
  FAIL("no second master");
  return 0;
}

}  // namespace

TEST_CASE("a client on a cluster sends each key to the master of its slot") {
  test::redis_cluster cluster;
  core::loop l;
  redis::client c(l, opts(cluster.seed_url()));
  REQUIRE(c.cluster());

  // Keys over every master, one by one and in a pipeline; each lands where its slot lives.
  std::set<std::uint16_t> masters_used;
  for (int n = 0; n < 60; ++n) {
    REQUIRE_OK(redis::checked(call(l, c, {"SET", store_key(n), "v" + std::to_string(n)})));
    const auto owner = cluster.master_port_of_slot(redis::key_slot(store_key(n)));
    masters_used.insert(owner);
    CHECK(cluster.command(owner, {"GET", store_key(n)}).str == "v" + std::to_string(n));
  }
  CHECK(masters_used.size() == 3);

  redis::client::pipeline p(c);
  for (int n = 0; n < 60; ++n) p.command({"GET", store_key(n)});
  std::optional<core::result<redis::replies>> answers;
  p.send([&](core::result<redis::replies> r) { answers.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return answers.has_value(); }));
  REQUIRE_OK(*answers);
  for (int n = 0; n < 60; ++n) CHECK((**answers)[n].str == "v" + std::to_string(n));

  // A script and a transaction go to the slot of their keys.
  redis::script echo_key("return redis.call('GET', KEYS[1])");
  std::string key = store_key(7);
  std::string_view keys[] = {key};
  std::optional<core::result<redis::reply>> scripted;
  c.eval(echo_key, keys, {}, [&](core::result<redis::reply> r) { scripted.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return scripted.has_value(); }));
  auto script_answer = redis::checked(std::move(*scripted));
  REQUIRE_OK(script_answer);
  CHECK(script_answer->str == "v7");

  std::string other = "bcast:{store:7}:other";
  std::string_view set[] = {"SET", other, "x"};
  std::string_view get[] = {"GET", key};
  std::optional<core::result<redis::reply>> exec;
  c.transaction({set, get}, [&](core::result<redis::reply> r) { exec.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return exec.has_value(); }));
  auto exec_answer = redis::checked(std::move(*exec));
  REQUIRE_OK(exec_answer);
  REQUIRE(exec_answer->elements.size() == 2);
  CHECK(exec_answer->elements[1].str == "v7");
  CHECK(c.ready());
}

TEST_CASE("a client on a cluster follows ASK while a slot migrates, and MOVED once it has") {
  test::redis_cluster cluster;
  core::loop l;
  redis::client c(l, opts(cluster.seed_url()));
  const auto key = store_key(42);
  const auto slot = redis::key_slot(key);
  REQUIRE_OK(redis::checked(call(l, c, {"SET", key, "before"})));

  const auto from = cluster.master_port_of_slot(slot);
  const auto to = other_master(cluster, from);
  const auto from_id = node_id(cluster, from);
  const auto to_id = node_id(cluster, to);
  const auto slot_text = std::to_string(slot);
  cluster.command(to, {"CLUSTER", "SETSLOT", slot_text, "IMPORTING", from_id});
  cluster.command(from, {"CLUSTER", "SETSLOT", slot_text, "MIGRATING", to_id});
  cluster.command(from, {"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS", key});

  // Migrating: the old owner no longer has the key and answers ASK; the client asks the new one.
  auto during = redis::checked(call(l, c, {"GET", key}));
  REQUIRE_OK(during);
  CHECK(during->str == "before");

  assign_slot(cluster, slot, to);
  // Moved: the client's map still names the old owner, which answers MOVED.
  REQUIRE_OK(redis::checked(call(l, c, {"SET", key, "after"})));
  CHECK(cluster.command(to, {"GET", key}).str == "after");
  auto later = redis::checked(call(l, c, {"GET", key}));
  REQUIRE_OK(later);
  CHECK(later->str == "after");
}

TEST_CASE("a master that is down affects only its own slots, until its replica takes over") {
  test::redis_cluster cluster;
  core::loop l;
  auto o = opts(cluster.seed_url());
  o.command_timeout = 500ms;
  o.connect_timeout = 500ms;
  redis::client c(l, o);
  std::map<std::uint16_t, std::string> key_on;  // master port -> a key it serves
  for (int n = 0; key_on.size() < 3 && n < 1000; ++n) {
    key_on.emplace(cluster.master_port_of_slot(redis::key_slot(store_key(n))), store_key(n));
  }
  REQUIRE(key_on.size() == 3);
  for (const auto& [port, key] : key_on)
    REQUIRE_OK(redis::checked(call(l, c, {"SET", key, "kept"})));
  cluster.command(key_on.begin()->first, {"WAIT", "1", "2000"});

  const auto dead = key_on.begin()->first;
  cluster.kill_node(dead);
  // The others answer at once; the dead master's key fails rather than hang.
  for (const auto& [port, key] : key_on) {
    if (port == dead) continue;
    auto r = redis::checked(call(l, c, {"GET", key}));
    REQUIRE_OK(r);
    CHECK(r->str == "kept");
  }
  CHECK_FALSE(call(l, c, {"GET", key_on.at(dead)}));
  CHECK_FALSE(c.ready());

  // The replica is promoted (node timeout 1 s); the client finds it on its own.
  bool back = false;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!back && std::chrono::steady_clock::now() < deadline) {
    auto r = call(l, c, {"GET", key_on.at(dead)});
    back = r && !r->is_error() && r->str == "kept";
    if (!back) test::run_for(l, 200ms);
  }
  CHECK(back);
  CHECK(test::run_until(
      l, [&] { return c.ready(); }, 10s));
}

TEST_CASE("a subscriber on a cluster gets shard channels of every master, and moves with a slot") {
  test::redis_cluster cluster;
  core::loop l;
  redis::client c(l, opts(cluster.seed_url()));
  redis::subscriber s(l, opts(cluster.seed_url()), {}, c.topology());
  std::vector<std::string> channels;
  std::set<std::uint16_t> masters;
  for (int n = 0; masters.size() < 3 || channels.size() < 6; ++n) {
    const auto channel = "bcast:{store:" + std::to_string(n) + "}:live";
    if (masters.insert(cluster.master_port_of_slot(redis::key_slot(channel))).second ||
        channels.size() < 6)
      channels.push_back(channel);
  }
  std::multiset<std::string> got;
  std::vector<std::string> lost;
  s.on_message([&](std::string_view ch, std::string_view payload) {
    got.insert(std::string(ch) + "=" + std::string(payload));
  });
  s.on_lost([&](redis::subscription_kind, std::string_view ch) { lost.emplace_back(ch); });
  s.subscribe(channels, redis::subscription_kind::shard_channel);
  REQUIRE(test::run_until(
      l, [&] { return s.all_confirmed(); }, 10s));
  CHECK(s.state() == redis::connection_state::ready);

  for (const auto& ch : channels) REQUIRE_OK(redis::checked(call(l, c, {"SPUBLISH", ch, "one"})));
  REQUIRE(test::run_until(
      l, [&] { return got.size() == channels.size(); }, 5s));
  for (const auto& ch : channels) CHECK(got.count(ch + "=one") == 1);

  // The first channel's slot moves to another master: the old one says sunsubscribe, and the
  // subscriber follows it there.
  const auto moving = channels.front();
  const auto slot = std::to_string(redis::key_slot(moving));
  const auto from = cluster.master_port_of_slot(redis::key_slot(moving));
  const auto to = other_master(cluster, from);
  const auto to_id = node_id(cluster, to);
  cluster.command(to, {"CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(cluster, from)});
  cluster.command(from, {"CLUSTER", "SETSLOT", slot, "MIGRATING", to_id});
  assign_slot(cluster, redis::key_slot(moving), to);
  REQUIRE(test::run_until(
      l, [&] { return !lost.empty(); }, 5s));
  CHECK(lost.front() == moving);
  REQUIRE(test::run_until(
      l, [&] { return s.all_confirmed(); }, 10s));
  got.clear();
  REQUIRE_OK(redis::checked(call(l, c, {"SPUBLISH", moving, "two"})));
  REQUIRE(test::run_until(
      l, [&] { return got.count(moving + "=two") == 1; }, 5s));
}
