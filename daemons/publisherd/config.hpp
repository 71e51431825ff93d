#pragma once
// publisherd's configuration: a JSON file (comments allowed), then command-line flags on top.
// Every key is optional; the defaults run a demo on loopback.

#include <bcast/auth/peer.hpp>
#include <bcast/core/cli.hpp>
#include <bcast/core/config_file.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/category.hpp>
#include <bcast/message/send_request.hpp>
#include <bcast/net/tls.hpp>
#include <bcast/net/tls_config.hpp>
#include <bcast/redis/options.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#ifndef BCAST_WEB_ROOT
#define BCAST_WEB_ROOT "/usr/share/bcast/web"
#endif

namespace publisherd {

struct listen_address {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const listen_address&, const listen_address&) = default;
};

struct https_listener {
  listen_address address;
  bcast::net::tls_options tls;
  friend bool operator==(const https_listener&, const https_listener&) = default;
};

struct config {
  std::string redis_url = "redis://127.0.0.1:6379";
  bcast::net::tls_options redis_tls;
  std::vector<listen_address> http{{"127.0.0.1", 8080}};
  std::vector<https_listener> https;
  std::string unix_socket;
  int unix_socket_mode = 0660;
  bcast::auth::peer_policy unix_peers;
  std::string users_file;
  std::string web_root = BCAST_WEB_ROOT;
  std::vector<bcast::message::category> categories = bcast::message::default_categories();
  bcast::message::limits limits;
  std::size_t max_request_body = 64 * 1024;
  std::chrono::milliseconds publish_timeout{1500};  // the answer, 201 or 503, comes within 2 s
  std::size_t history_max_len = 10000;
  std::chrono::seconds history_max_age{30 * 24 * 3600};
  std::chrono::seconds session_idle{30 * 60};
  std::chrono::seconds session_absolute{12 * 3600};
  std::string log_level = "info";
};

inline bcast::core::result<listen_address> parse_listen(std::string_view s) {
  auto bad = [&] { return bcast::core::error(bcast::core::errc::invalid_argument, "expected HOST:PORT, got '" + std::string(s) + "'"); };
  std::string_view host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return bad();
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return bad();
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  listen_address out{std::string(host), 0};
  if (out.host.empty() || !bcast::core::parse_int(port, out.port)) return bad();
  return out;
}

namespace detail {

using json = nlohmann::json;

inline bcast::core::error config_error(const std::string& where, const std::string& what) {
  return {bcast::core::errc::invalid_argument, where + ": " + what};
}

template <class T>
bool get(const json& doc, const char* key, T& out, std::string& problem) {
  if (!doc.contains(key)) return true;
  try {
    out = doc.at(key).get<T>();
    return true;
  } catch (const json::exception& e) {
    problem = std::string(key) + ": " + e.what();
    return false;
  }
}

}  // namespace detail

