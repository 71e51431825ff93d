#pragma once
// End-to-end fixtures: the real daemons as child processes, their logs captured, and a blocking
// HTTP/1.1 client for TCP and Unix sockets (responses parsed with http-parser).

#include <support/test_support.hpp>

#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bcast::test {

inline std::string build_path(const std::string& relative) {
  const char* root = std::getenv("BCAST_BUILD_ROOT");
  if (!root) throw std::runtime_error("BCAST_BUILD_ROOT is not set (run the tests through meson)");
  return std::string(root) + "/" + relative;
}

// A daemon started with `args`; stderr and stdout go to a log we can wait on.
class daemon_process {
 public:
  daemon_process(std::string program, std::vector<std::string> args, std::vector<std::string> env = {})
      : program_(std::move(program)), args_(std::move(args)), env_(std::move(env)) {
    start();
  }
  ~daemon_process() { kill_now(); }

  void start() {
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
    log_fd_ = out[0];
    exited_ = false;
  }

  // Reads the log until `text` appears; false after `timeout` or when the daemon exits first.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t from = scanned_;
    for (;;) {
      if (auto at = log_.find(text, from); at != std::string::npos) {
        scanned_ = at + text.size();
        return true;
      }
      // Only the new bytes (and a possible partial match before them) need searching next time.
      from = std::max(scanned_, log_.size() >= text.size() ? log_.size() - text.size() + 1 : std::size_t{0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
    }
  }

  // Everything logged so far.
  const std::string& log() {
    while (read_some(0)) {
    }
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
        log();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      read_some(20);  // drain the log while waiting
    }
  }

  void kill_now() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      exited_ = true;
    }
    if (log_fd_ >= 0) ::close(log_fd_);
    log_fd_ = -1;
  }

  pid_t pid() const { return pid_; }

 private:
  bool read_some(int timeout_ms) {
    if (log_fd_ < 0) return false;
    pollfd p{log_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return timeout_ms > 0 && !exited_;
    char buf[4096];
    ssize_t n = ::read(log_fd_, buf, sizeof buf);
    if (n <= 0) {
      ::close(log_fd_);
      log_fd_ = -1;
      return false;
    }
    log_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  std::string program_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  pid_t pid_ = -1;
  int log_fd_ = -1;
  bool exited_ = false;
  std::string log_;
  std::size_t scanned_ = 0;
};

struct http_result {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined with "\n"
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Sends raw bytes and parses one response. `unix_path` set: a Unix socket, else 127.0.0.1:port.
inline http_result http_raw(const std::string& request, std::uint16_t port, const std::string& unix_path = {}) {
  int fd = ::socket(unix_path.empty() ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc;
  if (unix_path.empty()) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, unix_path.c_str(), sizeof a.sun_path - 1);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect: " + std::string(std::strerror(errno)));
  }
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  struct state {
    http_result r;
    std::string field;
    bool done = false;
  } st;
  http_parser parser;
  http_parser_init(&parser, HTTP_RESPONSE);
  parser.data = &st;
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_header_field = [](http_parser* p, const char* at, size_t n) {
    auto* x = static_cast<state*>(p->data);
    x->field.assign(at, n);
    for (auto& c : x->field) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return 0;
  };
  s.on_header_value = [](http_parser* p, const char* at, size_t n) {
    auto* x = static_cast<state*>(p->data);
    auto& v = x->r.headers[x->field];
    if (!v.empty()) v += "\n";
    v.append(at, n);
    return 0;
  };
  s.on_body = [](http_parser* p, const char* at, size_t n) {
    static_cast<state*>(p->data)->r.body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    auto* x = static_cast<state*>(p->data);
    x->r.status = static_cast<int>(p->status_code);
    x->done = true;
    return 0;
  };
  char buf[16384];
  while (!st.done) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) break;
    http_parser_execute(&parser, &s, buf, static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  ::close(fd);
  return st.r;
}

inline http_result http_call(std::uint16_t port, const std::string& method, const std::string& target,
                             const std::string& body = {}, std::map<std::string, std::string> headers = {},
                             const std::string& unix_path = {}) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    if (!headers.count("Content-Type")) headers["Content-Type"] = "application/json";
    headers["Content-Length"] = std::to_string(body.size());
  }
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n" + body;
  return http_raw(req, port, unix_path);
}

}  // namespace bcast::test
