// publisherd under systemd's protocols: sd_notify readiness, watchdog and stopping, and sockets
// passed by socket activation (systemd-socket-activate, as systemd passes them).

#include "store_fixture.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <fstream>
#include <iterator>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

// The service manager's end of NOTIFY_SOCKET: a datagram socket collecting what the daemon says.
struct notify_listener {
  test::temp_dir dir;
  std::string path = dir.file("notify.sock");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::vector<std::string> messages;

  notify_listener() {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~notify_listener() { ::close(fd); }

  // Waits for a datagram containing `text`.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (const auto& m : messages) {
        if (m.find(text) != std::string::npos) return true;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) messages.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }
  std::size_t count(const std::string& text) const {
    std::size_t n = 0;
    for (const auto& m : messages) n += m.find(text) != std::string::npos;
    return n;
  }
};

}  // namespace

TEST_CASE("publisherd tells systemd READY=1 once serving, pings the watchdog, and says STOPPING=1") {
  test::temp_dir dir;
  test::redis_server redis;
  notify_listener notify;
  REQUIRE(test::run_bcastctl("user add --users " + dir.file("u.json") + " admin --role admin --password-stdin", "pw\n") == 0);
  const auto key = test::make_key_pair(dir.file("keys"));
  auto port = test::free_port();
  test::daemon_process d(test::build_path("daemons/publisherd/publisherd"),
                         {"--redis", redis.url(), "--http", "127.0.0.1:" + std::to_string(port),
                          "--users", dir.file("u.json"), "--signing-key", key.private_key},
                         {"NOTIFY_SOCKET=" + notify.path, "WATCHDOG_USEC=200000"});
  REQUIRE(notify.wait_for("READY=1"));
  CHECK(test::http_call(port, "GET", "/api/v1/health").status == 200);  // ready means serving
  REQUIRE(notify.wait_for("WATCHDOG=1"));
  auto first = notify.count("WATCHDOG=1");
  // At half of WATCHDOG_USEC (100 ms): more pings keep coming while the loop runs.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (notify.count("WATCHDOG=1") < first + 3 && std::chrono::steady_clock::now() < deadline) notify.wait_for("never", 50ms);
  CHECK(notify.count("WATCHDOG=1") >= first + 3);
  d.signal(SIGTERM);
  CHECK(notify.wait_for("STOPPING=1"));
  CHECK(d.wait_exit() == 0);
}

TEST_CASE("subscriberd tells systemd READY=1, its counters as STATUS=, pings the watchdog, and says STOPPING=1") {
  test::fleet f;
  auto& hq = f.hq;
  notify_listener notify;
  auto& box = f.prepare("s1", {});
  test::daemon_process store(test::build_path("daemons/subscriberd/subscriberd"), box.arguments(),
                             {"NOTIFY_SOCKET=" + notify.path, "WATCHDOG_USEC=200000"});
  REQUIRE(notify.wait_for("READY=1"));
  REQUIRE(notify.wait_for("STATUS=store s1 live on 2 channels; 0 received, 0 shown"));
  nlohmann::json body{{"targets", {"all"}}, {"category", "announcement"}, {"title", "Halo"}, {"body", "b"}};
  REQUIRE(test::http_call(0, "POST", "/api/v1/messages", body.dump(), {}, hq.socket).status == 201);
  CHECK(
      notify.wait_for("STATUS=store s1 live on 2 channels; 1 received, 1 shown, 0 expired, 0 sink "
                      "failures, 0 gaps, 0 rejected, 0 recalled"));
  REQUIRE(notify.wait_for("WATCHDOG=1"));
  const auto first = notify.count("WATCHDOG=1");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (notify.count("WATCHDOG=1") < first + 3 && std::chrono::steady_clock::now() < deadline) notify.wait_for("never", 50ms);
  CHECK(notify.count("WATCHDOG=1") >= first + 3);

  hq.redis.reset();  // the broker goes away: the status says so
  CHECK(notify.wait_for("STATUS=store s1 broker unreachable, retrying"));
  store.signal(SIGTERM);
  CHECK(notify.wait_for("STOPPING=1"));
  CHECK(store.wait_exit() == 0);
}