// Applies a config file's keys to `c`. Unknown keys are errors: a typo must not silently fall back.
inline bcast::core::result<void> apply_file(config& c, const std::string& path) {
  using detail::json;
  auto read = bcast::core::read_config_file(
      path, {"redis", "redis_tls", "http", "https", "unix_socket", "unix_socket_mode", "unix_socket_allow", "users_file",
             "web_root", "categories", "limits", "publish_timeout_ms", "history", "sessions", "log_level"});
  if (!read) return read.err();
  json doc = std::move(read).value();
  std::string problem;
  try {
    detail::get(doc, "redis", c.redis_url, problem);
    if (doc.contains("redis_tls")) {
      auto tls = bcast::net::tls_options_from_json(doc["redis_tls"], "redis_tls");
      if (!tls) return detail::config_error(path, tls.err().detail());
      c.redis_tls = std::move(tls).value();
    }
    if (doc.contains("http")) {
      c.http.clear();
      for (const auto& h : doc["http"]) {
        auto a = parse_listen(h.get<std::string>());
        if (!a) return detail::config_error(path, "http: " + a.err().detail());
        c.http.push_back(*a);
      }
    }
    if (doc.contains("https")) {
      for (const auto& h : doc["https"]) {
        // A server asks for client certificates only when told to.
        bcast::net::tls_options server_defaults;
        server_defaults.verify_peer = false;
        auto tls = bcast::net::tls_options_from_json(h, "https", server_defaults, {"listen"});
        if (!tls) return detail::config_error(path, tls.err().detail());
        auto a = parse_listen(h.at("listen").get<std::string>());
        if (!a) return detail::config_error(path, "https: " + a.err().detail());
        if (tls->cert_file.empty()) return detail::config_error(path, "https: cert_file is required");
        c.https.push_back({*a, std::move(tls).value()});
      }
    }
    detail::get(doc, "unix_socket", c.unix_socket, problem);
    if (doc.contains("unix_socket_mode")) c.unix_socket_mode = std::stoi(doc["unix_socket_mode"].get<std::string>(), nullptr, 8);
    if (doc.contains("unix_socket_allow")) {
      const auto& allow = doc["unix_socket_allow"];
      for (const auto& u : allow.value("users", json::array())) {
        auto uid = bcast::auth::uid_by_name(u.get<std::string>());
        if (!uid) return detail::config_error(path, "unix_socket_allow.users: no user " + u.get<std::string>());
        c.unix_peers.uids.push_back(*uid);
      }
      for (const auto& g : allow.value("groups", json::array())) {
        auto gid = bcast::auth::gid_by_name(g.get<std::string>());
        if (!gid) return detail::config_error(path, "unix_socket_allow.groups: no group " + g.get<std::string>());
        c.unix_peers.gids.push_back(*gid);
      }
      for (const auto& u : allow.value("uids", json::array())) c.unix_peers.uids.push_back(u.get<uid_t>());
      for (const auto& g : allow.value("gids", json::array())) c.unix_peers.gids.push_back(g.get<gid_t>());
    }
    detail::get(doc, "users_file", c.users_file, problem);
    detail::get(doc, "web_root", c.web_root, problem);
    if (doc.contains("categories")) {
      c.categories.clear();
      for (const auto& cat : doc["categories"]) {
        bcast::message::category k{cat.at("id").get<std::string>(), cat.value("label_en", ""), cat.value("label_id", "")};
        if (!bcast::message::is_valid_category_id(k.id)) return detail::config_error(path, "categories: bad id '" + k.id + "'");
        if (k.label_en.empty()) k.label_en = k.id;
        if (k.label_id.empty()) k.label_id = k.label_en;
        c.categories.push_back(k);
      }
      if (c.categories.empty()) return detail::config_error(path, "categories: at least one is needed");
    }
    if (doc.contains("limits")) {
      const auto& l = doc["limits"];
      c.limits.title_max_chars = l.value("title_max_chars", c.limits.title_max_chars);
      c.limits.body_max_bytes = l.value("body_max_bytes", c.limits.body_max_bytes);
      c.limits.max_targets = l.value("max_targets", c.limits.max_targets);
      c.max_request_body = l.value("request_body_max_bytes", c.max_request_body);
    }
    if (doc.contains("publish_timeout_ms")) c.publish_timeout = std::chrono::milliseconds(doc["publish_timeout_ms"].get<long>());
    if (doc.contains("history")) {
      const auto max_len = doc["history"].value("max_len", static_cast<long long>(c.history_max_len));
      const auto max_age = doc["history"].value("max_age_s", static_cast<long long>(c.history_max_age.count()));
      // A history keeps at least its newest entry: its id is the channel's last offset.
      if (max_len < 1) return detail::config_error(path, "history.max_len: at least 1 message, got " + std::to_string(max_len));
      if (max_age < 0) return detail::config_error(path, "history.max_age_s: 0 (no age limit) or more, got " + std::to_string(max_age));
      c.history_max_len = static_cast<std::size_t>(max_len);
      c.history_max_age = std::chrono::seconds(max_age);
    }
    if (doc.contains("sessions")) {
      c.session_idle = std::chrono::seconds(doc["sessions"].value("idle_timeout_s", static_cast<long>(c.session_idle.count())));
      c.session_absolute =
          std::chrono::seconds(doc["sessions"].value("absolute_timeout_s", static_cast<long>(c.session_absolute.count())));
    }
    detail::get(doc, "log_level", c.log_level, problem);
  } catch (const std::exception& e) {
    return detail::config_error(path, e.what());
  }
  if (!problem.empty()) return detail::config_error(path, problem);
  return {};
}

inline const bcast::core::cli::spec& cli_spec() {
  static const bcast::core::cli::spec s{{"config", "redis", "http", "unix-socket", "users"},
                                        {"check-config", "version", "help"}};
  return s;
}

// The config file named by --config (if any), then the flags.
inline bcast::core::result<config> load(const bcast::core::cli::arguments& args) {
  config c;
  if (auto path = args.value("config")) {
    if (auto r = apply_file(c, *path); !r) return r.err();
  }
  if (auto r = args.value("redis")) c.redis_url = *r;
  if (auto http = args.values("http"); !http.empty()) {
    c.http.clear();
    for (const auto& h : http) {
      auto a = parse_listen(h);
      if (!a) return bcast::core::error(bcast::core::errc::invalid_argument, "--http: " + a.err().detail());
      c.http.push_back(*a);
    }
  }
  if (auto s = args.value("unix-socket")) c.unix_socket = *s;
  if (auto u = args.value("users")) c.users_file = *u;
  auto redis = bcast::redis::parse_url(c.redis_url);
  if (!redis) return redis.err();
  if (auto level = bcast::core::log_level_setting(c.log_level); !level) return level.err();
  if (c.http.empty() && c.https.empty() && c.unix_socket.empty())
    return bcast::core::error(bcast::core::errc::invalid_argument, "no listener: give --http, https or --unix-socket");
  if (c.limits.title_max_chars == 0 || c.limits.body_max_bytes == 0 || c.limits.max_targets == 0)
    return bcast::core::error(bcast::core::errc::invalid_argument, "limits must be positive");
  return c;
}

// The keys of `next` that differ from `running` and that only a restart applies: the Redis
// connection and the listeners. A reload keeps the running values of these.
inline std::vector<std::string> restart_only_changes(const config& running, const config& next) {
  std::vector<std::string> changed;
  if (running.redis_url != next.redis_url || running.redis_tls != next.redis_tls) changed.push_back("redis");
  if (running.http != next.http) changed.push_back("http");
  if (running.https != next.https) changed.push_back("https");
  if (running.unix_socket != next.unix_socket || running.unix_socket_mode != next.unix_socket_mode)
    changed.push_back("unix_socket");
  if (running.publish_timeout != next.publish_timeout) changed.push_back("publish_timeout_ms");
  return changed;
}

inline void keep_restart_only_keys(const config& running, config& next) {
  next.redis_url = running.redis_url;
  next.redis_tls = running.redis_tls;
  next.http = running.http;
  next.https = running.https;
  next.unix_socket = running.unix_socket;
  next.unix_socket_mode = running.unix_socket_mode;
  next.publish_timeout = running.publish_timeout;
}

}  // namespace publisherd
