// End-to-end: the real publisherd and bcastctl against a real Redis.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/subscriber.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json with(json m, const std::string& key, json value) {
  m[key] = std::move(value);
  return m;
}

}  // namespace

TEST_CASE("publisherd: --version, --help, --check-config, and bad flags or config exit 2") {
  auto bin = test::build_path("daemons/publisherd/publisherd");
  test::temp_dir dir;
  const auto key = test::make_key_pair(dir.file("keys"));
  const auto signing = " --signing-key " + key.private_key;
  CHECK(test::shell("'" + bin + "' --version").find("publisherd ") == 0);
  CHECK(test::shell("'" + bin + "' --help").find("usage: publisherd") != std::string::npos);
  CHECK(test::shell("'" + bin + "' --check-config --redis redis://127.0.0.1:1" + signing)
            .find("configuration OK") != std::string::npos);
  std::ofstream(dir.file("bad.json")) << "{ // comments are fine\n \"redis\": \"redis://x:1\", \"htp\": [] }";
  std::ofstream(dir.file("good.json")) << "{ // comments are fine\n \"redis\": \"unix:///tmp/r.sock\", \"http\": [\"127.0.0.1:1\"] }";
  std::string out;
  auto run = [&](const std::string& args) {
    FILE* p = ::popen(("'" + bin + "' " + args + " 2>&1").c_str(), "r");
    out.clear();
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    return WEXITSTATUS(::pclose(p));
  };
  CHECK(run("--check-config --config " + dir.file("good.json") + signing) == 0);
  CHECK(run("--check-config --config " + dir.file("bad.json")) == 2);
  CHECK(test::contains(out, dir.file("bad.json") + ": htp: unknown key"));
  std::ofstream(dir.file("empty-history.json")) << R"({"history": {"max_len": 0}})";
  CHECK(run("--check-config --config " + dir.file("empty-history.json")) == 2);
  CHECK(test::contains(out, "history.max_len: expected a positive integer, got 0"));
  // A typo, a repeated key or a wrong type is refused at every depth, named by its path.
  const std::vector<std::pair<std::string, std::string>> refused{
      {R"({"limits": {"title_max_charz": 10}})", "limits.title_max_charz: unknown key"},
      {R"({"https": [{"listen": "127.0.0.1:8443", "cert_fil": "s.pem"}]})",
       "https[0].cert_fil: unknown key"},
      {R"({"unix_socket_allow": {"user": ["root"]}})", "unix_socket_allow.user: unknown key"},
      {R"({"categories": [{"id": "promo", "label": "Promo"}]})",
       "categories[0].label: unknown key"},
      {R"({"sessions": {"idle_timeout_s": 60, "idle_timeout_s": 120}})",
       R"(sessions: duplicate key "idle_timeout_s")"},
      {R"({"limits": {"max_targets": "64"}})",
       R"(limits.max_targets: expected a positive integer, got "64")"},
      {R"({"unix_socket_allow": {"uids": [-1]}})",
       "unix_socket_allow.uids[0]: expected an integer from 0 to"},
      {R"({"unix_socket_mode": "rw-rw----"})",
       R"(unix_socket_mode: expected an octal mode like "0660")"},
      {R"({"http": ["127.0.0.1"]})", "http: expected HOST:PORT, got '127.0.0.1'"}};
  for (const auto& [text, said] : refused) {
    std::ofstream(dir.file("refused.json"), std::ios::trunc) << text;
    INFO(text);
    CHECK(run("--check-config --config " + dir.file("refused.json")) == 2);
    CHECK(test::contains(out, dir.file("refused.json") + ": " + said));
  }
  CHECK(run("--bogus") == 2);
  CHECK(run("--check-config --redis http://nope") == 2);
  CHECK(out.find("Redis URL") != std::string::npos);
  CHECK(run("--check-config --http nonsense") == 2);
  CHECK(run("--check-config --users " + dir.file("missing.json") + signing) == 2);
  CHECK(test::contains(out, "missing.json"));
}

