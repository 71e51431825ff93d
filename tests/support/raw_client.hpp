#pragma once
// A bare TCP client socket for tests that must control exactly what a client does: connect from a
// chosen source address (Linux lets a socket bind any 127.0.0.0/8 address, so 127.0.0.2 is
// another client to a server on 127.0.0.1), shrink its receive buffer, send and then never read.
// It never blocks after connecting and needs no loop, so it works beside a server on the test's
// own loop and against a daemon alike.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bcast::test {

class raw_client {
 public:
  // Connects to 127.0.0.1:port from `source`. A `receive_buffer` above zero sets SO_RCVBUF
  // before connecting, which bounds the window the client offers.
  explicit raw_client(std::uint16_t port, const std::string& source = "127.0.0.1",
                      int receive_buffer = 0)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket(): " + std::to_string(errno));
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      int e = errno;
      ::close(fd_);
      throw std::runtime_error("connecting from " + source + ": errno " + std::to_string(e));
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() { ::close(fd_); }

  // What the socket takes now; the rest is dropped (a test that never reads fills its buffers).
  std::size_t send(std::string_view bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }

  // Reads what has arrived, up to `most` bytes, without waiting. On loopback the sender's kernel
  // refills the window as soon as it opens, so reading "everything" can take megabytes at once.
  std::string read_available(std::size_t most = SIZE_MAX) {
    std::string out;
    char buf[65536];
    while (out.size() < most) {
      ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, most - out.size()), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  // Reads until the server closes the connection (or resets it), or `timeout` passes.
  std::string read_until_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return out;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
  }

  // Up to `n` bytes that have arrived, left in the socket: the client's window stays shut.
  std::string peek(std::size_t n) {
    std::string out(n, '\0');
    ssize_t got = ::recv(fd_, out.data(), n, MSG_PEEK);
    out.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return out;
  }

  // The server reset the connection or closed its side (without reading anything).
  bool hung_up() const {
    pollfd p{fd_, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0;
  }

  // The connection was reset (ECONNRESET), not closed cleanly. Reading SO_ERROR clears it, so
  // the answer is kept.
  bool was_reset() {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    reset_ = reset_ || err == ECONNRESET;
    return reset_;
  }

  int fd() const noexcept { return fd_; }

 private:
  int fd_;
  bool reset_ = false;
};

}  // namespace bcast::test
