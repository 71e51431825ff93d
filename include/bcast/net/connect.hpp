#pragma once
// Outgoing connections: asynchronous name resolution (uv_getaddrinfo), connect with a timeout over
// every resolved address in turn, then the TLS handshake when asked. Completion is always async.

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/net/stream.hpp>
#include <bcast/net/tls.hpp>

#include <uv.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

namespace bcast::net {

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string unix_path;  // when set, host and port are ignored
  bool is_unix() const noexcept { return !unix_path.empty(); }
  std::string str() const {
    return is_unix() ? "unix:" + unix_path : host + ":" + std::to_string(port);
  }
};

struct connect_options {
  std::chrono::milliseconds timeout{5000};
  std::shared_ptr<tls_context> tls;  // client context; null for plaintext
  std::string tls_server_name;       // defaults to the endpoint's host
  stream_limits limits;
};

// Holds itself (core::held_by_uv) until it has finished and libuv has answered every request it
// made, so the caller may drop it at any time.
class connect_attempt final : public core::held_by_uv<connect_attempt> {
 public:
  using handler = std::function<void(core::result<std::shared_ptr<stream>>)>;

  static std::shared_ptr<connect_attempt> start(core::loop& l, endpoint ep, connect_options options,
                                                handler done) {
    auto a = std::shared_ptr<connect_attempt>(
        new connect_attempt(l, std::move(ep), std::move(options), std::move(done)));
    a->hold();  // until finish()
    a->begin();
    return a;
  }

  // The handler then never runs.
  void cancel() {
    done_ = nullptr;
    finish(core::errc::cancelled);
  }

 private:
  connect_attempt(core::loop& l, endpoint ep, connect_options options, handler done)
      : loop_(l),
        endpoint_(std::move(ep)),
        options_(std::move(options)),
        done_(std::move(done)),
        timer_(l) {}

  void begin() {
    timer_.start(options_.timeout, [this] {
      finish(core::error(core::errc::timeout, "connecting to " + endpoint_.str()));
    });
    if (endpoint_.is_unix()) {
      stream_ = stream::create(loop_, stream::transport::pipe, options_.limits);
      connect_req_.data = this;
      hold();
      uv_pipe_connect(&connect_req_, reinterpret_cast<uv_pipe_t*>(stream_->handle()),
                      endpoint_.unix_path.c_str(), &connect_attempt::connect_callback);
      return;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    resolve_req_.data = this;
    std::string port = std::to_string(endpoint_.port);
    int rc = uv_getaddrinfo(
        loop_.uv(), &resolve_req_,
        [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
          auto* self = static_cast<connect_attempt*>(req->data);
          self->resolving_ = false;
          self->on_resolved(status, res);
          self->release();
        },
        endpoint_.host.c_str(), port.c_str(), &hints);
    if (rc != 0) {
      loop_.defer([self = shared_from_this(), rc] {
        self->finish(core::error(core::uv_error(rc), "resolving " + self->endpoint_.host));
      });
      return;
    }
    resolving_ = true;
    hold();
  }

  void on_resolved(int status, addrinfo* res) {
    if (finished_) {
      uv_freeaddrinfo(res);
      return;
    }
    if (status != 0) {
      finish(core::error(core::uv_error(status), "resolving " + endpoint_.host));
      return;
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      sockaddr_storage addr{};
      std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
      addresses_.push_back(addr);
    }
    uv_freeaddrinfo(res);
    try_next_address(core::error(core::errc::not_connected, "no address for " + endpoint_.host));
  }

  void try_next_address(core::error last) {
    if (finished_) return;
    if (next_address_ >= addresses_.size()) {
      finish(std::move(last));
      return;
    }
    if (stream_) stream_->abort();
    stream_ = stream::create(loop_, stream::transport::tcp, options_.limits);
    connect_req_.data = this;
    int rc = uv_tcp_connect(&connect_req_, reinterpret_cast<uv_tcp_t*>(stream_->handle()),
                            reinterpret_cast<const sockaddr*>(&addresses_[next_address_++]),
                            &connect_attempt::connect_callback);
    if (rc != 0) {
      try_next_address(core::error(core::uv_error(rc), "connecting to " + endpoint_.str()));
    } else {
      hold();
    }
  }

  static void connect_callback(uv_connect_t* req, int status) {
    auto* self = static_cast<connect_attempt*>(req->data);
    self->on_connected(status);
    self->release();
  }

  void on_connected(int status) {
    if (finished_) return;
    if (status != 0) {
      core::error err(core::uv_error(status), "connecting to " + endpoint_.str());
      if (endpoint_.is_unix()) {
        finish(std::move(err));
      } else {
        try_next_address(std::move(err));
      }
      return;
    }
    stream_->set_nodelay(true);
    if (!options_.tls) {
      finish(stream_);
      return;
    }
    std::string name = options_.tls_server_name.empty() ? endpoint_.host : options_.tls_server_name;
    auto session = tls_session::create(*options_.tls, name);
    if (!session) {
      finish(session.err());
      return;
    }
    stream_->start_reading();
    stream_->enable_tls(std::move(session.value()), [this](const core::error& err) {
      if (err) {
        finish(err);
      } else {
        stream_->pause_reading();
        finish(stream_);
      }
    });
  }

  void finish(core::result<std::shared_ptr<stream>> outcome) {
    if (finished_) return;
    finished_ = true;
    timer_.stop();
    if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));
    if (!outcome && stream_) {
      stream_->abort();
      stream_.reset();
    }
    auto keep = shared_from_this();
    release();  // the hold taken by start()
    if (auto done = std::move(done_)) done(std::move(outcome));
  }

  core::loop& loop_;
  endpoint endpoint_;
  connect_options options_;
  handler done_;
  core::timer timer_;
  std::shared_ptr<stream> stream_;
  std::vector<sockaddr_storage> addresses_;
  std::size_t next_address_ = 0;
  uv_getaddrinfo_t resolve_req_{};
  uv_connect_t connect_req_{};
  bool resolving_ = false;
  bool finished_ = false;
};

inline std::shared_ptr<connect_attempt> connect(core::loop& l, endpoint ep, connect_options options,
                                                connect_attempt::handler done) {
  return connect_attempt::start(l, std::move(ep), std::move(options), std::move(done));
}

}  // namespace bcast::net
