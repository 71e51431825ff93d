// End-to-end on a real Redis Cluster (3 masters, 3 replicas; tests/support/redis_cluster.hpp):
// publisherd and subscriberd processes given redis-cluster:// seeds (README, "Redis Cluster").

#include "store_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/redis/cluster_slots.hpp>

#include <support/redis_cluster.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;
using test::fleet;

namespace {

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::uint16_t master_of_target(const test::redis_cluster& cluster, const std::string& target) {
  return cluster.master_port_of_slot(redis::key_slot(broker::history_key(target)));
}

// Store ids whose own channels live on different masters than each other's and than `all`'s
// where the cluster allows: one per master.
std::vector<std::string> stores_across_masters(const test::redis_cluster& cluster,
                                               std::size_t count) {
  std::vector<std::string> ids;
  std::set<std::uint16_t> used;
  for (int n = 1; ids.size() < count && n < 10000; ++n) {
    const auto id = "s" + std::to_string(n);
    if (used.insert(master_of_target(cluster, "store:" + id)).second || used.size() >= 3)
      ids.push_back(id);
  }
  return ids;
}

// A fleet whose publisherd and stores use the cluster.
struct cluster_fleet {
  test::redis_cluster cluster;
  fleet f{{"--redis", cluster.seed_url()}};

  test::store_box& add(const std::string& id, std::vector<std::string> groups = {}) {
    auto& box = f.prepare(id, std::move(groups));
    box.redis_url = cluster.seed_url();
    box.start();
    return box;
  }
};

}  // namespace

TEST_CASE(
    "cluster: messages reach stores on every master, with receipts, catch-up and the store list") {
  cluster_fleet cf;
  auto& f = cf.f;
  const auto ids = stores_across_masters(cf.cluster, 3);
  REQUIRE(ids.size() == 3);
  std::set<std::uint16_t> masters;
  for (const auto& id : ids) masters.insert(master_of_target(cf.cluster, "store:" + id));
  CHECK(masters.size() == 3);

  auto& a = cf.add(ids[0], {"region:jateng"});
  auto& b = cf.add(ids[1]);
  auto& c = cf.add(ids[2]);
  CHECK(test::contains(a.process->log(), "redis-cluster://"));

  const auto all = f.send({"all"}, "Untuk semua");
  for (auto* s : {&a, &b, &c}) REQUIRE(s->wait_shown("Untuk semua"));
  f.send({"store:" + ids[1]}, "Hanya satu");
  f.send({"region:jateng"}, "Jawa Tengah");
  REQUIRE(b.wait_shown("Hanya satu"));
  REQUIRE(a.wait_shown("Jawa Tengah"));
  for (const auto& id : ids) f.wait_for_receipt(all["id"], id, "displayed");

  // A store that was off catches up from its channels' histories, on their masters.
  c.stop();
  f.send({"all"}, "Saat mati");
  f.send({"store:" + ids[2]}, "Khusus toko");
  c.start();
  REQUIRE(c.wait_shown("Saat mati"));
  REQUIRE(c.wait_shown("Khusus toko"));
  CHECK(c.shown_titles() == std::vector<std::string>{"Untuk semua", "Saat mati", "Khusus toko"});
  REQUIRE(a.wait_shown("Saat mati"));
  REQUIRE(b.wait_shown("Saat mati"));
  CHECK(a.shown_titles() == std::vector<std::string>{"Untuk semua", "Jawa Tengah", "Saat mati"});
  CHECK(b.shown_titles() == std::vector<std::string>{"Untuk semua", "Hanya satu", "Saat mati"});

  // The store list: every master's stores (a SCAN per master).
  std::set<std::string> listed;
  for (const auto& s : f.stores_api()) listed.insert(s["id"].get<std::string>());
  CHECK(listed == std::set<std::string>(ids.begin(), ids.end()));
}

