#pragma once
// A real Redis Cluster for tests: N masters and one replica each (redis-server processes on free
// loopback ports, each in its own temp dir), joined by `redis-cli --cluster create`. The
// constructor returns once every node sees the same settled cluster: state ok, every node known,
// every slot served, every replica in sync with its master. Failures throw with what the nodes
// said.
//
// Given certificates, every node also listens for TLS and speaks TLS on the cluster bus and to its
// master (tls-cluster, tls-replication). Redis then announces each node's TLS port to clients that
// came in over TLS (rediss-cluster://, tls_seed_url()) and its plain port to the others: the
// fixture's own commands stay plain, on ports().

#include <bcast/net/loopback.hpp>
#include <bcast/redis/cluster_slots.hpp>
#include <bcast/redis/local_server.hpp>
#include <bcast/redis/reply.hpp>

#include <support/test_support.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bcast::test {

class redis_cluster {
 public:
  explicit redis_cluster(std::size_t masters = 3,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30),
                         const test_certificates* tls = nullptr)
      : masters_(masters) {
    if (masters < 3) throw std::invalid_argument("redis-cli --cluster create needs 3 masters");
    try {
      start(timeout, tls);
    } catch (...) {
      kill_all();
      throw;
    }
  }
  ~redis_cluster() { kill_all(); }
  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  // Every node's port, masters and replicas.
  const std::vector<std::uint16_t>& ports() const noexcept { return ports_; }

  // Each node's TLS port, in the order of ports(); empty without TLS.
  const std::vector<std::uint16_t>& tls_ports() const noexcept { return tls_ports_; }

  // Two seeds, as a configuration would name them; `credentials` is "user:password" or empty.
  std::string seed_url(const std::string& credentials = {}) const {
    return "redis-cluster://" + (credentials.empty() ? "" : credentials + "@") +
           "127.0.0.1:" + std::to_string(ports_[0]) + ",127.0.0.1:" + std::to_string(ports_[1]);
  }

  // Two seeds over TLS (with certificates only), named as the server certificate names them.
  std::string tls_seed_url() const {
    if (tls_ports_.size() < 2) throw std::logic_error("this cluster was made without TLS");
    return "rediss-cluster://localhost:" + std::to_string(tls_ports_[0]) +
           ",localhost:" + std::to_string(tls_ports_[1]);
  }

  // redis-cli against one node.
  std::string cli(std::uint16_t port, const std::string& args) const {
    return shell("redis-cli -p " + std::to_string(port) + " " + args + " 2>&1");
  }

  // The master that serves `slot`, as a live node's CLUSTER NODES says now; 0 when none does.
  std::uint16_t master_port_of_slot(std::uint16_t slot) const {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (!servers_[i]->running()) continue;
      for (const auto& node : parse_nodes(command(ports_[i], {"CLUSTER", "NODES"}).str)) {
        if (node.is_master && !node.failed && node.serves(slot)) return node.port;
      }
      return 0;
    }
    return 0;
  }

  // SIGKILL: the node is gone at once, as after a crash.
  void kill_node(std::uint16_t port) {
    const auto at = std::find(ports_.begin(), ports_.end(), port);
    if (at == ports_.end()) throw std::invalid_argument("no node on port " + std::to_string(port));
    servers_[static_cast<std::size_t>(at - ports_.begin())]->stop(SIGKILL);
  }

  // Starts a killed node again, with the cluster config it had: it rejoins, as a replica of
  // whoever took its slots over.
  void restart_node(std::uint16_t port) {
    const auto at = std::find(ports_.begin(), ports_.end(), port);
    if (at == ports_.end()) throw std::invalid_argument("no node on port " + std::to_string(port));
    if (auto started = servers_[static_cast<std::size_t>(at - ports_.begin())]->start(); !started)
      throw std::runtime_error("node " + std::to_string(port) + ": " + started.err().message());
  }

  // One command on a connection of its own, waited for (at most 2 s): the fixture runs no loop.
  static redis::reply command(std::uint16_t port, std::initializer_list<std::string_view> args) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket(): errno " + std::to_string(errno));
    struct closer {
      int fd;
      ~closer() { ::close(fd); }
    } close_at_end{fd};
    const timeval limit{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string what = "node " + std::to_string(port) + ": ";
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
      throw std::runtime_error(what + "connect: errno " + std::to_string(errno));
    const auto request =
        redis::encode_command(std::span<const std::string_view>(args.begin(), args.size()));
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
      throw std::runtime_error(what + "send: errno " + std::to_string(errno));
    redis::reply_reader reader;
    std::optional<redis::reply> answer;
    char buf[65536];
    while (!answer) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) throw std::runtime_error(what + "no answer");
      auto fed =
          reader.consume(std::string_view(buf, static_cast<std::size_t>(n)), [&](redis::reply&& r) {
            answer.emplace(std::move(r));
            return false;
          });
      if (!fed) throw std::runtime_error(what + fed.err().message());
    }
    if (answer->is_error()) throw std::runtime_error(what + answer->str);
    return std::move(*answer);
  }

 private:
  // One line of CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch>
  // <link> <slot or range>...".
  struct node_line {
    std::uint16_t port = 0;
    bool is_master = false;
    bool failed = false;  // fail, fail?, handshake, noaddr
    bool connected = false;
    std::vector<std::pair<int, int>> slot_ranges;

    bool serves(int slot) const {
      return std::any_of(slot_ranges.begin(), slot_ranges.end(),
                         [&](const auto& r) { return r.first <= slot && slot <= r.second; });
    }
  };

  static std::vector<node_line> parse_nodes(const std::string& text) {
    std::vector<node_line> nodes;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string word; fields >> word;) f.push_back(word);
      if (f.size() < 8) continue;
      node_line n;
      const auto colon = f[1].find(':');
      const auto at = f[1].find('@');
      if (colon == std::string::npos || at == std::string::npos || at < colon) continue;
      n.port = static_cast<std::uint16_t>(std::stoi(f[1].substr(colon + 1, at - colon - 1)));
      n.is_master = contains(f[2], "master");
      n.failed = contains(f[2], "fail") || contains(f[2], "handshake") || contains(f[2], "noaddr");
      n.connected = f[7] == "connected";
      for (std::size_t k = 8; k < f.size(); ++k) {
        if (f[k].starts_with('[')) continue;  // a slot being migrated or imported
        const auto dash = f[k].find('-');
        const int first = std::stoi(f[k].substr(0, dash));
        const int last = dash == std::string::npos ? first : std::stoi(f[k].substr(dash + 1));
        n.slot_ranges.emplace_back(first, last);
      }
      nodes.push_back(std::move(n));
    }
    return nodes;
  }

  // `n` distinct free ports: two calls of free_loopback_port() may return the same one.
  static std::vector<std::uint16_t> distinct_free_ports(std::size_t n) {
    std::vector<std::uint16_t> ports;
    for (int attempt = 0; ports.size() < n && attempt < 1000; ++attempt) {
      const auto port = value_or_throw(net::free_loopback_port());
      if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
    }
    if (ports.size() < n) throw std::runtime_error("no distinct free ports");
    return ports;
  }

  void start(std::chrono::milliseconds timeout, const test_certificates* tls) {
    const std::size_t count = masters_ * 2;
    // A bus port of its own for every node: the default (port + 10000) may be past 65535 or taken.
    const auto chosen = distinct_free_ports(count * (tls ? 3 : 2));
    const auto at = [&](std::size_t k) { return chosen.begin() + static_cast<std::ptrdiff_t>(k); };
    ports_.assign(at(0), at(count));
    if (tls) tls_ports_.assign(at(count * 2), at(count * 3));
    for (std::size_t i = 0; i < count; ++i) {
      std::vector<std::string> args{
          "--cluster-enabled", "yes", "--cluster-config-file",
          "nodes-" + std::to_string(ports_[i]) + ".conf", "--cluster-port",
          std::to_string(chosen[count + i]), "--cluster-node-timeout", "1000",
          // A replica may take over however long it was cut off: tests kill masters at will.
          "--cluster-replica-validity-factor", "0",
          // A replica's first sync starts at once instead of after 5 s.
          "--repl-diskless-sync-delay", "0",
          // A master pings its replicas every second, so a replica's offset leaves 0 (and
          // CLUSTER SLOTS lists it) although the test has written nothing yet.
          "--repl-ping-replica-period", "1"};
      if (tls) {
        args.insert(args.end(), {"--tls-port", std::to_string(tls_ports_[i]), "--tls-cert-file",
                                 tls->server_cert, "--tls-key-file", tls->server_key,
                                 "--tls-ca-cert-file", tls->ca_cert, "--tls-auth-clients", "no",
                                 "--tls-cluster", "yes", "--tls-replication", "yes"});
      }
      servers_.push_back(std::make_unique<redis::local_server>(std::move(args), ports_[i]));
      ok_or_throw(servers_.back()->start());
    }
    std::string create = "redis-cli --cluster create";
    for (const auto port : ports_) create += " 127.0.0.1:" + std::to_string(port);
    shell(create + " --cluster-replicas 1 --cluster-yes 2>&1");
    wait_until_settled(timeout);
  }

  // Polls (there is nothing to wait on) until every node agrees on a healthy cluster.
  void wait_until_settled(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last_view;
    while (std::chrono::steady_clock::now() < deadline) {
      const bool settled = std::all_of(ports_.begin(), ports_.end(), [&](std::uint16_t port) {
        return node_settled(port, last_view);
      });
      if (settled) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("the Redis Cluster did not settle; the last node asked:\n" +
                             last_view);
  }

  // What one node sees: cluster state ok, every node known, connected and not failing, every
  // slot served by one of the masters, and its replica listed with every slot range (CLUSTER
  // SLOTS leaves out a replica until the node has heard of a replication offset above 0 from
  // it); a replica itself is in sync with its master. `view` gets what the node said.
  bool node_settled(std::uint16_t port, std::string& view) const {
    const auto info = command(port, {"CLUSTER", "INFO"}).str;
    const auto nodes_text = command(port, {"CLUSTER", "NODES"}).str;
    view = "node " + std::to_string(port) + ":\n" + info + nodes_text;
    if (!contains(info, "cluster_state:ok")) return false;
    const auto nodes = parse_nodes(nodes_text);
    if (nodes.size() != ports_.size()) return false;
    std::size_t masters = 0, served = 0;
    for (const auto& n : nodes) {
      if (n.failed || !n.connected) return false;
      if (!n.is_master) continue;
      ++masters;
      for (const auto& [first, last] : n.slot_ranges)
        served += static_cast<std::size_t>(last - first + 1);
    }
    if (masters != masters_ || served != redis::cluster_slot_count) return false;
    const auto slots = command(port, {"CLUSTER", "SLOTS"});
    view += "CLUSTER SLOTS: " + slots.describe() + "\n";
    for (const auto& range : slots.elements) {
      if (range.elements.size() < 4) return false;  // start, end, master, replica
    }
    const auto self = std::find_if(nodes.begin(), nodes.end(),
                                   [&](const node_line& n) { return n.port == port; });
    if (self == nodes.end() || self->is_master) return true;
    const auto replication = command(port, {"INFO", "replication"}).str;
    view += replication;
    return contains(replication, "master_link_status:up");
  }

  void kill_all() noexcept {
    for (auto& s : servers_) s->stop(SIGKILL);
  }

  std::size_t masters_;
  std::vector<std::uint16_t> ports_;
  std::vector<std::uint16_t> tls_ports_;
  std::vector<std::unique_ptr<redis::local_server>> servers_;
};

}  // namespace bcast::test
