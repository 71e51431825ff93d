// A hostile Redis, or whoever sits between it and us, chooses what a reply announces: each reply
// is parsed within a memory budget that counts announced elements, and a pub/sub connection that
// hears nothing complete (not even the PING's answer) within its read-idle bound is made again.

#include <bcast/net/listener.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/redis/reply.hpp>
#include <bcast/redis/subscriber.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include "redis_helpers.hpp"

#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

using test::call;
using test::opts;

// `*<n>\r\n` nested `depth` deep: seven of `*1048576` are the 70-byte bomb that once took a
// process to 506 MB.
std::string nested_headers(std::size_t n, int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "*" + std::to_string(n) + "\r\n";
  return out;
}

// A fake Redis: `answer(connection_index, data)` says what to send back for what a client sent.
struct fake_redis {
  using answerer = std::function<std::string(std::size_t connection, std::string_view data)>;
  std::shared_ptr<net::listener> listener;
  std::vector<std::shared_ptr<net::stream>> peers;

  fake_redis(core::loop& l, answerer answer) {
    listener = net::listener::listen_tcp(
                   l, "127.0.0.1", 0,
                   [this, answer](std::shared_ptr<net::stream> s) {
                     net::stream* raw = s.get();
                     s->on_data([raw, answer, index = peers.size()](std::string_view data) {
                       if (auto out = answer(index, data); !out.empty()) (void)raw->write(out);
                     });
                     s->start_reading();
                     peers.push_back(s);
                   })
                   .value();
  }
  ~fake_redis() {
    for (auto& p : peers) p->abort();
    listener->close();
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(listener->port()); }
};

redis::reply_reader::status parse(redis::reply_reader& reader, std::string_view bytes,
                                  core::error& err) {
  redis::reply r;
  REQUIRE(reader.feed(bytes).ok());
  return reader.next(r, err);
}

}  // namespace

TEST_CASE("reply budget: the 70-byte bomb and its variants fail at once, holding next to nothing") {
  test::reset_peak_resident_bytes();
  const auto rss_before = test::resident_bytes(::getpid());
  core::error err;

  SECTION("seven nested *1048576 (70 bytes)") {
    const auto bomb = nested_headers(1048576, 7);
    REQUIRE(bomb.size() == 70);
    redis::reply_reader reader;
    CHECK(parse(reader, bomb, err) == redis::reply_reader::status::failed);
    CHECK(err == core::errc::limit_exceeded);
    CHECK(test::contains(err.detail(),
                         "an aggregate of 1048576 elements would take the reply past its budget"));
  }
  SECTION(
      "each level just under the budget: the second one is refused, and nothing was reserved for "
      "the first") {
    redis::reply_reader reader;
    const std::size_t n = redis::reader_limits{}.max_reply_bytes / sizeof(redis::reply) - 1;
    CHECK(parse(reader, nested_headers(n, 7), err) == redis::reply_reader::status::failed);
    CHECK(err == core::errc::limit_exceeded);
  }
  SECTION("many small aggregates add up") {
    redis::reply_reader reader({1024 * 1024, 1024 * 1024});
    std::string wide = "*100000\r\n";
    for (int i = 0; i < 100000; ++i) wide += "*100\r\n";
    CHECK(parse(reader, wide, err) == redis::reply_reader::status::failed);
    CHECK(err == core::errc::limit_exceeded);
  }
  SECTION("long strings add up, counted as they arrive") {
    redis::reply_reader reader({1024 * 1024, 1024 * 1024});
    std::string strings = "*1000\r\n";
    const std::string value(64 * 1024, 'x');
    for (int i = 0; i < 20; ++i)
      strings += "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    CHECK(parse(reader, strings, err) == redis::reply_reader::status::failed);
    CHECK(err == core::errc::limit_exceeded);
    CHECK(test::contains(err.detail(), "a string of 65536 bytes"));
  }
  SECTION("a bulk string announced larger than the budget, dripped in") {
    redis::reply_reader reader({1024 * 1024, 1024 * 1024});
    CHECK(parse(reader, "$999999999\r\n", err) == redis::reply_reader::status::need_more);
    redis::reply r;
    const std::string chunk(64 * 1024, 'x');
    auto st = redis::reply_reader::status::need_more;
    for (int i = 0; i < 32 && st == redis::reply_reader::status::need_more; ++i) {
      REQUIRE(reader.feed(chunk).ok());
      st = reader.next(r, err);
    }
    CHECK(st == redis::reply_reader::status::failed);
    CHECK(err == core::errc::limit_exceeded);
  }
  // The 506 MB of the finding, or the 64 MiB a budget-sized reservation would touch, would show.
  CHECK(test::peak_resident_bytes(::getpid()) < rss_before + 16 * 1024 * 1024);
}

