#include <bcast/redis/client.hpp>
#include <bcast/redis/cluster_slots.hpp>

#include <catch2/catch.hpp>
#include <support/redis_cluster.hpp>
#include <support/test_support.hpp>

#include "redis_helpers.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace bcast;

namespace {

using test::call;
using test::opts;

redis::reply integer(long long n) {
  redis::reply r;
  r.type = redis::reply::kind::integer;
  r.integer = n;
  return r;
}

redis::reply text(std::string s) {
  redis::reply r;
  r.type = redis::reply::kind::string;
  r.str = std::move(s);
  return r;
}

redis::reply nil() {
  return redis::reply{};
}

redis::reply array(std::vector<redis::reply> elements) {
  redis::reply r;
  r.type = redis::reply::kind::array;
  r.elements = std::move(elements);
  return r;
}

// A node as Redis 7.0 lists it: [ip, port, id, {hostnames}] (RESP2 turns the map into an array).
redis::reply node(std::string ip, long long port, std::string id) {
  return array({text(std::move(ip)), integer(port), text(std::move(id)), array({})});
}

std::string node_id(char c) {
  return std::string(40, c);
}

// Three masters of 127.0.0.1:7000..7002 with replicas on 7003..7005, as `redis-cli --cluster
// create` splits the slots.
redis::reply three_shards() {
  return array({
      array({integer(0), integer(5460), node("127.0.0.1", 7000, node_id('a')),
             node("127.0.0.1", 7004, node_id('e'))}),
      array({integer(5461), integer(10922), node("127.0.0.1", 7001, node_id('b')),
             node("127.0.0.1", 7005, node_id('f'))}),
      array({integer(10923), integer(16383), node("127.0.0.1", 7002, node_id('c')),
             node("127.0.0.1", 7003, node_id('d'))}),
  });
}

std::uint16_t port_of(const redis::slot_map& map, std::size_t node) {
  return map.nodes().at(node).endpoint.port;
}

std::optional<std::string_view> key_of(std::initializer_list<std::string_view> args) {
  return redis::command_key(std::span<const std::string_view>(args.begin(), args.size()));
}

}  // namespace

TEST_CASE("key_slot: CRC16/XMODEM mod 16384, with hash tags") {
  STATIC_REQUIRE(redis::crc16_xmodem("123456789") == 0x31C3);  // the spec's check value
  STATIC_REQUIRE(redis::key_slot("123456789") == 0x31C3 % 16384);
  CHECK(redis::crc16_xmodem("") == 0);
  CHECK(redis::key_slot("") == 0);
  // What CLUSTER KEYSLOT answers (the test against a real cluster checks many more).
  CHECK(redis::key_slot("foo") == 12182);
  CHECK(redis::key_slot("bar") == 5061);
  CHECK(redis::key_slot("hello") == 866);

  CHECK(redis::key_slot("{user1000}.following") == redis::key_slot("{user1000}.followers"));
  CHECK(redis::key_slot("{user1000}.following") == redis::key_slot("user1000"));
  CHECK(redis::key_slot("foo{bar}{zap}") == redis::key_slot("bar"));  // the first tag only
  CHECK(redis::key_slot("foo{}{bar}") == redis::crc16_xmodem("foo{}{bar}") % 16384);
  CHECK(redis::key_slot("foo{}{bar}") != redis::key_slot("bar"));
  CHECK(redis::key_slot("foo{{bar}}zap") == redis::key_slot("{bar"));
  CHECK(redis::key_slot("foo{bar") == redis::crc16_xmodem("foo{bar") % 16384);  // no closing }
  CHECK(redis::key_slot("foo}bar{x}") == redis::key_slot("x"));  // a } before the { is no tag
  CHECK(redis::hashed_part("a{b}c") == "b");
  CHECK(redis::hashed_part("a{}c") == "a{}c");

  // bcast's keys of one target share its tag, so one script or transaction touches one slot.
  const auto slot = redis::key_slot("bcast:{store:12}:history");
  CHECK(slot == redis::key_slot("store:12"));
  CHECK(slot == redis::key_slot("bcast:{store:12}:offsets"));
  CHECK(slot != redis::key_slot("bcast:{store:13}:history"));
  CHECK(slot < redis::cluster_slot_count);
}

