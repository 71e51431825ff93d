#pragma once
// publisherd's configuration: a JSON file (comments allowed), then command-line flags on top.
// Every key is optional but the signing key (or allow_unsigned); the defaults run a demo on
// loopback.

#include <bcast/auth/peer.hpp>
#include <bcast/auth/proxies.hpp>
#include <bcast/core/cli.hpp>
#include <bcast/core/config_file.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/category.hpp>
#include <bcast/message/send_request.hpp>
#include <bcast/net/tls.hpp>
#include <bcast/net/tls_config.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/trust/keys.hpp>
#include <bcast/trust/signature.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  bool allow_plaintext_redis = false;  // redis:// to a host that is not loopback
  std::string signing_key;             // the Ed25519 private key that signs every message
  bool allow_unsigned = false;         // no signing_key: publish unsigned messages
  // The public halves of keys that signed before signing_key (a rotation): scheduled messages
  // they sealed still go out, signed with signing_key.
  std::vector<std::string> previous_signing_keys;
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
  // Open HTTP connections: in all (and below the descriptor limit, whatever this says), from one
  // client address, and how long one may leave its answers unread.
  std::size_t max_connections = 1024;
  std::size_t connections_per_address = 256;
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds publish_timeout{1500};  // the answer, 201 or 503, comes within 2 s
  // Replicas a send's history entries must reach before it answers 201 (WAIT); unset: 1 on a
  // Redis Cluster, 0 (no wait) on a single Redis.
  std::optional<unsigned> min_replicas;
  std::size_t history_max_len = 10000;
  std::chrono::seconds history_max_age{30 * 24 * 3600};
  // The audit log (broker/audit.hpp): the newest max_entries, none older than max_age.
  std::size_t audit_max_entries = 100'000;
  std::chrono::days audit_max_age{90};
  std::chrono::seconds session_idle{30 * 60};
  std::chrono::seconds session_absolute{12 * 3600};
  // Reverse proxies whose X-Forwarded-For names the client and whose X-Forwarded-Proto says HTTPS.
  bcast::auth::trusted_proxies trusted_proxies;
  // Password hashing (~0.25 s each) on threads of its own: at most threads + queue logins are
  // checked or wait at once (more answer 503 "busy"), and at most login_in_flight_per_address
  // from one client address.
  unsigned login_hash_threads = 2;
  std::size_t login_hash_queue = 8;
  unsigned login_in_flight_per_address = 4;
  // Run with /bin/sh -c for a must-read message still unacknowledged escalate_after_s after it
  // went out (broker/escalation.hpp); empty: such a message is logged and audited only.
  std::string escalation_command;
  std::chrono::seconds escalation_timeout{60};
  std::string log_level = "info";
};

inline bcast::core::result<listen_address> parse_listen(std::string_view s) {
  auto bad = [&] {
    return bcast::core::error(bcast::core::errc::invalid_argument,
                              "expected HOST:PORT, got '" + std::string(s) + "'");
  };
  std::string_view host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return bad();
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

// "0660" and the like: 1 to 4 octal digits.
inline std::optional<int> parse_octal_mode(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  int mode = 0;
  for (char d : text) {
    if (d < '0' || d > '7') return std::nullopt;
    mode = mode * 8 + (d - '0');
  }
  return mode;
}

inline void read_listen(bcast::core::config_section& section, std::string_view key,
                        const std::string& text, std::vector<listen_address>& out) {
  if (auto a = parse_listen(text)) {
    out.push_back(*a);
  } else {
    section.refuse(key, a.err().detail());
  }
}

inline void read_unix_peers(bcast::core::config_section& allow, bcast::auth::peer_policy& peers) {
  std::vector<std::string> users, groups;
  allow.texts("users", users)
      .texts("groups", groups)
      .integers("uids", peers.uids)
      .integers("gids", peers.gids);
  for (const auto& u : users) {
    if (auto uid = bcast::auth::uid_by_name(u)) {
      peers.uids.push_back(*uid);
    } else {
      allow.refuse("users", "no user " + u);
    }
  }
  for (const auto& g : groups) {
    if (auto gid = bcast::auth::gid_by_name(g)) {
      peers.gids.push_back(*gid);
    } else {
      allow.refuse("groups", "no group " + g);
    }
  }
}

inline void read_category(bcast::core::config_section& entry,
                          std::vector<bcast::message::category>& out) {
  bcast::message::category k;
  entry.require("id").text("id", k.id).text("label_en", k.label_en).text("label_id", k.label_id);
  if (!entry.has("id")) return;
  if (!bcast::message::is_valid_category_id(k.id))
    entry.refuse("id", "bad category id '" + k.id + "'");
  if (k.label_en.empty()) k.label_en = k.id;
  if (k.label_id.empty()) k.label_id = k.label_en;
  out.push_back(std::move(k));
}

}  // namespace detail

