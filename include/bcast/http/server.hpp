#pragma once
// HTTP/1.1 server on net::stream: keep-alive and pipelining (answers leave strictly in request
// order, however handlers finish), bounded everything (request sizes, pipelined requests per
// connection, queued response bytes, connections in total and per client address), timeouts for
// slow headers, slow bodies, idle keep-alive and answers the client does not read, and a graceful
// shutdown that lets in-flight requests finish. One server serves any number of listeners (TCP,
// TLS, Unix socket, passed fds). Loop thread only.

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/http/cookies.hpp>
#include <bcast/http/date.hpp>
#include <bcast/http/headers.hpp>
#include <bcast/http/message.hpp>
#include <bcast/http/parser.hpp>
#include <bcast/http/responder.hpp>
#include <bcast/http/router.hpp>
#include <bcast/net/listener.hpp>
#include <bcast/net/stream.hpp>
#include <bcast/net/tls.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcast::http {

// Added to responses that do not set them. An empty value leaves that header out.
struct security_headers {
  bool enabled = true;
  std::string content_type_options = "nosniff";
  std::string referrer_policy = "no-referrer";
  std::string frame_options = "DENY";
  // For text/html responses only. The UI is plain files from this origin: no inline script.
  std::string content_security_policy =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
      "form-action 'self'";
  // On TLS connections only: a browser that saw it uses HTTPS alone for this host for a year.
  std::string strict_transport_security = "max-age=31536000";
};