TEST_CASE("parse_redirect reads MOVED and ASK, and nothing else") {
  auto moved = redis::parse_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK(moved->kind == redis::redirect_kind::moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->endpoint.host == "127.0.0.1");
  CHECK(moved->endpoint.port == 6381);

  auto ask = redis::parse_redirect("ASK 0 redis-3.example.com:7000");
  REQUIRE(ask);
  CHECK(ask->kind == redis::redirect_kind::ask);
  CHECK(ask->slot == 0);
  CHECK(ask->endpoint.str() == "redis-3.example.com:7000");

  // Redis writes IPv6 addresses without brackets: the port is after the last colon.
  auto v6 = redis::parse_redirect("MOVED 16383 ::1:7000");
  REQUIRE(v6);
  CHECK(v6->slot == 16383);
  CHECK(v6->endpoint.host == "::1");
  CHECK(v6->endpoint.port == 7000);
  auto bracketed = redis::parse_redirect("ASK 12 [2001:db8::7]:7001");
  REQUIRE(bracketed);
  CHECK(bracketed->endpoint.host == "2001:db8::7");
  CHECK(bracketed->endpoint.port == 7001);

  // A node that does not know its address: the host the redirect came from.
  auto same_host = redis::parse_redirect("MOVED 5 :7002", "10.1.2.3");
  REQUIRE(same_host);
  CHECK(same_host->endpoint.str() == "10.1.2.3:7002");
  CHECK_FALSE(redis::parse_redirect("MOVED 5 :7002"));

  for (std::string_view error : {"",
                                 "MOVED",
                                 "MOVED ",
                                 "MOVED 3999",
                                 "MOVED 3999 ",
                                 "MOVED 3999 127.0.0.1",
                                 "MOVED 3999 127.0.0.1:",
                                 "MOVED 3999 127.0.0.1:0",
                                 "MOVED 3999 127.0.0.1:65536",
                                 "MOVED 3999 127.0.0.1:x",
                                 "MOVED 16384 127.0.0.1:6381",
                                 "MOVED -1 127.0.0.1:6381",
                                 "MOVED x 127.0.0.1:6381",
                                 "MOVED  3999 127.0.0.1:6381",
                                 "MOVED 3999 127.0.0.1:6381 x",
                                 "MOVED 3999 a b:6381",
                                 "moved 3999 127.0.0.1:6381",
                                 "MOVEDX 3999 127.0.0.1:6381",
                                 "ASKING 3999 127.0.0.1:6381",
                                 "ERR unknown command",
                                 "CLUSTERDOWN Hash slot not served",
                                 "TRYAGAIN Multiple keys request during rehashing of slot"}) {
    INFO(error);
    CHECK_FALSE(redis::parse_redirect(error));
  }
}

