// End-to-end: the real publisherd under connection abuse (issue #15). Clients that send requests
// and never read the answers, one address opening hundreds of connections, the descriptor limit,
// and what an HTTPS scan or a crafted path finds.

#include "publisherd_fixture.hpp"

#include <support/raw_client.hpp>

#include <bcast/core/daemon.hpp>
#include <bcast/http/client.hpp>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// VmRSS of a process, in bytes.
std::size_t resident_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// GET `target` from a client at `source` (127.0.0.2 is another client address than the
// fixture's 127.0.0.1).
test::http_result fetch_from(const std::string& source, std::uint16_t port,
                             const std::string& target) {
  test::raw_client c(port, source);
  c.send("GET " + target + " HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n");
  const std::string bytes = c.read_until_closed(20s);
  http::response_parser parser;
  parser.feed(bytes);
  parser.finish();
  INFO(bytes.substr(0, 300));
  REQUIRE(parser.status() == http::response_parser::state::message);
  return parser.take();
}

// The value of one series in Prometheus text, e.g. `bcast_http_connections`.
double metric(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

}  // namespace

TEST_CASE(
    "publisherd: 600 connections from one address that never read: another address is served, "
    "RSS stays under 256 MiB, and they are reset after the write timeout") {
  core::raise_descriptor_limit();  // this process holds the 600 sockets
  test::temp_dir web;
  std::ofstream(web.file("big.css")) << std::string(64 * 1024, 'c');
  std::ofstream(web.file("index.html")) << "<p>hq</p>";
  constexpr auto write_timeout = 4000ms;
  std::ofstream(web.file("p.json"))
      << json{{"web_root", web.path().string()},
              {"limits", {{"write_timeout_ms", write_timeout.count()}}}}
             .dump();
  test::publisherd_fixture f({"--config", web.file("p.json")});
  const auto pid = f.daemon->pid();
  std::size_t most_resident = resident_bytes(pid);
  const auto sample = [&] { most_resident = std::max(most_resident, resident_bytes(pid)); };

  // 64 pipelined GETs of 64 KiB each, and a 4 KiB receive window: megabytes of answers that the
  // client never takes.
  std::string pipelined;
  for (int i = 0; i < 64; ++i) pipelined += "GET /big.css HTTP/1.1\r\nHost: hq\r\n\r\n";
  struct attacker {
    std::unique_ptr<test::raw_client> socket;
    std::chrono::steady_clock::time_point sent;
    std::optional<std::chrono::steady_clock::time_point> gone;
  };
  std::vector<attacker> attackers;
  const auto attack = [&] {
    attackers.push_back({std::make_unique<test::raw_client>(f.port, "127.0.0.1", 4096), {}, {}});
    attackers.back().sent = std::chrono::steady_clock::now();
    return attackers.back().socket->send(pipelined) == pipelined.size();
  };
  for (int i = 0; i < 256; ++i) REQUIRE(attack());
  // All 256 are open (the 257th connection is the one asking).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  double open = 0;
  while ((open = metric(fetch_from("127.0.0.2", f.port, "/metrics").body,
                        "bcast_http_connections")) < 257 &&
         std::chrono::steady_clock::now() < deadline) {
    sample();
  }
  REQUIRE(open == 257);

  // The 257th from that address is refused at once, before it sends anything.
  test::raw_client refused(f.port);
  const std::string answer = refused.read_until_closed(20s);
  CHECK(answer.rfind("HTTP/1.1 503 ", 0) == 0);
  CHECK(test::contains(answer, "too many connections from your address"));
  // And so are the rest of 600, requests and all.
  for (int i = 257; i < 600; ++i)
    attack();  // refused at once: the server may close before the send
  sample();

  // Another address is served meanwhile: the API and a static file.
  auto health = fetch_from("127.0.0.2", f.port, "/api/v1/health");
  CHECK(health.status == 200);
  auto file = fetch_from("127.0.0.2", f.port, "/big.css");
  CHECK(file.status == 200);
  CHECK(file.body.size() == 64 * 1024);
  const auto during = fetch_from("127.0.0.2", f.port, "/metrics").body;
  CHECK(metric(during, "bcast_http_connections") <= 257);

  // Every one is gone within two write timeouts (and a margin for a busy machine); those that
  // were served were reset, none before the write timeout had passed since it sent.
  const auto until = std::chrono::steady_clock::now() + 2 * write_timeout + 20s;
  std::size_t gone = 0;
  while (gone < attackers.size() && std::chrono::steady_clock::now() < until) {
    sample();
    for (auto& a : attackers) {
      if (!a.gone && a.socket->hung_up()) {
        a.gone = std::chrono::steady_clock::now();
        ++gone;
      }
    }
    ::poll(nullptr, 0, 20);
  }
  REQUIRE(gone == attackers.size());
  auto metrics = fetch_from("127.0.0.2", f.port, "/metrics").body;
  const double reset =
      metric(metrics, R"(bcast_http_connections_dropped_total{limit="write_timeout"})");
  const double over =
      metric(metrics, R"(bcast_http_connections_dropped_total{limit="connections_per_address"})");
  CHECK(reset >= 256);
  CHECK(reset + over == 600);  // each was refused or reset; the 257th is among the refused
  std::size_t served_and_reset = 0;
  auto earliest = std::chrono::steady_clock::duration::max();
  for (auto& a : attackers) {
    if (a.socket->peek(12) != "HTTP/1.1 200" || !a.socket->was_reset()) continue;
    ++served_and_reset;
    earliest = std::min(earliest, *a.gone - a.sent);
  }
  CHECK(served_and_reset >= 256);
  CHECK(earliest >= write_timeout);
  INFO("publisherd's largest resident set: " << most_resident / (1024 * 1024) << " MiB");
  // AddressSanitizer keeps freed memory in a quarantine of up to 256 MiB and adds its shadow:
  // the bound speaks of the regular build (./dev test runs the sanitized one with BCAST_SANITIZED).
  if (std::getenv("BCAST_SANITIZED") == nullptr) CHECK(most_resident < 256u * 1024 * 1024);
  CHECK(f.daemon->wait_for_log(
      "refused a connection from 127.0.0.1: 256 connections from that address are open"));
  CHECK(f.daemon->wait_for_log(
      "reset a connection from 127.0.0.1: it read none of its answers for 4000 ms"));
  // And the address that misbehaved is served again once its connections are gone.
  CHECK(f.call("GET", "/api/v1/health").status == 200);
}

