#pragma once
// One Redis connection as an explicit state machine:
//   disconnected -> connecting (resolve, connect, TLS) -> authenticating -> selecting -> ready
//   any failure -> waiting_to_reconnect (backoff with jitter) -> connecting ...; close() -> closed
// Commands are pipelined: replies are matched to callbacks in order. Commands issued before ready
// wait in a bounded queue. A command that outlives its timeout breaks the connection, because the
// reply order can no longer be trusted; everything in flight then fails with that reason.

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/net/connect.hpp>
#include <bcast/net/stream.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/redis/reply.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::redis {

enum class connection_state {
  disconnected,
  connecting,
  authenticating,
  selecting,
  ready,
  waiting_to_reconnect,
  closed
};

inline const char* to_string(connection_state s) noexcept {
  switch (s) {
    case connection_state::disconnected:
      return "disconnected";
    case connection_state::connecting:
      return "connecting";
    case connection_state::authenticating:
      return "authenticating";
    case connection_state::selecting:
      return "selecting";
    case connection_state::ready:
      return "ready";
    case connection_state::waiting_to_reconnect:
      return "waiting_to_reconnect";
    case connection_state::closed:
      return "closed";
  }
  return "?";
}

using reply_handler = std::function<void(core::result<reply>)>;

// Delay before reconnect attempt `attempt` (0-based): exponential, capped, with equal jitter, so a
// fleet of stores that lost Redis together does not return in one wave.
inline std::chrono::milliseconds backoff_delay(const backoff_policy& policy, unsigned attempt) {
  double base = static_cast<double>(policy.initial.count());
  for (unsigned i = 0; i < attempt && base < static_cast<double>(policy.max.count()); ++i)
    base *= policy.multiplier;
  base = std::min(base, static_cast<double>(policy.max.count()));
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(base * jitter(rng)));
}

// How often a queue of commands with `command_timeout` is checked for overdue ones.
inline std::chrono::milliseconds sweep_period(std::chrono::milliseconds command_timeout) {
  return std::clamp(command_timeout / 10, std::chrono::milliseconds(5),
                    std::chrono::milliseconds(250));
}

class connection : public std::enable_shared_from_this<connection> {
 public:
  using state_observer = std::function<void(connection_state, const core::error&)>;
  using push_handler = std::function<void(reply&&)>;