TEST_CASE("command_key: the key a command is routed by") {
  CHECK(key_of({"GET", "k"}) == "k");
  CHECK(key_of({"set", "k", "v"}) == "k");
  for (std::string_view name : {"HSET", "XADD", "XRANGE", "XREVRANGE", "ZADD", "SPUBLISH",
                                "SSUBSCRIBE", "EXPIRE", "PEXPIRE", "DEL", "WATCH", "LPUSH"}) {
    INFO(name);
    CHECK(key_of({name, "key", "x", "y"}) == "key");
  }
  CHECK_FALSE(key_of({"GET"}));  // malformed: Redis answers it, any node will do
  CHECK_FALSE(key_of({}));

  CHECK(key_of({"EVAL", "return 1", "2", "k1", "k2", "a"}) == "k1");
  CHECK(key_of({"evalsha", "sha", "1", "k1"}) == "k1");
  CHECK(key_of({"EVAL_RO", "s", "1", "k1"}) == "k1");
  CHECK(key_of({"EVALSHA_RO", "s", "1", "k1"}) == "k1");
  CHECK(key_of({"FCALL", "f", "1", "k1"}) == "k1");
  CHECK_FALSE(key_of({"EVAL", "return 1", "0", "arg"}));
  CHECK_FALSE(key_of({"EVAL", "return 1", "1"}));  // a key announced, none given
  CHECK_FALSE(key_of({"EVAL", "return 1", "x", "k"}));
  CHECK_FALSE(key_of({"EVAL", "return 1", "-1", "k"}));
  CHECK_FALSE(key_of({"EVAL", "return 1"}));

  CHECK(key_of({"XREAD", "STREAMS", "s1", "s2", "0", "0"}) == "s1");
  CHECK(key_of({"XREAD", "COUNT", "10", "BLOCK", "0", "streams", "s1", "$"}) == "s1");
  CHECK(key_of({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "s1", ">"}) ==
        "s1");
  // A group and a consumer named like the keyword.
  CHECK(key_of({"XREADGROUP", "GROUP", "streams", "STREAMS", "STREAMS", "s1", ">"}) == "s1");
  CHECK_FALSE(key_of({"XREAD", "STREAMS"}));
  CHECK_FALSE(key_of({"XREAD", "COUNT", "10"}));
  CHECK_FALSE(key_of({"XREAD", "WHAT", "STREAMS", "s1", "0"}));

  CHECK(key_of({"ZUNION", "2", "z1", "z2"}) == "z1");
  CHECK(key_of({"BLMPOP", "0", "1", "l1", "LEFT"}) == "l1");
  CHECK(key_of({"XGROUP", "CREATE", "s1", "g", "$"}) == "s1");
  CHECK(key_of({"XINFO", "STREAM", "s1"}) == "s1");
  CHECK(key_of({"BITOP", "AND", "dest", "a", "b"}) == "dest");
  CHECK(key_of({"MEMORY", "USAGE", "k"}) == "k");
  CHECK_FALSE(key_of({"XINFO", "HELP"}));

  for (std::string_view name :
       {"PING",   "INFO",    "SCAN",    "CLUSTER", "WAIT",     "SCRIPT",  "ACL",
        "CLIENT", "CONFIG",  "AUTH",    "HELLO",   "SELECT",   "PUBLISH", "SUBSCRIBE",
        "MULTI",  "EXEC",    "TIME",    "DBSIZE",  "FUNCTION", "COMMAND", "READONLY",
        "ASKING", "cluster", "Publish", "MEMORY"}) {
    INFO(name);
    CHECK_FALSE(key_of({name, "something", "more"}));
  }
}

TEST_CASE("parse_cluster_slots: a complete map of masters and replicas") {
  auto map = redis::parse_cluster_slots(three_shards(), "127.0.0.1");
  REQUIRE_OK(map);
  CHECK(map->complete());
  CHECK(map->covered_slots() == redis::cluster_slot_count);
  CHECK(map->nodes().size() == 6);
  REQUIRE(map->shards().size() == 3);
  for (const auto& shard : map->shards()) CHECK(shard.replicas.size() == 1);

  const auto master_port = [&](std::uint16_t slot) { return port_of(*map, *map->master_of(slot)); };
  CHECK(master_port(0) == 7000);
  CHECK(master_port(5460) == 7000);
  CHECK(master_port(5461) == 7001);
  CHECK(master_port(10922) == 7001);
  CHECK(master_port(10923) == 7002);
  CHECK(master_port(16383) == 7002);
  REQUIRE(map->replicas_of(0).size() == 1);
  CHECK(port_of(*map, map->replicas_of(0)[0]) == 7004);
  CHECK(port_of(*map, map->replicas_of(16383)[0]) == 7003);
  CHECK(map->nodes()[*map->master_of(0)].id == node_id('a'));
  CHECK_FALSE(map->master_of(16384));  // no such slot
  CHECK(map->replicas_of(16384).empty());
}

