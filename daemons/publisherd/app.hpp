#pragma once
// publisherd: the admin web UI and JSON API over HTTP(S) and a Unix socket, logins, and publishing
// through Redis. Wiring only; the logic lives in the library layers.

#include "config.hpp"

#include <bcast/auth/authenticator.hpp>
#include <bcast/auth/users.hpp>
#include <bcast/broker/audit.hpp>
#include <bcast/broker/escalation.hpp>
#include <bcast/broker/idempotency.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/recalls.hpp>
#include <bcast/broker/receipt_aggregator.hpp>
#include <bcast/broker/schedule.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/core/daemon.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/log_limit.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/metrics.hpp>
#include <bcast/core/systemd.hpp>
#include <bcast/core/text.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/http/authentication.hpp>
#include <bcast/http/server.hpp>
#include <bcast/http/static_files.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/send_request.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <array>
#include <memory>
#include <string>

namespace publisherd {

using bcast::core::result;
using nlohmann::json;
namespace auth = bcast::auth;
namespace broker = bcast::broker;
namespace http = bcast::http;
namespace message = bcast::message;

namespace metrics = bcast::core::metrics;

// What GET /metrics shows. The request paths hold these handles; the gauges that mirror state
// (Redis, the stores) are read when scraped.
struct publisher_metrics {
  metrics::registry registry;
  metrics::family<metrics::counter, 1>& published = registry.add_counter_family<1>(
      "bcast_messages_published_total", "Messages published, by result.", {"result"});
  metrics::counter& sent = published.with({"sent"});
  metrics::counter& broker_unavailable = published.with({"broker_unavailable"});
  metrics::histogram& publish_duration = registry.add_histogram(
      "bcast_publish_duration_seconds", "Time from accepted request to Redis answer.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  metrics::gauge& redis_up =
      registry.add_gauge("bcast_redis_up", "Whether the Redis connection is ready.");
  metrics::counter& login_failures =
      registry.add_counter("bcast_login_failures_total", "Failed logins.");
  metrics::family<metrics::counter, 2>& requests = registry.add_counter_family<2>(
      "bcast_http_requests_total", "HTTP requests by route and status.", {"route", "status"});
  metrics::family<metrics::gauge, 1>& stores =
      registry.add_gauge_family<1>("bcast_stores", "Known stores by presence.", {"state"});
  metrics::gauge& stores_online = stores.with({"online"});
  metrics::gauge& stores_offline = stores.with({"offline"});
  metrics::gauge& connections =
      registry.add_gauge("bcast_http_connections", "Open HTTP connections.");
  metrics::family<metrics::counter, 1>& connections_dropped =
      registry.add_counter_family<1>("bcast_http_connections_dropped_total",
                                     "HTTP connections refused or reset by a limit.", {"limit"});
  metrics::family<metrics::counter, 1>& lifecycle = registry.add_counter_family<1>(
      "bcast_lifecycle_total",
      "Recalls, corrections, messages scheduled, cancelled, scheduled messages sent, and "
      "scheduled messages refused for a seal that does not hold.",
      {"action"});
  metrics::counter& recalled = lifecycle.with({"recall"});
  metrics::counter& corrected = lifecycle.with({"correction"});
  metrics::counter& scheduled = lifecycle.with({"schedule"});
  metrics::counter& cancelled = lifecycle.with({"cancel"});
  metrics::counter& scheduled_sent = lifecycle.with({"scheduled_sent"});
  metrics::counter& scheduled_refused = lifecycle.with({"scheduled_refused"});
  metrics::family<metrics::counter, 1>& escalations = registry.add_counter_family<1>(
      "bcast_escalations_total",
      "Escalations by how they ended: ok, failed, not_configured, all_acknowledged, recalled, "
      "dropped.",
      {"result"});
  metrics::gauge& scheduled_messages =
      registry.add_gauge("bcast_scheduled_messages",
                         "Messages in the schedule (being sent included), at the last poll.");
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
        schedule_(redis_),
        escalations_(redis_, publisher_.settings().records.max_age),
        audit_(redis_, audit_settings(config_)),
        presence_(fleet_redis_),
        receipts_(fleet_redis_),
        auth_(l, authenticator_options(config_), metrics_.login_failures, login_limits(config_)),
        recaller_(redis_, publisher_, messages_, schedule_, ids_),
        scheduled_runner_(redis_, schedule_,
                          [this](broker::scheduled_message m, std::function<void(bool)> sent) {
                            send_scheduled(std::move(m), std::move(sent));
                          }),
        escalation_runner_(
            redis_, escalations_,
            [this](broker::escalation_item item, broker::escalation_runner::outcome done) {
              escalate(std::move(item), std::move(done));
            },
            [this](const std::string& id, const std::string& why) {
              escalation_ended(id, "dropped", why, {});
            },
            escalation_runner_settings(config_)),
        server_(l),
        sweep_timer_(l),
        stores_timer_(l),
        watchdog_(l) {}

  // Loads the users, binds every listener, and starts connecting to Redis. Start-up errors are
  // returned (the daemon exits with them); Redis being down is not one of them.
  result<void> start() {
    apply_log_level();
    auto users = read_users(config_.users_file);
    if (!users) return users.err();
    auth_.set_users(std::move(users).value());
    auth_.observe_logins([this](const auth::login_attempt& a) {
      // Refused unhashed (throttled, busy): one entry per address a minute, not a flood of them.
      const bool checked = a.result == "ok" || a.result == "invalid_credentials";
      if (!checked && !login_refusals_.due(a.address)) return;
      audit(broker::audit_event(a.name, broker::audit_action::login, a.address), {}, a.result,
            checked ? "" : "more refusals from this address in the next minute are not recorded");
    });
    log_trusted_proxies();
    auto keys = load_signing_keys(config_);
    if (!keys) return keys.err();
    use_signing_keys(std::move(keys).value());
    publisher_.sign_off_loop();  // under load; one message at a time still signs on the loop
    if (auto warning =
            bcast::redis::transport_warning(redis_options(config_), config_.allow_plaintext_redis))
      bcast::core::log::warning(*warning);
    load_static();
    add_routes();
    limit_connections();
    server_.observe([this](const http::request_record& r) {
      char status[8];
      const auto end = std::to_chars(status, status + sizeof status, r.status).ptr;
      metrics_.requests.with({r.req.route, std::string_view(status, end - status)}).inc();
    });
    if (auto r = bind_listeners(); !r) return r;
    redis_.observe([this](bcast::redis::connection_state s, const bcast::core::error& why) {
      on_redis_state(s, why);
    });
    redis_.connect();
    fleet_redis_.connect();
    watchdog_.start();
    sweep_timer_.start(
        std::chrono::minutes(1),
        [this] {
          auth_.sweep(std::chrono::steady_clock::now());
          // Publishing trims the message log too; this keeps its age limit while nobody publishes.
          broker::trim_records(redis_, publisher_.settings().records);
        },
        std::chrono::minutes(1));
    sweep_timer_.unref();
    refresh_stores();
    stores_timer_.start(
        std::chrono::seconds(5), [this] { refresh_stores(); }, std::chrono::seconds(5));
    stores_timer_.unref();
    scheduled_runner_.observe([this](std::size_t scheduled) { on_schedule_polled(scheduled); });
    scheduled_runner_.start();
    return {};
  }

  // SIGHUP: the config file and the users file, again, without dropping a connection. A config
  // that does not load, or whose users file does not, is refused whole and the running one stays.
  // The keys that only a restart applies (Redis, listeners) keep their running values.
  void reload(result<config> next) {
    const auto refuse = [this](std::string_view action, const bcast::core::error& e) {
      bcast::core::log::error(
          "reload refused, keeping the running configuration, users and signing key: " +
          e.message());
      audit_system(action, "refused", e.message());
    };
    if (!next) return refuse(broker::audit_action::config_reload, next.err());
    auto users = read_users(next->users_file);
    if (!users) return refuse(broker::audit_action::users_reload, users.err());
    auto keys = load_signing_keys(*next);
    if (!keys) return refuse(broker::audit_action::config_reload, keys.err());
    if (auto later = restart_only_changes(config_, *next); !later.empty()) {
      std::string keys;
      for (const auto& k : later) keys += (keys.empty() ? "" : ", ") + k;
      bcast::core::log::warning("reload: " + keys + " changed; that applies at the next restart");
      keep_restart_only_keys(config_, *next);
    }
    config_ = std::move(next).value();
    auth_.set_users(std::move(users).value());
    apply_log_level();
    publisher_.set_settings(publisher_settings(config_));
    use_signing_keys(std::move(keys).value());
    auth_.set_options(authenticator_options(config_));
    log_trusted_proxies();
    server_.set_options(server_options(config_, descriptor_limit_));
    load_static();
    audit_.set_settings(audit_settings(config_));
    escalation_runner_.set_lease(escalation_runner_settings(config_).lease);
    bcast::core::log::notice("configuration reloaded; users reloaded (" +
                             std::to_string(auth_.users().size()) + " users)");
    audit_system(broker::audit_action::config_reload, "ok", {});
    audit_system(broker::audit_action::users_reload, "ok",
                 std::to_string(auth_.users().size()) + " users");
  }

  // The users file, refused when it does not load or a password hash is below the policy.
  static result<std::shared_ptr<const auth::user_store>> read_users(const std::string& path) {
    if (path.empty()) return std::make_shared<const auth::user_store>();
    auto loaded = auth::user_store::load_file(path);
    if (!loaded) return loaded.err();
    if (auto policy = loaded->check_password_policy(path); !policy) return policy.err();
    return std::make_shared<const auth::user_store>(std::move(loaded).value());
  }

  void shutdown(std::function<void()> done) {
    bcast::core::systemd::notify("STOPPING=1");
    sweep_timer_.stop();
    stores_timer_.stop();
    scheduled_runner_.stop();
    shutting_down_ = true;
    escalation_runner_.stop();
    watchdog_.stop();
    server_.shutdown([this, done = std::move(done)] {
      redis_.close();
      fleet_redis_.close();
      done();
    });
  }

 private:
  // Sockets passed by systemd (socket activation) replace the configured listeners; a socket
  // named "https" gets the first configured certificate.
  result<void> bind_listeners() {
    if (auto passed = bcast::core::systemd::passed_sockets(); !passed.empty()) {
      for (const auto& p : passed) {
        std::shared_ptr<bcast::net::tls_context> tls;
        if (p.name == "https") {
          if (config_.https.empty())
            return bcast::core::error(bcast::core::errc::invalid_argument,
                                      "socket 'https' passed but no https certificate configured");
          auto ctx = bcast::net::tls_context::create(bcast::net::tls_role::server,
                                                     config_.https.front().tls);
          if (!ctx) return ctx.err();
          tls = ctx.value();
        }
        auto l = server_.adopt_fd(p.fd, tls);
        if (!l) return l.err();
        bcast::core::log::info("listening on the socket '" + p.name + "' passed by systemd (" +
                               l.value()->name() + ")");
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

  // Says which key signs from now on (its id is what stores see in each message's sig), or that
  // nothing is signed, and which seals on the schedule count: those of every key signed with
  // since the start (a SIGHUP rotation) and of the previous keys configured (one across a
  // restart).
  void use_signing_keys(signing_keys keys) {
    auto& key = keys.current;
    const auto& running = publisher_.signing_key();
    if (key && (!running || running->id() != key->id()))
      bcast::core::log::notice("signing messages with key id " + key->id() + " (" +
                               config_.signing_key + ")" +
                               (running ? ", was " + running->id() : std::string()));
    if (!key && (running || !told_unsigned_))
      bcast::core::log::warning(
          "allow_unsigned: no signing key, messages go out unsigned; stores show them only "
          "with allow_unsigned. Make a key with `bcastctl key gen --out /etc/bcast`");
    told_unsigned_ = !key;
    if (key) signed_with_.add(key->public_half());
    own_keys_ = signed_with_;
    for (const auto& k : keys.previous.keys()) {
      if (!own_keys_.find(k.id()))
        bcast::core::log::info("scheduled messages sealed with previous key id " + k.id() +
                               " still go out");
      own_keys_.add(k);
    }
    publisher_.set_signing_key(std::move(key));
  }

  static bcast::redis::options redis_options(const config& c) {
    auto o = bcast::redis::parse_url(c.redis_url).value();
    o.tls_options = c.redis_tls;
    // A cluster's nodes are each checked against their own host.
    if (o.tls_options.server_name.empty() && !o.cluster) o.tls_options.server_name = o.endpoint.host;
    o.command_timeout = c.publish_timeout;
    o.connect_timeout = c.publish_timeout;
    o.client_name = "publisherd";
    return o;
  }

  static broker::escalation_runner_settings escalation_runner_settings(const config& c) {
    broker::escalation_runner_settings s;
    s.lease = std::chrono::duration_cast<std::chrono::milliseconds>(c.escalation_timeout) +
              std::chrono::seconds(60);
    return s;
  }

  static broker::audit_settings audit_settings(const config& c) {
    return {.max_entries = c.audit_max_entries, .max_age = c.audit_max_age};
  }

  // ---- the audit log --------------------------------------------------------------------

  // An entry for what `who` asks by `req`, to be completed with the message and the result once
  // they are known. Made while the request is at hand: the address is read from it.
  broker::audit_entry audit_entry(const http::request& req, const auth::principal& who,
                                  std::string_view action) const {
    return broker::audit_event(who.name, action, auth_.origin_of(http::presented_by(req)).address);
  }

  void audit(broker::audit_entry e, std::string message_id, std::string result,
             std::string detail = {}) {
    e.message_id = std::move(message_id);
    e.result = std::move(result);
    e.detail = std::move(detail);
    audit_.record(std::move(e));
  }

  void audit_system(std::string_view action, std::string result, std::string detail) {
    audit(broker::audit_event(std::string(broker::audit_system_actor), action), {},
          std::move(result), std::move(detail));
  }

  // A bearer token's requests: the first, then at most one a minute per token (the sampler).
  // Each action a token takes is audited under its user anyway.
  void note_token_use(const http::request& req, const auth::principal& who) {
    if (who.via != auth::principal::source::bearer_token || !token_uses_.due(who.name)) return;
    audit(audit_entry(req, who, broker::audit_action::token_use), {}, "ok",
          std::string(req.method) + " " + std::string(req.path));
  }

  static broker::publisher_settings publisher_settings(const config& c) {
    broker::publisher_settings s;
    s.history_max_len = c.history_max_len;
    s.min_replicas = c.min_replicas.value_or(redis_options(c).cluster ? 1 : 0);
    // Half the publish timeout for the replicas, the rest for the live frames and the record.
    s.replica_wait = std::max(std::chrono::milliseconds(1), c.publish_timeout / 2);
    s.history_max_age = std::chrono::duration_cast<std::chrono::milliseconds>(c.history_max_age);
    return s;
  }

  static auth::authenticator_options authenticator_options(const config& c) {
    return {.unix_peers = c.unix_peers,
            .sessions = {.idle_timeout = c.session_idle, .absolute_timeout = c.session_absolute},
            .proxies = c.trusted_proxies};
  }

  static auth::login_limits login_limits(const config& c) {
    auth::login_limits l;
    l.hashing = {.threads = c.login_hash_threads, .queue = c.login_hash_queue};
    l.throttle.per_address.max_in_flight = c.login_in_flight_per_address;
    return l;
  }

  // Believing forwarding headers weakens what a client can be held to: say so.
  void log_trusted_proxies() const {
    if (config_.trusted_proxies.empty()) return;
    std::string list;
    for (const auto& r : config_.trusted_proxies.ranges())
      list += (list.empty() ? "" : ", ") + r.str();
    bcast::core::log::notice("trusting X-Forwarded-For and X-Forwarded-Proto from " + list);
  }

  static http::server_options server_options(const config& c, std::size_t descriptor_limit) {
    http::server_options o;
    o.limits.max_body_bytes = c.max_request_body;
    o.max_connections = http::connection_limit_for(descriptor_limit, c.max_connections);
    o.max_connections_per_address = c.connections_per_address;
    o.write_timeout = c.write_timeout;
    o.server_header = "bcast-publisherd";
    return o;
  }

  // Every connection is a descriptor: the total stays below the process's limit, raised first.
  void limit_connections() {
    descriptor_limit_ = bcast::core::raise_descriptor_limit();
    server_.set_options(server_options(config_, descriptor_limit_));
    const auto& o = server_.options();
    const std::string most = "at most " + std::to_string(o.max_connections) +
                             " HTTP connections, " + std::to_string(o.max_connections_per_address) +
                             " per client address";
    if (o.max_connections < config_.max_connections) {
      bcast::core::log::warning("limits.max_connections is " +
                                std::to_string(config_.max_connections) +
                                ", but the descriptor limit (RLIMIT_NOFILE, LimitNOFILE=) is " +
                                std::to_string(descriptor_limit_) + ": serving " + most);
    } else {
      bcast::core::log::info("serving " + most + " (descriptor limit " +
                             std::to_string(descriptor_limit_) + ")");
    }
    server_.observe_connections(
        [this](const http::connection_event& e) { on_connection_dropped(e); });
  }

  // Counted always; logged at most once per 10 s for each limit, then how many went unlogged.
  void on_connection_dropped(const http::connection_event& e) {
    using kind = http::connection_event::kind;
    const auto& o = server_.options();
    std::string_view limit;
    std::string line;
    switch (e.what) {
      case kind::over_max_connections:
        limit = "max_connections";
        line = "refused a connection from " + std::string(e.address) + ": " +
               std::to_string(o.max_connections) +
               " connections are open (limits.max_connections, or the descriptor limit)";
        break;
      case kind::over_address_limit:
        limit = "connections_per_address";
        line = "refused a connection from " + std::string(e.address) + ": " +
               std::to_string(o.max_connections_per_address) +
               " connections from that address are open (limits.connections_per_address)";
        break;
      case kind::write_timeout:
        limit = "write_timeout";
        line = "reset a connection from " + std::string(e.address) +
               ": it read none of its answers for " + std::to_string(o.write_timeout.count()) +
               " ms (limits.write_timeout_ms)";
        break;
    }
    metrics_.connections_dropped.with({limit}).inc();
    connection_log_[static_cast<std::size_t>(e.what)].write(bcast::core::log::level::warning, line);
  }

  void apply_log_level() {
    bcast::core::log::config().threshold = *bcast::core::log::parse_level(config_.log_level);
  }

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
      if (redis_was_down_)
        bcast::core::log::notice("Redis is back: " + redis_options(config_).describe());
      else
        bcast::core::log::info("connected to Redis at " + redis_options(config_).describe());
      redis_was_down_ = false;
    } else if (s == st::waiting_to_reconnect && !redis_was_down_) {
      redis_was_down_ = true;
      bcast::core::log::error("Redis unreachable, messages cannot be sent until it is back: " +
                              why.message());
    }
  }

  void set_known_stores(std::vector<broker::store_presence> stores) {
    known_stores_ = std::move(stores);
    store_reach_ = broker::store_reach(broker::known_stores(known_stores_));
    // Escalations wait for the first store list: without it every store would look absent.
    if (!escalations_started_ && !shutting_down_) {
      escalations_started_ = true;
      escalation_runner_.start();
    }
  }

  void refresh_stores() {
    presence_.list([this](result<std::vector<broker::store_presence>> r) {
      if (r) set_known_stores(std::move(r).value());
    });
  }

  // ---- routes ---------------------------------------------------------------------------

  using user_handler = void (app::*)(http::request&, http::responder, const auth::principal&);

  // http::guarded, and a bearer token's use noted for the audit.
  template <class F>
  http::handler guarded(auth::access level, F fn) {
    return http::guarded(auth_, level,
                         [this, fn = std::move(fn)](http::request& req, http::responder res,
                                                    const auth::principal& p) {
                           note_token_use(req, p);
                           fn(req, std::move(res), p);
                         });
  }

  // A route that any logged-in user may call, answered by `handle`.
  auto for_any_user(user_handler handle) {
    return guarded(auth::access::any_user, [this, handle](http::request& req, http::responder res,
                                                          const auth::principal& p) {
      (this->*handle)(req, std::move(res), p);
    });
  }

  void add_routes() {
    auto& r = server_.routes();
    r.post("/api/v1/login", http::login_handler(auth_));
    r.post("/api/v1/logout", http::logout_handler(auth_));
    r.get("/api/v1/health", [this](http::request&) { return health(); });
    r.get("/metrics", [this](http::request&) { return scrape(); });
    r.get("/api/v1/categories",
          guarded(auth::access::any_user, [this](http::request&, http::responder res,
                                                 const auth::principal&) {
            json list = json::array();
            for (const auto& c : config_.categories)
              list.push_back({{"id", c.id}, {"label_en", c.label_en}, {"label_id", c.label_id}});
            res.json(200,
                     {{"categories", list},
                      {"limits",
                       {{"title_max_chars", config_.limits.title_max_chars},
                        {"body_max_bytes", config_.limits.body_max_bytes},
                        {"max_targets", config_.limits.max_targets},
                        {"schedule_max_ahead_days", std::chrono::duration_cast<std::chrono::days>(
                                                        config_.limits.max_schedule_ahead)
                                                        .count()}}}});
          }));
    r.post("/api/v1/messages", for_any_user(&app::post_message));
    // A user limited to target patterns reads only within them (auth::read_scope).
    r.get("/api/v1/messages",
          guarded(auth::access::any_user,
                  [this](http::request& req, http::responder res, const auth::principal& p) {
                    list_messages(req, std::move(res), auth::read_scope(p.targets));
                  }));
    r.get("/api/v1/messages/{id}",
          guarded(auth::access::any_user,
                  [this](http::request& req, http::responder res, const auth::principal& p) {
                    show_message(req, std::move(res), auth::read_scope(p.targets));
                  }));
    r.get("/api/v1/messages/{id}/receipts.csv",
          guarded(auth::access::any_user,
                  [this](http::request& req, http::responder res, const auth::principal& p) {
                    export_receipts(req, std::move(res), auth::read_scope(p.targets));
                  }));
    r.post("/api/v1/messages/{id}/recall", for_any_user(&app::recall_message));
    r.get("/api/v1/scheduled", for_any_user(&app::list_scheduled));
    r.post("/api/v1/scheduled/{id}/cancel", for_any_user(&app::cancel_scheduled));
    r.get("/api/v1/audit",
          guarded(auth::access::admin,
                  [this](http::request& req, http::responder res, const auth::principal&) {
                    list_audit(req, std::move(res));
                  }));
    r.get("/api/v1/stores",
          guarded(auth::access::any_user,
                  [this](http::request&, http::responder res, const auth::principal& p) {
                    list_stores(std::move(res), auth::read_scope(p.targets));
                  }));
  }

  http::response health() const {
    bool up = redis_.ready();
    return http::response::json(
        up ? 200 : 503, {{"status", up ? "ok" : "degraded"}, {"redis", up ? "up" : "down"}});
  }

  void post_message(http::request& req, http::responder res, const auth::principal& who) {
    auto now = std::chrono::system_clock::now();
    auto valid = message::validate_request(std::string_view(req.body), config_.categories,
                                           config_.limits, now);
    auto entry = audit_entry(req, who, broker::audit_action::send);
    if (!valid) {
      const auto& field = valid.err().field;
      audit(std::move(entry), {}, "invalid_request", field.empty() ? "" : "field " + field);
      return res.error(400, "invalid_request", valid.err().message, valid.err().field);
    }
    if (valid->send_at) entry.action = broker::audit_action::schedule;
    if (valid->supersedes) entry.action = broker::audit_action::correction;
    if (auto denied = who.first_disallowed_target(valid->targets)) {
      audit(std::move(entry), valid->supersedes.value_or(""), "forbidden", "to " + *denied);
      return res.error(403, "forbidden", "You may not send to " + *denied + ".", "targets");
    }
    if (valid->send_at)
      return schedule_message(req, std::move(res), std::move(entry), who, std::move(valid).value(),
                              now);
    const bool correction = valid->supersedes.has_value();
    auto envelope = message::make_envelope(std::move(valid).value(), ids_, who.name, now);
    if (!envelope) return res.error(500, "internal", envelope.err().message());
    // A client that retries after a timeout may name the id it used before: publishing is
    // idempotent by id, so a retry never shows a message twice (broker/idempotency.hpp).
    auto key = req.header("idempotency-key");
    if (key) {
      if (auto usable =
              broker::check_idempotency_key(*key, now, publisher_.settings().retry_window);
          !usable) {
        audit(std::move(entry), {}, "invalid_request", "field Idempotency-Key");
        return res.error(400, "invalid_request", usable.err().detail());
      }
      envelope->id = std::string(*key);
    }
    broker::publish_options options;
    options.expected_stores = store_reach_.count(*envelope);
    if (correction)
      return correct_message(std::move(res), std::move(entry), who, std::move(envelope).value(),
                             options, key.has_value());
    auto started = std::chrono::steady_clock::now();
    auto answer = [this, res, entry = std::move(entry), id = envelope->id, started,
                   escalates = envelope->escalate_after_s.has_value()](
                      result<broker::publish_outcome> r) mutable {
      metrics_.publish_duration.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (!r && r.err() == bcast::core::errc::conflict) {
        res.error(409, "conflict", r.err().detail());
        return audit(std::move(entry), id, "conflict");
      }
      if (!r) {
        not_sent(res, id, r.err().message());
        return audit(std::move(entry), id, "broker_unavailable");
      }
      metrics_.sent.inc();
      if (escalates) file_escalation(r->envelope_json);
      res.send(http::response::text(201, std::move(r->envelope_json), "application/json"));
      // After the answer, in the same write to Redis as whatever comes next: no round trip.
      audit(std::move(entry), id, "ok");
    };
    if (key)
      return broker::publish_with_key(publisher_, messages_, std::move(envelope).value(), options,
                                      std::move(answer));
    publisher_.publish(*envelope, std::move(answer), options);
  }

  void not_sent(const http::responder& res, const std::string& id, const std::string& why) {
    metrics_.broker_unavailable.inc();
    bcast::core::log::warning("message " + id + " not sent: " + why);
    res.error(503, "broker_unavailable",
              "Message not sent, check the connection to the broker (" + why + ").");
  }

  // What a user may recall, correct or cancel: a message they see and may send to. Anything
  // else answers as if it did not exist.
  static broker::recaller::visibility may_touch(const auth::principal& who) {
    auth::read_scope scope(who.targets);
    if (scope.unlimited()) return {};
    return [scope = std::move(scope), who](const message::envelope& e) {
      return scope.sees_message(e.targets) && !who.first_disallowed_target(e.targets);
    };
  }

  static std::string error_code(const broker::lifecycle_error& e) {
    using kind = broker::lifecycle_error::kind;
    switch (e.what) {
      case kind::invalid:
        return "invalid_request";
      case kind::not_found:
        return "not_found";
      case kind::conflict:
        return "conflict";
      case kind::unavailable:
        break;
    }
    return "broker_unavailable";
  }

  static void refuse(const http::responder& res, const broker::lifecycle_error& e) {
    using kind = broker::lifecycle_error::kind;
    switch (e.what) {
      case kind::invalid:
        return res.error(400, "invalid_request", e.message, e.field);
      case kind::not_found:
        return res.error(404, "not_found", e.message, e.field);
      case kind::conflict:
        return res.error(409, "conflict", e.message, e.field);
      case kind::unavailable:
        break;
    }
    res.error(503, "broker_unavailable",
              "Not done, check the connection to the broker (" + e.message + ").");
  }

  // A send with "supersedes": the message it corrects is recalled, then this one goes out.
  void correct_message(http::responder res, broker::audit_entry entry, const auth::principal& who,
                       message::envelope y, broker::publish_options options, bool keyed) {
    const std::string id = y.id, old = y.supersedes.value_or("");
    const bool escalates = y.escalate_after_s.has_value();
    recaller_.correct(
        std::move(y), may_touch(who), options, keyed,
        [this, res, entry = std::move(entry), id, old, escalates,
         by = who.name](broker::lifecycle_result<broker::publish_outcome> r) mutable {
          if (!r && r.err().what == broker::lifecycle_error::kind::unavailable) {
            not_sent(res, id, r.err().message);
            return audit(std::move(entry), old, "broker_unavailable", "correction " + id);
          }
          if (!r) {
            refuse(res, r.err());
            return audit(std::move(entry), old, error_code(r.err()), "correction " + id);
          }
          metrics_.sent.inc();
          metrics_.corrected.inc();
          if (escalates) file_escalation(r->envelope_json);
          bcast::core::log::notice("message " + old + " corrected by " + id + " (" + by + ")");
          res.send(http::response::text(201, std::move(r->envelope_json), "application/json"));
          audit(std::move(entry), old, "ok", "correction " + id);
        });
  }

  // A send with "send_at": filed in the schedule, sent by whichever publisherd claims it then.
  void schedule_message(http::request& req, http::responder res, broker::audit_entry entry,
                        const auth::principal& who, message::send_request request,
                        message::time_point now) {
    if (req.header("idempotency-key")) {
      audit(std::move(entry), {}, "invalid_request", "field Idempotency-Key");
      return res.error(400, "invalid_request",
                       "Idempotency-Key cannot be used with send_at: a scheduled message's id is "
                       "made for its send_at.");
    }
    const auto send_at = *request.send_at;
    auto m = broker::make_scheduled(std::move(request), who.name, send_at, now);
    if (!m) return res.error(500, "internal", m.err().message());
    if (const auto& key = publisher_.signing_key()) {
      if (auto sealed = broker::seal(*key, *m); !sealed)
        return res.error(500, "internal", sealed.err().message());
    }
    auto answer = broker::to_json(*m);
    schedule_.add(*m, [this, res, answer = std::move(answer), entry = std::move(entry),
                       id = m->envelope.id, by = who.name](result<void> r) mutable {
      const std::string send_at = "send_at " + answer["send_at"].get<std::string>();
      if (!r) {
        res.error(503, "broker_unavailable",
                  "Message not scheduled, check the connection to the broker (" +
                      r.err().message() + ").");
        return audit(std::move(entry), id, "broker_unavailable", send_at);
      }
      metrics_.scheduled.inc();
      bcast::core::log::notice("message " + id + " scheduled for " +
                               answer["send_at"].get<std::string>() + " by " + by);
      res.json(202, answer);
      audit(std::move(entry), id, "ok", send_at);
    });
  }

  // The schedule runner claimed `m`: sign it as it goes out (the key of now) and publish it as
  // the user who made it. A second attempt may follow one that reached some targets: a retry
  // appends only where it is missing.
  void send_scheduled(broker::scheduled_message m, std::function<void(bool)> sent) {
    if (auto why = broker::check_seal(own_keys_, !publisher_.signing_key(), m)) {
      metrics_.scheduled_refused.inc();
      bcast::core::log::error("scheduled message " + m.envelope.id + " refused, not sent: " + *why);
      audit(broker::audit_event(m.created_by, broker::audit_action::scheduled_send), m.envelope.id,
            "refused", *why);
      return sent(true);  // nothing to try again: off the schedule
    }
    auto& e = m.envelope;
    e.sent_at = message::format_time(std::chrono::system_clock::now());
    broker::publish_options options;
    options.expected_stores = store_reach_.count(e);
    options.retry = m.attempts > 1;
    publisher_.publish(
        e,
        [this, entry = broker::audit_event(m.created_by, broker::audit_action::scheduled_send),
         id = e.id, escalates = e.escalate_after_s.has_value(),
         sent = std::move(sent)](result<broker::publish_outcome> r) mutable {
          if (!r) {
            bcast::core::log::warning(
                "scheduled message " + id +
                " not sent, trying again when its claim runs out: " + r.err().message());
            audit(std::move(entry), id, "broker_unavailable", "tried again later");
            return sent(false);
          }
          metrics_.sent.inc();
          metrics_.scheduled_sent.inc();
          if (escalates) file_escalation(r->envelope_json);
          bcast::core::log::info("scheduled message " + id + " sent");
          audit(std::move(entry), id, "ok");
          sent(true);
        },
        options);
  }

  // ---- escalation ----------------------------------------------------------------------

  // A message with escalate_after_s went out: its escalation is due that long after its sent_at
  // (as recorded: an idempotent retry answers the first attempt's envelope). Filed once.
  void file_escalation(const std::string& envelope_json) {
    const auto e = message::decode(envelope_json);
    const auto item = e ? broker::escalation_of(*e) : std::nullopt;
    if (!item) return;
    escalations_.add(*item, [id = item->message_id](result<void> r) {
      if (!r)
        bcast::core::log::error("escalation of message " + id +
                                " not filed, it will not run: " + r.err().message());
    });
  }

  // The runner claimed `item`: it runs the command for the stores that have not acknowledged.
  // A read that fails leaves it to be claimed again (done with nothing).
  void escalate(broker::escalation_item item, broker::escalation_runner::outcome done) {
    const auto later = [this, done](const std::string& id, const bcast::core::error& e) {
      escalation_failures_.write(
          bcast::core::log::level::warning,
          "escalation of message " + id +
              " put off, tried again when its claim runs out: " + e.message());
      done(std::nullopt);
    };
    const std::string id = item.message_id;
    messages_.get(id, [this, id, done, later](result<std::optional<broker::message_record>> r) {
      if (!r) return later(id, r.err());
      if (!r.value())
        return escalation_ended(id, "failed", "the message is not in the message log", done);
      recaller_.records().get(id, [this, id, done, later, record = std::move(*r.value())](
                                      result<std::optional<broker::recall_record>> recall) {
        if (!recall) return later(id, recall.err());
        if (recall.value())
          return escalation_ended(id, "recalled", "recalled by " + (*recall)->by, done);
        auto stores = broker::known_stores(known_stores_);
        std::erase_if(stores, [&](const broker::known_store& s) {
          return !broker::store_matches_message(s, record.envelope);
        });
        receipts_.summarize(
            record, std::move(stores),
            [this, id, done, later, envelope = record.envelope](result<broker::receipt_summary> s) {
              if (!s) return later(id, s.err());
              escalate_to(envelope, *s, done);
            });
      });
    });
  }

  void escalate_to(const message::envelope& e, const broker::receipt_summary& s,
                   const broker::escalation_runner::outcome& done) {
    const auto missing = broker::unacknowledged_stores(s);
    const auto of = std::to_string(missing.size()) + " of " + std::to_string(s.expected) +
                    " stores have not acknowledged";
    if (missing.empty())
      return escalation_ended(e.id, "all_acknowledged",
                              "all " + std::to_string(s.expected) + " stores acknowledged", done);
    std::string named;  // the detail names the first few
    for (std::size_t i = 0; i < missing.size() && i < 20; ++i) named += ' ' + missing[i];
    if (missing.size() > 20) named += " ...";
    if (config_.escalation_command.empty())
      return escalation_ended(e.id, "not_configured",
                              of + " (" + named.substr(1) + "), but no escalation_command is set",
                              done);
    bcast::core::log::notice("escalation of message " + e.id + ": " + of +
                             ", running escalation_command");
    broker::run_escalation_command(
        loop_, config_.escalation_command, broker::escalation_env(e, s), config_.escalation_timeout,
        [this, id = e.id, done, detail = of + ":" + named](std::optional<std::string> why) {
          if (why) return escalation_ended(id, "failed", *why + "; " + detail, done);
          escalation_ended(id, "ok", detail, done);
        });
  }

  void escalation_ended(const std::string& id, std::string_view result, const std::string& detail,
                        const broker::escalation_runner::outcome& done) {
    metrics_.escalations.with({result}).inc();
    const auto line =
        "escalation of message " + id + ": " + std::string(result) + " (" + detail + ")";
    if (result == "ok" || result == "all_acknowledged") {
      bcast::core::log::notice(line);
    } else if (result == "recalled") {
      bcast::core::log::info(line);
    } else {
      bcast::core::log::warning(line);
    }
    audit_.record_escalation(id, std::string(result), detail);
    if (done) done(std::string(result));
  }

  void on_schedule_polled(std::size_t scheduled) {
    metrics_.scheduled_messages.set(static_cast<double>(scheduled));
    if (told_scheduled_) return;
    told_scheduled_ = true;
    bcast::core::log::info(std::to_string(scheduled) + " scheduled message" +
                           (scheduled == 1 ? "" : "s") + " waiting to be sent");
  }

  // The body is empty or {}: a recall has nothing to say but the id in the path.
  static bool empty_request(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return true;
    const auto j = json::parse(body, nullptr, false);
    return j.is_object() && j.empty();
  }

  void recall_message(http::request& req, http::responder res, const auth::principal& who) {
    if (!empty_request(req.body))
      return res.error(400, "invalid_request", "A recall takes no request body, or {}.");
    std::string id(req.param("id").value_or(""));
    recaller_.recall(
        id, who.name, may_touch(who),
        [this, res, id, entry = audit_entry(req, who, broker::audit_action::recall)](
            broker::lifecycle_result<broker::recall_outcome> r) mutable {
          if (!r) {
            refuse(res, r.err());
            return audit(std::move(entry), id, error_code(r.err()));
          }
          const auto& record = r->record;
          if (r->published) {
            metrics_.recalled.inc();
            bcast::core::log::notice("message " + id + " recalled by " + record.by + " (notice " +
                                     record.id + ")");
          }
          res.json(200, {{"id", id}, {"state", "recalled"}, {"recall", broker::to_json(record)}});
          audit(std::move(entry), id, "ok",
                r->published ? "notice " + record.id : "recalled already by " + record.by);
        });
  }

  // A list's ?limit=N: `fallback` when absent, nothing when it is not a number from 1 to `most`.
  static std::optional<std::size_t> read_limit(const http::request& req, std::size_t fallback,
                                               std::size_t most) {
    std::size_t limit = fallback;
    if (auto l = req.query_param("limit")) {
      if (!bcast::core::parse_int(*l, limit) || limit == 0 || limit > most) return std::nullopt;
    }
    return limit;
  }
  static void refuse_limit(const http::responder& res, std::size_t most) {
    res.error(400, "invalid_request",
              "limit must be a number from 1 to " + std::to_string(most) + ".", "limit");
  }

  void list_scheduled(http::request& req, http::responder res, const auth::principal& who) {
    const auto limit = read_limit(req, 200, broker::schedule::max_limit);
    if (!limit) return refuse_limit(res, broker::schedule::max_limit);
    schedule_.list(*limit, may_touch(who), [res](result<std::vector<broker::scheduled_message>> r) {
      if (!r)
        return res.error(
            503, "broker_unavailable",
            "Schedule not available, check the connection (" + r.err().message() + ").");
      json list = json::array();
      for (const auto& m : r.value()) list.push_back(broker::to_json(m));
      res.json(200, {{"scheduled", std::move(list)}});
    });
  }

  void cancel_scheduled(http::request& req, http::responder res, const auth::principal& who) {
    std::string id(req.param("id").value_or(""));
    auto visible = may_touch(who);
    // Each way this ends is audited once, with its result.
    const auto audited = [this, id, entry = audit_entry(req, who, broker::audit_action::cancel)](
                             std::string result) { audit(entry, id, std::move(result)); };
    const auto not_found = [res, id, audited] {
      res.error(404, "not_found", "No scheduled message " + id + ".", "id");
      audited("not_found");
    };
    const auto unavailable = [res, audited](const bcast::core::error& e) {
      res.error(503, "broker_unavailable",
                "Not cancelled, check the connection to the broker (" + e.message() + ").");
      audited("broker_unavailable");
    };
    const auto already_sent = [this, res, id, visible, not_found, unavailable, audited] {
      messages_.get(id, [res, id, visible, not_found, unavailable,
                         audited](result<std::optional<broker::message_record>> r) {
        if (!r) return unavailable(r.err());
        if (!r.value() || (visible && !visible((*r)->envelope))) return not_found();
        res.error(409, "conflict", "Message " + id + " was sent already; recall it instead.", "id");
        audited("conflict");
      });
    };
    schedule_.get(id, [this, res, id, by = who.name, visible, not_found, unavailable, already_sent,
                       audited](result<std::optional<broker::scheduled_message>> found) {
      if (!found) return unavailable(found.err());
      if (!found.value()) return already_sent();
      if (visible && !visible((*found)->envelope)) return not_found();
      schedule_.cancel(id, [this, res, id, by, already_sent, unavailable,
                            audited](result<broker::schedule::cancel_outcome> r) {
        using outcome = broker::schedule::cancel_outcome;
        if (!r) return unavailable(r.err());
        if (r.value() == outcome::unknown) return already_sent();
        if (r.value() == outcome::sending) {
          res.error(409, "conflict", "Message " + id + " is being sent.", "id");
          return audited("conflict");
        }
        metrics_.cancelled.inc();
        bcast::core::log::notice("scheduled message " + id + " cancelled by " + by);
        res.json(200, {{"id", id}, {"state", "cancelled"}});
        audited("ok");
      });
    });
  }

  void list_messages(http::request& req, http::responder res, auth::read_scope scope) {
    const auto limit = read_limit(req, 50, broker::message_log::max_limit);
    if (!limit) return refuse_limit(res, broker::message_log::max_limit);
    std::string before(req.query_param("before").value_or(""));
    if (!before.empty() && !message::is_valid_ulid(before))
      return res.error(400, "invalid_request", "before must be a message id.", "before");
    broker::message_log::visibility visible;
    if (!scope.unlimited())
      visible = [scope](const message::envelope& e) { return scope.sees_message(e.targets); };
    messages_.list(*limit, before, std::move(visible), [this, res](result<broker::message_page> r) {
      if (!r)
        return res.error(
            503, "broker_unavailable",
            "History not available, check the connection (" + r.err().message() + ").");
      json list = json::array();
      std::vector<std::string> ids;
      ids.reserve(r->messages.size());
      for (const auto& m : r->messages) {
        list.push_back(m.envelope);
        ids.push_back(m.envelope.id);
      }
      json page{{"messages", std::move(list)}};
      if (!r->next_before.empty()) page["next_before"] = r->next_before;
      // Which of them were recalled: the history page shows it on each.
      recaller_.records().get_many(ids, [res, page = std::move(page)](auto recalls) mutable {
        if (!recalls)
          return res.error(
              503, "broker_unavailable",
              "History not available, check the connection (" + recalls.err().message() + ").");
        json recalled = json::object();
        for (const auto& [id, rec] : recalls.value()) recalled[id] = broker::to_json(rec);
        page["recalled"] = std::move(recalled);
        res.json(200, page);
      });
    });
  }

  // The message `id` if `scope` sees it; answers 503 or 404 itself otherwise.
  void find_visible_message(const std::string& id, const auth::read_scope& scope,
                            const http::responder& res,
                            std::function<void(broker::message_record)> then) {
    messages_.get(id, [res, id, scope, then = std::move(then)](
                          result<std::optional<broker::message_record>> r) {
      if (!r)
        return res.error(
            503, "broker_unavailable",
            "Message not available, check the connection (" + r.err().message() + ").");
      if (!r.value() || !scope.sees_message(r.value()->envelope.targets))
        return res.error(404, "not_found", "No message " + id + ".");
      then(std::move(*r.value()));
    });
  }

  // The receipts of the stores `scope` sees (the counts too: they sum up the stores listed);
  // answers 503 itself when they cannot be read.
  void summarize_visible(broker::message_record record, const auth::read_scope& scope,
                         const http::responder& res,
                         std::function<void(broker::receipt_summary)> then) {
    auto stores = broker::known_stores(known_stores_);
    scope.keep_visible_stores(stores);
    receipts_.summarize(std::move(record), std::move(stores),
                        [res, then = std::move(then)](result<broker::receipt_summary> s) {
                          if (!s)
                            return res.error(
                                503, "broker_unavailable",
                                "Receipts not available (" + s.err().message() + ").");
                          then(std::move(s).value());
                        });
  }

  void show_message(http::request& req, http::responder res, auth::read_scope scope) {
    const std::string id(req.param("id").value_or(""));
    find_visible_message(id, scope, res, [this, res, id, scope](broker::message_record record) {
      recaller_.records().get(id, [this, res, scope, record = std::move(record)](
                                      result<std::optional<broker::recall_record>> recall) mutable {
        if (!recall)
          return res.error(
              503, "broker_unavailable",
              "Message not available, check the connection (" + recall.err().message() + ").");
        json recalled = recall.value() ? broker::to_json(**recall) : json(nullptr);
        const auto envelope = record.envelope;  // not one the lambda below moves from
        escalation_json(envelope, res,
                        [this, res, scope, record = std::move(record),
                         recalled = std::move(recalled)](json escalation) mutable {
                          json envelope = record.envelope;
                          summarize_visible(
                              std::move(record), scope, res,
                              [res, envelope = std::move(envelope), recalled = std::move(recalled),
                               escalation = std::move(escalation)](broker::receipt_summary s) {
                                res.json(200, {{"message", envelope},
                                               {"receipts", broker::to_json(s)},
                                               {"recall", recalled},
                                               {"escalation", escalation}});
                              });
                        });
      });
    });
  }

  // The escalation's state, null when the message asks for none (then without a round trip);
  // answers 503 itself when it cannot be read.
  void escalation_json(const message::envelope& e, const http::responder& res,
                       std::function<void(json)> then) {
    if (!e.escalate_after_s) return then(json(nullptr));
    escalations_.state(
        e.id, [res, then = std::move(then)](result<std::optional<broker::escalation_state>> r) {
          if (!r)
            return res.error(
                503, "broker_unavailable",
                "Message not available, check the connection (" + r.err().message() + ").");
          then(r.value() ? broker::to_json(**r) : json(nullptr));
        });
  }

  // GET /api/v1/messages/{id}/receipts.csv: what show_message lists, for a spreadsheet.
  void export_receipts(http::request& req, http::responder res, auth::read_scope scope) {
    const std::string id(req.param("id").value_or(""));
    find_visible_message(id, scope, res, [this, res, id, scope](broker::message_record record) {
      summarize_visible(std::move(record), scope, res, [res, id](broker::receipt_summary s) {
        auto csv = http::response::text(200, broker::to_csv(s), "text/csv; charset=utf-8");
        // The id is a ULID (the route matched a stored message), safe in a header.
        csv.set_header("Content-Disposition",
                       "attachment; filename=\"bcast-receipts-" + id + ".csv\"");
        res.send(std::move(csv));
      });
    });
  }

  void list_stores(http::responder res, auth::read_scope scope) {
    presence_.list([this, res,
                    scope = std::move(scope)](result<std::vector<broker::store_presence>> r) {
      if (!r)
        return res.error(503, "broker_unavailable",
                         "Stores not available, check the connection (" + r.err().message() + ").");
      set_known_stores(r.value());
      scope.keep_visible_stores(r.value());
      json list = json::array();
      for (const auto& s : r.value()) list.push_back(broker::to_json(s));
      res.json(200, {{"stores", list}});
    });
  }

  void list_audit(http::request& req, http::responder res) {
    const auto limit =
        read_limit(req, broker::audit_log::default_limit, broker::audit_log::max_limit);
    if (!limit) return refuse_limit(res, broker::audit_log::max_limit);
    std::string before(req.query_param("before").value_or(""));
    if (!before.empty() && !broker::is_audit_cursor(before))
      return res.error(400, "invalid_request",
                       "before must be a cursor from an earlier page's \"next\".", "before");
    audit_.page(*limit, before, [res](result<broker::audit_page> r) {
      if (!r)
        return res.error(
            503, "broker_unavailable",
            "Audit log not available, check the connection (" + r.err().message() + ").");
      json entries = json::array();
      for (const auto& e : r->entries) entries.push_back(broker::to_json(e));
      res.json(200, {{"entries", std::move(entries)},
                     {"next", r->next.empty() ? json(nullptr) : json(r->next)}});
    });
  }

  http::response scrape() {
    std::size_t online = 0;
    for (const auto& s : known_stores_) online += s.online ? 1 : 0;
    metrics_.stores_online.set(static_cast<double>(online));
    metrics_.stores_offline.set(static_cast<double>(known_stores_.size() - online));
    metrics_.redis_up.set(redis_.ready() ? 1 : 0);
    metrics_.connections.set(static_cast<double>(server_.connection_count()));
    auto r = http::response::text(200, metrics_.registry.exposition());
    r.set_header("Content-Type", std::string(metrics::exposition_content_type));
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
  broker::schedule schedule_;
  broker::escalations escalations_;
  // On the publishing connection: an entry is pipelined with the send it records.
  broker::audit_log audit_;
  broker::audit_sampler token_uses_;
  broker::audit_sampler login_refusals_;
  broker::presence_directory presence_;
  broker::receipt_aggregator receipts_;
  publisher_metrics metrics_;  // before auth_, which counts failed logins in it
  auth::authenticator auth_;
  message::ulid_generator ids_;
  broker::recaller recaller_;
  broker::schedule_runner scheduled_runner_;
  broker::escalation_runner escalation_runner_;
  http::server server_;
  std::size_t descriptor_limit_ = 0;  // RLIMIT_NOFILE, once start() has raised it
  // By http::connection_event::kind.
  std::array<bcast::core::log::limited, 3> connection_log_{
      bcast::core::log::limited({1, std::chrono::seconds(10)},
                                "connections refused over limits.max_connections"),
      bcast::core::log::limited({1, std::chrono::seconds(10)},
                                "connections refused over limits.connections_per_address"),
      bcast::core::log::limited({1, std::chrono::seconds(10)},
                                "connections reset after limits.write_timeout_ms")};
  std::vector<std::shared_ptr<bcast::net::listener>> listeners_;
  std::vector<broker::store_presence> known_stores_;
  broker::store_reach store_reach_;  // of known_stores_
  bcast::core::timer sweep_timer_;
  bcast::core::timer stores_timer_;
  bcast::core::systemd::watchdog watchdog_;
  bool told_ready_ = false;
  bool told_unsigned_ = false;
  bool redis_was_down_ = false;
  bool told_scheduled_ = false;
  bool escalations_started_ = false;
  bool shutting_down_ = false;
  bcast::core::log::limited escalation_failures_{{1, std::chrono::seconds(60)},
                                                 "escalations put off not logged"};
  bcast::trust::keyring signed_with_;  // every key signed with since the start
  bcast::trust::keyring own_keys_;     // the seals that count: those and previous_signing_keys
};

}  // namespace publisherd
