#pragma once
// publisherd: the admin web UI and JSON API over HTTP(S) and a Unix socket, logins, and publishing
// through Redis. Wiring only; the logic lives in the library layers.

#include "config.hpp"

#include <bcast/auth/password.hpp>
#include <bcast/auth/peer.hpp>
#include <bcast/auth/permissions.hpp>
#include <bcast/auth/sessions.hpp>
#include <bcast/auth/throttle.hpp>
#include <bcast/auth/users.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/receipt_aggregator.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/systemd.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/core/work.hpp>
#include <bcast/http/server.hpp>
#include <bcast/http/static_files.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <charconv>
#include <map>
#include <memory>
#include <string>

namespace publisherd {

using bcast::core::result;
using nlohmann::json;
namespace auth = bcast::auth;
namespace broker = bcast::broker;
namespace http = bcast::http;
namespace message = bcast::message;

// Who is calling: a logged-in user, a bearer token's owner, or a trusted local peer.
struct principal {
  std::string name;
  auth::role role = auth::role::publisher;
  std::vector<std::string> targets{"*"};
};

struct counters {
  std::map<std::string, std::uint64_t> published;  // by result
  std::uint64_t login_failures = 0;
  std::map<std::string, std::uint64_t> requests;   // "route status"
  // Publish latency histogram (seconds), Prometheus-style cumulative buckets.
  static constexpr double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  std::uint64_t latency_counts[std::size(buckets) + 1] = {};
  double latency_sum = 0;
  void observe_latency(double s) {
    std::size_t i = 0;
    while (i < std::size(buckets) && s > buckets[i]) ++i;
    ++latency_counts[i];
    latency_sum += s;
  }
};

class app {
 public:
  app(bcast::core::loop& l, config c)
      : loop_(l),
        config_(std::move(c)),
        redis_(l, redis_options(config_)),
        fleet_redis_(l, redis_options(config_)),
        publisher_(redis_, publisher_settings(config_)),
        messages_(redis_),
        presence_(fleet_redis_),
        receipts_(fleet_redis_),
        sessions_(session_options(config_)),
        server_(l, server_options(config_)),
        sweep_timer_(l),
        stores_timer_(l),
        watchdog_(l) {}

  // Loads the users, binds every listener, and starts connecting to Redis. Start-up errors are
  // returned (the daemon exits with them); Redis being down is not one of them.
  result<void> start() {
    apply_log_level();
    auto users = read_users(config_.users_file);
    if (!users) return users.err();
    adopt_users(std::move(users).value());
    load_static();
    add_routes();
    server_.observe([this](const http::request_record& r) {
      ++counters_.requests[r.req.route + " " + std::to_string(r.status)];
    });
    if (auto r = bind_listeners(); !r) return r;
    redis_.observe([this](bcast::redis::connection_state s, const bcast::core::error& why) { on_redis_state(s, why); });
    redis_.connect();
    fleet_redis_.connect();
    watchdog_.start();
    sweep_timer_.start(std::chrono::minutes(1), [this] {
      sessions_.sweep(std::chrono::steady_clock::now());
      throttle_.sweep(std::chrono::steady_clock::now());
      // Publishing trims the message log too; this keeps its age limit while nobody publishes.
      broker::trim_records(redis_, publisher_.settings().records);
    }, std::chrono::minutes(1));
    sweep_timer_.unref();
    refresh_stores();
    stores_timer_.start(std::chrono::seconds(5), [this] { refresh_stores(); }, std::chrono::seconds(5));
    stores_timer_.unref();
    return {};
  }

