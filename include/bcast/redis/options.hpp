#pragma once
// Connection options and the Redis URL forms (README, "Using the library"):
// redis://[user:pass@]host:port[/db], rediss://... (TLS), unix:///path.sock[?db=N], and the seed
// nodes of a Redis Cluster: redis-cluster://[user:pass@]host:port[,host:port]... and
// rediss-cluster://... (TLS).

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/net/connect.hpp>
#include <bcast/net/tls.hpp>
#include <bcast/redis/reply.hpp>

#ifndef _WIN32
#include <arpa/inet.h>
#include <netinet/in.h>
#endif

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::redis {

struct backoff_policy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5000};
  double multiplier = 2.0;
};

struct options {
  net::endpoint endpoint{"127.0.0.1", 6379, {}};
  bool tls = false;
  net::tls_options tls_options;  // ca_file, cert_file, key_file, server_name
  std::string user;              // ACL user; empty means the default user
  std::string password;
  int db = 0;
  std::string client_name;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::size_t max_queued_commands = 100000;  // issued while not ready
  reader_limits reply_limits;
  backoff_policy backoff;
  bool reconnect = true;
  // A Redis Cluster, reached first through one of `cluster_seeds` (`endpoint` is the first).
  bool cluster = false;
  std::vector<net::endpoint> cluster_seeds;

  // The URL without its password, for logs.
  std::string describe() const {
    if (endpoint.is_unix())
      return "unix://" + endpoint.unix_path + (db ? "?db=" + std::to_string(db) : "");
    std::string s = cluster ? (tls ? "rediss-cluster://" : "redis-cluster://")
                            : (tls ? "rediss://" : "redis://");
    if (!user.empty()) s += user + "@";
    if (!cluster) return s + host_port(endpoint) + (db ? "/" + std::to_string(db) : "");
    for (std::size_t i = 0; i < cluster_seeds.size(); ++i)
      s += (i ? "," : "") + host_port(cluster_seeds[i]);
    return s;
  }

 private:
  // An IPv6 address in brackets, as a URL writes it.
  static std::string host_port(const net::endpoint& e) {
    const bool v6 = e.host.find(':') != std::string::npos;
    return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
  }
};