TEST_CASE("publisherd: login, wrong login, and throttling") {
  test::publisherd_fixture f;
  auto ok = f.call("POST", "/api/v1/login", R"({"username":"admin","password":"s3cret"})");
  REQUIRE(ok.status == 200);
  auto body = json::parse(ok.body);
  CHECK(body["user"]["name"] == "admin");
  CHECK(body["user"]["role"] == "admin");
  CHECK(body["csrf_token"].get<std::string>().size() >= 22);
  auto cookie = ok.header("set-cookie");
  CHECK(cookie.find("bcast_session=") == 0);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
  CHECK(cookie.find("Secure") == std::string::npos);  // plain HTTP

  auto wrong_password = f.call("POST", "/api/v1/login", R"({"username":"admin","password":"nope"})");
  auto unknown_user = f.call("POST", "/api/v1/login", R"({"username":"nobody","password":"nope"})");
  CHECK(wrong_password.status == 401);
  CHECK(unknown_user.status == 401);
  CHECK(wrong_password.body == unknown_user.body);
  CHECK(json::parse(wrong_password.body)["error"] == "invalid_credentials");

  // Five failures are free, then the account is locked with Retry-After.
  test::http_result r;
  for (int i = 0; i < 6; ++i) r = f.call("POST", "/api/v1/login", R"({"username":"jateng","password":"x"})");
  CHECK(r.status == 429);
  CHECK(json::parse(r.body)["error"] == "too_many_attempts");
  CHECK(std::stoi(r.header("retry-after")) >= 1);
  // Even the right password waits for the lock to pass.
  CHECK(f.call("POST", "/api/v1/login", R"({"username":"jateng","password":"regional"})").status == 429);
  CHECK(f.call("POST", "/api/v1/login", "{not json").status == 400);
}

TEST_CASE("publisherd: a session sends with its CSRF token, and the envelope reaches Redis subscribers") {
  test::publisherd_fixture f;
  core::loop l;
  redis::subscriber sub(l, redis::parse_url(f.redis->url()).value());
  std::vector<std::string> payloads;
  sub.on_message([&](std::string_view, std::string_view p) { payloads.emplace_back(p); });
  sub.subscribe({broker::live_channel("all")});
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));

  auto s = f.login();
  CHECK(f.call("POST", "/api/v1/messages", test::simple_message().dump(), {{"Cookie", s.cookie}}).status == 403);
  CHECK(f.call("POST", "/api/v1/messages", test::simple_message().dump()).status == 401);
  auto sent = f.send(s, test::simple_message());
  REQUIRE(sent.status == 201);
  auto env = json::parse(sent.body);
  CHECK(env["v"] == 1);
  CHECK(env["id"].get<std::string>().size() == 26);
  CHECK(env["sender"] == "admin");
  CHECK(env["priority"] == "normal");
  CHECK(env["require_ack"] == false);
  CHECK(env["expires_at"].is_null());
  REQUIRE(test::run_until(l, [&] { return !payloads.empty(); }));
  CHECK(payloads[0].find(env["id"].get<std::string>()) != std::string::npos);
  CHECK(payloads[0].find("Promo minggu ini") != std::string::npos);

  // The history lists it, newest first, and shows it by id.
  auto second = f.send(s, test::simple_message("Kedua"));
  REQUIRE(second.status == 201);
  auto list = json::parse(f.call("GET", "/api/v1/messages?limit=10", {}, {{"Cookie", s.cookie}}).body)["messages"];
  REQUIRE(list.size() == 2);
  CHECK(list[0]["title"] == "Kedua");
  CHECK(list[1]["title"] == "Promo minggu ini");
  auto older = json::parse(f.call("GET", "/api/v1/messages?before=" + list[0]["id"].get<std::string>(), {},
                                  {{"Cookie", s.cookie}}).body)["messages"];
  REQUIRE(older.size() == 1);
  CHECK(older[0]["id"] == env["id"]);
  auto one = f.call("GET", "/api/v1/messages/" + env["id"].get<std::string>(), {}, {{"Cookie", s.cookie}});
  REQUIRE(one.status == 200);
  auto detail = json::parse(one.body);
  CHECK(detail["message"]["id"] == env["id"]);
  CHECK(detail["receipts"]["expected"] == 0);
  CHECK(detail["receipts"]["delivered"] == 0);
  CHECK(f.call("GET", "/api/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV", {}, {{"Cookie", s.cookie}}).status == 404);
  CHECK(f.call("GET", "/api/v1/messages?limit=0", {}, {{"Cookie", s.cookie}}).status == 400);

  // Logged out, the cookie is worthless.
  CHECK(f.call("POST", "/api/v1/logout", {}, {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}}).status == 204);
  CHECK(f.call("GET", "/api/v1/messages", {}, {{"Cookie", s.cookie}}).status == 401);
}

