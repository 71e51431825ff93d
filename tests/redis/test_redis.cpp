#include <bcast/net/listener.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/redis/reply.hpp>
#include <bcast/redis/subscriber.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include "redis_helpers.hpp"

using namespace bcast;
using namespace std::chrono_literals;

namespace {

using test::call;
using test::opts;

// A fake Redis that answers every command with `answer`.
struct scripted_server {
  std::shared_ptr<net::listener> listener;
  std::vector<std::shared_ptr<net::stream>> peers;
  scripted_server(core::loop& l, std::string answer) {
    listener = net::listener::listen_tcp(l, "127.0.0.1", 0, [this, answer](std::shared_ptr<net::stream> s) {
      net::stream* raw = s.get();
      s->on_data([raw, answer](std::string_view) {
        if (!answer.empty()) (void)raw->write(answer);
      });
      s->start_reading();
      peers.push_back(s);
    }).value();
  }
  ~scripted_server() {
    for (auto& p : peers) p->abort();
    listener->close();
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(listener->port()); }
};

}  // namespace

TEST_CASE("Redis URLs") {
  auto a = redis::parse_url("redis://user:p%40ss@10.0.0.5:6380/3");
  REQUIRE_OK(a);
  CHECK(a->endpoint.host == "10.0.0.5");
  CHECK(a->endpoint.port == 6380);
  CHECK(a->user == "user");
  CHECK(a->password == "p@ss");
  CHECK(a->db == 3);
  CHECK_FALSE(a->tls);
  CHECK(a->describe() == "redis://user@10.0.0.5:6380/3");

  auto b = redis::parse_url("rediss://redis.example.com");
  REQUIRE_OK(b);
  CHECK(b->tls);
  CHECK(b->endpoint.port == 6379);

  auto c = redis::parse_url("unix:///run/redis/redis.sock?db=2");
  REQUIRE_OK(c);
  CHECK(c->endpoint.unix_path == "/run/redis/redis.sock");
  CHECK(c->db == 2);

  auto v6 = redis::parse_url("redis://[::1]:7000");
  REQUIRE_OK(v6);
  CHECK(v6->endpoint.host == "::1");
  CHECK(v6->endpoint.port == 7000);

  CHECK_FALSE(redis::parse_url("http://x").ok());
  CHECK_FALSE(redis::parse_url("redis://host:notaport").ok());
  CHECK_FALSE(redis::parse_url("redis://host/xx").ok());
  CHECK_FALSE(redis::parse_url("unix://relative.sock").ok());
  CHECK(redis::parse_url("localhost:6379").err().message().find("expected redis://") != std::string::npos);
  CHECK_FALSE(a->cluster);
  CHECK(a->cluster_seeds.empty());
  CHECK(v6->describe() == "redis://[::1]:7000");  // a URL that parses back to the same
}

