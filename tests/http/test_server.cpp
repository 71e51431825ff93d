// The server over real loopback sockets, client and server on one loop.

#include <bcast/core/timer.hpp>
#include <bcast/http/headers.hpp>
#include <bcast/http/server.hpp>
#include <bcast/http/static_files.hpp>
#include <bcast/net/connect.hpp>
#include <bcast/net/stream.hpp>
#include <bcast/net/tls.hpp>

#include <http_parser.h>

#include <catch2/catch.hpp>
#include <support/raw_client.hpp>
#include <support/test_support.hpp>

#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

// A raw HTTP client on the test's own loop: it sends exact bytes and parses what comes back with
// http-parser in response mode, so a test can check status lines, header fields and framing.
namespace bcast::test {

struct http_reply {
  int status = 0;
  http::header_map headers;
  std::string body;
  bool keep_alive = true;
};

// Parses every complete response in `bytes`. Responses whose index is in `head` answer HEAD
// requests and so carry no body.
inline std::vector<http_reply> parse_replies(const std::string& bytes,
                                             const std::set<std::size_t>& head = {}) {
  struct state {
    std::vector<http_reply> done;
    http_reply cur;
    std::string field, value;
    bool last_value = false;
    const std::set<std::size_t>* head;
  } st;
  st.head = &head;
  http_parser p;
  http_parser_init(&p, HTTP_RESPONSE);
  p.data = &st;
  http_parser_settings s{};
  s.on_message_begin = [](http_parser* hp) {
    auto* x = static_cast<state*>(hp->data);
    x->cur = {};
    x->field.clear();
    x->value.clear();
    x->last_value = false;
    return 0;
  };
  s.on_header_field = [](http_parser* hp, const char* at, std::size_t n) {
    auto* x = static_cast<state*>(hp->data);
    if (x->last_value) {
      x->cur.headers.add(x->field, x->value);
      x->field.clear();
      x->value.clear();
      x->last_value = false;
    }
    x->field.append(at, n);
    return 0;
  };
  s.on_header_value = [](http_parser* hp, const char* at, std::size_t n) {
    auto* x = static_cast<state*>(hp->data);
    x->value.append(at, n);
    x->last_value = true;
    return 0;
  };
  s.on_headers_complete = [](http_parser* hp) {
    auto* x = static_cast<state*>(hp->data);
    if (!x->field.empty()) x->cur.headers.add(x->field, x->value);
    x->cur.status = static_cast<int>(hp->status_code);
    return x->head->count(x->done.size()) ? 1 : 0;
  };
  s.on_body = [](http_parser* hp, const char* at, std::size_t n) {
    static_cast<state*>(hp->data)->cur.body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](http_parser* hp) {
    auto* x = static_cast<state*>(hp->data);
    x->cur.keep_alive = http_should_keep_alive(hp) != 0;
    x->done.push_back(std::move(x->cur));
    x->cur = {};
    return 0;
  };
  http_parser_execute(&p, &s, bytes.data(), bytes.size());
  return st.done;
}

class http_client {
 public:
  http_client(core::loop& l, net::endpoint ep, net::connect_options options = {}) : loop_(l) {
    attempt_ = net::connect(l, std::move(ep), std::move(options),
                            [this](core::result<std::shared_ptr<net::stream>> r) {
                              if (!r) {
                                failure = r.err();
                                return;
                              }
                              stream = r.value();
                              stream->on_data([this](std::string_view d) { received.append(d); });
                              stream->on_close([this](const core::error& e) {
                                closed = true;
                                close_error = e;
                              });
                              stream->start_reading();
                              if (!queued_.empty()) {
                                (void)stream->write(queued_);
                                queued_.clear();
                              }
                            });
  }
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;
  ~http_client() {
    if (attempt_) attempt_->cancel();
    if (stream) {
      stream->on_data({});
      stream->on_close({});
      stream->abort();
    }
  }

  bool connected() const { return stream != nullptr; }

  // Sends now, or as soon as connected.
  void send(std::string_view bytes) {
    if (stream) {
      (void)stream->write(bytes);
    } else {
      queued_.append(bytes);
    }
  }

  std::vector<http_reply> replies(const std::set<std::size_t>& head = {}) const {
    return parse_replies(received, head);
  }

  bool wait_connected() {
    return run_until(loop_, [&] { return connected() || failure.has_value(); }) && connected();
  }
  bool wait_replies(std::size_t n, const std::set<std::size_t>& head = {}) {
    return run_until(loop_, [&] { return replies(head).size() >= n || closed || failure; }) &&
           replies(head).size() >= n;
  }
  bool wait_closed() {
    return run_until(loop_, [&] { return closed || failure.has_value(); });
  }

  void abort() {
    if (stream) stream->abort();
  }