TEST_CASE("publisherd: bad input gets a clear 400 naming the field, and nothing is sent") {
  test::publisherd_fixture f;
  auto s = f.login();
  auto field_of = [&](const json& body) {
    auto r = f.send(s, body);
    CHECK(r.status == 400);
    auto e = json::parse(r.body);
    CHECK(e["error"] == "invalid_request");
    CHECK_FALSE(e["message"].get<std::string>().empty());
    return e.value("field", "");
  };
  auto m = test::simple_message();
  CHECK(field_of(with(m, "category", "gossip")) == "category");
  CHECK(field_of(with(m, "targets", {"Region:X"})) == "targets");
  CHECK(field_of(with(m, "targets", json::array())) == "targets");
  CHECK(field_of(with(m, "title", std::string(201, 'x'))) == "title");
  CHECK(field_of(with(m, "body", "")) == "body");
  CHECK(field_of(with(m, "priority", "panic")) == "priority");
  CHECK(field_of(with(m, "title", 42)) == "title");

  // Raw bodies that are not JSON, or not UTF-8.
  auto raw = [&](const std::string& body) {
    return f.call("POST", "/api/v1/messages", body, {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}});
  };
  auto not_json = raw("{\"targets\": [");
  CHECK(not_json.status == 400);
  CHECK(json::parse(not_json.body)["error"] == "invalid_request");
  auto bad_utf8 = raw(std::string("{\"targets\":[\"all\"],\"category\":\"announcement\",\"title\":\"\xff\xfe\",\"body\":\"x\"}"));
  CHECK(bad_utf8.status == 400);
  auto too_big = raw(std::string(70 * 1024, ' '));
  CHECK(too_big.status == 413);

  CHECK(f.call("GET", "/api/v1/health").status == 200);  // still serving
  auto list = json::parse(f.call("GET", "/api/v1/messages", {}, {{"Cookie", s.cookie}}).body)["messages"];
  CHECK(list.empty());
}

TEST_CASE("publisherd: malformed HTTP gets a 400 and the daemon keeps serving") {
  test::publisherd_fixture f;
  auto garbage = test::http_raw("\x16\x03\x01 this is not http\r\n\r\n", f.port);
  CHECK(garbage.status == 400);
  auto huge_header = test::http_raw("GET /api/v1/health HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", f.port);
  CHECK(huge_header.status == 431);
  auto long_url = test::http_raw("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", f.port);
  CHECK(long_url.status == 414);
  auto health = f.call("GET", "/api/v1/health");
  CHECK(health.status == 200);
  CHECK(json::parse(health.body) == json{{"status", "ok"}, {"redis", "up"}});
}

TEST_CASE("publisherd: a regional user may only send inside its target patterns") {
  test::publisherd_fixture f;
  auto s = f.login("jateng", "regional");
  auto outside = f.send(s, test::simple_message());
  CHECK(outside.status == 403);
  CHECK(json::parse(outside.body)["error"] == "forbidden");
  auto inside = f.send(s, with(test::simple_message(), "targets", {"region:jateng", "store:smg-01"}));
  CHECK(inside.status == 201);
}

TEST_CASE("publisherd: bearer tokens for automation") {
  test::publisherd_fixture f;
  const auto token = f.bearer_token();
  auto ok = f.call("POST", "/api/v1/messages", test::simple_message().dump(), {{"Authorization", "Bearer " + token}});
  CHECK(ok.status == 201);
  auto bad = f.call("POST", "/api/v1/messages", test::simple_message().dump(), {{"Authorization", "Bearer bcast_wrong"}});
  CHECK(bad.status == 401);
  CHECK(json::parse(bad.body)["error"] == "unauthenticated");
}