TEST_CASE("Redis Cluster URLs: seed nodes, TLS, no db but 0") {
  auto a = redis::parse_url("redis-cluster://user:p%40ss@10.0.0.5:7000,10.0.0.6,[::1]:7002");
  REQUIRE_OK(a);
  CHECK(a->cluster);
  CHECK_FALSE(a->tls);
  CHECK(a->user == "user");
  CHECK(a->password == "p@ss");
  CHECK(a->db == 0);
  REQUIRE(a->cluster_seeds.size() == 3);
  CHECK(a->cluster_seeds[0].str() == "10.0.0.5:7000");
  CHECK(a->cluster_seeds[1].str() == "10.0.0.6:6379");
  CHECK(a->cluster_seeds[2].host == "::1");
  CHECK(a->cluster_seeds[2].port == 7002);
  CHECK(a->endpoint.str() == "10.0.0.5:7000");  // the first seed, for code that knows one node
  CHECK(a->describe() == "redis-cluster://user@10.0.0.5:7000,10.0.0.6:6379,[::1]:7002");

  auto one = redis::parse_url("rediss-cluster://secret@redis.example.com:7000/0");
  REQUIRE_OK(one);
  CHECK(one->cluster);
  CHECK(one->tls);
  CHECK(one->password == "secret");
  REQUIRE(one->cluster_seeds.size() == 1);
  CHECK(one->endpoint.str() == "redis.example.com:7000");
  CHECK(one->describe() == "rediss-cluster://redis.example.com:7000");

  // A password may hold what separates seeds and paths.
  auto odd = redis::parse_url("redis-cluster://u:a,b/c@h1:1,h2:2");
  REQUIRE_OK(odd);
  CHECK(odd->password == "a,b/c");
  CHECK(odd->cluster_seeds.size() == 2);

  for (auto url : {"redis-cluster://h1:7000/1", "redis-cluster://h1,h2/3"}) {
    INFO(url);
    auto r = redis::parse_url(url);
    REQUIRE_FALSE(r.ok());
    CHECK(test::contains(r.err().message(), "only db 0"));
  }
  for (auto url : {"redis-cluster://", "redis-cluster://h1:7000,", "redis-cluster://,h2",
                   "redis-cluster://h1,,h2", "redis-cluster://h1:x", "redis-cluster://h1,h2:0",
                   "redis-cluster://[::1:7000", "redis-cluster://h1/x", "redis-clusters://h1",
                   "rediss-cluster://h1:65536"}) {
    INFO(url);
    CHECK_FALSE(redis::parse_url(url).ok());
  }

  // A base that was a cluster forgets it for a single-node URL, and the other way round.
  auto back = redis::parse_url("redis://10.0.0.7:6380/2", *a);
  REQUIRE_OK(back);
  CHECK_FALSE(back->cluster);
  CHECK(back->cluster_seeds.empty());
  CHECK(back->db == 2);
  auto unix_back = redis::parse_url("unix:///run/redis.sock", *a);
  REQUIRE_OK(unix_back);
  CHECK_FALSE(unix_back->cluster);
  CHECK(unix_back->cluster_seeds.empty());
  auto from_db = redis::parse_url("redis-cluster://h1", *back);
  REQUIRE_OK(from_db);
  CHECK(from_db->db == 0);
}

TEST_CASE(
    "transport policy: plain redis:// only to loopback, unless allowed; TLS and Unix sockets "
    "always") {
  const auto refused = [](std::string_view url) {
    auto o = redis::parse_url(url);
    REQUIRE_OK(o);
    auto checked = redis::check_transport_policy(*o, false);
    CHECK(redis::check_transport_policy(*o, true).ok());  // allowed: never refused
    return !checked.ok();
  };
  for (auto url :
       {"redis://127.0.0.1:6379", "redis://127.1.2.3", "redis://localhost:6380",
        "redis://LocalHost", "redis://[::1]:7000", "redis://[::ffff:127.0.0.1]:7000",
        "rediss://redis.example.com", "rediss://10.0.0.5:6380", "unix:///run/redis/redis.sock",
        "redis-cluster://127.0.0.1:7000,localhost:7001,[::1]:7002",
        "rediss-cluster://10.0.0.5:7000,10.0.0.6:7000"}) {
    INFO(url);
    CHECK_FALSE(refused(url));
  }
  for (auto url : {"redis://10.0.0.5:6379", "redis://redis.example.com", "redis://128.0.0.1",
                   "redis://0.0.0.0", "redis://[::2]:7000", "redis://[::ffff:10.0.0.1]",
                   "redis://localhost.example.com", "redis://user:secret@192.168.1.10/2",
                   "redis-cluster://10.0.0.5:7000", "redis-cluster://127.0.0.1:7000,10.0.0.6:7000",
                   "redis-cluster://127.0.0.1:7000,127.0.0.2:7001,[::2]:7002"}) {
    INFO(url);
    CHECK(refused(url));
  }
  const auto why = redis::check_transport_policy(
      redis::parse_url("redis://user:secret@192.168.1.10/2").value(), false);
  REQUIRE_FALSE(why.ok());
  CHECK(test::contains(why.err().message(), "use rediss://"));
  CHECK(test::contains(why.err().message(), "allow_plaintext_redis"));
  CHECK(test::contains(why.err().message(), "redis://user@192.168.1.10:6379/2"));
  CHECK_FALSE(test::contains(why.err().message(), "secret"));  // never the password
  const auto allowed = redis::parse_url("redis://user:secret@192.168.1.10/2").value();
  const auto warning = redis::transport_warning(allowed, true);
  REQUIRE(warning);
  CHECK(
      test::contains(*warning, "allow_plaintext_redis: Redis at redis://user@192.168.1.10:6379/2"));
  CHECK_FALSE(test::contains(*warning, "secret"));
  const auto cluster_why = redis::check_transport_policy(
      redis::parse_url("redis-cluster://u:secret@127.0.0.1:7000,10.0.0.6:7001").value(), false);
  REQUIRE_FALSE(cluster_why.ok());
  CHECK(test::contains(cluster_why.err().message(),
                       "redis-cluster://u@127.0.0.1:7000,10.0.0.6:7001"));
  CHECK_FALSE(test::contains(cluster_why.err().message(), "secret"));
  CHECK_FALSE(redis::transport_warning(allowed, false));  // refused instead
  CHECK_FALSE(redis::transport_warning(redis::parse_url("redis://127.0.0.1").value(), true));
  CHECK_FALSE(redis::transport_warning(redis::parse_url("rediss://10.0.0.5").value(), true));
}