  std::shared_ptr<net::stream> stream;
  std::string received;
  bool closed = false;
  core::error close_error;
  std::optional<core::error> failure;

 private:
  core::loop& loop_;
  std::shared_ptr<net::connect_attempt> attempt_;
  std::string queued_;
};

inline std::string get_request(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

}  // namespace bcast::test

using namespace bcast;
using namespace std::chrono_literals;

namespace {

struct server_fixture {
  core::loop loop;
  std::unique_ptr<http::server> server;
  std::uint16_t port = 0;
  std::vector<std::unique_ptr<core::timer>> timers;
  std::vector<std::string> observed;  // "METHOD route status"

  explicit server_fixture(http::server_options o = {}) {
    server = std::make_unique<http::server>(loop, std::move(o));
    server->observe([this](const http::request_record& r) {
      observed.push_back(r.req.method + " " + r.req.route + " " + std::to_string(r.status));
    });
  }

  void listen() {
    auto l = server->listen_tcp("127.0.0.1", 0);
    REQUIRE_OK(l);
    port = l.value()->port();
  }

  net::endpoint ep() const { return {"127.0.0.1", port, {}}; }

  // Runs fn after `after` on the loop.
  void later(std::chrono::milliseconds after, std::function<void()> fn) {
    timers.push_back(std::make_unique<core::timer>(loop));
    timers.back()->start(after, std::move(fn));
  }

