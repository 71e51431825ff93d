// End-to-end on a real Redis Cluster (3 masters, 3 replicas; tests/support/redis_cluster.hpp):
// publisherd and subscriberd processes given redis-cluster:// seeds (README, "Redis Cluster").

#include "store_fixture.hpp"

#include <bcast/broker/acl.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/redis/cluster_slots.hpp>

#include <support/redis_cluster.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
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

namespace {

// CLIENT LIST of one node: each client's fields ("name", "user", "laddr", ...).
std::vector<std::map<std::string, std::string>> clients_of(const test::redis_cluster& cluster,
                                                           std::uint16_t port) {
  std::vector<std::map<std::string, std::string>> clients;
  std::istringstream lines(cluster.command(port, {"CLIENT", "LIST"}).str);
  for (std::string line; std::getline(lines, line);) {
    std::map<std::string, std::string> fields;
    std::istringstream words(line);
    for (std::string word; words >> word;) {
      const auto eq = word.find('=');
      if (eq != std::string::npos) fields[word.substr(0, eq)] = word.substr(eq + 1);
    }
    clients.push_back(std::move(fields));
  }
  return clients;
}

bool is_bcast_client(const std::map<std::string, std::string>& client) {
  const auto name = client.count("name") ? client.at("name") : "";
  return name.starts_with("publisherd") || name.starts_with("subscriberd:");
}

}  // namespace

TEST_CASE("cluster: publisherd and stores over TLS to every node (rediss-cluster://)") {
  test::temp_dir certdir;
  const auto certs = test::test_certificates::make(certdir);
  test::redis_cluster cluster(3, 30s, &certs);
  const auto tls_config = certdir.file("redis-tls.json");
  std::ofstream(tls_config) << json{{"redis_tls", {{"ca_file", certs.ca_cert}}}}.dump();
  fleet f{{"--config", tls_config, "--redis", cluster.tls_seed_url()}};

  const auto ids = stores_across_masters(cluster, 3);
  std::vector<test::store_box*> stores;
  for (const auto& id : ids) {
    auto& box = f.prepare(id, {});
    box.redis_url = cluster.tls_seed_url();
    box.extra_args = {"--config", tls_config};
    box.start();
    stores.push_back(&box);
  }
  f.send({"all"}, "Lewat TLS");
  for (const auto& id : ids) f.send({"store:" + id}, "Untuk " + id);
  for (auto* s : stores) {
    INFO(s->id);
    REQUIRE(s->wait_shown("Untuk " + s->id));
    CHECK(s->shown_titles() == std::vector<std::string>{"Lewat TLS", "Untuk " + s->id});
  }

  // The slot map they were given over TLS named each node's TLS port: every bcast client of
  // every node came in there, and every master has some.
  std::size_t masters_reached = 0;
  for (std::size_t i = 0; i < cluster.ports().size(); ++i) {
    const auto tls_address = "127.0.0.1:" + std::to_string(cluster.tls_ports()[i]);
    std::size_t ours = 0;
    for (const auto& client : clients_of(cluster, cluster.ports()[i])) {
      if (!is_bcast_client(client)) continue;
      ++ours;
      INFO(client.at("name"));
      CHECK(client.at("laddr") == tls_address);
    }
    if (ours > 0) ++masters_reached;
  }
  CHECK(masters_reached == 3);
}

TEST_CASE("cluster: publisherd and stores as their least-privilege users on every node") {
  test::redis_cluster cluster;
  // The README's way: each user's ACL SETUSER piped into redis-cli on every node, replicas too.
  const auto on_every_node = [&](const std::string& setuser) {
    for (const auto port : cluster.ports()) {
      INFO(setuser);
      REQUIRE(test::shell("printf '%s' '" + setuser + "' | redis-cli -p " + std::to_string(port)) ==
              "OK\n");
    }
  };
  on_every_node(broker::acl_setuser_command(broker::publisher_acl_user, "pub-secret",
                                            broker::publisher_acl_rules()));
  const auto ids = stores_across_masters(cluster, 2);
  const std::map<std::string, std::string> group_of{{ids[0], "region:jateng"}, {ids[1], ""}};
  for (const auto& id : ids) {
    std::string setuser;
    const auto group = group_of.at(id).empty() ? "" : " --group " + group_of.at(id);
    REQUIRE(test::run_bcastctl("acl " + id + group + " --password-stdin --setuser",
                               id + "-secret\n", &setuser) == 0);
    on_every_node(setuser);
  }

  fleet f{{"--redis", cluster.seed_url(std::string(broker::publisher_acl_user) + ":pub-secret")}};
  std::vector<test::store_box*> stores;
  for (const auto& id : ids) {
    auto& box = f.prepare(id, group_of.at(id).empty() ? std::vector<std::string>{}
                                                      : std::vector<std::string>{group_of.at(id)});
    box.redis_url = cluster.seed_url(broker::store_acl_user(id) + ":" + id + "-secret");
    box.start();
    stores.push_back(&box);
  }
  // Sends pass WAIT (min_replicas 1) and the publish script as bcast-publisher; stores read their
  // channels and write their receipts as themselves.
  const auto all = f.send({"all"}, "Semua toko");
  f.send({"region:jateng"}, "Jawa Tengah");
  f.send({"store:" + ids[1]}, "Toko kedua");
  REQUIRE(stores[0]->wait_shown("Jawa Tengah"));
  REQUIRE(stores[1]->wait_shown("Toko kedua"));
  CHECK(stores[0]->shown_titles() == std::vector<std::string>{"Semua toko", "Jawa Tengah"});
  CHECK(stores[1]->shown_titles() == std::vector<std::string>{"Semua toko", "Toko kedua"});
  for (const auto& id : ids) f.wait_for_receipt(all["id"], id, "displayed");
  std::set<std::string> listed;
  for (const auto& s : f.stores_api()) listed.insert(s["id"].get<std::string>());
  CHECK(listed == std::set<std::string>(ids.begin(), ids.end()));

  // They really are those users: every bcast client of every node.
  std::size_t seen = 0;
  for (const auto port : cluster.ports()) {
    for (const auto& client : clients_of(cluster, port)) {
      if (!is_bcast_client(client)) continue;
      ++seen;
      const auto& name = client.at("name");
      INFO(name);
      CHECK(client.at("user") == (name == "publisherd"
                                      ? std::string(broker::publisher_acl_user)
                                      : broker::store_acl_user(name.substr(name.find(':') + 1))));
    }
  }
  CHECK(seen >= 3);

  // And those users may do no more on a cluster than on one Redis: a store publishes nothing and
  // reads no other store's history, asked on the master that serves the key.
  const auto as_store = [&](const std::string& id, const std::string& target,
                            const std::string& command) {
    return cluster.cli(master_of_target(cluster, target),
                       "--user " + broker::store_acl_user(id) + " --pass " + id +
                           "-secret --no-auth-warning " + command);
  };
  CHECK(test::contains(
      as_store(ids[0], "all", "SPUBLISH '" + broker::live_channel("all") + "' forged"), "NOPERM"));
  CHECK(test::contains(as_store(ids[0], "store:" + ids[1],
                                "XRANGE '" + broker::history_key("store:" + ids[1]) + "' - +"),
                       "NOPERM"));
  // What it may read, it reads as that user.
  CHECK(test::contains(as_store(ids[0], "all", "XRANGE '" + broker::history_key("all") + "' - +"),
                       "Semua toko"));
}