// Applies a config file's keys to `c`. Unknown keys are errors at every depth: a typo must not
// silently fall back to a default.
inline bcast::core::result<void> apply_file(config& c, const std::string& path) {
  return bcast::core::read_config_file(path, [&](bcast::core::config_section& file) {
    file.text("redis", c.redis_url);
    bcast::net::read_tls_section(file, "redis_tls", c.redis_tls);
    file.flag("allow_plaintext_redis", c.allow_plaintext_redis);
    file.text("signing_key", c.signing_key).flag("allow_unsigned", c.allow_unsigned);
    file.texts("previous_signing_keys", c.previous_signing_keys);
    if (std::vector<std::string> http; file.texts("http", http).has("http")) {
      c.http.clear();
      for (const auto& h : http) detail::read_listen(file, "http", h, c.http);
    }
    file.sections("https", [&](bcast::core::config_section& listener, std::size_t) {
      std::string listen;
      listener.require("listen").text("listen", listen);
      // A server asks for client certificates only when told to.
      https_listener l;
      l.tls.verify_peer = false;
      bcast::net::read_tls_options(listener, l.tls);
      if (l.tls.cert_file.empty()) listener.refuse("cert_file", "required");
      std::vector<listen_address> address;
      if (listener.has("listen")) detail::read_listen(listener, "listen", listen, address);
      if (address.empty()) return;
      l.address = address.front();
      c.https.push_back(std::move(l));
    });
    file.text("unix_socket", c.unix_socket);
    if (std::string mode; file.text("unix_socket_mode", mode).has("unix_socket_mode")) {
      const auto parsed = detail::parse_octal_mode(mode);
      if (parsed) {
        c.unix_socket_mode = *parsed;
      } else {
        file.refuse("unix_socket_mode",
                    "expected an octal mode like \"0660\", got \"" + mode + "\"");
      }
    }
    file.section("unix_socket_allow", [&](bcast::core::config_section& allow) {
      detail::read_unix_peers(allow, c.unix_peers);
    });
    file.text("users_file", c.users_file).text("web_root", c.web_root);
    if (file.has("categories")) {
      c.categories.clear();
      file.sections("categories", [&](bcast::core::config_section& entry, std::size_t) {
        detail::read_category(entry, c.categories);
      });
      if (file.ok() && c.categories.empty()) file.refuse("categories", "at least one is needed");
    }
    // send_at: how far ahead, in days (message::limits keeps it as a duration).
    auto schedule_days =
        std::chrono::duration_cast<std::chrono::days>(c.limits.max_schedule_ahead).count();
    file.section("limits", [&](bcast::core::config_section& limits) {
      limits.integer("title_max_chars", c.limits.title_max_chars, std::size_t{1})
          .integer("body_max_bytes", c.limits.body_max_bytes, std::size_t{1})
          .integer("max_targets", c.limits.max_targets, std::size_t{1})
          .integer("schedule_max_ahead_days", schedule_days, decltype(schedule_days){1},
                   decltype(schedule_days){3650})
          .integer("request_body_max_bytes", c.max_request_body, std::size_t{1})
          .integer("login_hash_threads", c.login_hash_threads, 1u, 64u)
          .integer("login_hash_queue", c.login_hash_queue, std::size_t{0}, std::size_t{10000})
          .integer("login_in_flight_per_address", c.login_in_flight_per_address, 1u, 10000u)
          .integer("max_connections", c.max_connections, std::size_t{1})
          .integer("connections_per_address", c.connections_per_address, std::size_t{1})
          .duration("write_timeout_ms", c.write_timeout);
    });
    c.limits.max_schedule_ahead = std::chrono::days(schedule_days);
    file.duration("publish_timeout_ms", c.publish_timeout);
    if (file.has("min_replicas")) {
      unsigned replicas = 0;
      file.integer("min_replicas", replicas, 0u, 16u);
      c.min_replicas = replicas;
    }
    file.section("history", [&](bcast::core::config_section& history) {
      // A history keeps at least its newest entry: its id is the channel's last offset.
      history.integer("max_len", c.history_max_len, std::size_t{1});
      history.duration("max_age_s", c.history_max_age, 0);  // 0: no age limit
    });
    auto audit_days = c.audit_max_age.count();
    file.section("audit", [&](bcast::core::config_section& audit) {
      audit.integer("max_entries", c.audit_max_entries, std::size_t{1}, std::size_t{10'000'000})
          .integer("max_age_days", audit_days, decltype(audit_days){1}, decltype(audit_days){3650});
    });
    c.audit_max_age = std::chrono::days(audit_days);
    file.section("sessions", [&](bcast::core::config_section& sessions) {
      sessions.duration("idle_timeout_s", c.session_idle)
          .duration("absolute_timeout_s", c.session_absolute);
    });
    if (std::vector<std::string> proxies;
        file.texts("trusted_proxies", proxies).has("trusted_proxies")) {
      if (auto parsed = bcast::auth::trusted_proxies::parse(proxies)) {
        c.trusted_proxies = std::move(parsed).value();
      } else {
        file.refuse("trusted_proxies", parsed.err().detail());
      }
    }
    file.text("escalation_command", c.escalation_command)
        .duration("escalation_timeout_s", c.escalation_timeout);
    file.text("log_level", c.log_level);
  });
}