  ~server_fixture() {
    timers.clear();
    server.reset();
    loop.run();
  }
};

void add_basic_routes(http::router& r) {
  r.get("/hello", [](http::request&) { return http::response::text(200, "hello world"); });
  r.post("/api/v1/echo", [](http::request& req) {
    auto body = req.json();
    if (!body || !body->is_object())
      return http::response::error(400, "invalid_request", "body must be a JSON object");
    if (!body->contains("title"))
      return http::response::error(400, "invalid_request", "title is missing", "title");
    return http::response::json(201, {{"echo", *body}, {"conn", req.connection->id}});
  });
  r.get("/conn", [](http::request& req) {
    return http::response::text(200, std::to_string(req.connection->id));
  });
}

}  // namespace

TEST_CASE("server: a simple GET with the default headers") {
  server_fixture f;
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/hello"));
  REQUIRE(c.wait_replies(1));
  auto r = c.replies()[0];
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
  CHECK(r.headers.get("Content-Length") == "11");
  CHECK(r.headers.get("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.headers.get("X-Content-Type-Options") == "nosniff");
  CHECK(r.headers.get("Referrer-Policy") == "no-referrer");
  CHECK(r.headers.get("Cache-Control") == "no-store");
  CHECK(r.headers.contains("Date"));
  CHECK_FALSE(r.headers.contains("Content-Security-Policy"));  // not HTML
  CHECK(r.keep_alive);
  CHECK_FALSE(c.closed);
  CHECK(f.observed == std::vector<std::string>{"GET /hello 200"});
}

TEST_CASE("server: JSON POST, the JSON error shape, keep-alive over two requests") {
  server_fixture f;
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  std::string body = R"({"title":"Diskon","targets":["all"]})";
  c.send(
      "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  REQUIRE(c.wait_replies(1));
  auto first = c.replies()[0];
  CHECK(first.status == 201);
  CHECK(first.headers.get("Content-Type") == "application/json");
  auto j = nlohmann::json::parse(first.body);
  CHECK(j["echo"]["title"] == "Diskon");

  std::string bad = R"({"body":"x"})";
  c.send("POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(bad.size()) +
         "\r\n\r\n" + bad);
  REQUIRE(c.wait_replies(2));
  auto second = c.replies()[1];
  CHECK(second.status == 400);
  auto e = nlohmann::json::parse(second.body);
  CHECK(e["error"] == "invalid_request");
  CHECK(e["field"] == "title");
  CHECK(e["message"].is_string());
  CHECK(nlohmann::json::parse(first.body)["conn"] == j["conn"]);
  CHECK_FALSE(c.closed);
  CHECK(f.server->connection_count() == 1);
}

TEST_CASE(
    "server: pipelined requests in one write are answered in order, however handlers finish") {
  server_fixture f;
  std::vector<std::string> started;
  f.server->routes().get("/slow/{n}", [&](http::request& req, http::responder res) {
    std::string n(*req.param("n"));
    started.push_back(n);
    // The first request finishes last, the last one at once.
    auto delay = n == "1" ? 80ms : n == "2" ? 40ms : 0ms;
    if (delay == 0ms) {
      res.send(http::response::text(200, "reply " + n));
      return;
    }
    f.later(delay, [res, n] { res.send(http::response::text(200, "reply " + n)); });
  });
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/slow/1") + test::get_request("/slow/2") +
         test::get_request("/slow/3"));
  REQUIRE(c.wait_replies(3));
  auto replies = c.replies();
  CHECK(started == std::vector<std::string>{"1", "2", "3"});
  CHECK(replies[0].body == "reply 1");
  CHECK(replies[1].body == "reply 2");
  CHECK(replies[2].body == "reply 3");
  // Completion order was 3, 2, 1, yet the observer sees them as they leave: in order.
  CHECK(f.observed ==
        std::vector<std::string>{"GET /slow/{n} 200", "GET /slow/{n} 200", "GET /slow/{n} 200"});
  CHECK_FALSE(c.closed);
}

TEST_CASE("server: pipelining past the cap stops reading until answers leave") {
  http::server_options o;
  o.max_pipelined = 2;
  server_fixture f(o);
  std::vector<http::responder> held;
  f.server->routes().get("/held/{n}",
                         [&](http::request&, http::responder res) { held.push_back(res); });
  f.listen();
  test::http_client c(f.loop, f.ep());
  std::string burst;
  for (int i = 0; i < 6; ++i) burst += test::get_request("/held/" + std::to_string(i));
  c.send(burst);
  REQUIRE(test::run_until(f.loop, [&] { return held.size() == 2; }));
  test::run_for(f.loop, 50ms);
  CHECK(held.size() == 2);  // the third is not parsed while two wait
  int answered = 0;
  while (answered < 6) {
    REQUIRE(test::run_until(f.loop, [&] { return static_cast<int>(held.size()) > answered; }));
    held[static_cast<std::size_t>(answered)].send(
        http::response::text(200, std::to_string(answered)));
    ++answered;
  }
  REQUIRE(c.wait_replies(6));
  for (int i = 0; i < 6; ++i)
    CHECK(c.replies()[static_cast<std::size_t>(i)].body == std::to_string(i));
}

TEST_CASE("server: garbage gets 400 with a JSON error and a close; others are still served") {
  http::server_options o;
  o.linger_timeout = 50ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client bystander(f.loop, f.ep());
  REQUIRE(bystander.wait_connected());
  test::http_client bad(f.loop, f.ep());
  static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n";
  bad.send(std::string_view(garbage, sizeof garbage - 1));
  REQUIRE(bad.wait_replies(1));
  auto r = bad.replies()[0];
  CHECK(r.status == 400);
  CHECK(nlohmann::json::parse(r.body)["error"] == "bad_request");
  CHECK(r.headers.get("Connection") == "close");
  REQUIRE(bad.wait_closed());

  bystander.send(test::get_request("/hello"));
  REQUIRE(bystander.wait_replies(1));
  CHECK(bystander.replies()[0].status == 200);
  test::http_client fresh(f.loop, f.ep());
  fresh.send(test::get_request("/hello"));
  REQUIRE(fresh.wait_replies(1));
  CHECK(fresh.replies()[0].status == 200);
}

TEST_CASE("server: a good request, then garbage in the same write: 200, then 400 and close") {
  http::server_options o;
  o.linger_timeout = 50ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/hello") + "NOT HTTP AT ALL\r\n\r\n");
  REQUIRE(c.wait_replies(2));
  CHECK(c.replies()[0].status == 200);
  CHECK(c.replies()[1].status == 400);
  REQUIRE(c.wait_closed());
}

TEST_CASE("server: 413 from Content-Length before the body is sent, and for chunked bodies") {
  http::server_options o;
  o.limits.max_body_bytes = 1024;
  o.linger_timeout = 50ms;
  server_fixture f(o);
  bool handler_ran = false;
  f.server->routes().post("/upload", [&](http::request&) {
    handler_ran = true;
    return http::response(200);
  });
  f.listen();
  {
    test::http_client c(f.loop, f.ep());
    c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 413);
    CHECK(nlohmann::json::parse(c.replies()[0].body)["error"] == "payload_too_large");
    REQUIRE(c.wait_closed());
    // A refused request is still reported, with what arrived of it.
    CHECK(f.observed == std::vector<std::string>{"POST  413"});
  }
  {
    test::http_client c(f.loop, f.ep());
    std::string chunk(600, 'x');
    c.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk +
           "\r\n");
    c.send("258\r\n" + chunk + "\r\n0\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 413);
    REQUIRE(c.wait_closed());
  }
  {
    test::http_client c(f.loop, f.ep());
    c.send(
        "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 200);
  }
  CHECK(handler_ran);
}

TEST_CASE("server: 414 for a long request target, 431 for large headers") {
  http::server_options o;
  o.linger_timeout = 50ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  {
    test::http_client c(f.loop, f.ep());
    c.send(test::get_request("/" + std::string(9 * 1024, 'a')));
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 414);
    REQUIRE(c.wait_closed());
  }
  {
    test::http_client c(f.loop, f.ep());
    std::string headers;
    for (int i = 0; i < 17; ++i)
      headers += "X-Big-" + std::to_string(i) + ": " + std::string(1024, 'v') + "\r\n";
    c.send(test::get_request("/hello", headers));
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 431);
    REQUIRE(c.wait_closed());
  }
}

TEST_CASE("server: unsupported Transfer-Encoding and Expect") {
  http::server_options o;
  o.linger_timeout = 50ms;
  server_fixture f(o);
  f.server->routes().post("/up",
                          [](http::request& req) { return http::response::text(200, req.body); });
  f.listen();
  {
    test::http_client c(f.loop, f.ep());
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 501);
  }
  {
    test::http_client c(f.loop, f.ep());
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK((c.replies()[0].status == 400 || c.replies()[0].status == 501));
  }
  {
    test::http_client c(f.loop, f.ep());
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    // The interim answer arrives before the client sends the body.
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 100);
    c.send("hello");
    REQUIRE(c.wait_replies(2));
    CHECK(c.replies()[1].status == 200);
    CHECK(c.replies()[1].body == "hello");
  }
  {
    test::http_client c(f.loop, f.ep());
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 5\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].status == 417);
  }
}