TEST_CASE("cluster: kill -9 of the master of {all} while sending: every 201 shows once, in order") {
  cluster_fleet cf;
  auto& f = cf.f;
  const auto ids = stores_across_masters(cf.cluster, 2);
  std::vector<test::store_box*> stores;
  for (const auto& id : ids) stores.push_back(&cf.add(id));
  const auto victim = master_of_target(cf.cluster, "all");
  REQUIRE(victim != 0);

  std::vector<std::string> acknowledged, refused;
  const auto started = std::chrono::steady_clock::now();
  bool killed = false, restarted = false;
  for (int n = 0; std::chrono::steady_clock::now() - started < 16s; ++n) {
    if (!killed && std::chrono::steady_clock::now() - started > 2s) {
      cf.cluster.kill_node(victim);
      killed = true;
    }
    // Its replica took over meanwhile, alone: min_replicas 1 refuses sends until the old master
    // is back, as the new master's replica.
    if (!restarted && std::chrono::steady_clock::now() - started > 7s) {
      cf.cluster.restart_node(victim);
      restarted = true;
    }
    const auto title = "m" + std::to_string(n);
    const auto r = f.try_send({"all"}, title);
    if (r.status == 201) {
      acknowledged.push_back(title);
    } else {
      INFO(r.body);
      REQUIRE(r.status == 503);
      refused.push_back(title);
    }
    std::this_thread::sleep_for(200ms);
  }
  INFO("acknowledged " << acknowledged.size() << ", refused " << refused.size());
  REQUIRE(killed);
  CHECK(cf.cluster.master_port_of_slot(redis::key_slot(broker::history_key("all"))) != victim);
  // Sends before the kill, and after the failover once the new master had a replica again.
  REQUIRE(acknowledged.size() >= 15);
  CHECK(refused.size() >= 3);
  CHECK(acknowledged.back() == "m" + std::to_string(acknowledged.size() + refused.size() - 1));

  for (auto* s : stores) {
    INFO(s->id);
    REQUIRE(s->wait_shown(acknowledged.back()));
    CHECK(s->shown_titles() == acknowledged);
  }
  // publisherd says once that Redis went away and once that it is back.
  const auto log = f.hq.daemon->log();
  CHECK(occurrences(log, "Redis unreachable") == 1);
  CHECK(occurrences(log, "Redis is back") == 1);
}

TEST_CASE("cluster: a store's slot resharded while messages flow: every 201 shows once, in order") {
  cluster_fleet cf;
  auto& f = cf.f;
  // redis-cli's reshard moves the lowest slots of its source first: a store whose history is
  // on the first slot of its master's range moves with --cluster-slots 1.
  std::set<long long> first_slots;
  for (const auto& range : cf.cluster.command(cf.cluster.ports()[0], {"CLUSTER", "SLOTS"}).elements)
    first_slots.insert(range.elements.at(0).integer);
  std::string id;
  for (int n = 1; id.empty() && n < 1000000; ++n) {
    const auto candidate = "s" + std::to_string(n);
    if (first_slots.count(redis::key_slot(broker::history_key("store:" + candidate))))
      id = candidate;
  }
  REQUIRE_FALSE(id.empty());
  const auto slot = redis::key_slot(broker::history_key("store:" + id));
  auto& store = cf.add(id);
  const auto from = cf.cluster.master_port_of_slot(slot);
  std::uint16_t to = 0;
  for (int s = 0; s < 16384 && to == 0; s += 1000) {
    const auto owner = cf.cluster.master_port_of_slot(static_cast<std::uint16_t>(s));
    if (owner != from) to = owner;
  }
  const auto id_of = [&](std::uint16_t port) {
    return cf.cluster.command(port, {"CLUSTER", "MYID"}).str;
  };
  const auto command = "--cluster reshard 127.0.0.1:" + std::to_string(from) + " --cluster-from " +
                       id_of(from) + " --cluster-to " + id_of(to) +
                       " --cluster-slots 1 --cluster-yes";

  std::vector<std::string> acknowledged;
  std::string resharded;
  std::thread reshard;
  const auto started = std::chrono::steady_clock::now();
  for (int n = 0; std::chrono::steady_clock::now() - started < 6s; ++n) {
    if (!reshard.joinable() && std::chrono::steady_clock::now() - started > 1s)
      reshard = std::thread([&] { resharded = cf.cluster.cli(from, command); });
    const auto title = "r" + std::to_string(n);
    const auto r = f.try_send({"store:" + id}, title);
    INFO(r.body);
    REQUIRE(r.status == 201);
    acknowledged.push_back(title);
    std::this_thread::sleep_for(100ms);
  }
  reshard.join();
  INFO(resharded);
  CHECK(cf.cluster.master_port_of_slot(slot) == to);
  REQUIRE(store.wait_shown(acknowledged.back()));
  CHECK(store.shown_titles() == acknowledged);
}
