#pragma once
// A redis-server of our own: a child process on a free loopback port and a Unix socket in its own
// temporary directory, without persistence. bcast-bench starts one when it is given no Redis, and
// the tests start one each. Starting blocks until the server says it is ready (or a deadline).

#include <bcast/core/error.hpp>
#include <bcast/core/temp_dir.hpp>
#include <bcast/net/loopback.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bcast::redis {

class local_server {
 public:
  // `extra_args` go to redis-server after ours ("--maxclients", "20000"). `port` 0 picks a free
  // one at the first start; a fixed one is for a caller that chooses ports together (a cluster
  // node's client port and its bus port must differ from every other node's).
  explicit local_server(std::vector<std::string> extra_args = {}, std::uint16_t port = 0)
      : extra_args_(std::move(extra_args)), port_(port) {}
  ~local_server() { stop(); }
  local_server(const local_server&) = delete;
  local_server& operator=(const local_server&) = delete;

  // Runs redis-server and waits for it to accept connections; the port and directory stay the
  // same across restarts. Nothing happens when it runs already.
  [[nodiscard]] core::result<void> start(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (pid_ > 0) return {};
    if (!dir_) {
      auto dir = core::temp_dir::make("bcast-redis-");
      if (!dir) return dir.err();
      dir_.emplace(std::move(dir).value());
    }
    if (port_ == 0) {
      auto port = net::free_loopback_port();
      if (!port) return port.err();
      port_ = *port;
    }
    std::vector<std::string> args{"redis-server",
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--unixsocket",
                                  unix_path(),
                                  "--unixsocketperm",
                                  "700",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--dir",
                                  dir_->path().string(),
                                  "--loglevel",
                                  "notice"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    // Built before fork(): the child of a threaded process may only call async-signal-safe
    // functions.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return system_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(out[0]);
      ::close(out[1]);
      return system_error("fork");
    }
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    auto ready = wait_for_ready(out[0], timeout);
    ::close(
        out[0]);  // redis ignores SIGPIPE once initialised: this only silences its later log lines
    if (!ready) stop(SIGKILL);
    return ready;
  }

  // Sends `signum` and waits for the process to be gone.
  void stop(int signum = SIGTERM) noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, signum);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  [[nodiscard]] core::result<void> restart() {
    stop();
    return start();
  }

  bool running() const noexcept { return pid_ > 0; }
  std::uint16_t port() const noexcept { return port_; }
  std::string unix_path() const { return dir_ ? dir_->file("redis.sock") : std::string(); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string unix_url() const { return "unix://" + unix_path(); }
  // The server's working directory (absent before the first start).
  const std::optional<core::temp_dir>& dir() const noexcept { return dir_; }

 private:
  static core::error system_error(const std::string& what) {
    return {std::error_code(errno, std::system_category()), what};
  }

  core::result<void> wait_for_ready(int fd, std::chrono::milliseconds timeout) {
    std::string log;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (log.find("Ready to accept connections") == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      const int polled = left.count() <= 0 ? 0 : ::poll(&p, 1, static_cast<int>(left.count()));
      if (polled < 0 && errno == EINTR) continue;
      if (polled <= 0)
        return core::error(core::errc::timeout, "redis-server did not start:\n" + log);
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return core::error(core::errc::closed, "redis-server exited:\n" + log);
      log.append(buf, static_cast<std::size_t>(n));
      if (log.size() > 64 * 1024) log.erase(0, log.size() - 32 * 1024);  // the tail tells why
    }
    return {};
  }

  std::vector<std::string> extra_args_;
  std::optional<core::temp_dir> dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace bcast::redis