TEST_CASE("server: a slowloris client is cut off with 408") {
  http::server_options o;
  o.header_timeout = 200ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  REQUIRE(c.wait_connected());
  c.send("GET /hello HTTP/1.1\r\n");
  // One header byte every 20 ms: it would take over 2 s to finish.
  std::string trickle = "X-Slow: " + std::string(100, 'z') + "\r\n\r\n";
  std::size_t sent = 0;
  core::timer drip(f.loop);
  drip.start(
      20ms,
      [&] {
        if (sent < trickle.size() && !c.closed) c.send(trickle.substr(sent++, 1));
      },
      20ms);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(c.wait_closed());
  drip.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(sent < trickle.size());
  auto replies = c.replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].status == 408);
}

TEST_CASE("server: a slow body is cut off with 408") {
  http::server_options o;
  o.body_timeout = 100ms;
  server_fixture f(o);
  f.server->routes().post("/up", [](http::request&) { return http::response(200); });
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  REQUIRE(c.wait_closed());
  REQUIRE(c.replies().size() == 1);
  CHECK(c.replies()[0].status == 408);
}

TEST_CASE("server: idle keep-alive connections and silent connections are closed") {
  http::server_options o;
  o.idle_timeout = 100ms;
  o.header_timeout = 150ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  // Timed from before the request: the idle timer starts later (once the answer is written), so
  // however late this thread runs, the close comes at least idle_timeout after it.
  const auto sent = std::chrono::steady_clock::now();
  c.send(test::get_request("/hello"));
  REQUIRE(c.wait_replies(1));
  REQUIRE(c.wait_closed());
  CHECK(std::chrono::steady_clock::now() - sent >= 90ms);
  CHECK(c.replies().size() == 1);

  test::http_client silent(f.loop, f.ep());
  REQUIRE(silent.wait_connected());
  REQUIRE(silent.wait_closed());
  CHECK(silent.received.empty());
  REQUIRE(test::run_until(f.loop, [&] { return f.server->connection_count() == 0; }));
}

TEST_CASE("server: HEAD on a GET route sends the headers without the body") {
  server_fixture f;
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n" + test::get_request("/hello"));
  REQUIRE(c.wait_replies(2, {0}));
  auto replies = c.replies({0});
  CHECK(replies[0].status == 200);
  CHECK(replies[0].headers.get("Content-Length") == "11");
  CHECK(replies[0].body.empty());
  // The second answer parses right after the first, so no body bytes followed the HEAD answer.
  CHECK(replies[1].body == "hello world");
}

TEST_CASE("server: 404 and 405 with Allow as JSON errors") {
  server_fixture f;
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/api/v1/unknown") + "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(c.wait_replies(2));
  auto replies = c.replies();
  CHECK(replies[0].status == 404);
  CHECK(nlohmann::json::parse(replies[0].body)["error"] == "not_found");
  CHECK(replies[1].status == 405);
  CHECK(replies[1].headers.get("Allow") == "GET, HEAD, OPTIONS");
  CHECK(nlohmann::json::parse(replies[1].body)["error"] == "method_not_allowed");
  CHECK(f.observed == std::vector<std::string>{"GET  404", "DELETE /hello 405"});
}

