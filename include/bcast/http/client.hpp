#pragma once
// The HTTP/1.1 client side: an incremental response parser, and a blocking client on it for the
// programs that may block (bcastctl, bcast-bench's set-up, the tests): one request and one response
// over TCP or a Unix socket. Everything is bounded: the exchange by one deadline (connecting,
// writing and reading), the response by its header and body sizes.
//
// The parser stops after each complete response, like the server's request parser, so an
// event-driven client reads pipelined responses with it one at a time (bcast-bench's publisher).

#include <bcast/core/error.hpp>
#include <bcast/http/headers.hpp>
#include <bcast/http/message.hpp>
#include <bcast/net/connect.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::http {

struct response_limits {
  std::size_t max_header_bytes = 64 * 1024;  // status line and fields together
  std::size_t max_body_bytes = 16 * 1024 * 1024;
};

class response_parser {
 public:
  enum class state { need_more, message, error };

  explicit response_parser(response_limits limits = {}) : limits_(limits) { reset(); }
  // http_parser keeps a pointer back to this object.
  response_parser(const response_parser&) = delete;
  response_parser& operator=(const response_parser&) = delete;

  void reset() {
    http_parser_init(&parser_, HTTP_RESPONSE);
    parser_.data = this;
    state_ = state::need_more;
    error_.clear();
    current_ = response{};
    field_.clear();
    value_.clear();
    header_bytes_ = 0;
    last_was_value_ = false;
  }

  // Parses up to the end of one response. Returns the bytes consumed; then status() says whether a
  // response is ready to take(), more bytes are needed, or the input is unusable.
  std::size_t feed(std::string_view data) {
    if (state_ != state::need_more || data.empty()) return 0;
    const std::size_t n = http_parser_execute(&parser_, &settings(), data.data(), data.size());
    after_execute();
    return n;
  }

  // The peer closed the connection: a response that the end of the stream delimits is complete.
  void finish() {
    if (state_ != state::need_more) return;
    http_parser_execute(&parser_, &settings(), nullptr, 0);
    after_execute();
  }

  state status() const noexcept { return state_; }
  const std::string& error() const noexcept { return error_; }

  // The complete response; parsing may then continue with the bytes after it.
  response take() {
    response out = std::move(current_);
    current_ = response{};
    header_bytes_ = 0;
    state_ = state::need_more;
    http_parser_pause(&parser_, 0);
    return out;
  }

 private:
  static const http_parser_settings& settings() {
    static const http_parser_settings s = [] {
      http_parser_settings x{};
      x.on_status = [](http_parser* p, const char*, std::size_t n) {
        return self(p).count_header_bytes(n);
      };
      x.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_field(at, n);
      };
      x.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_value(at, n);
      };
      x.on_headers_complete = [](http_parser* p) { return self(p).on_headers_complete(); };
      x.on_body = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_body(at, n);
      };
      x.on_message_complete = [](http_parser* p) { return self(p).on_message_complete(); };
      return x;
    }();
    return s;
  }

  static response_parser& self(http_parser* p) noexcept {
    return *static_cast<response_parser*>(p->data);
  }

  void after_execute() {
    if (state_ == state::message) return;
    if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) {
      if (error_.empty())
        error_ =
            std::string("bad response: ") + http_errno_description(HTTP_PARSER_ERRNO(&parser_));
      state_ = state::error;
    }
  }

  int fail(std::string why) noexcept {
    if (error_.empty()) error_ = std::move(why);
    return -1;
  }

  // Every callback runs inside http_parser_execute: nothing may throw through it.
  template <class Fn>
  int guarded(Fn&& fn) noexcept {
    try {
      return fn();
    } catch (...) {
      return fail("the response could not be buffered");
    }
  }

  int count_header_bytes(std::size_t n) noexcept {
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes)
      return guarded([&] {
        return fail("response headers larger than " + std::to_string(limits_.max_header_bytes) +
                    " bytes");
      });
    return 0;
  }

  void commit_header() {
    current_.headers.add(std::move(field_), std::string(trim(value_)));
    field_.clear();
    value_.clear();
  }

  int on_header_field(const char* at, std::size_t n) noexcept {
    if (count_header_bytes(n) != 0) return -1;
    return guarded([&] {
      if (last_was_value_) {
        commit_header();
        last_was_value_ = false;
      }
      field_.append(at, n);
      return 0;
    });
  }

  int on_header_value(const char* at, std::size_t n) noexcept {
    if (count_header_bytes(n) != 0) return -1;
    return guarded([&] {
      value_.append(at, n);
      last_was_value_ = true;
      return 0;
    });
  }

  int on_headers_complete() noexcept {
    return guarded([&] {
      if (last_was_value_) commit_header();
      last_was_value_ = false;
      current_.status = static_cast<int>(parser_.status_code);
      return 0;
    });
  }

  int on_body(const char* at, std::size_t n) noexcept {
    if (n > limits_.max_body_bytes - current_.body.size())
      return guarded([&] {
        return fail("response body larger than " + std::to_string(limits_.max_body_bytes) +
                    " bytes");
      });
    return guarded([&] {
      current_.body.append(at, n);
      return 0;
    });
  }

  int on_message_complete() noexcept {
    state_ = state::message;
    // Stop here: the caller takes this response before the next one is parsed.
    http_parser_pause(&parser_, 1);
    return 0;
  }

  response_limits limits_;
  http_parser parser_{};
  state state_ = state::need_more;
  std::string error_;
  response current_;
  std::string field_;
  std::string value_;
  std::size_t header_bytes_ = 0;
  bool last_was_value_ = false;
};

