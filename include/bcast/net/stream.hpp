#pragma once
// One byte stream over uv_tcp_t or uv_pipe_t, with optional TLS. Writes are coalesced: everything
// written during one loop iteration leaves in one syscall at the end of that iteration. Queued
// bytes are bounded; past the bound write() refuses and the owner decides (drop a slow peer).

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/net/tls.hpp>

#include <uv.h>

#ifndef _WIN32
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#endif

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::net {

// A Unix socket peer's (SO_PEERCRED). Windows builds have no Unix sockets and never fill it.
struct peer_credentials {
#ifdef _WIN32
  int pid;
  unsigned uid;
  unsigned gid;
#else
  pid_t pid;
  uid_t uid;
  gid_t gid;
#endif
};

struct stream_limits {
  std::size_t max_queued_write_bytes = 16 * 1024 * 1024;
  std::size_t drain_below_bytes = 256 * 1024;  // on_drain fires when the queue falls below this
};

// Storage for either transport; libuv treats both as a uv_stream_t.
union stream_handle {
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

class stream final : public core::held_by_uv<stream> {
 public:
  enum class transport { tcp, pipe };
  using data_handler = std::function<void(std::string_view)>;
  using close_handler = std::function<void(const core::error&)>;  // empty error: clean close or EOF
  using event_handler = std::function<void()>;
  using tls_ready_handler = std::function<void(const core::error&)>;

  static std::shared_ptr<stream> create(core::loop& l, transport t, stream_limits limits = {}) {
    auto s = std::shared_ptr<stream>(new stream(l, t, limits));
    s->hold();  // the handle; released by the close callback
    return s;
  }

  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  uv_stream_t* handle() noexcept { return &handle_.stream; }
  core::loop& owner_loop() noexcept { return loop_; }
  transport kind() const noexcept { return transport_; }
  bool is_open() const noexcept { return state_ == state::open; }
  bool is_tls() const noexcept { return tls_ != nullptr; }
  void set_limits(stream_limits limits) noexcept { limits_ = limits; }

  void on_data(data_handler h) { on_data_ = std::move(h); }
  void on_close(close_handler h) { on_close_ = std::move(h); }
  void on_drain(event_handler h) { on_drain_ = std::move(h); }
  // The peer will send no more. Without a handler the stream closes at once.
  void on_eof(event_handler h) { on_eof_ = std::move(h); }

  // Client side: starts the handshake; `ready` runs once it completes or fails. Server side: data
  // is delivered only after the handshake.
  void enable_tls(std::unique_ptr<tls_session> session, tls_ready_handler ready = {}) {
    tls_ = std::move(session);
    on_tls_ready_ = std::move(ready);
    advance_handshake();
  }

  void start_reading() {
    if (reading_ || state_ == state::closed) return;
    reading_ = true;
    uv_read_start(
        handle(),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          *buf = static_cast<stream*>(h->data)->loop_.read_buffer();
        },
        [](uv_stream_t* h, ssize_t n, const uv_buf_t* buf) {
          static_cast<stream*>(h->data)->on_read(n, buf);
        });
  }

  void pause_reading() {
    if (!reading_) return;
    reading_ = false;
    uv_read_stop(handle());
  }

  // Queues bytes. Fails with errc::closed once closing, errc::backpressure past the write bound.
  [[nodiscard]] std::error_code write(std::string_view data) {
    if (state_ != state::open) return core::errc::closed;
    if (queued_bytes() + data.size() > limits_.max_queued_write_bytes) {
      drain_wanted_ = true;
      return core::errc::backpressure;
    }
    (tls_ ? plain_pending_ : out_pending_).append(data);
    if (queued_bytes() >= limits_.drain_below_bytes) drain_wanted_ = true;
    schedule_flush();
    return {};
  }

  std::size_t queued_bytes() const noexcept {
    return plain_pending_.size() + out_pending_.size() + in_flight_.size();
  }

  // Sends what is queued, then closes. on_close follows with an empty error.
  void close() {
    if (state_ != state::open) return;
    state_ = state::draining;
    pause_reading();
    if (tls_ && tls_->established()) {
      flush_tls();
      tls_->shutdown();
      tls_->take_output(out_pending_);
    }
    schedule_flush();
  }

  // Closes at once, dropping queued bytes. on_close follows with `reason`.
  void abort(core::error reason = {}) {
    if (state_ == state::closed) return;
    mark_closed(std::move(reason));
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &stream::on_handle_closed);
  }

  // As abort(), and a TCP peer gets a reset: the kernel drops what it still holds for the peer at
  // once, rather than keep trying to deliver it to a peer that does not read.
  void reset(core::error reason = {}) {
    if (state_ == state::closed) return;
    if (transport_ != transport::tcp) return abort(std::move(reason));
    mark_closed(std::move(reason));
    if (uv_tcp_close_reset(&handle_.tcp, &stream::on_handle_closed) != 0)
      uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &stream::on_handle_closed);
  }

  // Bytes the peer has taken so far: handed to the socket and no longer in the kernel's send queue
  // (for TCP: acknowledged). It moves while a peer reads, however slowly, and stands still while
  // it reads nothing. What the kernel has taken is no measure of that: it wakes a writer only
  // once a third of its send buffer (megabytes) is free again.
  std::uint64_t bytes_taken_by_peer() const noexcept {
    return handed_to_socket_ - uv_stream_get_write_queue_size(&handle_.stream) -
           kernel_queued_bytes();
  }

  // Bytes in the kernel's send queue that the peer has not taken yet (SIOCOUTQ). Windows cannot
  // tell: 0, so that there what the socket took counts as taken.
  std::size_t kernel_queued_bytes() const noexcept {
#ifdef _WIN32
    return 0;
#else
    int queued = 0;
    if (::ioctl(fd(), SIOCOUTQ, &queued) != 0 || queued < 0) return 0;
    return static_cast<std::size_t>(queued);
#endif
  }

