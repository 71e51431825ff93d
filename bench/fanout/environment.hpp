#pragma once
// What a run with thousands of connections needs from the machine: file descriptors, ephemeral
// ports and a Redis that accepts that many clients. Each check says plainly which limit stops it.

#include "baseline_side.hpp"

#include <bcast/core/daemon.hpp>
#include <bcast/redis/cluster_slots.hpp>
#include <bcast/redis/local_server.hpp>

#include <hiredis/hiredis.h>
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fanout {

// Raises the soft RLIMIT_NOFILE to the hard limit; "" or why `needed` descriptors are not there.
inline std::string raise_fd_limit(std::uint64_t needed) {
  if (bcast::core::raise_descriptor_limit(RLIM_INFINITY) >= needed) return "";
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  return "RLIMIT_NOFILE: " + std::to_string(needed) +
         " file descriptors needed, the hard limit is " + std::to_string(lim.rlim_max) +
         " (raise it: ulimit -Hn, LimitNOFILE=, limits.conf)";
}

// Every store connection to one Redis address takes its own local port.
inline std::string check_ephemeral_ports(std::uint64_t needed) {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  std::uint64_t low = 0, high = 0;
  if (!(in >> low >> high) || high - low + 1 >= needed) return "";
  return "ephemeral ports: " + std::to_string(needed) +
         " connections to one Redis address need as many local ports, " +
         "net.ipv4.ip_local_port_range has " + std::to_string(high - low + 1) +
         " (widen it with sysctl, or use several Redis addresses)";
}

// A blocking connection for set-up and checks only.
class sync_redis {
 public:
  explicit sync_redis(const plain_endpoint& ep) {
    const timeval timeout{2, 0};
    c_ = ep.unix_path.empty() ? redisConnectWithTimeout(ep.host.c_str(), ep.port, timeout)
                              : redisConnectUnixWithTimeout(ep.unix_path.c_str(), timeout);
    if (c_ && !c_->err && !ep.password.empty()) {
      if (ep.user.empty()) {
        freeReplyObject(redisCommand(c_, "AUTH %s", ep.password.c_str()));
      } else {
        freeReplyObject(redisCommand(c_, "AUTH %s %s", ep.user.c_str(), ep.password.c_str()));
      }
    }
  }
  ~sync_redis() {
    if (c_) redisFree(c_);
  }
  sync_redis(const sync_redis&) = delete;
  sync_redis& operator=(const sync_redis&) = delete;

  bool ok() const { return c_ && !c_->err; }
  std::string error() const { return c_ ? c_->errstr : "out of memory"; }

  // The answer as text (an array's elements joined by newlines); nothing on a connection error.
  std::optional<std::string> command(const std::vector<std::string>& args) {
    auto* r = static_cast<redisReply*>(raw(args));
    if (!r) return std::nullopt;
    std::string text;
    if (r->type == REDIS_REPLY_ARRAY) {
      for (std::size_t i = 0; i < r->elements; ++i) {
        if (r->element[i]->str) text += std::string(r->element[i]->str, r->element[i]->len) + "\n";
      }
    } else if (r->type == REDIS_REPLY_INTEGER) {
      text = std::to_string(r->integer);
    } else if (r->str) {
      text = std::string(r->str, r->len);
    }
    freeReplyObject(r);
    return text;
  }

  // The reply itself, for the caller to free with freeReplyObject.
  void* raw(const std::vector<std::string>& args) {
    if (!ok()) return nullptr;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    return redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lengths.data());
  }

  std::uint64_t info_field(const std::string& section, const std::string& field) {
    const auto info = command({"INFO", section}).value_or("");
    const auto at = info.find(field + ":");
    return at == std::string::npos ? 0 : std::stoull(info.substr(at + field.size() + 1));
  }

 private:
  redisContext* c_ = nullptr;
};