TEST_CASE("server: cookies in, Set-Cookie out") {
  server_fixture f;
  f.server->routes().post("/api/v1/login", [](http::request& req) {
    auto r = http::response::json(200, {{"had", req.cookie("session").value_or("none")}});
    http::cookie_options o;
    o.secure = req.is_tls();
    bool ok = r.set_cookie("session", "s3cr3t", o);
    (void)ok;
    return r;
  });
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(
      "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nCookie: theme=dark; "
      "session=old\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(c.wait_replies(1));
  auto r = c.replies()[0];
  CHECK(nlohmann::json::parse(r.body)["had"] == "old");
  CHECK(r.headers.get("Set-Cookie") == "session=s3cr3t; Path=/; HttpOnly; SameSite=Strict");
}

TEST_CASE("server: handler exceptions, dropped responders and header injection") {
  server_fixture f;
  f.server->routes().get(
      "/throw", [](http::request&) -> http::response { throw std::runtime_error("boom"); });
  f.server->routes().get("/drop", [](http::request&, http::responder) {});
  f.server->routes().get("/inject", [](http::request&) {
    http::response r(200);
    r.headers.add("X-Evil", "a\r\nSet-Cookie: pwned=1");
    r.headers.add("X-Fine", "ok");
    return r;
  });
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/throw") + test::get_request("/drop") + test::get_request("/inject"));
  REQUIRE(c.wait_replies(3));
  auto replies = c.replies();
  CHECK(replies[0].status == 500);
  CHECK(nlohmann::json::parse(replies[0].body)["error"] == "internal_error");
  CHECK(replies[1].status == 500);
  CHECK(replies[2].status == 200);
  CHECK_FALSE(replies[2].headers.contains("X-Evil"));
  CHECK_FALSE(replies[2].headers.contains("Set-Cookie"));
  CHECK(replies[2].headers.get("X-Fine") == "ok");
}

TEST_CASE("server: Connection: close and HTTP/1.0") {
  server_fixture f;
  add_basic_routes(f.server->routes());
  f.listen();
  {
    test::http_client c(f.loop, f.ep());
    c.send(test::get_request("/hello", "Connection: close\r\n") + test::get_request("/hello"));
    REQUIRE(c.wait_closed());
    REQUIRE(c.replies().size() == 1);
    CHECK(c.replies()[0].headers.get("Connection") == "close");
  }
  {
    test::http_client c(f.loop, f.ep());
    c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(c.wait_replies(1));
    CHECK(c.replies()[0].headers.get("Connection") == "keep-alive");
    c.send("GET /hello HTTP/1.0\r\n\r\n");
    REQUIRE(c.wait_closed());
    CHECK(c.replies().size() == 2);
  }
}

TEST_CASE("server: max connections refuses the extra ones with 503") {
  http::server_options o;
  o.max_connections = 1;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client first(f.loop, f.ep());
  first.send(test::get_request("/hello"));
  REQUIRE(first.wait_replies(1));
  test::http_client second(f.loop, f.ep());
  REQUIRE(second.wait_closed());
  REQUIRE(second.replies().size() == 1);
  CHECK(second.replies()[0].status == 503);
  first.send(test::get_request("/hello"));
  REQUIRE(first.wait_replies(2));
}

TEST_CASE("server: Unix socket with the peer's credentials visible to the handler") {
  test::temp_dir dir;
  server_fixture f;
  std::optional<net::peer_credentials> creds;
  std::string listener;
  bool is_unix = false;
  f.server->routes().get("/whoami", [&](http::request& req) {
    creds = req.credentials();
    listener = req.listener();
    is_unix = req.is_unix();
    return http::response::json(200, {{"uid", creds ? creds->uid : 0}});
  });
  std::string path = dir.file("api.sock");
  REQUIRE_OK(f.server->listen_unix(path));
  f.listen();  // and TCP at the same time
  test::http_client c(f.loop, {{}, 0, path});
  c.send(test::get_request("/whoami"));
  REQUIRE(c.wait_replies(1));
  CHECK(c.replies()[0].status == 200);
  REQUIRE(creds.has_value());
  CHECK(creds->uid == ::getuid());
  CHECK(creds->gid == ::getgid());
  CHECK(creds->pid == ::getpid());
  CHECK(is_unix);
  CHECK(listener == "unix:" + path);

  test::http_client tcp(f.loop, f.ep());
  tcp.send(test::get_request("/whoami"));
  REQUIRE(tcp.wait_replies(1));
  CHECK_FALSE(creds.has_value());
  CHECK_FALSE(is_unix);
  CHECK(listener == "127.0.0.1:" + std::to_string(f.port));
}

TEST_CASE("server: HTTPS with the test certificates") {
  test::temp_dir dir;
  auto certs = test::test_certificates::make(dir);
  auto server_ctx = net::tls_context::create(net::tls_role::server, certs.server_tls());
  REQUIRE_OK(server_ctx);
  auto client_ctx = net::tls_context::create(net::tls_role::client, certs.client_tls());
  REQUIRE_OK(client_ctx);

  server_fixture f;  // HSTS is on by default, on TLS connections only
  bool saw_tls = false;
  f.server->routes().get("/secure", [&](http::request& req) {
    saw_tls = req.is_tls();
    return http::response::text(200, "<p>tls</p>", "text/html; charset=utf-8");
  });
  auto l = f.server->listen_tcp("127.0.0.1", 0, server_ctx.value());
  REQUIRE_OK(l);
  net::connect_options opts;
  opts.tls = client_ctx.value();
  opts.tls_server_name = "localhost";
  test::http_client c(f.loop, {"127.0.0.1", l.value()->port(), {}}, opts);
  c.send(test::get_request("/secure") + test::get_request("/secure"));
  REQUIRE(c.wait_replies(2));
  auto r = c.replies()[0];
  CHECK(r.status == 200);
  CHECK(r.body == "<p>tls</p>");
  CHECK(saw_tls);
  CHECK(r.headers.get("Strict-Transport-Security") == "max-age=31536000");
  CHECK(r.headers.get("Content-Security-Policy")->find("default-src 'self'") == 0);
  f.listen();
  test::http_client plain(f.loop, f.ep());
  plain.send(test::get_request("/secure"));
  REQUIRE(plain.wait_replies(1));
  CHECK_FALSE(plain.replies()[0].headers.contains("Strict-Transport-Security"));
}

TEST_CASE("server: graceful shutdown waits for an in-flight async request") {
  server_fixture f;
  add_basic_routes(f.server->routes());
  std::optional<http::responder> in_flight;
  f.server->routes().post("/api/v1/messages",
                          [&](http::request&, http::responder res) { in_flight = res; });
  f.listen();

  test::http_client idle(f.loop, f.ep());
  idle.send(test::get_request("/hello"));
  REQUIRE(idle.wait_replies(1));
  test::http_client busy(f.loop, f.ep());
  busy.send("POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  REQUIRE(test::run_until(f.loop, [&] { return in_flight.has_value(); }));

  bool done = false;
  f.server->shutdown([&] { done = true; });
  CHECK_FALSE(done);            // never from inside the call
  REQUIRE(idle.wait_closed());  // idle keep-alive connections go at once
  test::http_client late(f.loop, f.ep());
  REQUIRE(test::run_until(f.loop, [&] { return late.failure.has_value() || late.closed; }));
  CHECK_FALSE(late.replies().size());

  test::run_for(f.loop, 50ms);
  CHECK_FALSE(done);
  CHECK_FALSE(busy.closed);
  CHECK(in_flight->connection_open());
  in_flight->send(http::response::json(201, {{"id", "01J"}}));
  REQUIRE(busy.wait_replies(1));
  CHECK(busy.replies()[0].status == 201);
  CHECK(busy.replies()[0].headers.get("Connection") == "close");
  REQUIRE(busy.wait_closed());
  REQUIRE(test::run_until(f.loop, [&] { return done; }));
  CHECK(f.server->connection_count() == 0);
}

TEST_CASE("server: shutdown cuts connections that outlast the grace period") {
  server_fixture f;
  std::optional<http::responder> stuck;
  f.server->routes().get("/stuck", [&](http::request&, http::responder res) { stuck = res; });
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/stuck"));
  REQUIRE(test::run_until(f.loop, [&] { return stuck.has_value(); }));
  bool done = false;
  f.server->shutdown([&] { done = true; }, 100ms);
  REQUIRE(test::run_until(f.loop, [&] { return done; }));
  REQUIRE(c.wait_closed());
  CHECK_FALSE(stuck->connection_open());
  stuck->send(http::response(200));  // a no-op now
  stuck.reset();
}

TEST_CASE("server: the client goes away before the async answer") {
  server_fixture f;
  std::optional<http::responder> pending;
  f.server->routes().get("/wait", [&](http::request&, http::responder res) { pending = res; });
  f.listen();
  {
    test::http_client c(f.loop, f.ep());
    c.send(test::get_request("/wait"));
    REQUIRE(test::run_until(f.loop, [&] { return pending.has_value(); }));
  }  // the client aborts
  REQUIRE(test::run_until(f.loop, [&] { return f.server->connection_count() == 0; }));
  CHECK_FALSE(pending->connection_open());
  CHECK(pending->req().path == "/wait");  // the request outlives its connection
  pending->send(http::response::text(200, "too late"));
  CHECK(pending->done());
  pending.reset();
  CHECK(f.observed == std::vector<std::string>{"GET /wait 499"});

  // The same with the server destroyed before the answer.
  std::optional<http::responder> orphan;
  f.server->routes().get("/orphan", [&](http::request&, http::responder res) { orphan = res; });
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/orphan"));
  REQUIRE(test::run_until(f.loop, [&] { return orphan.has_value(); }));
  f.server.reset();
  REQUIRE(c.wait_closed());
  orphan->send(http::response(200));
  orphan.reset();
}

TEST_CASE("server: static files and an API on one server, over the wire") {
  test::temp_dir dir;
  std::filesystem::create_directories(dir.path() / "web");
  std::ofstream(dir.path() / "web" / "index.html") << "<!doctype html><title>bcast</title>";
  std::ofstream(dir.path() / "web" / "app.js") << "console.log('bcast')";
  std::ofstream(dir.path() / "secret.txt") << "top secret";
  auto files = http::static_files::directory(dir.path() / "web");
  REQUIRE_OK(files);
  http::server_options o;
  o.linger_timeout = 50ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.server->routes().fallback(files->as_handler(), "static");
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/") + test::get_request("/app.js") + test::get_request("/hello"));
  REQUIRE(c.wait_replies(3));
  auto replies = c.replies();
  CHECK(replies[0].status == 200);
  CHECK(replies[0].headers.get("Content-Type") == "text/html; charset=utf-8");
  CHECK(replies[0].headers.contains("Content-Security-Policy"));
  CHECK(replies[0].headers.get("Cache-Control") == "no-cache");
  CHECK(replies[1].headers.get("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(replies[2].body == "hello world");
  std::string etag(*replies[1].headers.get("ETag"));
  c.send(test::get_request("/app.js", "If-None-Match: " + etag + "\r\n") +
         test::get_request("/%2e%2e/secret.txt") + test::get_request("/../secret.txt"));
  REQUIRE(c.wait_replies(6));
  replies = c.replies();
  CHECK(replies[3].status == 304);
  CHECK(replies[3].body.empty());
  CHECK(replies[4].status == 404);
  CHECK(replies[5].status == 404);
  CHECK(c.received.find("top secret") == std::string::npos);
  CHECK(f.observed.back() == "GET static 404");
}

TEST_CASE("server: a busy keep-alive connection is not closed as idle") {
  http::server_options o;
  o.idle_timeout = 200ms;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  f.listen();
  test::http_client c(f.loop, f.ep());
  for (std::size_t i = 1; i <= 6; ++i) {
    c.send(test::get_request("/hello"));
    REQUIRE(c.wait_replies(i));
    test::run_for(f.loop, 50ms);
  }
  CHECK_FALSE(c.closed);  // 300 ms in all, never 200 ms idle
  REQUIRE(c.wait_closed());
}

TEST_CASE("server: large pipelined answers go out whole under write back-pressure") {
  server_fixture f;
  std::string big(3 * 1024 * 1024, 'b');
  for (std::size_t i = 0; i < big.size(); i += 4096)
    big[i] = static_cast<char>('a' + (i / 4096) % 26);
  f.server->routes().get("/big/{n}", [&](http::request& req) {
    return http::response::text(200, std::string(*req.param("n")) + big);
  });
  f.listen();
  test::http_client c(f.loop, f.ep());
  c.send(test::get_request("/big/1") + test::get_request("/big/2") + test::get_request("/big/3"));
  REQUIRE(c.wait_replies(3));
  auto replies = c.replies();
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(replies[i].body.size() == big.size() + 1);
    CHECK(replies[i].body == std::to_string(i + 1) + big);
  }
}

TEST_CASE("server: a listening socket passed by fd") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  server_fixture f;
  std::string listener;
  f.server->routes().get("/x", [&](http::request& req) {
    listener = req.listener();
    return http::response(204);
  });
  REQUIRE_OK(f.server->adopt_fd(fd));
  test::http_client c(f.loop, {"127.0.0.1", ntohs(addr.sin_port), {}});
  c.send(test::get_request("/x"));
  REQUIRE(c.wait_replies(1));
  CHECK(c.replies()[0].status == 204);
  CHECK_FALSE(c.replies()[0].headers.contains("Content-Length"));
  CHECK(listener == "fd:" + std::to_string(fd));
}

TEST_CASE("server: connections are capped per client address; other addresses are still served") {
  http::server_options o;
  o.max_connections_per_address = 2;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  std::vector<std::string> events;
  f.server->observe_connections([&](const http::connection_event& e) {
    events.push_back(std::string(e.address) +
                     (e.what == http::connection_event::kind::over_address_limit ? " over" : " ?"));
  });
  f.listen();
  auto hello = [](test::raw_client& c) { c.send(test::get_request("/hello")); };
  auto answered = [&](test::raw_client& c, std::string& got) {
    return test::run_until(f.loop, [&] {
      got += c.read_available();
      return !test::parse_replies(got).empty();
    });
  };
  test::raw_client first(f.port), second(f.port);
  REQUIRE(test::run_until(f.loop, [&] { return f.server->connection_count("127.0.0.1") == 2; }));
  // The third from 127.0.0.1 is refused with a 503 before it sends anything...
  test::raw_client third(f.port);
  std::string got;
  REQUIRE(answered(third, got));
  auto refused = test::parse_replies(got);
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].status == 503);
  CHECK(test::contains(refused[0].body, "too many connections from your address"));
  CHECK(refused[0].headers.get("Retry-After") == "1");
  REQUIRE(test::run_until(f.loop, [&] { return third.hung_up(); }));
  CHECK(events == std::vector<std::string>{"127.0.0.1 over"});
  // ...while 127.0.0.2 is another client, and the two open ones are served as before.
  test::raw_client other(f.port, "127.0.0.2");
  hello(other);
  got.clear();
  REQUIRE(answered(other, got));
  CHECK(test::parse_replies(got)[0].status == 200);
  CHECK(f.server->connection_count("127.0.0.2") == 1);
  hello(first);
  got.clear();
  REQUIRE(answered(first, got));
  CHECK(test::parse_replies(got)[0].status == 200);
  // A connection that closes gives its place back.
  ::shutdown(second.fd(), SHUT_RDWR);
  REQUIRE(test::run_until(f.loop, [&] { return f.server->connection_count("127.0.0.1") == 1; }));
  test::raw_client again(f.port);
  hello(again);
  got.clear();
  REQUIRE(answered(again, got));
  CHECK(test::parse_replies(got)[0].status == 200);
}

