// Typed reply accessors and client::pipeline, against a real redis-server.

#include <bcast/net/listener.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/redis/reply.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include "redis_helpers.hpp"

using namespace bcast;
using namespace std::chrono_literals;

namespace {

using test::call;
using test::opts;

// Sends `p` and runs the loop until its completion.
core::result<redis::replies> send(core::loop& l, redis::client::pipeline& p) {
  std::optional<core::result<redis::replies>> out;
  int calls = 0;
  p.send([&](core::result<redis::replies> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  CHECK_FALSE(out.has_value());  // never from inside send()
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  test::run_for(l, 20ms);
  CHECK(calls == 1);
  return std::move(*out);
}

std::string text(const core::error& e) {
  return e.message();
}

}  // namespace

TEST_CASE("typed accessors: the value of the type asked for, else an error saying why") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, opts(server.url()));
  auto set = call(l, c, {"SET", "s", "hello"});
  REQUIRE_OK(set);
  CHECK(set->checked().ok());
  CHECK(set->as_string().value() == "OK");  // a status is a string

  auto got = call(l, c, {"GET", "s"});
  REQUIRE_OK(got);
  CHECK(got->as_string().value() == "hello");
  const auto not_int = got->as_integer();
  REQUIRE_FALSE(not_int.ok());
  CHECK(not_int.err() == core::errc::protocol_error);
  CHECK(text(not_int.err()) == "protocol error: expected an integer from Redis, got hello");

  auto n = call(l, c, {"INCR", "n"});
  REQUIRE_OK(n);
  CHECK(n->as_integer().value() == 1);
  CHECK(n->as_array().err() == core::errc::protocol_error);

  auto missing = call(l, c, {"GET", "nothing"});
  REQUIRE_OK(missing);
  CHECK(
      test::contains(text(missing->as_string().err()), "expected a string from Redis, got (nil)"));

  call(l, c, {"RPUSH", "l", "a", "b", "c"}).value();
  auto list = call(l, c, {"LRANGE", "l", "0", "-1"});
  REQUIRE_OK(list);
  REQUIRE(list->as_array().ok());
  CHECK(list->as_array()->size() == 3);
  CHECK(list->as_array(3).value()[2].as_string().value() == "c");
  CHECK(test::contains(text(list->as_array(2).err()),
                       "expected an array of 2 from Redis, got (array of 3)"));
  // Strings may be moved out of a mutable reply.
  auto elements = list->as_array();
  REQUIRE_OK(elements);
  std::string moved = std::move((*elements)[0].str);
  CHECK(moved == "a");

  // An error reply is an error to every accessor, with Redis's text.
  auto wrong = call(l, c, {"INCR", "l"});
  REQUIRE_OK(wrong);  // the command was answered...
  for (const auto& e : {wrong->checked().err(), wrong->as_integer().err(), wrong->as_string().err(),
                        wrong->as_array(1).err()}) {
    CHECK(e == core::errc::server_error);  // ...with a refusal
    CHECK(e.detail().rfind("Redis: WRONGTYPE", 0) == 0);
  }
  CHECK(redis::checked(std::move(wrong)).err() == core::errc::server_error);
  CHECK(redis::checked(call(l, c, {"GET", "s"})).ok());
}

TEST_CASE("failed(): what the step was doing, then why, keeping the code") {
  const auto refused =
      redis::failed("heartbeat", core::error(core::errc::server_error, "Redis: NOPERM x"));
  CHECK(refused == core::errc::server_error);
  CHECK(refused.message() == "server error: heartbeat: Redis: NOPERM x");
  const auto late =
      redis::failed("heartbeat", core::error(core::errc::timeout, "Redis at x not reachable"));
  CHECK(late == core::errc::timeout);
  CHECK(late.detail() == "heartbeat: timed out: Redis at x not reachable");
}

TEST_CASE("pipeline: one completion with every answer in order, an error reply in its place") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, opts(server.url()));
  server.cli("SET text abc");
  redis::client::pipeline p(c);
  p.command({"INCR", "n"}).command({"INCR", "text"}).command({"INCR", "n"});
  const std::vector<std::string> get{"GET", "n"};
  p.command(get);
  CHECK(p.size() == 4);
  auto r = send(l, p);
  CHECK(p.empty());
  REQUIRE_OK(r);
  REQUIRE(r->size() == 4);
  CHECK((*r)[0].as_integer().value() == 1);
  CHECK((*r)[1].as_integer().err() == core::errc::server_error);  // refused, in its place
  CHECK((*r)[2].as_integer().value() == 2);                       // the commands after it ran
  CHECK((*r)[3].as_string().value() == "2");
  const auto first = redis::first_error(*r);
  REQUIRE_FALSE(first.ok());
  CHECK(test::contains(first.err().detail(), "not an integer"));

  // An empty pipeline completes too, later, with no answers.
  redis::client::pipeline none(c);
  auto empty = send(l, none);
  REQUIRE_OK(empty);
  CHECK(empty->empty());
}