// Makes sure the server takes `clients` connections; "" or what stops it.
inline std::string ensure_maxclients(const plain_endpoint& ep, std::uint64_t clients) {
  sync_redis r(ep);
  if (!r.ok()) return "Redis at " + ep.host + ":" + std::to_string(ep.port) + ": " + r.error();
  const auto current = r.command({"CONFIG", "GET", "maxclients"}).value_or("");
  const auto nl = current.find('\n');
  const std::uint64_t max = nl == std::string::npos ? 0 : std::stoull(current.substr(nl + 1));
  if (max >= clients) return "";
  const auto set = r.command({"CONFIG", "SET", "maxclients", std::to_string(clients)}).value_or("");
  if (set == "OK") return "";
  return "Redis maxclients is " + std::to_string(max) + ", " + std::to_string(clients) +
         " connections are needed, and CONFIG SET maxclients answered: " + set +
         " (Redis lowers maxclients to fit its own RLIMIT_NOFILE)";
}

// The masters of the cluster that `seed` belongs to, read once with CLUSTER SLOTS, and each
// channel's master by its slot: the baseline's routing (and the nodes whose maxclients matter).
// The credentials are the seed's. Nothing, with `error` set, when the seed does not answer.
inline std::optional<node_map> read_cluster_map(const plain_endpoint& seed, std::string& error) {
  sync_redis r(seed);
  if (!r.ok()) {
    error = "Redis Cluster seed " + seed.host + ":" + std::to_string(seed.port) + ": " + r.error();
    return std::nullopt;
  }
  auto* reply = static_cast<redisReply*>(r.raw({"CLUSTER", "SLOTS"}));
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
    error = "CLUSTER SLOTS on " + seed.host + ":" + std::to_string(seed.port) + ": " +
            (reply && reply->str ? std::string(reply->str, reply->len) : "no slot map");
    if (reply) freeReplyObject(reply);
    return std::nullopt;
  }
  node_map map;
  map.sharded = true;
  auto owner =
      std::make_shared<std::vector<std::size_t>>(bcast::redis::cluster_slot_count, std::size_t(-1));
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const auto* range = reply->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
    const auto* master = range->element[2];
    if (master->type != REDIS_REPLY_ARRAY || master->elements < 2) continue;
    plain_endpoint ep = seed;
    if (master->element[0]->str && master->element[0]->len > 0)
      ep.host.assign(master->element[0]->str, master->element[0]->len);
    ep.port = static_cast<int>(master->element[1]->integer);
    auto at = std::find_if(map.nodes.begin(), map.nodes.end(),
                           [&](const auto& n) { return n.host == ep.host && n.port == ep.port; });
    if (at == map.nodes.end()) at = map.nodes.insert(map.nodes.end(), ep);
    const auto n = static_cast<std::size_t>(at - map.nodes.begin());
    for (auto slot = range->element[0]->integer; slot <= range->element[1]->integer; ++slot) {
      if (slot >= 0 && slot < static_cast<long long>(owner->size()))
        (*owner)[static_cast<std::size_t>(slot)] = n;
    }
  }
  freeReplyObject(reply);
  if (std::find(owner->begin(), owner->end(), std::size_t(-1)) != owner->end()) {
    error = "the cluster does not serve every slot (CLUSTER SLOTS on " + seed.host + ":" +
            std::to_string(seed.port) + ")";
    return std::nullopt;
  }
  map.node_of = [owner](std::string_view channel) {
    return (*owner)[bcast::redis::key_slot(channel)];
  };
  return map;
}

// A redis-server of our own on a free loopback port, tuned for many subscribers.
inline bcast::core::result<std::unique_ptr<bcast::redis::local_server>> start_private_redis(
    std::uint64_t clients) {
  auto server = std::make_unique<bcast::redis::local_server>(
      std::vector<std::string>{"--maxclients", std::to_string(clients),
                               // as large a backlog as the kernel allows (somaxconn caps it)
                               "--tcp-backlog", "65535",
                               // a subscriber that falls behind during a burst must not be cut off
                               "--client-output-buffer-limit", "pubsub 512mb 128mb 60"});
  if (auto started = server->start(); !started) return started.err();
  return server;
}

}  // namespace fanout