TEST_CASE("server: Unix-socket peers count in the total only, not per address") {
  test::temp_dir dir;
  http::server_options o;
  o.max_connections_per_address = 1;
  server_fixture f(o);
  add_basic_routes(f.server->routes());
  REQUIRE_OK(f.server->listen_unix(dir.file("api.sock")));
  test::http_client a(f.loop, {{}, 0, dir.file("api.sock")});
  test::http_client b(f.loop, {{}, 0, dir.file("api.sock")});
  a.send(test::get_request("/hello"));
  b.send(test::get_request("/hello"));
  REQUIRE(a.wait_replies(1));
  REQUIRE(b.wait_replies(1));
  CHECK(a.replies()[0].status == 200);
  CHECK(b.replies()[0].status == 200);
}

TEST_CASE("server: a client that reads none of its answers is reset after the write timeout") {
  http::server_options o;
  o.write_timeout = 300ms;
  server_fixture f(o);
  const std::string big(8 * 1024 * 1024, 'b');
  f.server->routes().get("/big", [&](http::request&) { return http::response::text(200, big); });
  std::vector<http::connection_event::kind> events;
  f.server->observe_connections([&](const http::connection_event& e) { events.push_back(e.what); });
  f.listen();
  // A small receive window: the 8 MiB answer cannot all go into the kernel's buffers.
  test::raw_client silent(f.port, "127.0.0.1", 4096);
  silent.send(test::get_request("/big") + test::get_request("/big"));
  const auto sent = std::chrono::steady_clock::now();
  REQUIRE(test::run_until(f.loop, [&] { return silent.hung_up(); }));
  CHECK(std::chrono::steady_clock::now() - sent >= 300ms);
  CHECK(silent.was_reset());
  CHECK(events ==
        std::vector<http::connection_event::kind>{http::connection_event::kind::write_timeout});
  REQUIRE(test::run_until(f.loop, [&] { return f.server->connection_count() == 0; }));
}

