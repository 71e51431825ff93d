#pragma once
// End-to-end fixtures: the real daemons as child processes, their logs captured, and short calls
// of the library's blocking HTTP client.

#include <support/test_support.hpp>

#include <bcast/http/client.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bcast::test {

inline std::string build_path(const std::string& relative) {
  const char* root = std::getenv("BCAST_BUILD_ROOT");
  if (!root) throw std::runtime_error("BCAST_BUILD_ROOT is not set (run the tests through meson)");
  return std::string(root) + "/" + relative;
}

// Checks `done` every 10 ms until it holds, for what a test cannot wait on otherwise (another
// process's output); false after `timeout`.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A daemon started with `args`; stderr and stdout go to a log we can wait on. A thread reads the
// log all the time, as journald would: a daemon must never stall on a full pipe because the test
// is busy elsewhere (a flood of sends, each logged).
class daemon_process {
 public:
  daemon_process(std::string program, std::vector<std::string> args,
                 std::vector<std::string> env = {})
      : program_(std::move(program)), args_(std::move(args)), env_(std::move(env)) {
    start();
  }
  ~daemon_process() { kill_now(); }

  void start() {
    stop_reading();
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      for (const auto& e : env_) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv{program_.data()};
      for (auto& a : args_) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(program_.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    exited_ = false;
    {
      std::lock_guard lock(mutex_);
      log_closed_ = false;
      stop_ = false;
    }
    reader_ = std::thread([this, fd = out[0]] { read_log(fd); });
  }

  // Waits until `text` appears in the log; false after `timeout` or when the log ends first (the
  // daemon exited).
  bool wait_for_log(const std::string& text,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    const bool found = changed_.wait_for(lock, timeout, [&] {
      return log_.find(text, scanned_) != std::string::npos || log_closed_;
    });
    const auto at = log_.find(text, scanned_);
    if (!found || at == std::string::npos) return false;
    scanned_ = at + text.size();
    return true;
  }

  // Everything logged so far.
  std::string log() {
    std::lock_guard lock(mutex_);
    return log_;
  }

  void signal(int signum) { ::kill(pid_, signum); }

  // Waits for the exit status (-1 on timeout, 128+N for a signal).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        // What it wrote last is read once the pipe ends (a child it left may hold it a while).
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, std::chrono::seconds(1), [&] { return log_closed_; });
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void kill_now() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      exited_ = true;
    }
    stop_reading();
  }

  pid_t pid() const { return pid_; }

 private:
  void read_log(int fd) {
    char buf[4096];
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stop_) break;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      if (n <= 0) break;
      log_.append(buf, static_cast<std::size_t>(n));
      changed_.notify_all();
    }
    ::close(fd);
    std::lock_guard lock(mutex_);
    log_closed_ = true;
    changed_.notify_all();
  }

  void stop_reading() {
    if (!reader_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    reader_.join();
  }

  std::string program_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::thread reader_;
  std::mutex mutex_;  // guards what follows
  std::condition_variable changed_;
  std::string log_;
  std::size_t scanned_ = 0;
  bool log_closed_ = false;
  bool stop_ = false;
};

// A response with its repeated fields joined by "\n" (Set-Cookie), for short checks.
struct http_result : http::response {
  http_result() : http::response(0) {}
  http_result(http::response r) : http::response(std::move(r)) {}
  std::string header(std::string_view name) const {
    std::string joined;
    for (auto value : headers.get_all(name))
      joined.append(joined.empty() ? "" : "\n").append(value);
    return joined;
  }
};

// 127.0.0.1:port, or the Unix socket when `unix_path` is given.
inline net::endpoint local_endpoint(std::uint16_t port, const std::string& unix_path = {}) {
  net::endpoint to;
  to.host = "127.0.0.1";
  to.port = port;
  to.unix_path = unix_path;
  return to;
}

inline http_result http_or_throw(core::result<http::response> r) {
  if (!r) throw std::runtime_error("HTTP exchange failed: " + r.err().message());
  return std::move(r).value();
}

// Sends raw bytes and reads one response.
inline http_result http_raw(const std::string& request, std::uint16_t port,
                            const std::string& unix_path = {}) {
  return http_or_throw(http::call_raw(local_endpoint(port, unix_path), request));
}

inline http_result http_call(std::uint16_t port, const std::string& method,
                             const std::string& target, const std::string& body = {},
                             const std::map<std::string, std::string>& headers = {},
                             const std::string& unix_path = {}) {
  http::header_map fields;
  for (const auto& [name, value] : headers) fields.add(name, value);
  return http_or_throw(http::call(local_endpoint(port, unix_path), method, target, body, fields));
}

}  // namespace bcast::test