TEST_CASE("commands encode to the same RESP bytes as hiredis's redisFormatCommandArgv") {
  const std::string big(70000, 'x');
  const std::string binary("a\0b\r\n", 5);
  const std::vector<std::vector<std::string_view>> commands{
      {"PING"},
      {"SET", "key", ""},
      {"EVALSHA", "4cf99fbf82cf53de784472a81458669369a517da", "3", "k1", "k2", "k3", binary, big},
  };
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* formatted = nullptr;
    const int len = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(), lens.data());
    REQUIRE(len > 0);
    const std::string expected(formatted, static_cast<std::size_t>(len));
    redisFreeCommand(formatted);
    CHECK(redis::encode_command(args) == expected);
    std::string appended = "prefix";
    redis::append_command(appended, args);
    CHECK(appended == "prefix" + expected);
  }
}

TEST_CASE("reply reader: nested replies, partial input, malformed and oversized input") {
  redis::reply_reader reader;
  redis::reply r;
  core::error err;
  REQUIRE(reader.feed("*3\r\n$5\r\nhello\r\n:42\r\n*2\r\n+OK\r\n$-1\r\n").ok());
  REQUIRE(reader.next(r, err) == redis::reply_reader::status::reply);
  REQUIRE(r.is_array());
  REQUIRE(r.elements.size() == 3);
  CHECK(r.elements[0].str == "hello");
  CHECK(r.elements[1].integer == 42);
  CHECK(r.elements[2].elements[0].is_status("OK"));
  CHECK(r.elements[2].elements[1].is_nil());

  REQUIRE(reader.feed("-NOSCRIPT No matching script\r\n$3\r\nab").ok());
  REQUIRE(reader.next(r, err) == redis::reply_reader::status::reply);
  CHECK(r.error_is("NOSCRIPT"));
  CHECK_FALSE(r.error_is("NOSCR"));
  CHECK(reader.next(r, err) == redis::reply_reader::status::need_more);
  REQUIRE(reader.feed("c\r\n").ok());
  REQUIRE(reader.next(r, err) == redis::reply_reader::status::reply);
  CHECK(r.str == "abc");

  redis::reply_reader bad;
  REQUIRE(bad.feed("!garbage\r\n").ok());
  CHECK(bad.next(r, err) == redis::reply_reader::status::failed);
  CHECK(err == core::errc::protocol_error);

  redis::reply_reader small({1024, 10});
  REQUIRE(small.feed("*11\r\n").ok());
  CHECK(small.next(r, err) == redis::reply_reader::status::failed);
  CHECK(err == core::errc::limit_exceeded);

  redis::reply_reader tiny({1024, 10});
  REQUIRE(tiny.feed("$100000\r\n" + std::string(2000, 'x')).ok());
  CHECK(tiny.next(r, err) == redis::reply_reader::status::failed);
  CHECK(err == core::errc::limit_exceeded);
}

TEST_CASE("commands over TCP and over a Unix socket") {
  test::redis_server server;
  core::loop l;
  for (auto url : {server.url(), server.unix_url()}) {
    redis::client c(l, opts(url));
    auto set = call(l, c, {"SET", "greeting", "halo"});
    REQUIRE_OK(set);
    CHECK(set->is_status("OK"));
    auto get = call(l, c, {"GET", "greeting"});
    REQUIRE_OK(get);
    CHECK(get->str == "halo");
    auto wrong = call(l, c, {"INCR", "greeting"});
    REQUIRE_OK(wrong);
    CHECK(wrong->is_error());
  }
}