TEST_CASE("server: a client that reads slowly is not cut off by the write timeout") {
  http::server_options o;
  o.write_timeout = 400ms;
  server_fixture f(o);
  // The kernel takes up to about 4 MiB of it at once, whatever the client reads.
  const std::string big(7 * 1024 * 1024, 's');
  f.server->routes().get("/big", [&](http::request&) { return http::response::text(200, big); });
  f.listen();
  // 16 KiB every 10 ms, about 1.6 MB a second: what the kernel does not take of the answer stays
  // queued across several write-timeout checks, and each finds that bytes moved.
  test::raw_client slow(f.port, "127.0.0.1", 16384);
  slow.send(test::get_request("/big"));
  std::string got;
  core::timer reader(f.loop);
  reader.start(
      10ms, [&] { got += slow.read_available(16384); }, 10ms);
  REQUIRE(test::run_until(
      f.loop, [&] { return test::parse_replies(got).size() == 1 || slow.hung_up(); }, 120s));
  reader.stop();
  CHECK_FALSE(slow.was_reset());
  auto replies = test::parse_replies(got);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].body.size() == big.size());
}

TEST_CASE("server: connection_limit_for keeps the total below the descriptor limit") {
  CHECK(http::connection_limit_for(1024, 1024) == 896);  // Linux's default soft limit
  CHECK(http::connection_limit_for(65536, 1024) == 1024);
  CHECK(http::connection_limit_for(200, 1024) == 100);
  CHECK(http::server_options{}.max_connections_per_address == 256);
}