TEST_CASE("reply budget: each reply has its own, so many legitimate replies in a row all parse") {
  redis::reply_reader reader({64 * 1024, 1024});
  std::string page = "*500\r\n";
  for (int i = 0; i < 500; ++i) page += ":" + std::to_string(i) + "\r\n";  // 36 KB charged each
  std::string three_pages = page + page + page;
  std::vector<redis::reply> got;
  REQUIRE(reader
              .consume(three_pages,
                       [&](redis::reply&& r) {
                         got.push_back(std::move(r));
                         return true;
                       })
              .ok());
  REQUIRE(got.size() == 3);
  for (const auto& r : got) {
    REQUIRE(r.elements.size() == 500);
    CHECK(r.elements[499].integer == 499);
  }
  CHECK(reader.charged_bytes() == 0);
}

TEST_CASE(
    "reply budget: the bomb on the wire drops the connection with a clear error; the next one "
    "works") {
  core::loop l;
  fake_redis server(l, [](std::size_t connection, std::string_view) -> std::string {
    return connection == 0 ? nested_headers(1048576, 7) : "+PONG\r\n";
  });
  redis::client c(l, opts(server.url()));
  std::vector<std::string> states;
  c.observe([&](redis::connection_state s, const core::error& why) {
    states.push_back(std::string(redis::to_string(s)) + (why ? ": " + why.message() : ""));
  });
  auto bombed = call(l, c, {"PING"});
  REQUIRE_FALSE(bombed.ok());
  CHECK(bombed.err() == core::errc::limit_exceeded);
  CHECK(test::contains(bombed.err().message(), "bad reply from Redis at " + server.url()));
  CHECK(test::contains(bombed.err().message(), "past its budget of 67108864 bytes"));
  auto after = call(l, c, {"PING"});
  REQUIRE_OK(after);
  CHECK(after->is_status("PONG"));
  CHECK(server.peers.size() == 2);
  CHECK(std::count_if(states.begin(), states.end(), [](const std::string& s) {
          return s.starts_with("waiting_to_reconnect: ");
        }) == 1);
}

TEST_CASE("reply budget: a redis::options value, so a client can have a smaller one") {
  core::loop l;
  fake_redis server(l, [](std::size_t, std::string_view) -> std::string { return "*1000\r\n"; });
  auto o = opts(server.url());
  o.reply_limits.max_reply_bytes = 1000 * sizeof(redis::reply) - 1;
  redis::client c(l, o);
  auto r = call(l, c, {"PING"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::limit_exceeded);
}

TEST_CASE(
    "pub/sub read-idle bound: a server that drips a reply that never ends is dropped, and "
    "reconnected") {
  core::loop l;
  // Confirms the subscription, then starts a message it never finishes: one more byte of it for
  // every PING, so bytes keep coming but no reply is ever complete.
  fake_redis server(l, [](std::size_t, std::string_view data) -> std::string {
    if (test::contains(data, "SUBSCRIBE"))
      return "*3\r\n$9\r\nsubscribe\r\n$9\r\nbcast:all\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$9\r\nbcast:"
             "all\r\n$100000\r\n";
    if (test::contains(data, "PING")) return "x";
    return {};
  });
  redis::subscriber_settings settings;
  settings.health_check_interval = 50ms;
  settings.read_idle_timeout = 400ms;
  redis::subscriber sub(l, opts(server.url()), settings);
  std::vector<std::string> dropped;
  sub.observe([&](redis::connection_state s, const core::error& why) {
    if (s == redis::connection_state::waiting_to_reconnect) dropped.push_back(why.message());
  });
  bool message = false;
  sub.on_message([&](std::string_view, std::string_view) { message = true; });
  sub.subscribe({"bcast:all"});
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));
  REQUIRE(test::run_until(l, [&] { return server.peers.size() >= 2 && sub.all_confirmed(); }));
  REQUIRE_FALSE(dropped.empty());
  CHECK(test::contains(dropped[0], "nothing from Redis at " + server.url()));
  CHECK(test::contains(dropped[0], "not even an answer to PING"));
  CHECK_FALSE(message);
}

TEST_CASE("pub/sub read-idle bound: a quiet healthy connection is kept, its PINGs answered") {
  test::redis_server server;
  core::loop l;
  redis::subscriber_settings settings;
  settings.health_check_interval = 50ms;
  settings.read_idle_timeout = 1s;
  redis::subscriber sub(l, opts(server.url()), settings);
  int drops = 0;
  sub.observe([&](redis::connection_state s, const core::error&) {
    if (s == redis::connection_state::waiting_to_reconnect) ++drops;
  });
  sub.subscribe({"bcast:all"});
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));
  test::run_for(l, 2500ms);  // over two bounds with nothing published
  CHECK(drops == 0);
  CHECK(sub.all_confirmed());
}
