#pragma once
// Shared test fixtures: temp dirs, free ports, a real redis-server per test (the library's, made to
// throw), running the loop under a watchdog, and certificates made with the openssl CLI.

#include <support/assert_ok.hpp>

#include <bcast/core/loop.hpp>
#include <bcast/core/temp_dir.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/net/loopback.hpp>
#include <bcast/net/tls.hpp>
#include <bcast/redis/local_server.hpp>

#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::test {

template <class T>
T value_or_throw(core::result<T> r) {
  if (!r) throw std::runtime_error(r.err().message());
  return std::move(r).value();
}

inline void ok_or_throw(const core::result<void>& r) {
  if (!r) throw std::runtime_error(r.err().message());
}

class temp_dir : public core::temp_dir {
 public:
  temp_dir() : core::temp_dir(value_or_throw(core::temp_dir::make("bcast-test-"))) {}
};

// A valid message id (a ULID) numbered n (up to 9999): ids sort as their numbers do.
inline std::string message_id(int n) {
  std::string tail = std::to_string(n);
  while (tail.size() < 4) tail = "0" + tail;
  return "01JD5Q8W3V6X4Y2Z0A1B2C" + tail;
}

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

inline std::uint16_t free_port() {
  return value_or_throw(net::free_loopback_port());
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
  if (rc != 0)
    throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
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

// A process's resident memory, now (VmRSS) or at its peak (VmHWM), from /proc/PID/status, in
// bytes; 0 when the process is gone.
inline std::size_t resident_bytes(pid_t pid, std::string_view field = "VmRSS") {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':')
      return std::stoull(line.substr(field.size() + 1)) * 1024;  // "VmHWM:  1234 kB"
  }
  return 0;
}
inline std::size_t peak_resident_bytes(pid_t pid) {
  return resident_bytes(pid, "VmHWM");
}

// What a daemon's peak may reach while it is fed hostile input: 64 MiB, the promise of the
// regular build. Under AddressSanitizer (BCAST_SANITIZED) a daemon starts larger (shadow memory,
// quarantine, a larger binary) and sits near 64 MiB before any of it; twice the bound still tells
// a reply read whole (70 MB and more) apart.
inline std::size_t daemon_memory_bound() {
  return (std::getenv("BCAST_SANITIZED") ? std::size_t{128} : std::size_t{64}) * 1024 * 1024;
}

// Starts this process's peak (VmHWM) again from what it holds now.
inline void reset_peak_resident_bytes() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// A real redis-server on a free loopback port and a Unix socket in its own temp dir.
class redis_server : public redis::local_server {
 public:
  explicit redis_server(std::vector<std::string> extra_args = {})
      : redis::local_server(std::move(extra_args)) {
    start();
  }

  void start() { ok_or_throw(redis::local_server::start()); }
  void restart() {
    stop();
    start();
  }
  const core::temp_dir& dir() const { return *redis::local_server::dir(); }

  // redis-cli against this server, for test set-up and checks.
  std::string cli(const std::string& args) const {
    return shell("redis-cli -p " + std::to_string(port()) + " " + args + " 2>&1");
  }
};

// A CA, and a server certificate for `names` (SAN entries like DNS:localhost,IP:127.0.0.1).
struct test_certificates {
  std::string ca_cert, ca_key, server_cert, server_key, client_cert, client_key;

  static test_certificates make(const temp_dir& dir,
                                const std::string& san = "DNS:localhost,IP:127.0.0.1") {
    test_certificates c;
    c.ca_cert = dir.file("ca.crt");
    c.ca_key = dir.file("ca.key");
    c.server_cert = dir.file("server.crt");
    c.server_key = dir.file("server.key");
    c.client_cert = dir.file("client.crt");
    c.client_key = dir.file("client.key");
    std::string d = dir.path().string();
    shell("cd '" + d +
          "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
          "-subj '/CN=bcast test CA' 2>&1");
    for (std::string who : {"server", "client"}) {
      std::string ext = who == "server" ? "subjectAltName=" + san : "extendedKeyUsage=clientAuth";
      shell("cd '" + d + "' && openssl req -newkey rsa:2048 -nodes -keyout " + who + ".key -out " +
            who + ".csr -subj '/CN=" + who + "' 2>&1 && printf '%s\\n' '" + ext + "' > " + who +
            ".ext && openssl x509 -req -in " + who +
            ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + who + ".crt -days 2 -extfile " +
            who + ".ext 2>&1");
    }
    return c;
  }

  // A server with the server certificate that asks for no client certificate.
  net::tls_options server_tls() const {
    net::tls_options o;
    o.cert_file = server_cert;
    o.key_file = server_key;
    o.verify_peer = false;
    return o;
  }
  // A client that trusts the test CA.
  net::tls_options client_tls() const {
    net::tls_options o;
    o.ca_file = ca_cert;
    return o;
  }
};

// A zombie counts as gone: whoever reaps a killed grandchild is outside the test.
inline bool process_alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

}  // namespace bcast::test
