// End-to-end: who sees what (SPEC "Who sees what") against the real publisherd and Redis: a user
// limited to target patterns reads only messages and stores within them, and an Idempotency-Key
// belongs to the user who made the message.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <set>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct scoped_fixture : test::publisherd_fixture {
  session jateng;  // region:jateng and store:*
  session jabar;   // region:jabar only

  scoped_fixture() {
    REQUIRE(
        test::run_bcastctl("user add --users " + users +
                               " jabar --role publisher --targets 'region:jabar' --password-stdin",
                           "west java\n") == 0);
    daemon->signal(SIGHUP);
    REQUIRE(daemon->wait_for_log("users reloaded"));
    jateng = login("jateng", "regional");
    jabar = login("jabar", "west java");
  }

  // As the trusted local peer (Unix socket), which sees everything.
  json send_as_peer(std::vector<std::string> targets, const std::string& title) {
    json body{{"targets", targets},
              {"category", "announcement"},
              {"title", title},
              {"body", "Isi " + title}};
    auto r = test::http_call(0, "POST", "/api/v1/messages", body.dump(), {}, socket);
    REQUIRE(r.status == 201);
    return json::parse(r.body);
  }
  test::http_result get_as_peer(const std::string& target) {
    return test::http_call(0, "GET", target, {}, {}, socket);
  }
  test::http_result get(const session& s, const std::string& target) {
    return call("GET", target, {}, {{"Cookie", s.cookie}});
  }
  json get_json(const session& s, const std::string& target) {
    auto r = get(s, target);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }

  std::string send_keyed(const session& s, const std::string& key, json body) {
    auto r = call("POST", "/api/v1/messages", body.dump(),
                  {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}, {"Idempotency-Key", key}});
    last_status = r.status;
    return r.body;
  }
  int last_status = 0;
};

std::vector<std::string> titles(const json& list) {
  std::vector<std::string> out;
  for (const auto& m : list) out.push_back(m["title"]);
  return out;
}

std::vector<std::string> store_ids(const json& list) {
  std::vector<std::string> out;
  for (const auto& s : list) out.push_back(s.contains("store") ? s["store"] : s["id"]);
  return out;
}

// Not through a ulid_generator, which never goes back in time.
std::string key_made_at(std::chrono::system_clock::time_point t) {
  static std::uint8_t made = 0;
  return message::make_ulid(message::unix_ms(t), {0x5c, 0x0e, ++made});
}

json message_body(std::vector<std::string> targets, const std::string& title) {
  return {{"targets", targets},
          {"category", "announcement"},
          {"title", title},
          {"body", "Isi " + title}};
}

}  // namespace

TEST_CASE(
    "scoped reads: a regional user lists only messages whose every target it may use, in full "
    "pages") {
  scoped_fixture f;
  // Oldest first. Mostly messages to everyone; a few for Central Java among them.
  std::vector<std::string> jateng_ids;
  for (int i = 0; i < 60; ++i) {
    if (i % 15 == 3)
      jateng_ids.push_back(f.send_as_peer({"region:jateng", "store:smg-01"},
                                          std::string("jateng ") + std::to_string(i))["id"]);
    else if (i % 15 == 9)
      f.send_as_peer({"region:jateng", "region:jabar"}, std::string("both ") + std::to_string(i));
    else
      f.send_as_peer({"all"}, std::string("all ") + std::to_string(i));
  }
  REQUIRE(jateng_ids.size() == 4);

  auto page = f.get_json(f.jateng, "/api/v1/messages?limit=3");
  CHECK(titles(page["messages"]) ==
        std::vector<std::string>{"jateng 48", "jateng 33", "jateng 18"});
  CHECK_FALSE(page.contains("next_before"));
  auto next = f.get_json(f.jateng, "/api/v1/messages?limit=3&before=" + jateng_ids[1]);
  CHECK(titles(next["messages"]) == std::vector<std::string>{"jateng 3"});

  // The peer (and an admin) still reads everything, newest first.
  auto all = json::parse(f.get_as_peer("/api/v1/messages?limit=2").body);
  CHECK(titles(all["messages"]) == std::vector<std::string>{"all 59", "all 58"});

  // West Java: only messages to region:jabar alone; "both" also names jateng.
  CHECK(f.get_json(f.jabar, "/api/v1/messages")["messages"].empty());
}

TEST_CASE("scoped reads: a message outside the scope is 404, as if it did not exist") {
  scoped_fixture f;
  const std::string national = f.send_as_peer({"all"}, "Nasional")["id"];
  const std::string mixed = f.send_as_peer({"region:jateng", "region:jabar"}, "Dua wilayah")["id"];
  const std::string central = f.send_as_peer({"region:jateng"}, "Jateng saja")["id"];

  for (const auto& hidden : {national, mixed}) {
    auto r = f.get(f.jateng, "/api/v1/messages/" + hidden);
    CHECK(r.status == 404);
    auto e = json::parse(r.body);
    CHECK(e["error"] == "not_found");
    // The same answer as for an id that never existed.
    auto never = json::parse(f.get(f.jateng, "/api/v1/messages/01JD5Q8W3V6X4Y2Z0A1B2C3D4E").body);
    CHECK(e["message"].get<std::string>() == "No message " + hidden + ".");
    CHECK(never["error"] == "not_found");
  }
  auto shown = f.get(f.jateng, "/api/v1/messages/" + central);
  REQUIRE(shown.status == 200);
  CHECK(json::parse(shown.body)["message"]["title"] == "Jateng saja");
  CHECK(f.get(f.jabar, "/api/v1/messages/" + central).status == 404);
  CHECK(f.get_as_peer("/api/v1/messages/" + mixed).status == 200);
}