  static std::shared_ptr<connection> create(core::loop& l, options o) {
    return std::shared_ptr<connection>(new connection(l, std::move(o)));
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ~connection() {
    if (attempt_) attempt_->cancel();
    if (stream_) stream_->abort();
  }

  void start() {
    if (state_ == connection_state::disconnected) begin_connect();
  }

  // Fails everything pending with errc::cancelled (asynchronously) and stops reconnecting.
  void close() {
    if (state_ == connection_state::closed) return;
    drop_transport();
    auto failed = take_all_pending();
    set_state(connection_state::closed,
              core::error(core::errc::cancelled, "connection closed by its owner"));
    if (!failed.empty()) {
      loop_.defer([failed = std::move(failed)]() mutable {
        for (auto& cb : failed) cb(core::error(core::errc::cancelled, "Redis connection closed"));
      });
    }
  }

  // Drops the transport as if it had failed: in-flight commands fail, then the usual reconnect.
  void break_connection(core::error why) { connection_failed(std::move(why)); }

  // For an owner that is going away: nothing it registered runs again (observers, the push
  // handler, pending callbacks are dropped uncalled), and the connection closes.
  void abandon() {
    observers_.clear();
    push_handler_ = nullptr;
    (void)take_all_pending();
    close();
  }

  connection_state state() const noexcept { return state_; }
  bool ready() const noexcept { return state_ == connection_state::ready; }
  const core::error& last_error() const noexcept { return last_error_; }
  const options& opts() const noexcept { return options_; }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  std::size_t queued() const noexcept { return queued_.size(); }
  core::loop& owner_loop() noexcept { return loop_; }

  // Observers see every transition with the error that caused it (empty when none).
  void observe(state_observer o) { observers_.push_back(std::move(o)); }

  // Pub/sub: after the handshake every reply is a push, not the answer to a command.
  void set_push_handler(push_handler h) { push_handler_ = std::move(h); }

  void send(std::span<const std::string_view> args, reply_handler cb) {
    if (state_ == connection_state::ready) {
      // The common case: encode into a reused buffer; the stream copies it into its write queue.
      thread_local std::string scratch;
      scratch.clear();
      append_command(scratch, args);
      write_command(scratch, std::move(cb));
      return;
    }
    send_formatted(encode_command(args), std::move(cb));
  }

  void send(std::initializer_list<std::string_view> args, reply_handler cb) {
    send(std::span<const std::string_view>(args.begin(), args.size()), std::move(cb));
  }

  // Pub/sub only: a command whose answers arrive as pushes (SUBSCRIBE, PING in subscribed mode).
  // False when not ready; the owner sends it again once ready.
  bool send_push_command(std::span<const std::string_view> args) {
    if (state_ != connection_state::ready) return false;
    return !stream_->write(encode_command(args));
  }

  // `resp` is one already encoded command, or several whose answers go to one handler: it gets
  // the last answer, after `answers_before` others (MULTI ... EXEC: +OK, +QUEUED...). When the
  // last is an error, the first error among the others is added to it: EXECABORT says only that
  // an earlier command was refused, not why.
  void send_formatted(std::string resp, reply_handler cb, std::uint32_t answers_before = 0) {
    if (state_ == connection_state::closed) {
      fail_later(std::move(cb), core::error(core::errc::cancelled, "Redis connection closed"));
      return;
    }
    if (state_ == connection_state::ready) {
      write_command(resp, std::move(cb), answers_before);
      return;
    }
    if (queued_.size() >= options_.max_queued_commands) {
      fail_later(std::move(cb),
                 core::error(core::errc::queue_full, "too many commands waiting for Redis"));
      return;
    }
    auto deadline = loop_.now_ms() + static_cast<std::uint64_t>(options_.command_timeout.count());
    queued_.push_back({std::move(resp), std::move(cb), deadline, answers_before});
    if (state_ == connection_state::disconnected) begin_connect();
    arm_sweep();
  }

 private:
  struct in_flight_command {
    reply_handler cb;
    std::uint64_t deadline_ms;
    std::uint32_t answers_before = 0;
    std::string first_error;  // among the answers before
  };
  struct queued_command {
    std::string resp;
    reply_handler cb;
    std::uint64_t deadline_ms;
    std::uint32_t answers_before = 0;
  };

  void write_command(std::string_view resp, reply_handler cb, std::uint32_t answers_before = 0) {
    if (auto ec = stream_->write(resp); ec) {
      fail_later(std::move(cb), core::error(ec, "Redis write queue full"));
      return;
    }
    in_flight_.push_back(
        {std::move(cb),
         loop_.now_ms() + static_cast<std::uint64_t>(options_.command_timeout.count()),
         answers_before,
         {}});
    arm_sweep();
  }

  connection(core::loop& l, options o)
      : loop_(l),
        options_(std::move(o)),
        reconnect_timer_(l),
        sweep_timer_(l),
        reader_(std::make_unique<reply_reader>(options_.reply_limits)) {}

  void set_state(connection_state s, const core::error& why = {}) {
    if (why) last_error_ = why;
    if (s == state_) return;
    state_ = s;
    auto self = shared_from_this();
    for (std::size_t i = 0; i < observers_.size(); ++i) observers_[i](s, why);
  }

  void begin_connect() {
    if (state_ == connection_state::closed) return;
    set_state(connection_state::connecting);
    if (options_.tls && !tls_context_) {
      auto ctx = net::tls_context::create(net::tls_role::client, options_.tls_options);
      if (!ctx) {
        connection_failed(ctx.err());
        return;
      }
      tls_context_ = ctx.value();
    }
    net::connect_options co;
    co.timeout = options_.connect_timeout;
    co.tls = tls_context_;
    co.tls_server_name = options_.tls_options.server_name;
    co.limits.max_queued_write_bytes = 256 * 1024 * 1024;
    attempt_ = net::connect(
        loop_, options_.endpoint, co,
        [this, alive = transport_.watch()](core::result<std::shared_ptr<net::stream>> r) {
          if (alive.expired()) {
            if (r) r.value()->abort();
            return;
          }
          attempt_.reset();
          if (!r) {
            connection_failed(r.err());
          } else {
            connected(std::move(r.value()));
          }
        });
  }

  void connected(std::shared_ptr<net::stream> s) {
    stream_ = std::move(s);
    reader_ = std::make_unique<reply_reader>(options_.reply_limits);
    transport_.renew();
    stream_->on_data([this, alive = transport_.watch()](std::string_view data) {
      if (!alive.expired()) on_data(data);
    });
    stream_->on_close([this, alive = transport_.watch()](const core::error& err) {
      if (alive.expired()) return;
      connection_failed(core::error(err ? err.code() : make_error_code(core::errc::closed),
                                    "Redis at " + options_.describe() + " closed the connection" +
                                        (err ? ": " + err.message() : "")));
    });
    stream_->set_keepalive(true, 30);
    stream_->start_reading();

    if (!options_.password.empty()) {
      set_state(connection_state::authenticating);
      std::vector<std::string_view> auth{"AUTH"};
      if (!options_.user.empty()) auth.push_back(options_.user);
      auth.push_back(options_.password);
      handshake_command(auth, [this](const reply& r) {
        if (r.is_error()) {
          fail_handshake(core::error(core::errc::auth_failed, "Redis AUTH: " + r.str));
          return;
        }
        after_auth();
      });
    } else {
      after_auth();
    }
  }

  void after_auth() {
    if (!options_.client_name.empty()) {
      handshake_command({{"CLIENT", "SETNAME", options_.client_name}}, [](const reply&) {});
    }
    if (options_.db == 0) {
      became_ready();
      return;
    }
    set_state(connection_state::selecting);
    std::string db = std::to_string(options_.db);
    handshake_command({{"SELECT", db}}, [this](const reply& r) {
      if (r.is_error()) {
        fail_handshake(core::error(core::errc::server_error, "Redis SELECT: " + r.str));
        return;
      }
      became_ready();
    });
  }

  // Handshake commands go straight to the socket, ahead of anything the owner queued.
  void handshake_command(std::vector<std::string_view> args,
                         std::function<void(const reply&)> on_reply) {
    (void)stream_->write(encode_command(args));
    in_flight_.push_back(
        {[on_reply = std::move(on_reply)](core::result<reply> r) {
           if (r) on_reply(r.value());
         },
         loop_.now_ms() + static_cast<std::uint64_t>(options_.command_timeout.count()),
         0,
         {}});
    handshake_replies_pending_++;
    arm_sweep();
  }

  void fail_handshake(core::error err) {
    // A wrong password does not fix itself quickly: still back off, but say why.
    connection_failed(std::move(err));
  }

  void became_ready() {
    reconnect_attempt_ = 0;
    set_state(connection_state::ready);
    if (state_ != connection_state::ready) return;
    auto pending = std::move(queued_);
    queued_.clear();
    for (auto& q : pending) {
      if (state_ != connection_state::ready) {
        queued_.push_back(std::move(q));
        continue;
      }
      if (auto ec = stream_->write(q.resp); ec) {
        fail_later(std::move(q.cb), core::error(ec, "Redis write queue full"));
        continue;
      }
      in_flight_.push_back({std::move(q.cb), q.deadline_ms, q.answers_before, {}});
    }
  }

  void on_data(std::string_view data) {
    auto self = shared_from_this();
    auto current = transport_.watch();
    auto parsed = reader_->consume(data, [&](reply&& r) {
      dispatch(std::move(r));
      return !current.expired();  // a callback may have closed or broken the connection
    });
    if (!parsed && !current.expired()) {
      connection_failed(core::error(
          parsed.err().code(),
          "bad reply from Redis at " + options_.describe() + ": " + parsed.err().detail()));
      return;
    }
    if (in_flight_.empty() && queued_.empty()) sweep_timer_.stop();
  }

  void dispatch(reply&& r) {
    if (handshake_replies_pending_ == 0 && push_handler_) {
      push_handler_(std::move(r));
      return;
    }
    if (in_flight_.empty()) {
      connection_failed(
          core::error(core::errc::protocol_error, "unexpected reply from Redis: " + r.describe()));
      return;
    }
    auto& front = in_flight_.front();
    if (front.answers_before > 0) {
      --front.answers_before;
      if (r.is_error() && front.first_error.empty()) front.first_error = std::move(r.str);
      return;
    }
    if (handshake_replies_pending_ > 0) --handshake_replies_pending_;
    auto cb = std::move(front.cb);
    if (r.is_error() && !front.first_error.empty()) r.str += " (" + front.first_error + ")";
    in_flight_.pop_front();
    cb(std::move(r));
  }

  void arm_sweep() {
    if (sweep_timer_.active()) return;
    const auto period = sweep_period(options_.command_timeout);
    sweep_timer_.start(
        period, [this] { sweep(); }, period);
  }

  // Commands complete in order, so only the oldest of each queue can be overdue first.
  void sweep() {
    auto now = loop_.now_ms();
    auto self = shared_from_this();
    while (!queued_.empty() && queued_.front().deadline_ms <= now) {
      auto cb = std::move(queued_.front().cb);
      queued_.pop_front();
      cb(core::error(core::errc::timeout,
                     "Redis at " + options_.describe() + " not reachable" +
                         (last_error_ ? " (" + last_error_.message() + ")" : "")));
    }
    if (!in_flight_.empty() && in_flight_.front().deadline_ms <= now) {
      connection_failed(core::error(core::errc::timeout,
                                    "Redis at " + options_.describe() + " did not answer within " +
                                        std::to_string(options_.command_timeout.count()) + " ms"));
    }
    if (in_flight_.empty() && queued_.empty()) sweep_timer_.stop();
  }

  void connection_failed(core::error err) {
    if (state_ == connection_state::closed) return;
    auto self = shared_from_this();
    drop_transport();
    std::deque<in_flight_command> failed;
    failed.swap(in_flight_);
    handshake_replies_pending_ = 0;
    set_state(options_.reconnect ? connection_state::waiting_to_reconnect
                                 : connection_state::disconnected,
              err);
    for (auto& c : failed) c.cb(err);
    if (state_ == connection_state::waiting_to_reconnect) {
      reconnect_timer_.start(backoff_delay(options_.backoff, reconnect_attempt_++),
                             [this] { begin_connect(); });
    }
  }

  void drop_transport() {
    transport_.renew();
    reconnect_timer_.stop();
    if (attempt_) {
      attempt_->cancel();
      attempt_.reset();
    }
    if (stream_) {
      stream_->abort();
      stream_.reset();
    }
  }

  std::vector<reply_handler> take_all_pending() {
    std::vector<reply_handler> all;
    for (auto& c : in_flight_) all.push_back(std::move(c.cb));
    for (auto& q : queued_) all.push_back(std::move(q.cb));
    in_flight_.clear();
    queued_.clear();
    sweep_timer_.stop();
    return all;
  }

  void fail_later(reply_handler cb, core::error err) {
    loop_.defer([cb = std::move(cb), err = std::move(err)] { cb(err); });
  }

  core::loop& loop_;
  options options_;
  connection_state state_ = connection_state::disconnected;
  core::error last_error_;
  std::vector<state_observer> observers_;
  push_handler push_handler_;
  std::shared_ptr<net::tls_context> tls_context_;
  std::shared_ptr<net::connect_attempt> attempt_;
  std::shared_ptr<net::stream> stream_;
  core::timer reconnect_timer_;
  core::timer sweep_timer_;
  std::unique_ptr<reply_reader> reader_;
  std::deque<in_flight_command> in_flight_;
  std::deque<queued_command> queued_;
  unsigned reconnect_attempt_ = 0;
  int handshake_replies_pending_ = 0;
  // Renewed whenever the transport is dropped or replaced: callbacks from an earlier stream (or
  // connect attempt) then do nothing, and neither do any once the connection is gone.
  core::liveness_token transport_;
};

}  // namespace bcast::redis
