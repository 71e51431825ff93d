#pragma once
// Shared test fixtures: temp dirs, free ports, a real redis-server per test, running the loop
// under a watchdog, and certificates made with the openssl CLI.

#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::test {

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bcast-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs the loop until `done()` holds or the watchdog fires; returns done().
inline bool run_until(core::loop& l, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  bool expired = false;
  core::timer watchdog(l);
  watchdog.start(timeout, [&] { expired = true; });
  while (!done() && !expired) l.run_once();
  return done();
}

// Lets the loop run for a while (to prove that something does NOT happen).
inline void run_for(core::loop& l, std::chrono::milliseconds duration) {
  bool expired = false;
  core::timer t(l);
  t.start(duration, [&] { expired = true; });
  while (!expired) l.run_once();
}

// Runs a shell command, returns its stdout; throws when it fails.
inline std::string shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
  return out;
}

// Runs a shell command with stderr joined to stdout; returns its exit status (128+N for a
// signal) and, in `output`, what it printed. For commands whose failure is the thing to check.
inline int shell_status(const std::string& cmd, std::string* output = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  if (output) *output = std::move(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A real redis-server on a free loopback port and a Unix socket in its own temp dir.
class redis_server {
 public:
  explicit redis_server(std::vector<std::string> extra_args = {}) : extra_args_(std::move(extra_args)) {
    port_ = free_port();
    start();
  }
  ~redis_server() { stop(); }

  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--unixsocket", unix_path(), "--unixsocketperm", "700", "--save", "",
                                  "--appendonly", "no", "--dir", dir_.path().string(), "--loglevel", "notice"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    wait_for_ready(out[0]);
  }

  // SIGTERM (or another signal) and wait for the process to be gone.
  void stop(int signum = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, signum);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  void restart() {
    stop();
    start();
  }

  std::uint16_t port() const { return port_; }
  std::string unix_path() const { return dir_.file("redis.sock"); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string unix_url() const { return "unix://" + unix_path(); }
  const temp_dir& dir() const { return dir_; }

  // redis-cli against this server, for test set-up and checks.
  std::string cli(const std::string& args) const {
    return shell("redis-cli -p " + std::to_string(port_) + " " + args + " 2>&1");
  }

 private:
  void wait_for_ready(int fd) {
    std::string log;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    char buf[4096];
    while (log.find("Ready to accept connections") == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        throw std::runtime_error("redis-server did not start:\n" + log);
      }
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("redis-server exited:\n" + log);
      log.append(buf, static_cast<std::size_t>(n));
    }
    // redis ignores SIGPIPE once initialised, so closing our end just silences its later log lines.
    ::close(fd);
  }

  temp_dir dir_;
  std::vector<std::string> extra_args_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// A CA, and a server certificate for `names` (SAN entries like DNS:localhost,IP:127.0.0.1).
struct test_certificates {
  std::string ca_cert, ca_key, server_cert, server_key, client_cert, client_key;

  static test_certificates make(const temp_dir& dir, const std::string& san = "DNS:localhost,IP:127.0.0.1") {
    test_certificates c;
    c.ca_cert = dir.file("ca.crt");
    c.ca_key = dir.file("ca.key");
    c.server_cert = dir.file("server.crt");
    c.server_key = dir.file("server.key");
    c.client_cert = dir.file("client.crt");
    c.client_key = dir.file("client.key");
    std::string d = dir.path().string();
    shell("cd '" + d + "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
          "-subj '/CN=bcast test CA' 2>&1");
    for (std::string who : {"server", "client"}) {
      std::string ext = who == "server" ? "subjectAltName=" + san : "extendedKeyUsage=clientAuth";
      shell("cd '" + d + "' && openssl req -newkey rsa:2048 -nodes -keyout " + who + ".key -out " + who +
            ".csr -subj '/CN=" + who + "' 2>&1 && printf '%s\\n' '" + ext + "' > " + who +
            ".ext && openssl x509 -req -in " + who + ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + who +
            ".crt -days 2 -extfile " + who + ".ext 2>&1");
    }
    return c;
  }
};

}  // namespace bcast::test

// REQUIRE_OK(r) / CHECK_OK(r): the core::result `r` holds a value; when it holds an error instead,
// the failure prints the error. For Catch2 suites (they use INFO and REQUIRE or CHECK).
#define BCAST_ASSERT_OK(assertion, ...)                                                       \
  do {                                                                                        \
    const auto& bcast_checked_result = (__VA_ARGS__);                                         \
    INFO(#__VA_ARGS__ << " holds the error: "                                                 \
                      << (bcast_checked_result.ok() ? std::string()                           \
                                                    : bcast_checked_result.err().message())); \
    assertion(bcast_checked_result.ok());                                                     \
  } while (false)
#define REQUIRE_OK(...) BCAST_ASSERT_OK(REQUIRE, __VA_ARGS__)
#define CHECK_OK(...) BCAST_ASSERT_OK(CHECK, __VA_ARGS__)