struct client_options {
  std::chrono::milliseconds timeout{20000};  // the whole exchange: connect, write, read
  response_limits limits;
  // The local IP address to connect from ("127.0.0.7"); empty: the system's choice. On Linux a
  // client may use any 127.0.0.0/8 address, so tests can be many clients.
  std::string source_address;
};

namespace detail {

class client_socket {
 public:
  using clock = std::chrono::steady_clock;

  client_socket(clock::time_point deadline, std::string source_address = {})
      : deadline_(deadline), source_address_(std::move(source_address)) {}
  ~client_socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  client_socket(const client_socket&) = delete;
  client_socket& operator=(const client_socket&) = delete;

  core::result<void> connect(const net::endpoint& to) {
    if (to.is_unix()) return connect_unix(to.unix_path);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const auto port = std::to_string(to.port);
    if (int rc = ::getaddrinfo(to.host.c_str(), port.c_str(), &hints, &found); rc != 0)
      return core::error(core::errc::invalid_argument,
                         "cannot resolve " + to.host + ": " + ::gai_strerror(rc));
    core::result<void> outcome =
        core::error(core::errc::invalid_argument, "no address for " + to.host);
    for (const addrinfo* a = found; a; a = a->ai_next) {
      outcome = connect_to(a->ai_family, a->ai_addr, a->ai_addrlen, to.str());
      if (outcome) break;
    }
    ::freeaddrinfo(found);
    return outcome;
  }