TEST_CASE("parse_cluster_slots: split ranges, unknown addresses, gaps") {
  // One master serving two ranges is one node and one shard; an address Redis leaves empty (or
  // nil) is the host the command went to.
  auto split = redis::parse_cluster_slots(
      array({
          array({integer(0), integer(99), node("", 7000, node_id('a')),
                 node("10.0.0.9", 7003, node_id('d'))}),
          array({integer(100), integer(199),
                 array({nil(), integer(7001), text(node_id('b'))})}),  // no hostname map
          array({integer(200), integer(16383), node("127.0.0.1", 7000, node_id('a')),
                 array({text("10.0.0.8"), integer(7004)})}),  // no id (before Redis 4)
      }),
      "127.0.0.1");
  REQUIRE_OK(split);
  CHECK(split->complete());
  CHECK(split->nodes().size() == 4);
  REQUIRE(split->shards().size() == 2);
  CHECK(split->master_of(0) == split->master_of(16383));
  CHECK(split->nodes()[*split->master_of(150)].endpoint.str() == "127.0.0.1:7001");
  CHECK(split->nodes()[*split->master_of(0)].endpoint.str() == "127.0.0.1:7000");
  CHECK(split->replicas_of(0).size() == 2);  // the master's replicas from both of its ranges
  CHECK(split->replicas_of(150).empty());

  // A replica whose preferred endpoint is unknown ("?") cannot be reached: it is left out.
  auto unknown_replica = redis::parse_cluster_slots(
      array({array({integer(0), integer(16383), node("127.0.0.1", 7000, node_id('a')),
                    node("?", 7003, node_id('d'))})}),
      "127.0.0.1");
  REQUIRE_OK(unknown_replica);
  CHECK(unknown_replica->replicas_of(0).empty());

  // A cluster with slots nobody serves parses, and says it is not complete.
  auto gap = redis::parse_cluster_slots(
      array({array({integer(0), integer(8000), node("127.0.0.1", 7000, node_id('a'))}),
             array({integer(8002), integer(16383), node("127.0.0.1", 7001, node_id('b'))})}),
      "127.0.0.1");
  REQUIRE_OK(gap);
  CHECK_FALSE(gap->complete());
  CHECK(gap->covered_slots() == redis::cluster_slot_count - 1);
  CHECK_FALSE(gap->master_of(8001));
  CHECK(gap->master_of(8002));

  auto empty = redis::parse_cluster_slots(array({}), "127.0.0.1");
  REQUIRE_OK(empty);
  CHECK_FALSE(empty->complete());
  CHECK(empty->nodes().empty());
}

TEST_CASE("parse_cluster_slots: a malformed reply is a clear error") {
  const auto ok_node = [] { return node("127.0.0.1", 7000, node_id('a')); };
  const auto range = [](redis::reply first, redis::reply last, redis::reply master) {
    return array({array({std::move(first), std::move(last), std::move(master)})});
  };
  struct bad_case {
    const char* what;
    redis::reply reply;
    const char* says;
  };
  redis::reply refused;
  refused.type = redis::reply::kind::error;
  refused.str = "ERR This instance has cluster support disabled";
  std::vector<bad_case> cases;
  cases.push_back({"an error reply", refused, "cluster support disabled"});
  cases.push_back({"not an array", text("OK"), "expected an array"});
  cases.push_back({"a range that is no array", array({integer(1)}), "range 1"});
  cases.push_back({"a range without its master", array({array({integer(0), integer(16383)})}),
                   "expected [start, end"});
  cases.push_back(
      {"a start that is a string", range(text("0"), integer(5), ok_node()), "a slot is"});
  cases.push_back({"a slot past 16383", range(integer(0), integer(16384), ok_node()),
                   "a slot is (integer) 16384"});
  cases.push_back({"a negative slot", range(integer(-1), integer(5), ok_node()), "a slot is"});
  cases.push_back({"start after end", range(integer(10), integer(5), ok_node()),
                   "starts at slot 10 after its end 5"});
  cases.push_back({"a master without a port",
                   range(integer(0), integer(5), array({text("127.0.0.1")})), "without a port"});
  cases.push_back(
      {"a master that is no array", range(integer(0), integer(5), text("x")), "master"});
  cases.push_back({"port 0", range(integer(0), integer(5), node("127.0.0.1", 0, "id")), "port is"});
  cases.push_back(
      {"port 65536", range(integer(0), integer(5), node("127.0.0.1", 65536, "id")), "port is"});
  cases.push_back({"a port that is a string",
                   range(integer(0), integer(5), array({text("127.0.0.1"), text("7000")})),
                   "port is"});
  cases.push_back({"an address that is a number",
                   range(integer(0), integer(5), array({integer(1), integer(7000)})),
                   "address is"});
  cases.push_back({"an id that is a number",
                   range(integer(0), integer(5), array({text("h"), integer(7000), integer(3)})),
                   "id is"});
  cases.push_back({"a master whose address is unknown",
                   range(integer(0), integer(5), node("?", 7000, "id")), "unknown"});
  cases.push_back({"a broken replica",
                   array({array({integer(0), integer(5), ok_node(), array({text("h")})})}),
                   "replica 1"});
  cases.push_back({"a slot listed twice",
                   array({array({integer(0), integer(10), ok_node()}),
                          array({integer(10), integer(20), node("127.0.0.1", 7001, "b")})}),
                   "range 2: slot 10 is listed twice"});
  for (const auto& c : cases) {
    INFO(c.what);
    auto parsed = redis::parse_cluster_slots(c.reply, "127.0.0.1");
    REQUIRE_FALSE(parsed.ok());
    CHECK(test::contains(parsed.err().message(), c.says));
  }
  // More nodes than any real cluster has: refused, whether as replicas or as masters.
  std::vector<redis::reply> crowded{integer(0), integer(16383), node("127.0.0.1", 1, node_id('a'))};
  for (long long port = 2; port <= 2000; ++port)
    crowded.push_back(node("127.0.0.1", port, node_id('b')));
  CHECK(redis::parse_cluster_slots(array({array(crowded)}), "h").ok());  // 2000 nodes
  crowded.push_back(node("127.0.0.1", 2001, node_id('c')));
  auto too_many = redis::parse_cluster_slots(array({array(crowded)}), "h");
  REQUIRE_FALSE(too_many.ok());
  CHECK(test::contains(too_many.err().message(), "range 1: more than 2000 nodes"));
  std::vector<redis::reply> one_slot_each;
  for (long long slot = 0; slot <= 2000; ++slot) {
    one_slot_each.push_back(
        array({integer(slot), integer(slot), node("10.0.0.1", 1 + slot, node_id('a'))}));
  }
  auto too_many_masters = redis::parse_cluster_slots(array(one_slot_each), "h");
  REQUIRE_FALSE(too_many_masters.ok());
  CHECK(test::contains(too_many_masters.err().message(), "range 2001: more than 2000 nodes"));

  // Without a fallback host, an empty address cannot be resolved.
  auto no_fallback = redis::parse_cluster_slots(
      array({array({integer(0), integer(5), node("", 7000, "id")})}), "");
  REQUIRE_FALSE(no_fallback.ok());
  CHECK(test::contains(no_fallback.err().message(), "no fallback"));
}