  // SIGHUP: the config file and the users file, again, without dropping a connection. A config
  // that does not load, or whose users file does not, is refused whole and the running one stays.
  // The keys that only a restart applies (Redis, listeners) keep their running values.
  void reload(result<config> next) {
    const auto refuse = [](const bcast::core::error& e) {
      bcast::core::log::error("reload refused, keeping the running configuration and users: " + e.message());
    };
    if (!next) return refuse(next.err());
    auto users = read_users(next->users_file);
    if (!users) return refuse(users.err());
    if (auto later = restart_only_changes(config_, *next); !later.empty()) {
      std::string keys;
      for (const auto& k : later) keys += (keys.empty() ? "" : ", ") + k;
      bcast::core::log::warning("reload: " + keys + " changed; that applies at the next restart");
      keep_restart_only_keys(config_, *next);
    }
    config_ = std::move(next).value();
    adopt_users(std::move(users).value());
    apply_log_level();
    publisher_.set_settings(publisher_settings(config_));
    sessions_.set_options(session_options(config_));
    server_.set_options(server_options(config_));
    load_static();
    bcast::core::log::notice("configuration reloaded; users reloaded (" + std::to_string(users_->size()) + " users)");
  }

  void shutdown(std::function<void()> done) {
    bcast::core::systemd::notify("STOPPING=1");
    sweep_timer_.stop();
    stores_timer_.stop();
    watchdog_.stop();
    server_.shutdown([this, done = std::move(done)] {
      redis_.close();
      fleet_redis_.close();
      done();
    });
  }

  const counters& stats() const noexcept { return counters_; }

 private:
  // Sockets passed by systemd (socket activation) replace the configured listeners; a socket
  // named "https" gets the first configured certificate.
  result<void> bind_listeners() {
    if (auto passed = bcast::core::systemd::passed_sockets(); !passed.empty()) {
      for (const auto& p : passed) {
        std::shared_ptr<bcast::net::tls_context> tls;
        if (p.name == "https") {
          if (config_.https.empty()) return bcast::core::error(bcast::core::errc::invalid_argument, "socket 'https' passed but no https certificate configured");
          auto ctx = bcast::net::tls_context::create(bcast::net::tls_role::server, config_.https.front().tls);
          if (!ctx) return ctx.err();
          tls = ctx.value();
        }
        auto l = server_.adopt_fd(p.fd, tls);
        if (!l) return l.err();
        bcast::core::log::info("listening on the socket '" + p.name + "' passed by systemd (" + l.value()->name() + ")");
        listeners_.push_back(l.value());
      }
      return {};
    }
    for (const auto& h : config_.http) {
      auto l = server_.listen_tcp(h.host, h.port);
      if (!l) return l.err();
      bcast::core::log::info("listening on http://" + l.value()->name());
      listeners_.push_back(l.value());
    }
    for (const auto& h : config_.https) {
      auto ctx = bcast::net::tls_context::create(bcast::net::tls_role::server, h.tls);
      if (!ctx) return ctx.err();
      auto l = server_.listen_tcp(h.address.host, h.address.port, ctx.value());
      if (!l) return l.err();
      bcast::core::log::info("listening on https://" + l.value()->name());
      listeners_.push_back(l.value());
    }
    if (!config_.unix_socket.empty()) {
      auto l = server_.listen_unix(config_.unix_socket, config_.unix_socket_mode);
      if (!l) return l.err();
      bcast::core::log::info("listening on " + l.value()->name());
      listeners_.push_back(l.value());
    }
    return {};
  }

  static bcast::redis::options redis_options(const config& c) {
    auto o = bcast::redis::parse_url(c.redis_url).value();
    o.tls_options = c.redis_tls;
    if (o.tls_options.server_name.empty()) o.tls_options.server_name = o.endpoint.host;
    o.command_timeout = c.publish_timeout;
    o.connect_timeout = c.publish_timeout;
    o.client_name = "publisherd";
    return o;
  }

  static broker::publisher_settings publisher_settings(const config& c) {
    broker::publisher_settings s;
    s.history_max_len = c.history_max_len;
    s.history_max_age = std::chrono::duration_cast<std::chrono::milliseconds>(c.history_max_age);
    return s;
  }

  static auth::session_options session_options(const config& c) {
    return {.idle_timeout = c.session_idle, .absolute_timeout = c.session_absolute};
  }