// Fills endpoint, tls, user, password and db of `base` from `url`.
inline core::result<options> parse_url(std::string_view url, options base = {}) {
  auto bad = [&](const std::string& why) {
    return core::error(core::errc::invalid_argument,
                       "Redis URL '" + std::string(url) + "': " + why);
  };
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    return bad("expected redis://, rediss://, unix://, redis-cluster:// or rediss-cluster://");
  auto scheme = url.substr(0, scheme_end);
  auto rest = url.substr(scheme_end + 3);
  options o = std::move(base);
  if (scheme == "unix") {
#ifdef _WIN32
    return bad(
        "unix:// (a Unix socket) is not available on Windows builds; use redis:// or rediss://");
#endif
    auto query = rest.find('?');
    o.endpoint = net::endpoint{{}, 0, std::string(rest.substr(0, query))};
    if (o.endpoint.unix_path.empty() || o.endpoint.unix_path[0] != '/')
      return bad("expected unix:///absolute/path.sock");
    o.tls = false;
    o.cluster = false;
    o.cluster_seeds.clear();
    if (query != std::string_view::npos) {
      auto q = rest.substr(query + 1);
      while (!q.empty()) {
        auto amp = q.find('&');
        auto pair = q.substr(0, amp);
        auto eq = pair.find('=');
        auto key = pair.substr(0, eq);
        auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (key == "db") {
          if (!core::parse_int(value, o.db) || o.db < 0) return bad("db must be a number");
        } else if (key == "password") {
          o.password = core::percent_decode_lenient(value);
        } else if (key == "user") {
          o.user = core::percent_decode_lenient(value);
        } else {
          return bad("unknown parameter '" + std::string(key) + "'");
        }
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
      }
    }
    return o;
  }
  const bool cluster = scheme == "redis-cluster" || scheme == "rediss-cluster";
  if (scheme != "redis" && scheme != "rediss" && !cluster)
    return bad("unknown scheme '" + std::string(scheme) + "'");
  o.tls = scheme == "rediss" || scheme == "rediss-cluster";
  o.cluster = cluster;
  o.cluster_seeds.clear();
  auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      o.password = core::percent_decode_lenient(userinfo);  // redis://secret@host: a password alone
    } else {
      o.user = core::percent_decode_lenient(userinfo.substr(0, colon));
      o.password = core::percent_decode_lenient(userinfo.substr(colon + 1));
    }
  }
  auto slash = rest.find('/');
  auto hostports = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty() && (!core::parse_int(db, o.db) || o.db < 0)) return bad("db must be a number");
    if (cluster && o.db != 0) return bad("a Redis Cluster has only db 0");
  }
  auto parse_endpoint = [&](std::string_view hostport) -> core::result<net::endpoint> {
    std::string_view host = hostport;
    std::string_view port;
    if (!hostport.empty() && hostport[0] == '[') {
      auto close = hostport.find(']');
      if (close == std::string_view::npos) return bad("unterminated IPv6 address");
      host = hostport.substr(1, close - 1);
      if (close + 1 < hostport.size()) {
        if (hostport[close + 1] != ':') return bad("expected :port after the IPv6 address");
        port = hostport.substr(close + 2);
      }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
      host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
    }
    if (host.empty()) return bad("missing host");
    net::endpoint e{std::string(host), 6379, {}};
    if (!port.empty() && (!core::parse_int(port, e.port) || e.port == 0)) return bad("bad port");
    return e;
  };
  if (!cluster) {
    auto e = parse_endpoint(hostports);
    if (!e) return e.err();
    o.endpoint = std::move(e).value();
    return o;
  }
  o.db = 0;
  while (true) {
    const auto comma = hostports.find(',');
    auto e = parse_endpoint(hostports.substr(0, comma));
    if (!e) return e.err();
    o.cluster_seeds.push_back(std::move(e).value());
    if (comma == std::string_view::npos) break;
    hostports = hostports.substr(comma + 1);
  }
  o.endpoint = o.cluster_seeds.front();
  return o;
}

// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and "localhost": traffic to these never leaves
// the machine. Any other name could resolve anywhere.
inline bool is_loopback_host(std::string_view host) {
  if (core::iequals(host, "localhost")) return true;
  const std::string h(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

// Whether commands and replies (passwords, messages) would cross a network unencrypted: redis://
// to a host that is not loopback, or redis-cluster:// with any seed that is not (the nodes the
// seeds name are then likely elsewhere as well). rediss://, rediss-cluster:// and unix:// never do.
inline bool is_plaintext_over_network(const options& o) {
  if (o.tls || o.endpoint.is_unix()) return false;
  if (!is_loopback_host(o.endpoint.host)) return true;
  return o.cluster &&
         std::any_of(o.cluster_seeds.begin(), o.cluster_seeds.end(),
                     [](const net::endpoint& seed) { return !is_loopback_host(seed.host); });
}

// The daemons' transport policy (README, "Redis over the network"): plain text over a network is
// refused unless the configuration allows it (`"allow_plaintext_redis": true`).
[[nodiscard]] inline core::result<void> check_transport_policy(const options& o,
                                                               bool allow_plaintext) {
  if (allow_plaintext || !is_plaintext_over_network(o)) return {};
  return core::error(
      core::errc::invalid_argument,
      "Redis at " + o.describe() +
          " would be reached in plain text over the network, where anyone on the "
          "path can read the Redis password and alter messages: use rediss:// "
          "(TLS), or set \"allow_plaintext_redis\": true in the config to accept that");
}

// What a daemon logs at start when the configuration allows the plain text that
// check_transport_policy() would refuse; nullopt when there is nothing to say.
inline std::optional<std::string> transport_warning(const options& o, bool allow_plaintext) {
  if (!allow_plaintext || !is_plaintext_over_network(o)) return std::nullopt;
  return "allow_plaintext_redis: Redis at " + o.describe() +
         " is reached in plain text over the network; anyone on the path can read the Redis "
         "password and alter or drop messages (signatures still stop forged ones). Use rediss://";
}

}  // namespace bcast::redis