TEST_CASE("the connection walks its states in order and selects the db") {
  test::redis_server server;
  core::loop l;
  auto o = opts(server.url() + "/2");
  o.password = "";
  redis::client c(l, o);
  std::vector<redis::connection_state> seen;
  c.observe([&](redis::connection_state s, const core::error&) { seen.push_back(s); });
  REQUIRE(call(l, c, {"SET", "in-db-2", "yes"}).ok());
  CHECK(seen == std::vector<redis::connection_state>{redis::connection_state::connecting, redis::connection_state::selecting,
                                                     redis::connection_state::ready});
  CHECK(server.cli("-n 2 GET in-db-2") == "yes\n");
  CHECK(server.cli("-n 0 EXISTS in-db-2") == "0\n");
}

TEST_CASE("100,000 pipelined commands, replies matched in order") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, opts(server.url()));
  const int n = 100000;
  int answered = 0;
  bool in_order = true;
  for (int i = 0; i < n; ++i) {
    c.command({"INCR", "counter"}, [&, i](core::result<redis::reply> r) {
      if (!r || r->integer != i + 1) in_order = false;
      ++answered;
    });
  }
  REQUIRE(test::run_until(l, [&] { return answered == n; }, 60s));
  CHECK(in_order);
  CHECK(server.cli("GET counter") == "100000\n");
}

TEST_CASE("a transaction is written at once, answers with EXEC's array, and a refusal says why") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, opts(server.url()));
  const std::string_view set[] = {"SET", "k", "v"};
  const std::string_view incr[] = {"INCR", "k"};  // fails as it runs: not an integer
  const std::string_view get[] = {"GET", "k"};
  std::optional<core::result<redis::reply>> got;
  c.transaction({set, incr, get}, [&](core::result<redis::reply> r) { got.emplace(std::move(r)); });
  // A command sent after it is answered after it, with its own answer.
  std::optional<core::result<redis::reply>> after;
  c.command({"GET", "k"}, [&](core::result<redis::reply> r) { after.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return after.has_value(); }));
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  REQUIRE((*got)->is_array());
  REQUIRE((*got)->elements.size() == 3);
  CHECK((*got)->elements[0].str == "OK");
  CHECK((*got)->elements[1].is_error());  // ran, failed; the others ran
  CHECK((*got)->elements[2].str == "v");
  REQUIRE(after->ok());
  CHECK((*after)->str == "v");

  // Refused before it ran (an unknown command): nothing ran, and the refusal is in the answer.
  const std::string_view del[] = {"DEL", "k"};
  const std::string_view bogus[] = {"NO-SUCH-COMMAND"};
  got.reset();
  c.transaction({del, bogus}, [&](core::result<redis::reply> r) { got.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return got.has_value(); }));
  REQUIRE(got->ok());
  REQUIRE((*got)->is_error());
  CHECK((*got)->str.find("EXECABORT") != std::string::npos);
  CHECK((*got)->str.find("unknown command") != std::string::npos);
  CHECK(server.cli("GET k") == "v\n");

  // Queued while Redis is away, the transaction still goes out whole once it is back.
  test::redis_server later;
  redis::client q(l, opts(later.url()));
  later.stop();
  got.reset();
  const std::string_view rpush[] = {"RPUSH", "l", "a"};
  const std::string_view rpush2[] = {"RPUSH", "l", "b"};
  q.transaction({rpush, rpush2}, [&](core::result<redis::reply> r) { got.emplace(std::move(r)); });
  test::run_for(l, 100ms);
  CHECK_FALSE(got.has_value());
  later.start();
  REQUIRE(test::run_until(l, [&] { return got.has_value(); }, 10s));
  REQUIRE(got->ok());
  REQUIRE((*got)->elements.size() == 2);
  CHECK((*got)->elements[1].integer == 2);
}

TEST_CASE("AUTH as an ACL user, and a wrong password is reported") {
  test::redis_server server;
  server.cli("ACL SETUSER store1 on '>s3cret' '~store:1:*' '+@all'");
  core::loop l;
  SECTION("right password") {
    redis::client c(l, opts("redis://store1:s3cret@127.0.0.1:" + std::to_string(server.port())));
    std::vector<redis::connection_state> seen;
    c.observe([&](redis::connection_state s, const core::error&) { seen.push_back(s); });
    auto ok = call(l, c, {"SET", "store:1:x", "1"});
    REQUIRE_OK(ok);
    CHECK(ok->is_status("OK"));
    CHECK(seen[1] == redis::connection_state::authenticating);
    auto denied = call(l, c, {"SET", "store:2:x", "1"});
    REQUIRE_OK(denied);
    CHECK(denied->error_is("NOPERM"));
  }
  SECTION("wrong password") {
    auto o = opts("redis://store1:wrong@127.0.0.1:" + std::to_string(server.port()));
    o.command_timeout = 500ms;
    redis::client c(l, o);
    auto r = call(l, c, {"PING"});
    REQUIRE_FALSE(r.ok());
    CHECK(c.last_error() == core::errc::auth_failed);
    CHECK(c.last_error().message().find("WRONGPASS") != std::string::npos);
  }
}