  static http::server_options server_options(const config& c) {
    http::server_options o;
    o.limits.max_body_bytes = c.max_request_body;
    o.server_header = "bcast-publisherd";
    return o;
  }

  static result<std::shared_ptr<auth::user_store>> read_users(const std::string& path) {
    if (path.empty()) return std::make_shared<auth::user_store>();
    auto loaded = auth::user_store::load_file(path);
    if (!loaded) return loaded.err();
    return std::make_shared<auth::user_store>(std::move(loaded).value());
  }

  // Users whose password, role or targets changed are logged out.
  void adopt_users(std::shared_ptr<auth::user_store> fresh) {
    if (users_) {
      for (const auto& name : auth::changed_users(*users_, *fresh)) sessions_.destroy_user(name);
    }
    users_ = std::move(fresh);
  }

  void apply_log_level() { bcast::core::log::config().threshold = *bcast::core::log::parse_level(config_.log_level); }

  // A web root that cannot be read leaves the API serving, and the UI as it was.
  void load_static() {
    auto files = http::static_files::directory(config_.web_root);
    if (!files) {
      bcast::core::log::warning("web UI not served: " + files.err().message());
      return;
    }
    server_.routes().fallback(files.value().as_handler(), "static");
  }

  void on_redis_state(bcast::redis::connection_state s, const bcast::core::error& why) {
    using st = bcast::redis::connection_state;
    if (s == st::ready) {
      if (!told_ready_) {
        // Listeners are bound (start() did that first) and Redis answers: ready to serve.
        told_ready_ = bcast::core::systemd::notify("READY=1\nSTATUS=serving, Redis connected");
      }
      if (redis_was_down_) bcast::core::log::notice("Redis is back: " + redis_options(config_).describe());
      else bcast::core::log::info("connected to Redis at " + redis_options(config_).describe());
      redis_was_down_ = false;
    } else if (s == st::waiting_to_reconnect && !redis_was_down_) {
      redis_was_down_ = true;
      bcast::core::log::error("Redis unreachable, messages cannot be sent until it is back: " + why.message());
    }
  }

  void set_known_stores(std::vector<broker::store_presence> stores) {
    known_stores_ = std::move(stores);
    store_reach_ = broker::store_reach(broker::known_stores(known_stores_));
  }

  void refresh_stores() {
    presence_.list([this](result<std::vector<broker::store_presence>> r) {
      if (r) set_known_stores(std::move(r).value());
    });
  }

  // ---- authentication -------------------------------------------------------------------

  enum class need { any_user, admin };

  std::optional<principal> identify(const http::request& req, bool& csrf_ok) {
    csrf_ok = true;
    if (auto creds = req.credentials()) {
      auth::peer_policy policy = config_.unix_peers;
      if (auth::peer_allowed(creds->uid, creds->gid, policy)) {
        return principal{"uid:" + std::to_string(creds->uid), auth::role::admin, {"*"}};
      }
      return std::nullopt;
    }
    if (auto authz = req.header("authorization"); authz && authz->size() > 7 &&
                                                  http::iequals(authz->substr(0, 7), "bearer ")) {
      if (const auth::user* u = users_->find_by_token(authz->substr(7))) return principal{u->name, u->role, u->targets};
      return std::nullopt;
    }
    auto cookie = req.cookie(auth::session_cookie_name);
    if (!cookie) return std::nullopt;
    auto s = sessions_.find(*cookie, std::chrono::steady_clock::now());
    if (!s) return std::nullopt;
    const auth::user* u = users_->find(s->user_name);
    if (!u) return std::nullopt;
    bool unsafe = req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS";
    if (unsafe) {
      auto token = req.header("x-csrf-token");
      csrf_ok = token && auth::csrf_token_matches(*s, *token);
    }
    return principal{u->name, u->role, u->targets};
  }