TEST_CASE("publisherd: a send retried with Idempotency-Key is published once; a bad key is a 400") {
  test::publisherd_fixture f;
  const auto token = f.bearer_token();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  const auto id = message::make_ulid(static_cast<std::uint64_t>(now_ms.count()), {});
  auto send = [&](const std::string& key) {
    return f.call("POST", "/api/v1/messages", test::simple_message("Sekali saja").dump(),
                  {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
  };
  auto first = send(id);
  REQUIRE(first.status == 201);
  CHECK(json::parse(first.body)["id"] == id);
  auto retry = send(id);
  REQUIRE(retry.status == 201);
  CHECK(json::parse(retry.body)["id"] == id);
  CHECK(f.redis->cli("XLEN '" + broker::history_key("all") + "'") == "1\n");
  auto listed = json::parse(f.call("GET", "/api/v1/messages", {}, {{"Authorization", "Bearer " + token}}).body);
  REQUIRE(listed["messages"].size() == 1);
  CHECK(listed["messages"][0]["id"] == id);

  auto bad = send("not-a-message-id");
  CHECK(bad.status == 400);
  CHECK(test::contains(json::parse(bad.body)["message"].get<std::string>(), "Idempotency-Key"));
  CHECK(f.redis->cli("XLEN '" + broker::history_key("all") + "'") == "1\n");
}

TEST_CASE(
    "publisherd: with Redis down a send is refused with 503 (publish deadline), and works again "
    "when Redis is back") {
  test::publisherd_fixture f;
  auto s = f.login();
  REQUIRE(f.send(s, test::simple_message("before")).status == 201);
  f.redis->stop();
  auto started = std::chrono::steady_clock::now();
  auto down = f.send(s, test::simple_message("during"));
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(down.status == 503);
  auto e = json::parse(down.body);
  CHECK(e["error"] == "broker_unavailable");
  CHECK(e["message"].get<std::string>().find("check the connection") != std::string::npos);
  // The 503 is publisherd's own answer, within its publish deadline (publish_timeout_ms, 1.5 s:
  // the documented 2 s), not the client giving up (20 s). The bound leaves a loaded or sanitized machine
  // room to schedule the daemon and this thread.
  INFO("answered in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms");
  CHECK(took < 8s);
  CHECK(f.call("GET", "/api/v1/health").status == 503);
  REQUIRE(f.daemon->wait_for_log("Redis unreachable"));

  f.redis->start();
  REQUIRE(f.daemon->wait_for_log("Redis is back"));
  CHECK(f.send(s, test::simple_message("after")).status == 201);
  CHECK(f.call("GET", "/api/v1/health").status == 200);
}

TEST_CASE("bcastctl over the Unix socket: send, list, show, stores, and exit codes") {
  test::publisherd_fixture f;
  std::string out;
  std::string sock = "--socket " + f.socket + " ";
  REQUIRE(test::run_bcastctl(sock + "send --target all --target region:jateng --category announcement "
                                    "--title 'Rapat jam 3' --priority high -",
                             "Semua kepala toko ikut rapat.", &out) == 0);
  REQUIRE(out.rfind("sent ", 0) == 0);
  std::string id = out.substr(5, 26);
  REQUIRE(test::run_bcastctl(sock + "list", {}, &out) == 0);
  CHECK(out.find(id) != std::string::npos);
  CHECK(out.find("Rapat jam 3") != std::string::npos);
  REQUIRE(test::run_bcastctl(sock + "show " + id, {}, &out) == 0);
  CHECK(out.find("Semua kepala toko ikut rapat.") != std::string::npos);
  CHECK(out.find("delivered") != std::string::npos);
  CHECK(test::run_bcastctl(sock + "stores", {}, &out) == 0);
  CHECK(test::run_bcastctl(sock + "send --target nowhere --category announcement --title x y", {}, &out) == 1);
  CHECK(out.find("field: targets") != std::string::npos);
  CHECK(test::run_bcastctl(sock + "show 01ARZ3NDEKTSV4RRFFQ69G5FAV", {}, &out) == 1);
  CHECK(test::run_bcastctl(sock + "send --category announcement body", {}, &out) == 2);
  CHECK(test::run_bcastctl("--socket " + f.dir.file("nope.sock") + " list", {}, &out) == 1);
  CHECK(out.find("cannot reach publisherd") != std::string::npos);
}

TEST_CASE("publisherd: SIGTERM drains and exits 0") {
  test::publisherd_fixture f;
  f.daemon->signal(SIGTERM);
  const int status = f.daemon->wait_exit();
  INFO(f.daemon->log());
  CHECK(status == 0);
  CHECK(f.daemon->log().find("stopped") != std::string::npos);
}

TEST_CASE("publisherd over HTTPS: the session cookie is Secure, and plain HTTP is not spoken there") {
  test::temp_dir certdir;
  auto certs = test::test_certificates::make(certdir);
  auto https_port = test::free_port();
  std::ofstream(certdir.file("p.json")) << json{{"https", {{{"listen", "127.0.0.1:" + std::to_string(https_port)},
                                                             {"cert_file", certs.server_cert},
                                                             {"key_file", certs.server_key}}}}}
                                               .dump();
  test::publisherd_fixture f({"--config", certdir.file("p.json")});
  std::string out = test::shell("curl -s -i --cacert '" + certs.ca_cert + "' -H 'Content-Type: application/json' " +
                                "-d '{\"username\":\"admin\",\"password\":\"s3cret\"}' https://localhost:" +
                                std::to_string(https_port) + "/api/v1/login");
  CHECK(out.find("HTTP/1.1 200") == 0);
  CHECK(out.find("Set-Cookie: __Host-bcast_session=") != std::string::npos);
  CHECK(out.find("Secure") != std::string::npos);
  CHECK(out.find("HttpOnly") != std::string::npos);
  // The plain listener still answers, and its cookie is not Secure.
  auto plain = f.call("POST", "/api/v1/login", R"({"username":"admin","password":"s3cret"})");
  CHECK(plain.header("set-cookie").find("Secure") == std::string::npos);
}

TEST_CASE("publisherd: a Unix-socket peer whose uid and gid are not allowed is refused (SO_PEERCRED)") {
  if (::getuid() != 0) {
    WARN("needs root to run bcastctl as another user; skipped");
    return;
  }
  test::temp_dir cfg;
  // World-connectable on purpose: the credential check, not the file mode, must refuse.
  std::ofstream(cfg.file("p.json")) << R"({"unix_socket_mode": "0666"})";
  test::publisherd_fixture f({"--config", cfg.file("p.json")});
  ::chmod(f.dir.path().c_str(), 0755);
  auto as_nobody = [&](const std::string& args, std::string& out) {
    return test::run_bcastctl_as("setpriv --reuid=nobody --regid=nogroup --clear-groups", f.dir,
                                 "--socket " + f.socket + " " + args, out);
  };
  std::string out;
  CHECK(as_nobody("stores", out) == 1);
  CHECK(out.find("Log in first") != std::string::npos);
  CHECK(test::run_bcastctl("--socket " + f.socket + " stores", {}, &out) == 0);  // root: the daemon's own uid
}

TEST_CASE("the commented example configs are accepted by --check-config") {
  std::string src = std::getenv("BCAST_SOURCE_ROOT");
  auto ok = [](const std::string& cmd) {
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    INFO(cmd << "\n" << out);
    return WEXITSTATUS(::pclose(p)) == 0;
  };
  // The examples name /etc/bcast/signing.key and signing.pub; this machine's are elsewhere
  // (--signing-key and --trusted-key override them).
  test::temp_dir dir;
  const auto key = test::make_key_pair(dir.file("keys"));
  CHECK(ok("'" + test::build_path("daemons/publisherd/publisherd") + "' --check-config --config '" +
           src + "/config/publisherd.example.json' --signing-key " + key.private_key));
  CHECK(ok("'" + test::build_path("daemons/subscriberd/subscriberd") +
           "' --check-config --sink terminal --config '" + src +
           "/config/subscriberd.example.json' --trusted-key '" + key.public_key + "'"));
}

namespace {

// One keep-alive connection, to see that a reload does not drop it.
class kept_connection {
 public:
  explicit kept_connection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~kept_connection() { ::close(fd_); }

  // The status line of GET `target`, or "" when the connection is gone.
  std::string get(const std::string& target) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return "";
    std::string in;
    char buf[4096];
    std::size_t body_at = std::string::npos, length = 0;
    while (body_at == std::string::npos || in.size() < body_at + length) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      in.append(buf, static_cast<std::size_t>(n));
      if (body_at == std::string::npos && (body_at = in.find("\r\n\r\n")) != std::string::npos) {
        body_at += 4;
        const auto cl = in.find("Content-Length: ");
        if (cl != std::string::npos && cl < body_at) length = std::stoul(in.substr(cl + 16));
      }
    }
    return in.substr(0, in.find("\r\n"));
  }

 private:
  int fd_ = -1;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("publisherd: SIGHUP reloads the config and users without dropping a connection; a bad one is refused whole") {
  test::temp_dir conf_dir;
  const auto conf = conf_dir.file("publisherd.json");
  write_text(conf, R"({"categories": [{"id": "promo", "label_en": "Promo"}]})");
  test::publisherd_fixture f({"--config", conf});
  auto s = f.login();
  const auto category_ids = [&] {
    auto r = f.call("GET", "/api/v1/categories", {}, {{"Cookie", s.cookie}});
    REQUIRE(r.status == 200);
    std::vector<std::string> ids;
    const auto body = json::parse(r.body);
    for (const auto& c : body["categories"]) ids.push_back(c["id"]);
    return ids;
  };
  CHECK(category_ids() == std::vector<std::string>{"promo"});
  kept_connection kept(f.port);
  CHECK(kept.get("/api/v1/health") == "HTTP/1.1 200 OK");

  // New categories and limits apply; a new Redis timeout needs a restart, and says so.
  write_text(conf, R"({
    // comments are allowed
    "categories": [{"id": "stock", "label_en": "Stock"}],
    "limits": {"title_max_chars": 10},
    "publish_timeout_ms": 1000
  })");
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("configuration reloaded"));
  CHECK(test::contains(f.daemon->log(), "publish_timeout_ms changed; that applies at the next restart"));
  CHECK(category_ids() == std::vector<std::string>{"stock"});
  json message{{"targets", {"all"}}, {"category", "stock"}, {"title", "Stok habis hari ini"}, {"body", "b"}};
  auto too_long = f.send(s, message);
  CHECK(too_long.status == 400);
  CHECK(test::contains(too_long.body, "title"));
  message["title"] = "Stok habis";
  CHECK(f.send(s, message).status == 201);
  CHECK(kept.get("/api/v1/health") == "HTTP/1.1 200 OK");  // the same connection, still open

  // A config with a typo is refused whole: the running one stays.
  write_text(conf, R"({"categories": [{"id": "promo"}], "limitz": {}})");
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("reload refused"));
  CHECK(test::contains(f.daemon->log(), "limitz: unknown key"));
  CHECK(category_ids() == std::vector<std::string>{"stock"});
  // And so is one with a typo inside a section.
  write_text(conf, R"({"categories": [{"id": "promo"}], "limits": {"title_max_charz": 10}})");
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("reload refused"));
  CHECK(test::contains(f.daemon->log(), "limits.title_max_charz: unknown key"));
  CHECK(category_ids() == std::vector<std::string>{"stock"});

  // So is a good config whose users file does not load: neither the config nor the users change.
  write_text(conf, R"({"categories": [{"id": "promo"}]})");
  write_text(f.users, "{ not json");
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("reload refused"));
  CHECK(category_ids() == std::vector<std::string>{"stock"});
  auto again = f.login();  // the running users still log in
  CHECK_FALSE(again.cookie.empty());
  CHECK(kept.get("/api/v1/health") == "HTTP/1.1 200 OK");
}