struct server_options {
  parser_limits limits;  // request target 8 KiB (414), headers 16 KiB (431), body 64 KiB (413)
  // Requests received but not yet answered, per connection; past it the server stops reading.
  std::size_t max_pipelined = 16;
  // Past it, new connections are refused (plain HTTP gets a 503 first). Each connection is a
  // descriptor: keep it below the process's limit (connection_limit_for).
  std::size_t max_connections = 1024;
  // Open connections from one client IP address, refused past it as above, so that one address
  // cannot take them all. Unix-socket peers count in the total only. Zero: no per-address cap.
  std::size_t max_connections_per_address = 256;
  // From a request's first byte (or from accept, which covers the TLS handshake) to its last
  // header.
  std::chrono::milliseconds header_timeout{10'000};
  // From the end of the headers to the end of the body.
  std::chrono::milliseconds body_timeout{30'000};
  // An open keep-alive connection with nothing to do.
  std::chrono::milliseconds idle_timeout{60'000};
  // Answers are waiting (in the server or the kernel) and the client has taken none of their
  // bytes for this long (it does not read, or its network is gone): the connection is reset.
  // Checked every write_timeout, so such a client is gone within two of them. While a client
  // reads, however slowly, this never fires.
  std::chrono::milliseconds write_timeout{30'000};
  // After an error answer the server reads and discards for this long, so that the client is not
  // reset before it has read the answer. Zero closes at once.
  std::chrono::milliseconds linger_timeout{2'000};
  std::size_t linger_max_bytes = 1024 * 1024;
  // Write queue bound and the level at which the server stops reading until the peer catches up.
  net::stream_limits stream_limits{};
  std::string server_header;                       // the Server field; empty: none
  std::string default_cache_control = "no-store";  // for responses that set no Cache-Control
  security_headers security;
};

// What the server reports for every answered request, for logs and metrics.
struct request_record {
  const request& req;  // req.route is the matched pattern ("" when none matched)
  int status;          // 499 when the client went away before the answer
  std::chrono::steady_clock::duration duration;  // first byte of the request to the answer
  std::size_t response_bytes;
};

using request_observer = std::function<void(const request_record&)>;

// A connection the server refused or dropped because of a limit, for logs and metrics.
struct connection_event {
  enum class kind {
    over_max_connections,  // refused: max_connections are open
    over_address_limit,    // refused: max_connections_per_address are open from its address
    write_timeout,         // reset: it took none of its answers for write_timeout
  };
  kind what;
  std::string_view address;  // the client's IP address ("unix" for a Unix-socket peer)
};

using connection_observer = std::function<void(const connection_event&)>;

// The largest max_connections that keeps the process within `descriptor_limit` (RLIMIT_NOFILE),
// leaving descriptors for everything else: listeners, Redis, files, child processes, libuv.
inline std::size_t connection_limit_for(std::size_t descriptor_limit, std::size_t wanted) {
  constexpr std::size_t reserved = 128;
  std::size_t room =
      descriptor_limit > 2 * reserved ? descriptor_limit - reserved : descriptor_limit / 2;
  return std::min(wanted, room);
}

class server;

namespace detail {

// Held, like the stream it serves, until that stream's close callback (core::held_by_uv): the
// stream's callbacks call into it, and so do the responders of its requests (through a weak_ptr).
class connection final : public exchange_owner, public core::held_by_uv<connection> {
 public:
  connection(server& srv, std::shared_ptr<const server_options> options,
             std::shared_ptr<net::stream> s, std::shared_ptr<const connection_info> info,
             std::string client_address, bool counted_per_address);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void start();
  void begin_drain();
  void abort() {
    stream_closing_ = true;
    stream_->abort();
  }
  void detach() noexcept { srv_ = nullptr; }

  void complete(exchange&) override { flush_ready(); }
  // False also once the connection is on its way out and will send nothing more.
  bool is_open() const noexcept override { return !closed_ && !stream_closing_ && !lingering_; }
  // The client's IP address (net::stream::peer_host), and whether the server counts this
  // connection against that address's cap.
  const std::string& client_address() const noexcept { return client_address_; }
  bool counted_per_address() const noexcept { return counted_per_address_; }

 private:
  enum class timer_kind { none, header, body, idle, linger };

  void on_data(std::string_view data);
  void process(std::string_view data);
  void dispatch(request req);
  void queue_error(int status, std::string_view code, std::string_view message);
  void flush_ready();
  void write_response(exchange& ex);
  void after_flush();
  void maybe_send_continue();
  bool blocked() const noexcept;
  bool no_more_requests() const noexcept {
    return closing_ || (draining_ && !parser_.in_message());
  }
  void schedule_resume();
  void resume();
  void update_timer();
  void arm(timer_kind kind, std::chrono::milliseconds after);
  void on_timeout();
  void close_stream();
  void start_linger();
  void watch_writes();
  void check_writes();
  void on_closed();
  void observe(const request& req, int status, std::size_t bytes);

  server* srv_;
  std::shared_ptr<const server_options> options_;
  core::loop& loop_;
  std::shared_ptr<net::stream> stream_;
  std::shared_ptr<const connection_info> info_;
  std::string client_address_;
  bool counted_per_address_;
  request_parser parser_;
  std::deque<std::shared_ptr<exchange>> pending_;
  std::string backlog_;  // bytes received while the pipeline was full
  core::timer timer_;
  timer_kind timer_kind_ = timer_kind::none;
  std::uint64_t timer_message_ = 0;  // which request the header/body timer is for
  // Runs while answers wait in the stream, whatever the request timer above does.
  core::timer write_timer_;
  bool write_timer_armed_ = false;
  std::uint64_t taken_at_check_ = 0;  // the stream's bytes_taken_by_peer() when the timer was armed
  std::uint64_t requests_ = 0;
  std::size_t lingered_bytes_ = 0;
  bool got_bytes_ = false;
  bool closing_ = false;   // no further requests will be read
  bool draining_ = false;  // the server is shutting down
  bool linger_after_ = false;
  bool lingering_ = false;
  bool stream_closing_ = false;
  bool closed_ = false;
  bool processing_ = false;
  bool flushing_ = false;
  bool resume_scheduled_ = false;
  bool continue_sent_ = false;
};

}  // namespace detail

class server {
 public:
  explicit server(core::loop& l, server_options options = {})
      : loop_(l),
        options_(std::make_shared<const server_options>(std::move(options))),
        grace_timer_(l) {}
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  ~server() {
    for (auto& l : listeners_) l->close();
    for (auto& [id, c] : connections_) {
      c->detach();
      c->abort();
    }
  }

  // The routes. By default every request goes to this router.
  http::router& routes() noexcept { return router_; }

  // Replaces the router as the entry point (to wrap it with authentication, say). Set it before
  // the first request.
  void set_handler(handler h) { handler_ = std::move(h); }

  // Called for every answered request (and with 499 for each abandoned one).
  void observe(request_observer fn) { observers_.push_back(std::move(fn)); }

  // Called for every connection refused or dropped because of a limit.
  void observe_connections(connection_observer fn) {
    connection_observers_.push_back(std::move(fn));
  }

  core::result<std::shared_ptr<net::listener>> listen_tcp(
      const std::string& host, std::uint16_t port, std::shared_ptr<net::tls_context> tls = {}) {
    auto name = std::make_shared<std::string>();
    auto l = net::listener::listen_tcp(loop_, host, port, accept_handler(name), std::move(tls));
    return adopt_listener(std::move(l), name);
  }

  core::result<std::shared_ptr<net::listener>> listen_unix(const std::string& path,
                                                           int mode = 0660) {
    auto name = std::make_shared<std::string>();
    auto l = net::listener::listen_unix(loop_, path, accept_handler(name), mode);
    return adopt_listener(std::move(l), name);
  }

  // A listening socket passed in (systemd socket activation).
  core::result<std::shared_ptr<net::listener>> adopt_fd(
      int fd, std::shared_ptr<net::tls_context> tls = {}) {
    auto name = std::make_shared<std::string>();
    auto l = net::listener::adopt_fd(loop_, fd, accept_handler(name), std::move(tls));
    return adopt_listener(std::move(l), name);
  }

  // Serves a stream accepted elsewhere; `listener_name` is what connection_info reports.
  void accept(std::shared_ptr<net::stream> s, std::string listener_name) {
    if (shutting_down_) {
      s->abort();
      return;
    }
    const bool is_unix = s->kind() == net::stream::transport::pipe;
    std::string address = s->peer_host();
    if (connections_.size() >= options_->max_connections) {
      refuse(std::move(s), "too many connections, try again later");
      report({connection_event::kind::over_max_connections, address});
      return;
    }
    std::size_t cap = options_->max_connections_per_address;
    if (!is_unix && cap > 0) {
      std::size_t& open = per_address_[address];
      if (open >= cap) {
        refuse(std::move(s), "too many connections from your address, try again later");
        report({connection_event::kind::over_address_limit, address});
        return;
      }
      ++open;
    }
    s->set_limits(options_->stream_limits);
    auto info = std::make_shared<connection_info>();
    info->id = ++next_id_;
    info->listener = std::move(listener_name);
    info->peer_address = s->peer_address();
    info->is_tls = s->is_tls();
    info->is_unix = is_unix;
    if (info->is_unix) info->credentials = s->credentials();
    auto c = std::make_shared<detail::connection>(*this, options_, std::move(s), info,
                                                  std::move(address), !is_unix && cap > 0);
    connections_.emplace(info->id, c);
    c->start();
  }

  // Stops accepting, lets in-flight requests finish (each connection closes after its last
  // answer), closes idle connections, and calls `done` once every connection is gone. After
  // `grace`, connections still open are cut. `done` never runs from inside this call.
  void shutdown(std::function<void()> done,
                std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (done) shutdown_done_.push_back(std::move(done));
    if (shutting_down_) {
      maybe_finish_shutdown();
      return;
    }
    shutting_down_ = true;
    for (auto& l : listeners_) l->close();
    listeners_.clear();
    std::vector<std::shared_ptr<detail::connection>> all;
    for (auto& [id, c] : connections_) all.push_back(c);
    for (auto& c : all) c->begin_drain();
    grace_timer_.start(grace, [this] {
      std::vector<std::shared_ptr<detail::connection>> left;
      for (auto& [id, c] : connections_) left.push_back(c);
      for (auto& c : left) c->abort();
    });
    maybe_finish_shutdown();
  }

  bool shutting_down() const noexcept { return shutting_down_; }
  std::size_t connection_count() const noexcept { return connections_.size(); }
  // Open connections from one client IP address (as net::stream::peer_host gives it).
  std::size_t connection_count(const std::string& address) const {
    auto it = per_address_.find(address);
    return it == per_address_.end() ? 0 : it->second;
  }
  const server_options& options() const noexcept { return *options_; }
  // For connections accepted from now on; open ones keep the options they were accepted with.
  void set_options(server_options o) {
    options_ = std::make_shared<const server_options>(std::move(o));
  }
  core::loop& owner_loop() noexcept { return loop_; }

 private:
  friend class detail::connection;

  net::listener::accept_handler accept_handler(std::shared_ptr<std::string> name) {
    return [this, name](std::shared_ptr<net::stream> s) { accept(std::move(s), *name); };
  }

  core::result<std::shared_ptr<net::listener>> adopt_listener(
      core::result<std::shared_ptr<net::listener>> l, const std::shared_ptr<std::string>& name) {
    if (!l) return l;
    *name = l.value()->name();
    l.value()->set_stream_limits(options_->stream_limits);
    if (shutting_down_) {
      l.value()->close();
      return core::error(core::errc::cancelled, "the server is shutting down");
    }
    listeners_.push_back(l.value());
    return l;
  }

  void refuse(std::shared_ptr<net::stream> s, std::string_view why) {
    // A TLS stream cannot carry an answer before its handshake, so it is just closed.
    if (s->is_tls()) {
      s->abort();
      return;
    }
    const std::string body = R"({"error":"unavailable","message":")" + std::string(why) + "\"}";
    std::string busy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        "Connection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    if (s->write(busy)) {
      s->abort();
      return;
    }
    s->close();
  }

  void run_handler(request& req, responder res) {
    if (handler_) {
      handler_(req, std::move(res));
    } else {
      router_.dispatch(req, std::move(res));
    }
  }

  void notify(const request_record& record) {
    for (auto& fn : observers_) {
      try {
        fn(record);
      } catch (...) {  // NOLINT: an observer's failure must not break serving
      }
    }
  }

  void report(const connection_event& event) {
    for (auto& fn : connection_observers_) {
      try {
        fn(event);
      } catch (...) {  // NOLINT: an observer's failure must not break serving
      }
    }
  }

  const std::string& date() {
    std::time_t now = std::time(nullptr);
    if (now != date_time_) {
      date_time_ = now;
      date_ = format_http_date(now);
    }
    return date_;
  }

  void forget(std::uint64_t id) {
    if (auto it = connections_.find(id); it != connections_.end()) {
      if (it->second->counted_per_address()) {
        auto open = per_address_.find(it->second->client_address());
        if (open != per_address_.end() && --open->second == 0) per_address_.erase(open);
      }
      connections_.erase(it);
    }
    maybe_finish_shutdown();
  }

  void maybe_finish_shutdown() {
    if (!shutting_down_ || !connections_.empty()) return;
    grace_timer_.stop();
    for (auto& done : shutdown_done_) loop_.defer(std::move(done));
    shutdown_done_.clear();
  }

  core::loop& loop_;
  std::shared_ptr<const server_options> options_;
  http::router router_;
  handler handler_;
  std::vector<request_observer> observers_;
  std::vector<connection_observer> connection_observers_;
  std::vector<std::shared_ptr<net::listener>> listeners_;
  std::unordered_map<std::uint64_t, std::shared_ptr<detail::connection>> connections_;
  std::unordered_map<std::string, std::size_t> per_address_;  // open connections by client address
  std::uint64_t next_id_ = 0;
  bool shutting_down_ = false;
  std::vector<std::function<void()>> shutdown_done_;
  core::timer grace_timer_;
  std::time_t date_time_ = 0;
  std::string date_;
};

namespace detail {

inline connection::connection(server& srv, std::shared_ptr<const server_options> options,
                              std::shared_ptr<net::stream> s,
                              std::shared_ptr<const connection_info> info,
                              std::string client_address, bool counted_per_address)
    : srv_(&srv),
      options_(std::move(options)),
      loop_(srv.owner_loop()),
      stream_(std::move(s)),
      info_(std::move(info)),
      client_address_(std::move(client_address)),
      counted_per_address_(counted_per_address),
      parser_(options_->limits),
      timer_(loop_),
      write_timer_(loop_) {}

inline void connection::start() {
  hold();  // released by on_closed()
  stream_->on_data([this](std::string_view d) { on_data(d); });
  stream_->on_drain([this] { schedule_resume(); });
  stream_->on_close([this](const core::error&) { on_closed(); });
  // Until the first request's headers are in, the header timeout applies (TLS handshake included).
  arm(timer_kind::header, options_->header_timeout);
  stream_->start_reading();
}

inline void connection::begin_drain() {
  draining_ = true;
  if (closed_) return;
  if (lingering_ || (pending_.empty() && !parser_.in_message())) close_stream();
}

inline void connection::on_data(std::string_view data) {
  if (closed_ || stream_closing_) return;
  got_bytes_ = true;
  if (lingering_) {
    lingered_bytes_ += data.size();
    if (lingered_bytes_ > options_->linger_max_bytes) close_stream();
    return;
  }
  if (closing_) return;  // past the last request this connection will answer
  if (!backlog_.empty() || blocked()) {
    backlog_.append(data);
    stream_->pause_reading();
    return;
  }
  process(data);
}

inline bool connection::blocked() const noexcept {
  return pending_.size() >= options_->max_pipelined ||
         stream_->queued_bytes() >= options_->stream_limits.drain_below_bytes;
}

inline void connection::process(std::string_view data) {
  processing_ = true;
  while (!closed_ && !closing_ && srv_) {
    if (draining_ && !parser_.in_message()) {
      closing_ = true;  // shutting down: no new requests
      break;
    }
    if (data.empty()) break;
    if (blocked()) {
      backlog_.append(data);
      stream_->pause_reading();
      break;
    }
    std::size_t n = parser_.feed(data);
    data.remove_prefix(n);
    switch (parser_.status()) {
      case request_parser::state::need_more:
        data = {};
        break;
      case request_parser::state::message: {
        bool upgrade = parser_.upgrade();
        request req = parser_.take();
        // What follows an Upgrade or CONNECT is another protocol, which this server does not speak.
        if (upgrade) req.keep_alive = false;
        dispatch(std::move(req));
        break;
      }
      case request_parser::state::error: {
        const parse_error& e = parser_.error();
        queue_error(e.status, e.code, e.message);
        break;
      }
    }
  }
  processing_ = false;
  after_flush();
}

inline void connection::dispatch(request req) {
  auto ex = std::make_shared<exchange>();
  ex->request = std::move(req);
  ex->request.connection = info_;
  ex->owner = std::weak_ptr<exchange_owner>(shared_from_this());
  if (!ex->request.keep_alive) closing_ = true;
  pending_.push_back(ex);
  ++requests_;
  continue_sent_ = false;
  responder res(ex);
  try {
    srv_->run_handler(ex->request, res);
  } catch (const std::exception&) {
    res.error(500, "internal_error", "the request failed on the server");
  } catch (...) {
    res.error(500, "internal_error", "the request failed on the server");
  }
}

inline void connection::queue_error(int status, std::string_view code, std::string_view message) {
  auto ex = std::make_shared<exchange>();
  // What arrived of the refused request, so that observers can log it.
  const request& partial = parser_.current();
  ex->request.method = partial.method;
  ex->request.target = partial.target;
  ex->request.raw_path = partial.raw_path;
  ex->request.path = partial.path;
  ex->request.started = partial.started;
  if (!parser_.in_message() || partial.started == std::chrono::steady_clock::time_point{})
    ex->request.started = std::chrono::steady_clock::now();
  ex->request.connection = info_;
  ex->request.keep_alive = false;
  ex->response = response::error(status, code, message);
  ex->completed = true;
  closing_ = true;
  linger_after_ = status != 408;
  pending_.push_back(std::move(ex));
  flush_ready();
}

inline void connection::flush_ready() {
  if (closed_ || flushing_) return;
  flushing_ = true;
  while (!pending_.empty() && pending_.front()->completed && !closed_ && !stream_closing_) {
    auto ex = std::move(pending_.front());
    pending_.pop_front();
    write_response(*ex);
  }
  flushing_ = false;
  if (!processing_) after_flush();
}

inline bool valid_field_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name)
    if (!is_token_char(c)) return false;
  return true;
}

inline bool valid_field_value(std::string_view value) noexcept {
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

inline void connection::write_response(exchange& ex) {
  response& r = *ex.response;
  const request& req = ex.request;
  bool bodyless = r.status < 200 || r.status == 204 || r.status == 304;
  bool keep_open = req.keep_alive && !has_token(r.headers.get_or("Connection", ""), "close") &&
                   !(no_more_requests() && pending_.empty());
  std::string out;
  out.reserve(256 + r.body.size());
  out.append("HTTP/1.1 ")
      .append(std::to_string(r.status))
      .append(" ")
      .append(status_reason(r.status));
  out.append("\r\n");
  auto field = [&](std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
  };
  bool has_cache_control = false;
  bool has_cto = false, has_rp = false, has_xfo = false, has_csp = false, has_hsts = false;
  for (const auto& [name, value] : r.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Connection") ||
        iequals(name, "Transfer-Encoding") || iequals(name, "Date"))
      continue;
    // A value with CR or LF would let a handler's data inject headers; drop it.
    if (!valid_field_name(name) || !valid_field_value(value)) continue;
    has_cache_control |= iequals(name, "Cache-Control");
    has_cto |= iequals(name, "X-Content-Type-Options");
    has_rp |= iequals(name, "Referrer-Policy");
    has_xfo |= iequals(name, "X-Frame-Options");
    has_csp |= iequals(name, "Content-Security-Policy");
    has_hsts |= iequals(name, "Strict-Transport-Security");
    field(name, value);
  }
  if (srv_) field("Date", srv_->date());
  const server_options& o = *options_;
  if (!o.server_header.empty()) field("Server", o.server_header);
  if (!has_cache_control && !o.default_cache_control.empty())
    field("Cache-Control", o.default_cache_control);
  if (o.security.enabled) {
    const security_headers& s = o.security;
    if (!has_cto && !s.content_type_options.empty())
      field("X-Content-Type-Options", s.content_type_options);
    if (!has_rp && !s.referrer_policy.empty()) field("Referrer-Policy", s.referrer_policy);
    if (!has_xfo && !s.frame_options.empty()) field("X-Frame-Options", s.frame_options);
    std::string_view type = r.headers.get_or("Content-Type", "");
    if (!has_csp && !s.content_security_policy.empty() && type.substr(0, 9) == "text/html")
      field("Content-Security-Policy", s.content_security_policy);
    if (!has_hsts && info_->is_tls && !s.strict_transport_security.empty())
      field("Strict-Transport-Security", s.strict_transport_security);
  }
  if (!bodyless) field("Content-Length", std::to_string(r.body.size()));
  if (!keep_open) {
    field("Connection", "close");
  } else if (req.http_major == 1 && req.http_minor == 0) {
    field("Connection", "keep-alive");
  }
  out.append("\r\n");
  if (!bodyless && req.method != "HEAD") out.append(r.body);
  std::size_t bytes = out.size();
  if (auto ec = stream_->write(out)) {
    stream_->abort(core::error(ec, "writing an HTTP response"));
    return;
  }
  watch_writes();
  observe(req, r.status, bytes);
  if (!keep_open) {
    closing_ = true;
    pending_.clear();  // a handler that closed early abandons what was pipelined after it
    if (linger_after_ && options_->linger_timeout.count() > 0) {
      start_linger();
    } else {
      close_stream();
    }
  }
}

inline void connection::observe(const request& req, int status, std::size_t bytes) {
  if (!srv_) return;
  request_record record{req, status, std::chrono::steady_clock::now() - req.started, bytes};
  srv_->notify(record);
}

inline void connection::after_flush() {
  if (closed_ || stream_closing_ || lingering_) return;
  if (closing_ && pending_.empty()) {
    close_stream();
    return;
  }
  maybe_send_continue();
  update_timer();
  if (!closing_ && !blocked() && !backlog_.empty()) schedule_resume();
}

inline void connection::maybe_send_continue() {
  if (continue_sent_ || closing_ || !pending_.empty() || !parser_.expects_continue()) return;
  continue_sent_ = true;
  if (auto ec = stream_->write("HTTP/1.1 100 Continue\r\n\r\n")) {
    stream_->abort(core::error(ec, "writing 100 Continue"));
    return;
  }
  watch_writes();
}

inline void connection::schedule_resume() {
  if (resume_scheduled_ || closed_) return;
  resume_scheduled_ = true;
  // Deferred: a handler's send() must not re-enter the next request's handler.
  loop_.defer([self = shared_from_this()] {
    self->resume_scheduled_ = false;
    self->resume();
  });
}

inline void connection::resume() {
  if (closed_ || stream_closing_ || closing_ || blocked()) return;
  std::string data = std::move(backlog_);
  backlog_.clear();
  if (!data.empty()) process(data);
  if (!closed_ && !stream_closing_ && !closing_ && !blocked() && backlog_.empty())
    stream_->start_reading();
}

inline void connection::update_timer() {
  if (closed_ || stream_closing_ || lingering_) return;
  if (!backlog_.empty() || blocked()) {
    timer_.stop();  // the server is not reading now, so the client is not the slow one
    timer_kind_ = timer_kind::none;
  } else if (parser_.in_message()) {
    timer_kind kind = parser_.headers_done() ? timer_kind::body : timer_kind::header;
    if (timer_kind_ != kind || timer_message_ != requests_)
      arm(kind, kind == timer_kind::body ? options_->body_timeout : options_->header_timeout);
  } else if (!pending_.empty()) {
    timer_.stop();  // waiting for our own handlers
    timer_kind_ = timer_kind::none;
  } else if (requests_ == 0 && !got_bytes_) {
    // Still waiting for the first request: the header timer armed at start keeps running.
  } else if (timer_kind_ != timer_kind::idle || timer_message_ != requests_) {
    arm(timer_kind::idle, options_->idle_timeout);  // idle since the last answer
  }
}

inline void connection::arm(timer_kind kind, std::chrono::milliseconds after) {
  timer_kind_ = kind;
  timer_message_ = requests_;
  timer_.start(after, [this] { on_timeout(); });
}

inline void connection::on_timeout() {
  if (closed_ || stream_closing_) return;
  timer_kind kind = timer_kind_;
  timer_kind_ = timer_kind::none;
  switch (kind) {
    case timer_kind::header:
      if (!got_bytes_ || !parser_.in_message()) {
        close_stream();  // connected but never sent a request
      } else {
        queue_error(408, "request_timeout", "the request headers took too long");
      }
      break;
    case timer_kind::body:
      queue_error(408, "request_timeout", "the request body took too long");
      break;
    case timer_kind::idle:
    case timer_kind::linger:
      close_stream();
      break;
    case timer_kind::none:
      break;
  }
}

inline void connection::start_linger() {
  lingering_ = true;
  backlog_.clear();
  stream_->start_reading();
  timer_kind_ = timer_kind::linger;
  timer_.start(options_->linger_timeout, [this] { on_timeout(); });
}

// Armed by every write and kept running, also while the stream drains after close_stream(), as
// long as answers wait in it: whatever else the connection waits for, a client that reads
// nothing must not hold its answers (and this connection) forever.
inline void connection::watch_writes() {
  if (write_timer_armed_ || closed_ || options_->write_timeout.count() <= 0) return;
  write_timer_armed_ = true;
  taken_at_check_ = stream_->bytes_taken_by_peer();
  write_timer_.start(options_->write_timeout, [this] { check_writes(); });
}

inline void connection::check_writes() {
  write_timer_armed_ = false;
  if (closed_ || (stream_->queued_bytes() == 0 && stream_->kernel_queued_bytes() == 0))
    return;  // the client has taken everything
  if (stream_->bytes_taken_by_peer() != taken_at_check_) {
    watch_writes();  // slow, but reading
    return;
  }
  stream_closing_ = true;
  closing_ = true;
  timer_.stop();
  if (srv_) srv_->report({connection_event::kind::write_timeout, client_address_});
  stream_->reset(core::error(core::errc::timeout,
                             "the client read none of its answers for " +
                                 std::to_string(options_->write_timeout.count()) + " ms"));
}

inline void connection::close_stream() {
  if (stream_closing_ || closed_) return;
  stream_closing_ = true;
  closing_ = true;
  timer_.stop();
  stream_->close();
}

inline void connection::on_closed() {
  closed_ = true;
  timer_.stop();
  write_timer_.stop();
  // Requests still waiting for their handlers are abandoned: report them as 499.
  auto abandoned = std::move(pending_);
  pending_.clear();
  for (auto& ex : abandoned)
    if (!ex->completed) observe(ex->request, 499, 0);
  backlog_.clear();
  if (srv_) srv_->forget(info_->id);
  release();
}

}  // namespace detail

}  // namespace bcast::http
