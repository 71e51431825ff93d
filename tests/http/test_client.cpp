// The blocking client against the real http::server (on the test's loop; the client runs on a
// thread of its own), and the response parser alone on exact bytes.

#include <bcast/core/timer.hpp>
#include <bcast/http/client.hpp>
#include <bcast/http/server.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <sys/socket.h>

#include <future>
#include <string>
#include <thread>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

struct client_fixture {
  core::loop loop;
  std::unique_ptr<http::server> server;
  net::endpoint tcp{"127.0.0.1", 0, {}};
  net::endpoint unix_socket;
  test::temp_dir dir;

  client_fixture() {
    server = std::make_unique<http::server>(loop);
    auto& r = server->routes();
    r.get("/hello", [](http::request&) {
      auto out = http::response::text(200, "hello world");
      out.add_header("Set-Cookie", "a=1").add_header("Set-Cookie", "b=2");
      return out;
    });
    r.post("/echo", [](http::request& req) {
      auto out =
          http::response::text(201, req.body, std::string(req.headers.get_or("Content-Type", "")));
      out.set_header("X-Method", req.method);
      return out;
    });
    r.get("/big",
          [](http::request&) { return http::response::text(200, std::string(100000, 'x')); });
    auto l = server->listen_tcp("127.0.0.1", 0);
    REQUIRE_OK(l);
    tcp.port = l.value()->port();
    unix_socket.unix_path = dir.file("api.sock");
    REQUIRE(server->listen_unix(unix_socket.unix_path).ok());
  }
  ~client_fixture() {
    server.reset();
    loop.run();
  }

  // Runs `call` on another thread while this one serves, and returns its answer.
  template <class Call>
  auto blocking(Call call) {
    auto answer = std::async(std::launch::async, std::move(call));
    core::timer tick(loop);  // the loop wakes to see the answer
    tick.start(
        5ms, [] {}, 5ms);
    REQUIRE(
        test::run_until(loop, [&] { return answer.wait_for(0s) == std::future_status::ready; }));
    return answer.get();
  }
};

}  // namespace

TEST_CASE("http client: GET and POST over TCP and a Unix socket") {
  client_fixture f;
  for (const auto& to : {f.tcp, f.unix_socket}) {
    INFO(to.str());
    auto hello = f.blocking([&] { return http::call(to, "GET", "/hello"); });
    REQUIRE_OK(hello);
    CHECK(hello->status == 200);
    CHECK(hello->body == "hello world");
    CHECK(hello->headers.get("content-length") == "11");
    CHECK(hello->headers.get_all("Set-Cookie") == std::vector<std::string_view>{"a=1", "b=2"});

    http::header_map headers;
    headers.add("Content-Type", "text/plain");
    auto echo = f.blocking([&] { return http::call(to, "POST", "/echo", "pesan", headers); });
    REQUIRE_OK(echo);
    CHECK(echo->status == 201);
    CHECK(echo->body == "pesan");
    CHECK(echo->headers.get("Content-Type") == "text/plain");
    // A POST without a body still says so, as JSON unless told otherwise.
    auto empty = f.blocking([&] { return http::call(to, "POST", "/echo"); });
    REQUIRE_OK(empty);
    CHECK(empty->headers.get("Content-Type") == "application/json");
    auto missing = f.blocking([&] { return http::call(to, "GET", "/nowhere"); });
    REQUIRE_OK(missing);
    CHECK(missing->status == 404);
  }
}

TEST_CASE(
    "http client: raw bytes get the server's answer, even one sent before the request is read") {
  client_fixture f;
  auto garbage =
      f.blocking([&] { return http::call_raw(f.tcp, "\x16\x03\x01 this is not http\r\n\r\n"); });
  REQUIRE_OK(garbage);
  CHECK(garbage->status == 400);
  // 413 comes from Content-Length, before the body; the body may then meet a closed connection.
  const std::string huge = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" +
                           std::string(300000, 'x');
  auto too_large = f.blocking([&] { return http::call_raw(f.tcp, huge); });
  REQUIRE_OK(too_large);
  CHECK(too_large->status == 413);
}