TEST_CASE("slot_map::update follows a MOVED redirect for one slot") {
  auto map = redis::parse_cluster_slots(three_shards(), "127.0.0.1").value();
  const auto before = map.master_of(100);

  // To another known master: that master's shard, replicas and all.
  map.update(100, net::endpoint{"127.0.0.1", 7001, {}});
  CHECK(port_of(map, *map.master_of(100)) == 7001);
  CHECK(map.replicas_of(100).size() == 1);
  CHECK(map.master_of(99) == before);
  CHECK(map.master_of(101) == before);
  CHECK(map.nodes().size() == 6);

  // To a replica that took over: a master now, with no replicas known yet.
  map.update(200, net::endpoint{"127.0.0.1", 7004, {}});
  CHECK(port_of(map, *map.master_of(200)) == 7004);
  CHECK(map.replicas_of(200).empty());
  CHECK(map.nodes().size() == 6);
  CHECK(map.shards().size() == 4);

  // To a node never seen: added.
  map.update(300, net::endpoint{"127.0.0.1", 7010, {}});
  CHECK(map.nodes().size() == 7);
  CHECK(port_of(map, *map.master_of(300)) == 7010);
  CHECK(map.nodes().back().id.empty());
  CHECK(map.complete());

  map.update(16384, net::endpoint{"127.0.0.1", 7011, {}});  // no such slot: ignored
  CHECK(map.nodes().size() == 7);
}