  core::result<void> write_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (auto ready = wait(POLLOUT, "writing the request"); !ready) return ready;
      } else {
        return system_error(errno, "writing the request");
      }
    }
    return {};
  }

  // Reads into `parser` until it has one response.
  core::result<response> read_response(response_parser& parser) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        parser.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      } else if (n == 0) {
        parser.finish();
        if (parser.status() == response_parser::state::need_more)
          return core::error(core::errc::closed,
                             "the connection closed before a complete response");
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (auto ready = wait(POLLIN, "reading the response"); !ready) return ready.err();
        continue;
      } else {
        return system_error(errno, "reading the response");
      }
      if (parser.status() == response_parser::state::message) return parser.take();
      if (parser.status() == response_parser::state::error)
        return core::error(core::errc::protocol_error, parser.error());
    }
  }

 private:
  static core::error system_error(int err, const std::string& doing) {
    return {std::error_code(err, std::system_category()), doing + ": " + std::strerror(err)};
  }

  // Rounded up: a wait never ends before the deadline, so a timeout means the time is really up.
  int remaining_ms() const {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline_ - clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 24 * 3600 * 1000));
  }

  core::result<void> wait(short events, const std::string& doing) {
    for (;;) {
      const int left = remaining_ms();
      if (left == 0) return core::error(core::errc::timeout, doing);
      pollfd p{fd_, events, 0};
      const int rc = ::poll(&p, 1, left);
      if (rc > 0) return {};
      if (rc < 0 && errno != EINTR) return system_error(errno, doing);
    }
  }

  bool open_socket(int family) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd_ >= 0;
  }

  // A Unix socket connects at once unless the listener's backlog is full; SO_SNDTIMEO bounds that
  // wait.
  core::result<void> connect_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
      return core::error(core::errc::invalid_argument, "socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (!open_socket(AF_UNIX)) return system_error(errno, "socket");
    const int left = remaining_ms();
    timeval tv{left / 1000, (left % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      if (errno == EAGAIN || errno == EINPROGRESS)
        return core::error(core::errc::timeout, "connecting to unix:" + path);
      return system_error(errno, "connecting to unix:" + path);
    }
    return make_nonblocking();
  }

  core::result<void> connect_to(int family, const sockaddr* addr, socklen_t len,
                                const std::string& name) {
    if (!open_socket(family)) return system_error(errno, "socket");
    if (auto r = make_nonblocking(); !r) return r;
    if (auto r = bind_source(family); !r) return r;
    if (::connect(fd_, addr, len) != 0) {
      if (errno != EINPROGRESS) return system_error(errno, "connecting to " + name);
      if (auto ready = wait(POLLOUT, "connecting to " + name); !ready) return ready;
      int err = 0;
      socklen_t err_len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &err_len);
      if (err != 0) return system_error(err, "connecting to " + name);
    }
    return {};
  }

  core::result<void> bind_source(int family) {
    if (source_address_.empty()) return {};
    sockaddr_storage local{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&local);
      in->sin_family = AF_INET;
      if (::inet_pton(AF_INET, source_address_.c_str(), &in->sin_addr) == 1) len = sizeof *in;
    } else if (family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&local);
      in6->sin6_family = AF_INET6;
      if (::inet_pton(AF_INET6, source_address_.c_str(), &in6->sin6_addr) == 1) len = sizeof *in6;
    }
    if (len == 0)
      return core::error(core::errc::invalid_argument,
                         "source address " + source_address_ + " does not fit the destination");
#ifdef IP_BIND_ADDRESS_NO_PORT
    // The port is picked at connect(), per destination: many connections from one address.
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
#endif
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), len) != 0)
      return system_error(errno, "binding to " + source_address_);
    return {};
  }

  core::result<void> make_nonblocking() {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0)
      return system_error(errno, "fcntl");
    return {};
  }

  clock::time_point deadline_;
  std::string source_address_;
  int fd_ = -1;
};

}  // namespace detail

// Sends `request` (the bytes as they go on the wire) to `to` and reads one response.
inline core::result<response> call_raw(const net::endpoint& to, std::string_view request,
                                       const client_options& options = {}) {
  detail::client_socket socket(detail::client_socket::clock::now() + options.timeout,
                               options.source_address);
  if (auto connected = socket.connect(to); !connected) return connected.err();
  response_parser parser(options.limits);
  // A server may answer and close before it has read the whole request (413): that answer counts.
  const auto written = socket.write_all(request);
  auto answer = socket.read_response(parser);
  if (!answer && !written) return written.err();
  return answer;
}

// `method target` with Host, Connection: close and `headers`; a body (or a POST) also gets
// Content-Length, and Content-Type application/json unless `headers` names one.
inline core::result<response> call(const net::endpoint& to, std::string_view method,
                                   std::string_view target, std::string_view body = {},
                                   const header_map& headers = {},
                                   const client_options& options = {}) {
  std::string text;
  text.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  text.append("Host: ")
      .append(to.is_unix() ? std::string("localhost") : to.host)
      .append("\r\nConnection: close\r\n");
  for (const auto& [name, value] : headers)
    text.append(name).append(": ").append(value).append("\r\n");
  if (!body.empty() || method == "POST") {
    if (!headers.contains("Content-Type")) text.append("Content-Type: application/json\r\n");
    text.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  text.append("\r\n").append(body);
  return call_raw(to, text, options);
}

}  // namespace bcast::http