TEST_CASE("http client: the response size is bounded") {
  client_fixture f;
  http::client_options small;
  small.limits.max_body_bytes = 1000;
  auto big = f.blocking([&] { return http::call(f.tcp, "GET", "/big", {}, {}, small); });
  REQUIRE_FALSE(big.ok());
  CHECK(big.err() == core::errc::protocol_error);
  CHECK(test::contains(big.err().detail(), "response body larger than 1000 bytes"));
  small.limits = {};
  small.limits.max_header_bytes = 50;
  auto headers = f.blocking([&] { return http::call(f.tcp, "GET", "/hello", {}, {}, small); });
  REQUIRE_FALSE(headers.ok());
  CHECK(test::contains(headers.err().detail(), "response headers larger than 50 bytes"));
  // Within the bounds it is whole.
  auto whole = f.blocking([&] { return http::call(f.tcp, "GET", "/big"); });
  REQUIRE_OK(whole);
  CHECK(whole->body.size() == 100000);
}

TEST_CASE("http client: a server that never answers times out; nobody listening is an error") {
  test::temp_dir dir;
  // A listening socket that never accepts: the connection completes in the backlog, nothing
  // answers.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(silent, 4) == 0);
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  http::client_options quick;
  quick.timeout = 200ms;
  const auto started = std::chrono::steady_clock::now();
  auto r = http::call({"127.0.0.1", ntohs(addr.sin_port), {}}, "GET", "/", {}, {}, quick);
  const auto took = std::chrono::steady_clock::now() - started;
  ::close(silent);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::timeout);
  CHECK(took >= 200ms);
  CHECK(took < 10s);

  net::endpoint nobody;
  nobody.unix_path = dir.file("nobody.sock");
  auto refused = http::call(nobody, "GET", "/");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.err().code() == std::errc::no_such_file_or_directory);
  CHECK(test::contains(refused.err().detail(), "connecting to unix:" + nobody.unix_path));
  auto closed_port = http::call({"127.0.0.1", test::free_port(), {}}, "GET", "/");
  REQUIRE_FALSE(closed_port.ok());
  CHECK(closed_port.err().code() == std::errc::connection_refused);
}

TEST_CASE(
    "response parser: pipelined responses one at a time, split anywhere, and the end of stream") {
  const std::string two =
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nokHTTP/1.1 503 Service "
      "Unavailable\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\nbus\r\n2\r\ny!\r\n0\r\n\r\n";
  for (std::size_t split = 0; split <= two.size(); ++split) {
    http::response_parser p;
    std::vector<http::response> got;
    for (std::string_view part :
         {std::string_view(two).substr(0, split), std::string_view(two).substr(split)}) {
      while (!part.empty()) {
        part.remove_prefix(p.feed(part));
        if (p.status() == http::response_parser::state::message) {
          got.push_back(p.take());
        } else {
          REQUIRE(p.status() == http::response_parser::state::need_more);
          REQUIRE(part.empty());
        }
      }
    }
    INFO("split at " << split);
    REQUIRE(got.size() == 2);
    CHECK(got[0].status == 201);
    CHECK(got[0].body == "ok");
    CHECK(got[0].headers.get("x-a") == "1");
    CHECK(got[1].status == 503);
    CHECK(got[1].body == "busy!");
  }

  // Without a length the end of the stream ends the body.
  http::response_parser until_close;
  until_close.feed("HTTP/1.0 200 OK\r\n\r\nall of it");
  CHECK(until_close.status() == http::response_parser::state::need_more);
  until_close.finish();
  REQUIRE(until_close.status() == http::response_parser::state::message);
  CHECK(until_close.take().body == "all of it");

  http::response_parser bad;
  bad.feed("HTTP/9 nonsense\r\n\r\n");
  CHECK(bad.status() == http::response_parser::state::error);
  CHECK(test::contains(bad.error(), "bad response"));
}