TEST_CASE("publisherd: /metrics counts sends, failed logins and requests in Prometheus text") {
  test::publisherd_fixture f;
  CHECK(f.call("POST", "/api/v1/login", R"({"username":"admin","password":"nope"})").status == 401);
  REQUIRE(f.send(f.login(), test::simple_message()).status == 201);
  auto m = f.call("GET", "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.header("content-type") == "text/plain; version=0.0.4");
  for (const std::string line : {"# TYPE bcast_messages_published_total counter",
                                 R"(bcast_messages_published_total{result="sent"} 1)",
                                 R"(bcast_messages_published_total{result="broker_unavailable"} 0)",
                                 "# TYPE bcast_publish_duration_seconds histogram",
                                 R"(bcast_publish_duration_seconds_bucket{le="+Inf"} 1)",
                                 "bcast_publish_duration_seconds_count 1",
                                 "bcast_redis_up 1",
                                 "bcast_login_failures_total 1",
                                 R"(bcast_http_requests_total{route="/api/v1/login",status="401"} 1)",
                                 R"(bcast_http_requests_total{route="/api/v1/login",status="200"} 1)",
                                 R"(bcast_http_requests_total{route="/api/v1/messages",status="201"} 1)",
                                 R"(bcast_stores{state="online"} 0)"}) {
    INFO(line);
    CHECK(test::contains(m.body, line + "\n"));
  }
}