TEST_CASE("publisherd serves the sockets systemd passes (socket activation), by name") {
  test::temp_dir dir;
  test::redis_server redis;
  REQUIRE(test::run_bcastctl("user add --users " + dir.file("u.json") + " admin --role admin --password-stdin", "pw\n") == 0);
  const auto key = test::make_key_pair(dir.file("keys"));
  auto port = test::free_port();
  std::string sock = dir.file("activated.sock");
  test::daemon_process d(
      "/usr/bin/systemd-socket-activate",
      {"-l", "127.0.0.1:" + std::to_string(port), "-l", sock, "--fdname=http:unix",
       test::build_path("daemons/publisherd/publisherd"), "--redis", redis.url(), "--users",
       dir.file("u.json"), "--http", "127.0.0.1:1", "--signing-key", key.private_key});
  REQUIRE(d.wait_for_log("as 4."));
  // systemd-socket-activate starts the daemon on the first connection, which then waits in the
  // passed socket's backlog and is served.
  auto first = test::http_call(port, "GET", "/api/v1/health");
  CHECK((first.status == 200 || first.status == 503));
  REQUIRE(d.wait_for_log("connected to Redis"));
  auto log = d.log();
  CHECK(log.find("socket 'http' passed by systemd") != std::string::npos);
  CHECK(log.find("socket 'unix' passed by systemd") != std::string::npos);
  CHECK(test::http_call(port, "GET", "/api/v1/health").status == 200);
  std::string out;
  CHECK(test::run_bcastctl("--socket " + sock + " stores", {}, &out) == 0);  // the unix one, with SO_PEERCRED
}

TEST_CASE("systemd units: verify passes, and the system units expose at most 2.0") {
  // The units name /usr/bin/...; point them at this build so that verify can check the commands.
  test::temp_dir dir;
  auto source = std::string(std::getenv("BCAST_SOURCE_ROOT")) + "/systemd/";
  for (std::string unit : {"publisherd.service", "publisherd.socket", "subscriberd@.service", "subscriberd.service"}) {
    std::ifstream in(source + unit);
    REQUIRE(in);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::string daemon : {"publisherd", "subscriberd"}) {
      for (auto p = text.find("/usr/bin/" + daemon); p != std::string::npos; p = text.find("/usr/bin/" + daemon, p + 1))
        text.replace(p, 9 + daemon.size(), test::build_path("daemons/" + daemon + "/" + daemon));
    }
    std::ofstream(dir.file(unit)) << text;
  }
  auto run = [](const std::string& cmd, std::string& out) {
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    out.clear();
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    return WEXITSTATUS(::pclose(p));
  };
  std::string out;
  CHECK(run("cd '" + dir.path().string() + "' && systemd-analyze verify --man=no ./publisherd.service ./publisherd.socket "
            "./subscriberd@.service",
            out) == 0);
  INFO(out);
  for (std::string unit : {"publisherd.service", "subscriberd@.service"}) {
    REQUIRE(run("cd '" + dir.path().string() + "' && systemd-analyze security --offline=true ./" + unit, out) == 0);
    auto at = out.find("Overall exposure level for");
    REQUIRE(at != std::string::npos);
    double exposure = std::stod(out.substr(out.find(": ", at) + 2));
    INFO(unit << " exposure " << exposure);
    CHECK(exposure <= 2.0);
  }
}

TEST_CASE("systemd units: publisherd's descriptor limit, and an admin socket its group can reach") {
  const std::string root = std::string(std::getenv("BCAST_SOURCE_ROOT")) + "/";
  const auto read = [&](const std::string& relative) {
    std::ifstream in(root + relative);
    REQUIRE(in);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const auto value_of = [](const std::string& unit, const std::string& key) {
    const auto at = unit.find("\n" + key + "=");
    return at == std::string::npos
               ? std::string()
               : unit.substr(at + key.size() + 2, unit.find('\n', at + 1) - at - key.size() - 2);
  };
  // Room for the default limits.max_connections (1024) and what publisherd keeps besides.
  const auto service = read("systemd/publisherd.service");
  REQUIRE_FALSE(value_of(service, "LimitNOFILE").empty());
  CHECK(std::stoul(value_of(service, "LimitNOFILE")) >= 1024 + 128);
  // A socket file root:root 0660 would let no group rule of unix_socket_allow ever apply.
  const auto socket = read("systemd/publisherd.socket");
  CHECK(value_of(socket, "SocketMode") == "0660");
  const auto group = value_of(socket, "SocketGroup");
  REQUIRE_FALSE(group.empty());
  CHECK(group != "bcast");  // that group reads the secrets in /etc/bcast
  CHECK(test::contains(read("debian/bcast.postinst"), "addgroup --system --quiet " + group + "\n"));
}
