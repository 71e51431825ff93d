#pragma once
// Listeners for TCP (optionally TLS), Unix sockets, and sockets passed in by fd (systemd).

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/net/stream.hpp>
#include <bcast/net/tls.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>

namespace bcast::net {

class listener final : public core::held_by_uv<listener> {
 public:
  using accept_handler = std::function<void(std::shared_ptr<stream>)>;

  static core::result<std::shared_ptr<listener>> listen_tcp(core::loop& l, const std::string& host,
                                                            std::uint16_t port,
                                                            accept_handler on_accept,
                                                            std::shared_ptr<tls_context> tls = {},
                                                            int backlog = 511) {
    sockaddr_storage addr{};
    int rc = uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc != 0) rc = uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr));
    if (rc != 0) return core::error(core::errc::invalid_argument, "not an IP address: " + host);
    auto self = create(l, stream::transport::tcp, std::move(on_accept), std::move(tls));
    rc = uv_tcp_bind(&self->handle_.tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) rc = uv_listen(&self->handle_.stream, backlog, &listener::on_connection);
    if (rc != 0) {
      self->close();
      return core::error(core::uv_error(rc), "listening on " + host + ":" + std::to_string(port));
    }
    self->name_ = host + ":" + std::to_string(self->port());
    return self;
  }

  // A stale socket file from an earlier run is replaced. The socket file never allows more than
  // `mode`, not even for a moment: see bind_unix_socket.
  static core::result<std::shared_ptr<listener>> listen_unix(core::loop& l, const std::string& path,
                                                             accept_handler on_accept,
                                                             int mode = 0660, int backlog = 511) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    auto fd = bind_unix_socket(path, mode);
    if (!fd) return fd.err();
    auto self = create(l, stream::transport::pipe, std::move(on_accept), {});
    int rc = uv_pipe_open(&self->handle_.pipe, *fd);
    if (rc != 0) ::close(*fd);
    self->unix_path_ = path;  // from here on, close() removes the file
    // The umask may have taken bits away from `mode`; put them back (this only widens to mode).
    if (rc == 0)
      rc =
          ::chmod(path.c_str(), static_cast<mode_t>(mode)) == 0 ? 0 : uv_translate_sys_error(errno);
    if (rc == 0) rc = uv_listen(&self->handle_.stream, backlog, &listener::on_connection);
    if (rc != 0) {
      self->close();
      return core::error(core::uv_error(rc), "listening on " + path);
    }
    self->name_ = "unix:" + path;
    return self;
  }

  // A Unix stream socket bound to `path`, not yet listening. Its file is created with at most
  // `mode` (less what the umask takes): Linux gives the file the socket's own mode, so it is set
  // before bind() and no peer can connect in a window between bind() and a chmod().
  static core::result<int> bind_unix_socket(const std::string& path, int mode) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path)
      return core::error(core::errc::invalid_argument, "socket path too long: " + path);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return core::error(core::uv_error(uv_translate_sys_error(errno)), "socket()");
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0 ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno;
      ::close(fd);
      return core::error(core::uv_error(uv_translate_sys_error(e)), "binding " + path);
    }
    return fd;
  }

  // An already bound and listening socket, as systemd passes it.
  static core::result<std::shared_ptr<listener>> adopt_fd(core::loop& l, int fd,
                                                          accept_handler on_accept,
                                                          std::shared_ptr<tls_context> tls = {},
                                                          int backlog = 511) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return core::error(core::uv_error(uv_translate_sys_error(errno)),
                         "passed fd " + std::to_string(fd));
    bool is_unix = addr.ss_family == AF_UNIX;
    auto self = create(l, is_unix ? stream::transport::pipe : stream::transport::tcp,
                       std::move(on_accept), is_unix ? nullptr : std::move(tls));
    int rc = is_unix ? uv_pipe_open(&self->handle_.pipe, fd) : uv_tcp_open(&self->handle_.tcp, fd);
    if (rc == 0) rc = uv_listen(&self->handle_.stream, backlog, &listener::on_connection);
    if (rc != 0) {
      self->close();
      return core::error(core::uv_error(rc), "listening on passed fd " + std::to_string(fd));
    }
    self->name_ = "fd:" + std::to_string(fd);
    return self;
  }

  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  std::uint16_t port() const noexcept {
    if (transport_ != stream::transport::tcp) return 0;
    sockaddr_storage addr{};
    int len = sizeof addr;
    if (uv_tcp_getsockname(&handle_.tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  const std::string& name() const noexcept { return name_; }
  bool is_tls() const noexcept { return tls_ != nullptr; }
  stream::transport transport() const noexcept { return transport_; }
  void set_stream_limits(stream_limits limits) noexcept { limits_ = limits; }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
             [](uv_handle_t* h) { static_cast<listener*>(h->data)->release(); });
  }

 private:
  listener(core::loop& l, stream::transport t, accept_handler on_accept,
           std::shared_ptr<tls_context> tls)
      : loop_(l), transport_(t), on_accept_(std::move(on_accept)), tls_(std::move(tls)) {
    if (t == stream::transport::tcp) {
      uv_tcp_init(l.uv(), &handle_.tcp);
    } else {
      uv_pipe_init(l.uv(), &handle_.pipe, 0);
    }
    handle_.stream.data = this;
  }

  static std::shared_ptr<listener> create(core::loop& l, stream::transport t,
                                          accept_handler on_accept,
                                          std::shared_ptr<tls_context> tls) {
    auto self = std::shared_ptr<listener>(new listener(l, t, std::move(on_accept), std::move(tls)));
    self->hold();  // the handle; released by the close callback
    return self;
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<listener*>(server->data);
    if (status < 0 || self->closed_) return;
    auto client = stream::create(self->loop_, self->transport_, self->limits_);
    if (uv_accept(server, client->handle()) != 0) {
      client->abort();
      return;
    }
    if (self->transport_ == stream::transport::tcp) client->set_nodelay(true);
    if (self->tls_) {
      auto session = tls_session::create(*self->tls_, {});
      if (!session) {
        client->abort(session.err());
        return;
      }
      client->enable_tls(std::move(session.value()));
    }
    if (self->on_accept_) self->on_accept_(std::move(client));
  }

  core::loop& loop_;
  stream::transport transport_;
  accept_handler on_accept_;
  std::shared_ptr<tls_context> tls_;
  stream_limits limits_;
  stream_handle handle_{};
  std::string name_;
  std::string unix_path_;
  bool closed_ = false;
};

}  // namespace bcast::net