  template <class F>
  auto authed(need level, F fn) {
    return [this, level, fn = std::move(fn)](http::request& req, http::responder res) {
      bool csrf_ok = true;
      auto who = identify(req, csrf_ok);
      if (!who) return res.error(401, "unauthenticated", "Log in first, or present a valid token.");
      if (!csrf_ok) return res.error(403, "forbidden", "Missing or wrong X-CSRF-Token header.");
      if (level == need::admin && who->role != auth::role::admin)
        return res.error(403, "forbidden", "Only an admin may do this.");
      fn(req, std::move(res), *who);
    };
  }

  // ---- routes ---------------------------------------------------------------------------

  void add_routes() {
    auto& r = server_.routes();
    r.post("/api/v1/login", [this](http::request& req, http::responder res) { login(req, std::move(res)); });
    r.post("/api/v1/logout", [this](http::request& req, http::responder res) { logout(req, std::move(res)); });
    r.get("/api/v1/health", [this](http::request&) { return health(); });
    r.get("/metrics", [this](http::request&) { return metrics(); });
    r.get("/api/v1/categories", authed(need::any_user, [this](http::request&, http::responder res, const principal&) {
            json list = json::array();
            for (const auto& c : config_.categories) list.push_back({{"id", c.id}, {"label_en", c.label_en}, {"label_id", c.label_id}});
            res.json(200, {{"categories", list},
                           {"limits",
                            {{"title_max_chars", config_.limits.title_max_chars},
                             {"body_max_bytes", config_.limits.body_max_bytes},
                             {"max_targets", config_.limits.max_targets}}}});
          }));
    r.post("/api/v1/messages", authed(need::any_user, [this](http::request& req, http::responder res, const principal& p) {
             post_message(req, std::move(res), p);
           }));
    r.get("/api/v1/messages", authed(need::any_user, [this](http::request& req, http::responder res, const principal&) {
            list_messages(req, std::move(res));
          }));
    r.get("/api/v1/messages/{id}", authed(need::any_user, [this](http::request& req, http::responder res, const principal&) {
            show_message(req, std::move(res));
          }));
    r.get("/api/v1/stores", authed(need::any_user, [this](http::request&, http::responder res, const principal&) {
            list_stores(std::move(res));
          }));
  }

  void login(http::request& req, http::responder res) {
    auto body = req.json();
    if (!body || !body->is_object() || !(*body)["username"].is_string() || !(*body)["password"].is_string())
      return res.error(400, "invalid_request", "Send {\"username\":\"...\",\"password\":\"...\"}.");
    std::string name = (*body)["username"];
    std::string password = (*body)["password"];
    auto now = std::chrono::steady_clock::now();
    if (auto wait = throttle_.check(name, now)) {
      auto r = http::response::error(429, "too_many_attempts",
                                     "Too many failed logins. Try again in " + std::to_string(wait->count()) + " s.");
      r.set_header("Retry-After", std::to_string(wait->count()));
      return res.send(std::move(r));
    }
    // PBKDF2 at 600,000 iterations takes a quarter of a second: never on the loop thread.
    auto users = users_;
    bcast::core::run_in_pool(
        loop_,
        [users, name, password]() -> std::optional<auth::user> {
          const auth::user* u = users->authenticate(name, password);
          return u ? std::optional<auth::user>(*u) : std::nullopt;
        },
        [this, res, name, secure = req.is_tls()](std::optional<auth::user> u) {
          if (!u) {
            ++counters_.login_failures;
            throttle_.record_failure(name, std::chrono::steady_clock::now());
            bcast::core::log::warning("failed login for '" + name + "'");
            return res.error(401, "invalid_credentials", "Username and password do not match.");
          }
          throttle_.record_success(name);
          auto s = sessions_.create(u->name, u->role, std::chrono::steady_clock::now());
          auto r = http::response::json(200, {{"user", {{"name", u->name}, {"role", auth::to_string(u->role)}}},
                                              {"csrf_token", s.csrf_token}});
          r.add_header("Set-Cookie", auth::session_cookie(s.id, secure, config_.session_absolute));
          res.send(std::move(r));
        });
  }