TEST_CASE("publisherd raises its descriptor limit and says how many connections it serves") {
  test::publisherd_fixture f;
  // Logged before the fixture's "connected to Redis".
  CHECK(test::contains(f.daemon->log(),
                       "serving at most 1024 HTTP connections, 256 per client address"));
  std::ifstream limits("/proc/" + std::to_string(f.daemon->pid()) + "/limits");
  std::string line;
  std::optional<std::pair<std::string, std::string>> open_files;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft, hard;
    fields >> soft >> hard;
    open_files = {soft, hard};
  }
  REQUIRE(open_files);
  rlimit mine{};
  ::getrlimit(RLIMIT_NOFILE, &mine);
  const auto expected = std::min<rlim_t>(mine.rlim_max, 65536);
  CHECK(open_files->first == std::to_string(expected));
}

TEST_CASE("publisherd --check-config: the connection limits") {
  test::temp_dir dir;
  auto bin = test::build_path("daemons/publisherd/publisherd");
  std::ofstream(dir.file("good.json"))
      << R"({"limits": {"max_connections": 100, "connections_per_address": 10, "write_timeout_ms": 500}})";
  std::string out;
  const auto key = test::make_key_pair(dir.file("keys")).private_key;
  CHECK(test::shell_status("'" + bin + "' --check-config --signing-key '" + key + "' --config " +
                               dir.file("good.json"),
                           &out) == 0);
  for (const auto& [text, said] : std::vector<std::pair<std::string, std::string>>{
           {R"({"limits": {"connections_per_address": 0}})",
            "limits.connections_per_address: expected a positive integer, got 0"},
           {R"({"limits": {"write_timeout_ms": "30s"}})", "limits.write_timeout_ms: expected"},
           {R"({"limits": {"max_connection": 10}})", "limits.max_connection: unknown key"}}) {
    std::ofstream(dir.file("bad.json"), std::ios::trunc) << text;
    INFO(text);
    CHECK(test::shell_status("'" + bin + "' --check-config --config " + dir.file("bad.json"),
                             &out) == 2);
    CHECK(test::contains(out, said));
  }
}

TEST_CASE("publisherd over HTTPS: Strict-Transport-Security, and TLS 1.2 offers only AEAD suites") {
  test::temp_dir certdir;
  auto certs = test::test_certificates::make(certdir);
  const auto https_port = test::free_port();
  std::ofstream(certdir.file("p.json")) << json{
      {"https",
       {{{"listen", "127.0.0.1:" + std::to_string(https_port)},
         {"cert_file", certs.server_cert},
         {"key_file", certs.server_key}}}}}.dump();
  test::publisherd_fixture f({"--config", certdir.file("p.json")});
  const std::string at = "https://localhost:" + std::to_string(https_port);
  std::string out =
      test::shell("curl -s -i --cacert '" + certs.ca_cert + "' " + at + "/api/v1/health");
  CHECK(out.find("HTTP/1.1 200") == 0);
  CHECK(test::contains(out, "Strict-Transport-Security: max-age=31536000"));
  // Plain HTTP carries no HSTS: a browser ignores it there, and it would pin a host that has no
  // HTTPS at all.
  CHECK(f.call("GET", "/api/v1/health").header("strict-transport-security").empty());

  // A scanner's view: a TLS 1.2 client that offers only CBC suites gets no handshake...
  const std::string s_client = "openssl s_client -connect 127.0.0.1:" + std::to_string(https_port) +
                               " -servername localhost -tls1_2 </dev/null -cipher ";
  CHECK(test::shell_status(
            s_client + "'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA256'",
            &out) != 0);
  CHECK(test::contains(out, "Cipher is (NONE)"));
  CHECK(test::contains(out, "alert handshake failure"));  // the server says why
  // ...while the AEAD suites work, in TLS 1.2 as in 1.3.
  CHECK(test::shell_status(s_client + "ECDHE-RSA-AES256-GCM-SHA384", &out) == 0);
  CHECK(test::contains(out, "Cipher is ECDHE-RSA-AES256-GCM-SHA384"));
  CHECK(test::shell_status(s_client + "ECDHE-RSA-CHACHA20-POLY1305", &out) == 0);
}

TEST_CASE(
    "publisherd: a path that starts with // is redirected within the site, not to another host") {
  test::temp_dir dir;
  std::ofstream(dir.file("p.json")) << json{
      {"web_root",
       std::string(std::getenv("BCAST_SOURCE_ROOT")) +
           "/daemons/publisherd/web"}}.dump();
  test::publisherd_fixture f({"--config", dir.file("p.json")});
  CHECK(f.call("GET", "/icons").header("location") == "/icons/");
  for (const std::string evil : {"//icons", "///icons", "//icons?next=x"}) {
    INFO(evil);
    auto r = f.call("GET", evil);
    CHECK(r.status == 301);
    CHECK(r.header("location").rfind("/icons/", 0) == 0);
  }
}