inline const bcast::core::cli::spec& cli_spec() {
  static const bcast::core::cli::spec s{
      {"config", "redis", "http", "unix-socket", "users", "signing-key"},
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
      if (!a)
        return bcast::core::error(bcast::core::errc::invalid_argument,
                                  "--http: " + a.err().detail());
      c.http.push_back(*a);
    }
  }
  if (auto s = args.value("unix-socket")) c.unix_socket = *s;
  if (auto u = args.value("users")) c.users_file = *u;
  if (auto k = args.value("signing-key")) c.signing_key = *k;
  auto redis = bcast::redis::parse_url(c.redis_url);
  if (!redis) return redis.err();
  if (auto r = bcast::redis::check_transport_policy(*redis, c.allow_plaintext_redis); !r)
    return r.err();
  if (auto level = bcast::core::log_level_setting(c.log_level); !level) return level.err();
  if (c.http.empty() && c.https.empty() && c.unix_socket.empty())
    return bcast::core::error(bcast::core::errc::invalid_argument,
                              "no listener: give --http, https or --unix-socket");
  return c;
}

struct signing_keys {
  std::shared_ptr<const bcast::trust::signing_key> current;  // nullptr: allow_unsigned
  bcast::trust::keyring previous;                            // previous_signing_keys
};

// The key that signs every message, or nullptr without one (allow_unsigned).
inline bcast::core::result<std::shared_ptr<const bcast::trust::signing_key>> load_signing_key(
    const config& c) {
  if (c.signing_key.empty() && !c.allow_unsigned)
    return bcast::core::error(
        bcast::core::errc::invalid_argument,
        "no signing key: stores show only messages signed by a key they trust. Make one with "
        "`bcastctl key gen --out /etc/bcast`, give publisherd /etc/bcast/signing.key "
        "(--signing-key FILE or config signing_key) and every store /etc/bcast/signing.pub; or set "
        "\"allow_unsigned\": true in the config to publish unsigned messages");
  if (c.signing_key.empty()) return std::shared_ptr<const bcast::trust::signing_key>();
  auto key = bcast::trust::signing_key::load(c.signing_key);
  if (!key) return key.err();
  return std::make_shared<const bcast::trust::signing_key>(std::move(key).value());
}

// The signing key and the previous keys whose seals still count.
inline bcast::core::result<signing_keys> load_signing_keys(const config& c) {
  auto current = load_signing_key(c);
  if (!current) return current.err();
  auto previous = bcast::trust::load_keyring(c.previous_signing_keys, "previous_signing_keys");
  if (!previous) return previous.err();
  return signing_keys{std::move(current).value(), std::move(previous).value()};
}

// The keys of `next` that differ from `running` and that only a restart applies: the Redis
// connection and the listeners. A reload keeps the running values of these.
inline std::vector<std::string> restart_only_changes(const config& running, const config& next) {
  std::vector<std::string> changed;
  if (running.redis_url != next.redis_url || running.redis_tls != next.redis_tls ||
      running.allow_plaintext_redis != next.allow_plaintext_redis)
    changed.push_back("redis");
  if (running.http != next.http) changed.push_back("http");
  if (running.https != next.https) changed.push_back("https");
  if (running.unix_socket != next.unix_socket || running.unix_socket_mode != next.unix_socket_mode)
    changed.push_back("unix_socket");
  if (running.publish_timeout != next.publish_timeout) changed.push_back("publish_timeout_ms");
  if (running.login_hash_threads != next.login_hash_threads ||
      running.login_hash_queue != next.login_hash_queue ||
      running.login_in_flight_per_address != next.login_in_flight_per_address)
    changed.push_back("limits.login_*");
  return changed;
}

inline void keep_restart_only_keys(const config& running, config& next) {
  next.redis_url = running.redis_url;
  next.redis_tls = running.redis_tls;
  next.allow_plaintext_redis = running.allow_plaintext_redis;
  next.http = running.http;
  next.https = running.https;
  next.unix_socket = running.unix_socket;
  next.unix_socket_mode = running.unix_socket_mode;
  next.publish_timeout = running.publish_timeout;
  next.login_hash_threads = running.login_hash_threads;
  next.login_hash_queue = running.login_hash_queue;
  next.login_in_flight_per_address = running.login_in_flight_per_address;
}

}  // namespace publisherd