TEST_CASE("a real Redis Cluster: CLUSTER SLOTS, key slots, MOVED and ASK", "[cluster]") {
  test::redis_cluster cluster;
  core::loop l;
  const auto seed_options = opts(cluster.seed_url());
  CHECK(seed_options.cluster);
  redis::client seed(l, seed_options);

  auto slots = call(l, seed, {"CLUSTER", "SLOTS"});
  REQUIRE_OK(slots);
  auto map = redis::parse_cluster_slots(*slots, seed_options.endpoint.host);
  REQUIRE_OK(map);
  CHECK(map->complete());
  REQUIRE(map->shards().size() == 3);
  std::set<std::uint16_t> masters;
  for (const auto& shard : map->shards()) {
    CHECK(shard.replicas.size() == 1);
    masters.insert(port_of(*map, shard.master));
  }
  CHECK(masters.size() == 3);
  std::set<std::uint16_t> listed;
  for (const auto& n : map->nodes()) {
    listed.insert(n.endpoint.port);
    CHECK(n.endpoint.host == "127.0.0.1");
    CHECK(n.id.size() == 40);
  }
  CHECK(listed == std::set<std::uint16_t>(cluster.ports().begin(), cluster.ports().end()));
  for (std::uint16_t slot : {0, 5460, 5461, 10922, 10923, 16383}) {
    INFO("slot " << slot);
    CHECK(port_of(*map, *map->master_of(slot)) == cluster.master_port_of_slot(slot));
  }

  // key_slot agrees with the server's own CLUSTER KEYSLOT, hash tags and all bytes included.
  std::vector<std::string> keys{"",
                                "a",
                                "foo",
                                "{user1000}.following",
                                "foo{}{bar}",
                                "foo{{bar}}zap",
                                "{",
                                "}{",
                                "bcast:{store:12}:history",
                                std::string("\xff\x80{\x01\x02}\xfe", 7)};
  for (int i = 0; i < 200; ++i) keys.push_back("key:" + std::to_string(i * 7919));
  for (const auto& key : keys) {
    INFO("key " << core::quoted(key));
    auto answer = call(l, seed, {"CLUSTER", "KEYSLOT", key});
    REQUIRE_OK(answer);
    CHECK(answer->integer == redis::key_slot(key));
  }

  // The map's master for a key takes a write; another master answers MOVED to that one.
  const std::string key = "bcast:{store:12}:history";
  const auto slot = redis::key_slot(key);
  const auto owner = map->nodes()[*map->master_of(slot)].endpoint;
  redis::client at_owner(l, opts("redis://127.0.0.1:" + std::to_string(owner.port)));
  auto written = call(l, at_owner, {"SET", key, "v"});
  REQUIRE_OK(written);
  CHECK(written->is_status("OK"));

  const auto other_port = *std::find_if(masters.begin(), masters.end(),
                                        [&](std::uint16_t p) { return p != owner.port; });
  redis::client at_other(l, opts("redis://127.0.0.1:" + std::to_string(other_port)));
  auto refused = call(l, at_other, {"SET", key, "v"});
  REQUIRE_OK(refused);
  REQUIRE(refused->is_error());
  auto moved = redis::parse_redirect(refused->str);
  INFO(refused->str);
  REQUIRE(moved);
  CHECK(moved->kind == redis::redirect_kind::moved);
  CHECK(moved->slot == slot);
  CHECK(moved->endpoint.host == owner.host);
  CHECK(moved->endpoint.port == owner.port);

  // The map follows it: after update() the slot's master is still the owner.
  auto updated = *map;
  updated.update(moved->slot, moved->endpoint);
  CHECK(updated.master_of(slot) == map->master_of(slot));
  CHECK(updated.nodes().size() == 6);

  // While the slot migrates to the other master, a key the owner no longer has is answered
  // with ASK to the importing node.
  const auto other_id = map->nodes()[map->node_at({"127.0.0.1", other_port, {}})].id;
  const auto owner_id = map->nodes()[*map->master_of(slot)].id;
  REQUIRE(call(l, at_other, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", owner_id})
              ->is_status("OK"));
  REQUIRE(call(l, at_owner, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", other_id})
              ->is_status("OK"));
  auto asked = call(l, at_owner, {"GET", "bcast:{store:12}:not-here"});
  REQUIRE_OK(asked);
  INFO(asked->describe());
  REQUIRE(asked->is_error());
  auto ask = redis::parse_redirect(asked->str);
  REQUIRE(ask);
  CHECK(ask->kind == redis::redirect_kind::ask);
  CHECK(ask->slot == slot);
  CHECK(ask->endpoint.port == other_port);
}

TEST_CASE("the cluster fixture finds the new master after a master is killed", "[cluster]") {
  test::redis_cluster cluster;
  const std::uint16_t slot = redis::key_slot("bcast:{store:1}:history");
  const auto old_master = cluster.master_port_of_slot(slot);
  REQUIRE(old_master != 0);
  cluster.kill_node(old_master);
  // The replica takes over after the node timeout (1 s) and an election.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::uint16_t new_master = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    new_master = cluster.master_port_of_slot(slot);
    if (new_master != 0 && new_master != old_master) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(new_master != 0);
  CHECK(new_master != old_master);
}