#ifndef _WIN32
  int fd() const noexcept {
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<const uv_handle_t*>(&handle_), &fd);
    return fd;
  }
#endif

  std::optional<peer_credentials> credentials() const noexcept {
#ifdef _WIN32
    return std::nullopt;
#else
    if (transport_ != transport::pipe) return std::nullopt;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
    return net::peer_credentials{cred.pid, cred.uid, cred.gid};
#endif
  }

  // "127.0.0.1:5432", "[::1]:80", or "unix" for a Unix socket peer.
  std::string peer_address() const {
    if (transport_ != transport::tcp) return "unix";
    int port = 0;
    std::string host = peer_name(port);
    if (host == "?") return host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return host + ":" + std::to_string(port);
  }

  // The peer's IP address alone: "127.0.0.1", "::1" ("::ffff:10.0.0.1" as "10.0.0.1", so that one
  // client is one address on IPv4 and dual-stack listeners alike), or "unix".
  std::string peer_host() const {
    if (transport_ != transport::tcp) return "unix";
    int port = 0;
    std::string host = peer_name(port);
    if (host.rfind("::ffff:", 0) == 0 && host.find('.') != std::string::npos) host.erase(0, 7);
    return host;
  }

  void set_nodelay(bool on) noexcept {
    if (transport_ == transport::tcp) uv_tcp_nodelay(&handle_.tcp, on ? 1 : 0);
  }
  void set_keepalive(bool on, unsigned delay_s) noexcept {
    if (transport_ == transport::tcp) uv_tcp_keepalive(&handle_.tcp, on ? 1 : 0, delay_s);
  }

 private:
  enum class state { open, draining, closed };

  std::string peer_name(int& port) const {
    sockaddr_storage addr{};
    int len = sizeof addr;
    if (uv_tcp_getpeername(&handle_.tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      uv_ip4_name(in, host, sizeof host);
      port = ntohs(in->sin_port);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      uv_ip6_name(in6, host, sizeof host);
      port = ntohs(in6->sin6_port);
    }
    return host;
  }

  void mark_closed(core::error reason) {
    if (!close_reason_) close_reason_ = std::move(reason);
    state_ = state::closed;
    reading_ = false;
  }

  static void on_handle_closed(uv_handle_t* h) {
    auto* s = static_cast<stream*>(h->data);
    if (auto handler = std::move(s->on_close_)) handler(s->close_reason_);
    s->on_data_ = nullptr;
    s->on_drain_ = nullptr;
    s->on_eof_ = nullptr;
    s->release();
  }

  stream(core::loop& l, transport t, stream_limits limits)
      : loop_(l), transport_(t), limits_(limits) {
    if (t == transport::tcp) {
      uv_tcp_init(l.uv(), &handle_.tcp);
    } else {
      uv_pipe_init(l.uv(), &handle_.pipe, 0);
    }
    handle_.stream.data = this;
  }

  void on_read(ssize_t n, const uv_buf_t* buf) {
    if (n == 0) return;
    if (n < 0) {
      if (n == UV_EOF && (!tls_ || tls_->established())) {
        // A peer that only half-closed may still be waiting for our answer.
        if (on_eof_) {
          pause_reading();
          on_eof_();
        } else {
          abort();
        }
      } else {
        abort(n == UV_EOF ? core::error(core::errc::closed, "peer closed during the TLS handshake")
                          : core::error(core::uv_error(static_cast<int>(n))));
      }
      return;
    }
    std::string_view data(buf->base, static_cast<std::size_t>(n));
    if (!tls_) {
      if (on_data_) on_data_(data);
      return;
    }
    tls_->feed(data);
    if (!tls_->established() && !advance_handshake()) return;
    if (!tls_->established()) return;
    plain_in_.clear();
    bool ok = tls_->read(plain_in_);
    tls_->take_output(out_pending_);
    if (!plain_in_.empty() && on_data_ && state_ == state::open) on_data_(plain_in_);
    if (!ok) {
      abort(core::error(core::errc::tls_error, tls_->failure()));
    } else if (tls_->peer_closed()) {
      close();
    } else if (!out_pending_.empty()) {
      schedule_flush();
    }
  }

  // False when the handshake failed (the stream is then aborted).
  bool advance_handshake() {
    auto step = tls_->handshake();
    tls_->take_output(out_pending_);
    if (!out_pending_.empty()) schedule_flush();
    if (step == tls_session::step::failed) {
      core::error err(core::errc::tls_error, tls_->failure());
      if (auto ready = std::move(on_tls_ready_)) ready(err);
      // The alert that says why (no shared cipher, say), if the socket takes it now.
      if (!out_pending_.empty() && state_ != state::closed) {
        uv_buf_t alert =
            uv_buf_init(out_pending_.data(), static_cast<unsigned>(out_pending_.size()));
        (void)uv_try_write(handle(), &alert, 1);
      }
      abort(err);
      return false;
    }
    if (step == tls_session::step::done) {
      if (!plain_pending_.empty()) schedule_flush();
      if (auto ready = std::move(on_tls_ready_)) ready({});
    }
    return true;
  }

  void schedule_flush() {
    if (flush_scheduled_ || state_ == state::closed) return;
    flush_scheduled_ = true;
    loop_.at_end_of_tick([self = shared_from_this()] {
      self->flush_scheduled_ = false;
      self->flush();
    });
  }

  void flush_tls() {
    if (!tls_ || !tls_->established() || plain_pending_.empty()) return;
    if (!tls_->write(plain_pending_)) {
      abort(core::error(core::errc::tls_error, tls_->failure()));
      return;
    }
    plain_pending_.clear();
    tls_->take_output(out_pending_);
  }

  void flush() {
    if (state_ == state::closed || write_in_flight_) return;
    flush_tls();
    if (state_ == state::closed) return;
    if (out_pending_.empty()) {
      // Plaintext queued behind a handshake that never finished will not be sent: close anyway.
      if (state_ == state::draining && (plain_pending_.empty() || (tls_ && !tls_->established())))
        abort();
      return;
    }
    // Most writes fit the socket buffer: try the syscall now and only queue a request for the rest.
    uv_buf_t buf = uv_buf_init(out_pending_.data(), static_cast<unsigned>(out_pending_.size()));
    int written = uv_try_write(handle(), &buf, 1);
    if (written > 0) handed_to_socket_ += static_cast<std::size_t>(written);
    if (written == static_cast<int>(out_pending_.size())) {
      out_pending_.clear();
      after_write();
      return;
    }
    if (written < 0 && written != UV_EAGAIN) {
      abort(core::uv_error(written));
      return;
    }
    std::size_t sent = written > 0 ? static_cast<std::size_t>(written) : 0;
    in_flight_.assign(out_pending_, sent);
    out_pending_.clear();
    buf = uv_buf_init(in_flight_.data(), static_cast<unsigned>(in_flight_.size()));
    write_in_flight_ = true;
    handed_to_socket_ += in_flight_.size();
    write_req_.data = this;
    int rc = uv_write(&write_req_, handle(), &buf, 1, [](uv_write_t* req, int status) {
      auto* s = static_cast<stream*>(req->data);
      s->write_in_flight_ = false;
      s->in_flight_.clear();
      if (status < 0) {
        s->abort(core::uv_error(status));
        return;
      }
      if (s->state_ == state::closed) return;
      s->after_write();
      s->flush();
    });
    if (rc != 0) {
      write_in_flight_ = false;
      handed_to_socket_ -= in_flight_.size();
      abort(core::uv_error(rc));
    }
  }

  void after_write() {
    if (state_ == state::draining && queued_bytes() == 0) {
      abort();
      return;
    }
    if (drain_wanted_ && queued_bytes() < limits_.drain_below_bytes) {
      drain_wanted_ = false;
      if (on_drain_) on_drain_();
    }
  }

  core::loop& loop_;
  transport transport_;
  stream_limits limits_;
  stream_handle handle_{};
  std::unique_ptr<tls_session> tls_;
  data_handler on_data_;
  close_handler on_close_;
  event_handler on_drain_;
  event_handler on_eof_;
  tls_ready_handler on_tls_ready_;
  core::error close_reason_;
  std::string plain_pending_;  // TLS only: plaintext not yet encrypted
  std::string out_pending_;    // bytes for the socket
  std::string in_flight_;      // bytes handed to uv_write
  std::string plain_in_;
  std::uint64_t handed_to_socket_ = 0;  // to uv_try_write (what it took) and uv_write
  uv_write_t write_req_{};
  state state_ = state::open;
  bool reading_ = false;
  bool flush_scheduled_ = false;
  bool write_in_flight_ = false;
  bool drain_wanted_ = false;
};

}  // namespace bcast::net