TEST_CASE("pipeline: transactions and scripts among plain commands, NOSCRIPT answered by EVAL") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, opts(server.url()));
  const redis::script s("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  const std::string_view keys[] = {"counter"};
  const std::string_view args[] = {"5"};
  const std::string_view rpush[] = {"RPUSH", "l", "x"};
  const std::string_view llen[] = {"LLEN", "l"};
  for (int round = 0; round < 2; ++round) {
    redis::client::pipeline p(c);
    p.eval(s, keys, args)
        .transaction({rpush, llen})
        .command({"GET", "counter"})
        .eval(s, keys, args);
    auto r = send(l, p);
    REQUIRE_OK(r);
    REQUIRE(r->size() == 4);
    CHECK((*r)[0].as_integer().value() == 10 * round + 5);
    const auto exec = (*r)[1].as_array(2);
    REQUIRE_OK(exec);
    CHECK((*exec)[1].as_integer().value() == round + 1);
    // The first round's EVALSHAs were refused (NOSCRIPT) and their EVALs ran after the GET.
    if (round == 0) CHECK((*r)[2].is_nil());
    if (round == 1) CHECK((*r)[2].as_string().value() == "15");
    CHECK((*r)[3].as_integer().value() == 10 * round + 10);
    if (round == 0) CHECK(server.cli("SCRIPT EXISTS " + s.sha1()) == "1\n");
  }
}

TEST_CASE("pipeline: connection lost during it, one completion with the error") {
  test::redis_server server;
  core::loop l;
  auto o = opts(server.url());
  o.command_timeout = 10s;
  // Not left reconnecting when the test ends: a connect attempt that outlives its client into the
  // loop's destruction closes its timer twice (net/connect.hpp, reported).
  o.reconnect = false;
  redis::client c(l, o);
  call(l, c, {"PING"}).value();
  redis::client::pipeline p(c);
  p.command({"SET", "k", "v"}).command({"BLPOP", "never", "0"}).command({"GET", "k"});
  std::optional<core::result<redis::replies>> out;
  int calls = 0;
  p.send([&](core::result<redis::replies> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  // The SET was answered; the BLPOP blocks: then Redis goes away.
  REQUIRE(test::run_until(l, [&] { return server.cli("GET k") == "v\n"; }));
  test::run_for(l, 50ms);
  CHECK_FALSE(out.has_value());
  server.stop(SIGKILL);
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  test::run_for(l, 50ms);
  CHECK(calls == 1);
  REQUIRE_FALSE(out->ok());
  CHECK(test::contains(out->err().message(), "closed the connection"));
}

TEST_CASE("pipeline: a server that stops answering times it out, once") {
  core::loop l;
  std::vector<std::shared_ptr<net::stream>> peers;
  auto silent = net::listener::listen_tcp(l, "127.0.0.1", 0, [&](std::shared_ptr<net::stream> s) {
                  s->start_reading();
                  peers.push_back(std::move(s));
                }).value();
  auto o = opts("redis://127.0.0.1:" + std::to_string(silent->port()));
  o.command_timeout = 200ms;
  o.reconnect = false;  // as above
  redis::client c(l, o);
  redis::client::pipeline p(c);
  p.command({"PING"}).command({"PING"}).command({"PING"});
  auto r = send(l, p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::timeout);
  CHECK(test::contains(r.err().message(), "did not answer"));
  for (auto& s : peers) s->abort();
  silent->close();
}

TEST_CASE("pipeline: queued all or none while Redis is away; dropped uncalled with its client") {
  core::loop l;
  auto o = opts("redis://127.0.0.1:" + std::to_string(test::free_port()));
  o.max_queued_commands = 4;
  o.command_timeout = 300ms;
  {
    redis::client c(l, o);
    c.command({"PING"}, [](core::result<redis::reply>) {});
    c.command({"PING"}, [](core::result<redis::reply>) {});
    redis::client::pipeline p(c);
    p.command({"PING"}).command({"PING"}).command({"PING"});
    auto r = send(l, p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::queue_full);
    CHECK(c.connection_to()->queued() == 2);  // the two PINGs; none of the three
  }
  bool called = false;
  {
    redis::client c(l, o);
    redis::client::pipeline p(c);
    p.command({"PING"}).command({"PING"});
    p.send([&](core::result<redis::replies>) { called = true; });
  }
  test::run_for(l, 50ms);
  CHECK_FALSE(called);

  redis::client closed(l, o);
  closed.close();
  redis::client::pipeline p(closed);
  p.command({"PING"});
  auto r = send(l, p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::cancelled);
}