TEST_CASE("scoped reads: stores and a message's receipts show only the stores within the scope") {
  scoped_fixture f;
  f.store_seen("smg-01", {"region:jateng", "format:minimarket"});
  f.store_seen("bdg-01", {"region:jabar"});
  f.store_seen("bdg-02", {"region:jabar", "format:minimarket"});
  f.store_seen("dps-01", {"region:bali"});

  CHECK(store_ids(json::parse(f.get_as_peer("/api/v1/stores").body)["stores"]) ==
        std::vector<std::string>{"bdg-01", "bdg-02", "dps-01", "smg-01"});
  // store:* reaches every store.
  CHECK(store_ids(f.get_json(f.jateng, "/api/v1/stores")["stores"]).size() == 4);
  CHECK(store_ids(f.get_json(f.jabar, "/api/v1/stores")["stores"]) ==
        std::vector<std::string>{"bdg-01", "bdg-02"});

  // A message to West Java, and a receipt from a store that is not there (it moved, or claims
  // what it likes): head office sees it, the West Java user does not, in the rows or the counts.
  const std::string id = f.send_as_peer({"region:jabar"}, "Info Jabar")["id"];
  f.redis->cli("HSET '" + broker::receipts_key("smg-01") + "' '" +
               broker::receipt_field(id, broker::receipt_state::delivered) +
               "' 2026-01-01T00:00:00.000Z");
  f.redis->cli("HSET '" + broker::receipts_key("bdg-01") + "' '" +
               broker::receipt_field(id, broker::receipt_state::displayed) +
               "' 2026-01-01T00:00:01.000Z");

  auto everyone = json::parse(f.get_as_peer("/api/v1/messages/" + id).body)["receipts"];
  CHECK(store_ids(everyone["stores"]) == std::vector<std::string>{"bdg-01", "bdg-02", "smg-01"});
  CHECK(everyone["expected"] == 3);
  CHECK(everyone["delivered"] == 2);

  auto west = f.get_json(f.jabar, "/api/v1/messages/" + id)["receipts"];
  CHECK(store_ids(west["stores"]) == std::vector<std::string>{"bdg-01", "bdg-02"});
  CHECK(west["expected"] == 2);
  CHECK(west["delivered"] == 1);
  CHECK(west["displayed"] == 1);
}

TEST_CASE(
    "Idempotency-Key: another user's id is a 409 conflict and the first message stays as it was") {
  scoped_fixture f;
  auto admin = f.login();
  const auto key = key_made_at(std::chrono::system_clock::now());
  const auto first = f.send_keyed(admin, key, message_body({"region:jateng"}, "Harga asli"));
  REQUIRE(f.last_status == 201);
  const auto record = f.redis->cli("ZRANGE bcast:message-log 0 -1");
  const auto history = f.redis->cli("XRANGE '" + broker::history_key("region:jateng") + "' - +");

  const auto taken =
      f.send_keyed(f.jateng, key, message_body({"region:jateng", "store:smg-01"}, "Harga palsu"));
  CHECK(f.last_status == 409);
  CHECK(json::parse(taken)["error"] == "conflict");
  CHECK(f.redis->cli("ZRANGE bcast:message-log 0 -1") == record);
  CHECK(f.redis->cli("XRANGE '" + broker::history_key("region:jateng") + "' - +") == history);
  CHECK(f.redis->cli("EXISTS '" + broker::history_key("store:smg-01") + "'") == "0\n");
  auto shown = json::parse(f.get_as_peer("/api/v1/messages/" + key).body);
  CHECK(shown["message"] == json::parse(first));
  CHECK(shown["message"]["sender"] == "admin");

  // The same user's retry: 201 with the same envelope, and nothing sent again.
  const auto again = f.send_keyed(admin, key, message_body({"region:jateng"}, "Harga asli"));
  CHECK(f.last_status == 201);
  CHECK(again == first);
  CHECK(f.redis->cli("XRANGE '" + broker::history_key("region:jateng") + "' - +") == history);
  CHECK(f.redis->cli("ZRANGE bcast:message-log 0 -1") == record);
}

TEST_CASE(
    "Idempotency-Key: an id made far from now is a 400 naming the header, and nothing is sent") {
  scoped_fixture f;
  auto admin = f.login();
  const auto now = std::chrono::system_clock::now();
  for (const auto& key :
       {message::make_ulid(0, {}), key_made_at(now + 24h), key_made_at(now - 1h),
        std::string("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), std::string("not-a-message-id")}) {
    INFO(key);
    const auto refused = json::parse(f.send_keyed(admin, key, message_body({"all"}, "Terlambat")));
    CHECK(f.last_status == 400);
    CHECK(refused["error"] == "invalid_request");
    CHECK(test::contains(refused["message"].get<std::string>(), "Idempotency-Key"));
  }
  CHECK(f.redis->cli("EXISTS '" + broker::history_key("all") + "' bcast:message-log") == "0\n");
  // A key made a minute ago is fine.
  f.send_keyed(admin, key_made_at(now - 1min), message_body({"all"}, "Tepat waktu"));
  CHECK(f.last_status == 201);
}