TEST_CASE("pub/sub: confirmed on the server's acknowledgement, channels, shard channels and patterns") {
  test::redis_server server;
  core::loop l;
  redis::subscriber sub(l, opts(server.url()));
  std::vector<std::string> got;
  sub.on_message([&](std::string_view ch, std::string_view payload) { got.push_back(std::string(ch) + "=" + std::string(payload)); });
  sub.on_pmessage([&](std::string_view pat, std::string_view ch, std::string_view payload) {
    got.push_back(std::string(pat) + ">" + std::string(ch) + "=" + std::string(payload));
  });
  CHECK_FALSE(sub.is_confirmed("bcast:all"));
  sub.subscribe({"bcast:all", "bcast:store:1"});
  sub.subscribe({"bcast:{region:jateng}"}, redis::subscription_kind::shard_channel);
  sub.subscribe({"news:*"}, redis::subscription_kind::pattern);
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));
  CHECK(sub.is_confirmed("bcast:all"));

  redis::client pub(l, opts(server.url()));
  CHECK(call(l, pub, {"PUBLISH", "bcast:all", "one"})->integer == 1);
  CHECK(call(l, pub, {"SPUBLISH", "bcast:{region:jateng}", "two"})->integer == 1);
  CHECK(call(l, pub, {"PUBLISH", "news:today", "three"})->integer == 1);
  CHECK(call(l, pub, {"PUBLISH", "bcast:store:2", "not for us"})->integer == 0);
  REQUIRE(test::run_until(l, [&] { return got.size() == 3; }));
  CHECK(got == std::vector<std::string>{"bcast:all=one", "bcast:{region:jateng}=two", "news:*>news:today=three"});

  sub.unsubscribe({"bcast:all"});
  test::run_for(l, 50ms);
  CHECK(call(l, pub, {"PUBLISH", "bcast:all", "gone"})->integer == 0);
}

TEST_CASE("Redis killed and restarted while subscribed: resubscribed, next message arrives") {
  test::redis_server server;
  core::loop l;
  redis::subscriber sub(l, opts(server.url()));
  std::vector<std::string> got;
  std::vector<redis::connection_state> states;
  sub.on_message([&](std::string_view, std::string_view payload) { got.emplace_back(payload); });
  sub.observe([&](redis::connection_state s, const core::error&) { states.push_back(s); });
  sub.subscribe({"bcast:all"});
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));

  server.stop(SIGKILL);
  REQUIRE(test::run_until(l, [&] { return !sub.all_confirmed(); }));
  server.start();
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));
  CHECK(std::count(states.begin(), states.end(), redis::connection_state::waiting_to_reconnect) >= 1);

  redis::client pub(l, opts(server.url()));
  CHECK(call(l, pub, {"PUBLISH", "bcast:all", "after restart"})->integer == 1);
  REQUIRE(test::run_until(l, [&] { return got.size() == 1; }));
  CHECK(got[0] == "after restart");
}

TEST_CASE("Redis down: a command fails with a clear error within its timeout") {
  core::loop l;
  auto o = opts("redis://127.0.0.1:" + std::to_string(test::free_port()));
  o.command_timeout = 300ms;
  redis::client c(l, o);
  auto started = std::chrono::steady_clock::now();
  auto r = call(l, c, {"PING"});
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::timeout);
  CHECK(r.err().message().find("not reachable") != std::string::npos);
  CHECK(r.err().message().find("connection refused") != std::string::npos);
  CHECK(took < 3s);
  CHECK(c.state() != redis::connection_state::ready);
}

TEST_CASE("the queue of commands waiting for a connection is bounded") {
  core::loop l;
  auto o = opts("redis://127.0.0.1:" + std::to_string(test::free_port()));
  o.max_queued_commands = 2;
  o.command_timeout = 300ms;
  redis::client c(l, o);
  std::vector<core::error> errors;
  for (int i = 0; i < 3; ++i) c.command({"PING"}, [&](core::result<redis::reply> r) { errors.push_back(r.err()); });
  REQUIRE(test::run_until(l, [&] { return errors.size() == 3; }));
  CHECK(errors[0] == core::errc::queue_full);  // refused at once, the others time out
  CHECK(errors[1] == core::errc::timeout);
}

