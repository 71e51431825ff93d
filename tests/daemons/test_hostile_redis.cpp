// End-to-end: a hostile "Redis" (or a man in the middle) answers the daemons with nested huge
// array headers. Each daemon drops the connection, stays small, keeps reconnecting, and works
// once a real redis-server answers.

#include "store_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Seven nested `*1048576`: 70 bytes that once took a process to 506 MB.
std::string nested_bomb() {
  std::string out;
  for (int i = 0; i < 7; ++i) out += "*1048576\r\n";
  return out;
}

// Sits where Redis should be. While hostile it answers the first bytes of every connection with
// `bomb` and then only reads; once honest, each new connection is relayed to the real server.
class hostile_redis {
 public:
  explicit hostile_redis(std::string bomb) : bomb_(std::move(bomb)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("hostile_redis: cannot listen");
    port_ = ntohs(addr.sin_port);
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("hostile_redis: pipe failed");
    thread_ = std::thread([this] { run(); });
  }
  ~hostile_redis() {
    stop_ = true;
    (void)!::write(wake_[1], "x", 1);
    thread_.join();
    for (auto [fd, peer] : relays_) ::close(fd);
    for (int fd : bombed_fds_) ::close(fd);
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  // Connections that got the bomb.
  std::size_t bombed() const { return bombed_; }
  void become_honest(std::uint16_t real_redis_port) {
    upstream_port_ = real_redis_port;
    honest_ = true;
  }

 private:
  void run() {
    std::map<int, bool> answered;  // hostile connections: bomb sent yet?
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      for (auto [fd, sent] : answered) fds.push_back({fd, POLLIN, 0});
      for (auto [fd, peer] : relays_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents & POLLIN) accept_one(answered);
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        const int fd = fds[i].fd;
        char buf[16384];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (auto h = answered.find(fd); h != answered.end()) {
          if (n <= 0) {
            answered.erase(h);
            ::close(fd);
          } else if (!h->second) {
            h->second = true;
            ++bombed_;
            (void)!::write(fd, bomb_.data(), bomb_.size());
          }
          continue;
        }
        auto r = relays_.find(fd);
        if (r == relays_.end()) continue;  // closed earlier in this round with its peer
        if (n <= 0 || !write_all(r->second, buf, static_cast<std::size_t>(n))) {
          const int peer = r->second;
          relays_.erase(fd);
          relays_.erase(peer);
          ::close(fd);
          ::close(peer);
        }
      }
    }
    for (auto [fd, sent] : answered) bombed_fds_.push_back(fd);
  }

  void accept_one(std::map<int, bool>& answered) {
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    if (!honest_) {
      answered[client] = false;
      return;
    }
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(upstream_port_);
    if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(upstream);
      ::close(client);
      return;
    }
    relays_[client] = upstream;
    relays_[upstream] = client;
  }

  static bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd, data, size);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  std::string bomb_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<std::uint16_t> upstream_port_{0};
  std::atomic<bool> honest_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> bombed_{0};
  std::map<int, int> relays_;  // both directions
  std::vector<int> bombed_fds_;
  std::thread thread_;
};

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("hostile Redis: publisherd drops the bomb, stays under 64 MiB, reconnects, then sends") {
  hostile_redis mitm(nested_bomb());
  test::publisherd_fixture hq({"--redis", mitm.url()});  // the last --redis wins
  REQUIRE(hq.daemon->wait_for_log("Redis unreachable"));
  REQUIRE(hq.daemon->wait_for_log(
      "an aggregate of 1048576 elements would take the reply past its budget"));
  // publisherd has two connections: both bombed, then at least one of them again after its backoff.
  REQUIRE(test::wait_until([&] { return mitm.bombed() >= 3; }));
  const auto pid = hq.daemon->pid();
  CHECK(test::peak_resident_bytes(pid) < test::daemon_memory_bound());

  mitm.become_honest(hq.redis->port());
  REQUIRE(hq.daemon->wait_for_log("Redis is back"));
  test::http_result sent;
  REQUIRE(test::wait_until([&] {
    // The second connection (stores, receipts) may come back a moment after the first.
    sent = test::http_call(0, "POST", "/api/v1/messages", test::simple_message("Sudah bisa").dump(),
                           {}, hq.socket);
    return sent.status == 201;
  }));
  const std::string id = json::parse(sent.body)["id"];
  CHECK(hq.redis->cli("ZRANGE bcast:message-log - + BYLEX").find(id) != std::string::npos);
  REQUIRE(test::wait_until([&] {
    return test::http_call(0, "GET", "/api/v1/stores", {}, {}, hq.socket).status == 200;
  }));
  CHECK(test::peak_resident_bytes(pid) < test::daemon_memory_bound());
}

TEST_CASE(
    "hostile Redis: subscriberd drops the bomb, stays under 64 MiB, reconnects, then shows "
    "messages") {
  test::publisherd_fixture hq;
  hostile_redis mitm(nested_bomb());
  test::store_box box;
  box.id = "s1";
  box.dir = hq.dir.file("store-s1");
  box.redis_url = mitm.url();
  box.with_terminal = false;
  box.trusted_keys = {hq.public_key};
  std::filesystem::create_directories(box.dir);
  box.launch();
  const auto& dir = box.dir;
  auto& store = box.process;
  REQUIRE(store->wait_for_log("broker unreachable, retrying with backoff"));
  REQUIRE(
      store->wait_for_log("an aggregate of 1048576 elements would take the reply past its budget"));
  // Its command connection and its pub/sub connection, and one of them again after its backoff.
  REQUIRE(test::wait_until([&] { return mitm.bombed() >= 3; }));
  CHECK(test::peak_resident_bytes(store->pid()) < test::daemon_memory_bound());

  mitm.become_honest(hq.redis->port());
  REQUIRE(store->wait_for_log("broker reachable again"));
  REQUIRE(store->wait_for_log("is live on", 40s));  // its backoff grows to seconds while bombed
  auto sent = test::http_call(0, "POST", "/api/v1/messages",
                              test::simple_message("Setelah serangan").dump(), {}, hq.socket);
  REQUIRE(sent.status == 201);
  const std::string id = json::parse(sent.body)["id"];
  REQUIRE(test::wait_until([&] { return test::contains(file_text(dir + "/shown.jsonl"), id); }));
  CHECK(test::peak_resident_bytes(store->pid()) < test::daemon_memory_bound());
}