  void logout(http::request& req, http::responder res) {
    if (auto cookie = req.cookie(auth::session_cookie_name)) sessions_.destroy(*cookie);
    auto r = http::response::no_content();
    r.add_header("Set-Cookie", auth::clear_session_cookie(req.is_tls()));
    res.send(std::move(r));
  }

  http::response health() const {
    bool up = redis_.ready();
    return http::response::json(up ? 200 : 503, {{"status", up ? "ok" : "degraded"}, {"redis", up ? "up" : "down"}});
  }

  void post_message(http::request& req, http::responder res, const principal& who) {
    auto now = std::chrono::system_clock::now();
    auto valid = message::validate_request(std::string_view(req.body), config_.categories, config_.limits, now);
    if (!valid) return res.error(400, "invalid_request", valid.err().message, valid.err().field);
    if (auto denied = auth::first_disallowed_target(auth::user{who.name, who.role, {}, who.targets, {}}, valid->targets))
      return res.error(403, "forbidden", "You may not send to " + *denied + ".", "targets");
    auto envelope = message::make_envelope(std::move(valid).value(), ids_, who.name, now);
    if (!envelope) return res.error(500, "internal", envelope.err().message());
    // A client that retries after a timeout may name the id it used before: publishing is
    // idempotent by id, so a retry never shows a message twice.
    broker::publish_options options;
    if (auto key = req.header("idempotency-key")) {
      if (!message::is_valid_ulid(*key)) return res.error(400, "invalid_request", "Idempotency-Key must be a message id (ULID).");
      envelope->id = std::string(*key);
      options.retry = true;
    }
    options.expected_stores = store_reach_.count(*envelope);
    auto started = std::chrono::steady_clock::now();
    publisher_.publish(*envelope, [this, res, id = envelope->id, started](result<broker::publish_outcome> r) {
      counters_.observe_latency(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (!r) {
        ++counters_.published["broker_unavailable"];
        bcast::core::log::warning("message " + id + " not sent: " + r.err().message());
        return res.error(503, "broker_unavailable",
                         "Message not sent, check the connection to the broker (" + r.err().message() + ").");
      }
      ++counters_.published["sent"];
      res.send(http::response::text(201, std::move(r->envelope_json), "application/json"));
    }, options);
  }

  void list_messages(http::request& req, http::responder res) {
    std::size_t limit = 50;
    if (auto l = req.query_param("limit")) {
      auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
      if (ec != std::errc() || p != l->data() + l->size() || limit == 0 || limit > broker::message_log::max_limit)
        return res.error(400, "invalid_request", "limit must be a number from 1 to 1000.", "limit");
    }
    std::string before(req.query_param("before").value_or(""));
    if (!before.empty() && !message::is_valid_ulid(before))
      return res.error(400, "invalid_request", "before must be a message id.", "before");
    messages_.list(limit, before, [res](result<std::vector<broker::message_record>> r) {
      if (!r) return res.error(503, "broker_unavailable", "History not available, check the connection (" + r.err().message() + ").");
      json list = json::array();
      for (const auto& m : r.value()) list.push_back(m.envelope);
      res.json(200, {{"messages", list}});
    });
  }

  void show_message(http::request& req, http::responder res) {
    std::string id(req.param("id").value_or(""));
    messages_.get(id, [this, res, id](result<std::optional<broker::message_record>> r) {
      if (!r) return res.error(503, "broker_unavailable", "Message not available, check the connection (" + r.err().message() + ").");
      if (!r.value()) return res.error(404, "not_found", "No message " + id + ".");
      auto record = std::move(*r.value());
      json envelope = record.envelope;
      receipts_.summarize(std::move(record), broker::known_stores(known_stores_),
                          [res, envelope](result<broker::receipt_summary> s) {
                            if (!s) return res.error(503, "broker_unavailable", "Receipts not available (" + s.err().message() + ").");
                            res.json(200, {{"message", envelope}, {"receipts", broker::to_json(s.value())}});
                          });
    });
  }

  void list_stores(http::responder res) {
    presence_.list([this, res](result<std::vector<broker::store_presence>> r) {
      if (!r) return res.error(503, "broker_unavailable", "Stores not available, check the connection (" + r.err().message() + ").");
      set_known_stores(r.value());
      json list = json::array();
      for (const auto& s : r.value()) list.push_back(broker::to_json(s));
      res.json(200, {{"stores", list}});
    });
  }

  http::response metrics() const {
    std::string out;
    out += "# HELP bcast_messages_published_total Messages published, by result.\n# TYPE bcast_messages_published_total counter\n";
    for (const auto& [result, n] : counters_.published)
      out += "bcast_messages_published_total{result=\"" + result + "\"} " + std::to_string(n) + "\n";
    out += "# HELP bcast_publish_duration_seconds Time from accepted request to Redis answer.\n# TYPE bcast_publish_duration_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < std::size(counters::buckets); ++i) {
      cumulative += counters_.latency_counts[i];
      char le[32];
      std::snprintf(le, sizeof le, "%g", counters::buckets[i]);
      out += "bcast_publish_duration_seconds_bucket{le=\"" + std::string(le) + "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += counters_.latency_counts[std::size(counters::buckets)];
    out += "bcast_publish_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += "bcast_publish_duration_seconds_sum " + std::to_string(counters_.latency_sum) + "\n";
    out += "bcast_publish_duration_seconds_count " + std::to_string(cumulative) + "\n";
    out += "# HELP bcast_redis_up Whether the Redis connection is ready.\n# TYPE bcast_redis_up gauge\n";
    out += std::string("bcast_redis_up ") + (redis_.ready() ? "1" : "0") + "\n";
    out += "# HELP bcast_login_failures_total Failed logins.\n# TYPE bcast_login_failures_total counter\n";
    out += "bcast_login_failures_total " + std::to_string(counters_.login_failures) + "\n";
    out += "# HELP bcast_http_requests_total HTTP requests by route and status.\n# TYPE bcast_http_requests_total counter\n";
    for (const auto& [key, n] : counters_.requests) {
      auto space = key.rfind(' ');
      out += "bcast_http_requests_total{route=\"" + key.substr(0, space) + "\",status=\"" + key.substr(space + 1) + "\"} " +
             std::to_string(n) + "\n";
    }
    std::size_t online = 0;
    for (const auto& s : known_stores_) online += s.online ? 1 : 0;
    out += "# HELP bcast_stores Known stores by presence.\n# TYPE bcast_stores gauge\n";
    out += "bcast_stores{state=\"online\"} " + std::to_string(online) + "\n";
    out += "bcast_stores{state=\"offline\"} " + std::to_string(known_stores_.size() - online) + "\n";
    auto r = http::response::text(200, std::move(out));
    r.set_header("Content-Type", "text/plain; version=0.0.4");
    return r;
  }

  bcast::core::loop& loop_;
  config config_;
  bcast::redis::client redis_;
  // Reads that grow with the fleet (the store list: two commands per store every 5 s; a message's
  // receipts: one per store) on a connection of their own: on the publishing one they would
  // queue ahead of every POST's scripts.
  bcast::redis::client fleet_redis_;
  broker::publisher publisher_;
  broker::message_log messages_;
  broker::presence_directory presence_;
  broker::receipt_aggregator receipts_;
  std::shared_ptr<const auth::user_store> users_;
  auth::session_store sessions_;
  auth::login_throttle throttle_;
  message::ulid_generator ids_;
  http::server server_;
  std::vector<std::shared_ptr<bcast::net::listener>> listeners_;
  std::vector<broker::store_presence> known_stores_;
  broker::store_reach store_reach_;  // of known_stores_
  bcast::core::timer sweep_timer_;
  bcast::core::timer stores_timer_;
  bcast::core::systemd::watchdog watchdog_;
  counters counters_;
  bool told_ready_ = false;
  bool redis_was_down_ = false;
};

}  // namespace publisherd