TEST_CASE("a server that never answers: the command times out and the connection is rebuilt") {
  core::loop l;
  scripted_server silent(l, "");
  auto o = opts(silent.url());
  o.command_timeout = 200ms;
  redis::client c(l, o);
  auto r = call(l, c, {"PING"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::timeout);
  CHECK(r.err().message().find("did not answer") != std::string::npos);
  REQUIRE(test::run_until(l, [&] { return silent.peers.size() >= 2; }));  // it reconnected
}

TEST_CASE("malformed and oversized replies close the connection with a clear error") {
  core::loop l;
  SECTION("garbage") {
    scripted_server garbage(l, "this is not RESP\r\n");
    redis::client c(l, opts(garbage.url()));
    auto r = call(l, c, {"PING"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::protocol_error);
    CHECK(r.err().message().find("bad reply") != std::string::npos);
  }
  SECTION("too large") {
    scripted_server huge(l, "$999999999\r\n" + std::string(4096, 'x'));
    auto o = opts(huge.url());
    o.reply_limits.max_reply_bytes = 1024;
    redis::client c(l, o);
    auto r = call(l, c, {"PING"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::limit_exceeded);
  }
  SECTION("too many elements") {
    scripted_server wide(l, "*100000000\r\n");
    redis::client c(l, opts(wide.url()));
    auto r = call(l, c, {"PING"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::limit_exceeded);
  }
}

TEST_CASE("EVALSHA falls back to EVAL on NOSCRIPT, then the cached script is used") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, opts(server.url()));
  redis::script s("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  std::string_view keys[] = {"n"};
  std::string_view args[] = {"5"};
  for (int round = 0; round < 2; ++round) {
    std::optional<core::result<redis::reply>> out;
    c.eval(s, keys, args, [&](core::result<redis::reply> r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
    REQUIRE(out->ok());
    CHECK(out->value().integer == 5 * (round + 1));
  }
  CHECK(server.cli("SCRIPT EXISTS " + s.sha1()) == "1\n");
  server.cli("SCRIPT FLUSH");
  std::optional<core::result<redis::reply>> out;
  c.eval(s, keys, args, [&](core::result<redis::reply> r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  REQUIRE(out->ok());
  CHECK(out->value().integer == 15);
}

TEST_CASE("TLS to redis-server --tls-port, and a hostname mismatch is refused") {
  test::temp_dir certdir;
  auto certs = test::test_certificates::make(certdir);
  auto tls_port = test::free_port();
  test::redis_server server({"--tls-port", std::to_string(tls_port), "--tls-cert-file", certs.server_cert, "--tls-key-file",
                             certs.server_key, "--tls-ca-cert-file", certs.ca_cert, "--tls-auth-clients", "no"});
  core::loop l;
  auto base = opts("rediss://localhost:" + std::to_string(tls_port));
  base.tls_options.ca_file = certs.ca_cert;
  SECTION("verified") {
    redis::client c(l, base);
    auto r = call(l, c, {"PING"});
    REQUIRE_OK(r);
    CHECK(r->is_status("PONG"));
  }
  SECTION("the name does not match the certificate") {
    auto o = base;
    o.tls_options.server_name = "redis.wrong.example";
    o.command_timeout = 500ms;
    redis::client c(l, o);
    auto r = call(l, c, {"PING"});
    REQUIRE_FALSE(r.ok());
    CHECK(c.last_error() == core::errc::tls_error);
    CHECK(c.last_error().message().find("hostname mismatch") != std::string::npos);
  }
}

TEST_CASE("close() fails pending commands with cancelled; destroying the client drops them uncalled") {
  core::loop l;
  auto o = opts("redis://127.0.0.1:" + std::to_string(test::free_port()));
  std::vector<core::error> errors;
  {
    redis::client c(l, o);
    c.command({"PING"}, [&](core::result<redis::reply> r) { errors.push_back(r.err()); });
    c.close();
    CHECK(errors.empty());  // never from inside close()
    test::run_for(l, 20ms);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == core::errc::cancelled);
  }
  bool called = false;
  {
    redis::client c(l, o);
    c.command({"PING"}, [&](core::result<redis::reply>) { called = true; });
  }
  test::run_for(l, 20ms);
  CHECK_FALSE(called);
}
