// End-to-end: must-read messages and accountability (SPEC "Urgency and escalation") through the
// real publisherd's API against a real Redis: the receipts export, and what a send with
// repeat_every_s / escalate_after_s answers.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/trust/signature.hpp>

#include <map>
#include <string>
#include <vector>

using namespace bcast;
using nlohmann::json;

namespace {

struct must_read_fixture : test::publisherd_fixture {
  session admin = login();

  // What a store's receipt writer records for it (HSETNX <store's receipts> <id>:<state> <at>).
  void receipt(const std::string& store, const std::string& id, broker::receipt_state state,
               const std::string& at) {
    core::loop l;
    redis::client c(l, redis::parse_url(redis->url()).value());
    std::optional<core::result<redis::reply>> done;
    c.command({"HSETNX", broker::receipts_key(store), broker::receipt_field(id, state), at},
              [&](core::result<redis::reply> r) { done.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return done.has_value(); }));
    REQUIRE(done->ok());
  }

  test::http_result get(const session& s, const std::string& target) {
    return call("GET", target, {}, {{"Cookie", s.cookie}});
  }
};

}  // namespace

TEST_CASE("receipts.csv: one row per expected store, RFC 4180, only for who may read it") {
  must_read_fixture f;
  // Ids a spreadsheet mangles if they are not kept as text, in two regions.
  f.store_seen("0042", {"region:jateng"});
  f.store_seen("toko-01.a_b", {"region:jateng"});
  f.store_seen("s1", {"region:jateng"});
  f.store_seen("jkt-9", {"region:jabar"});
  f.store_seen("bdg-1", {"region:jabar"});  // not addressed: no row
  // publisherd learns the stores from its own store list.
  REQUIRE(f.get(f.admin, "/api/v1/stores").status == 200);

  auto sent = f.send(f.admin, {{"targets", {"region:jateng", "store:jkt-9"}},
                               {"category", "price_info"},
                               {"title", "Harga baru, \"minyak\" 2L"},
                               {"body", "Rp 34.900"},
                               {"require_ack", true}});
  REQUIRE(sent.status == 201);
  const std::string id = json::parse(sent.body)["id"];
  f.receipt("s1", id, broker::receipt_state::delivered, "2026-12-02T10:00:00.100Z");
  f.receipt("s1", id, broker::receipt_state::acknowledged, "2026-12-02T10:00:05.000Z");
  f.receipt("toko-01.a_b", id, broker::receipt_state::displayed, "2026-12-02T10:00:01.250Z");

  auto r = f.get(f.admin, "/api/v1/messages/" + id + "/receipts.csv");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "text/csv; charset=utf-8");
  CHECK(r.header("content-disposition") ==
        "attachment; filename=\"bcast-receipts-" + id + ".csv\"");
  CHECK(r.body ==
        "store,state,at\r\n"
        "0042,pending,\r\n"
        "jkt-9,pending,\r\n"
        "s1,acknowledged,2026-12-02T10:00:05.000Z\r\n"
        "toko-01.a_b,displayed,2026-12-02T10:00:01.250Z\r\n");

  // The same stores and states as the message page lists.
  auto page = f.get(f.admin, "/api/v1/messages/" + id);
  REQUIRE(page.status == 200);
  const auto listed = json::parse(page.body);
  std::string rows = "store,state,at\r\n";
  for (const auto& s : listed["receipts"]["stores"])
    rows += s["store"].get<std::string>() + "," + s["state"].get<std::string>() + "," +
            (s["at"].is_null() ? "" : s["at"].get<std::string>()) + "\r\n";
  CHECK(rows == r.body);

  // Who may not read the message gets no export of it.
  CHECK(f.call("GET", "/api/v1/messages/" + id + "/receipts.csv").status == 401);
  REQUIRE(test::run_bcastctl("user add --users " + f.users +
                                 " jabar --role publisher --targets 'region:jabar' --password-stdin",
                             "west java\n") == 0);
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("users reloaded"));
  auto jabar = f.login("jabar", "west java");
  CHECK(f.get(jabar, "/api/v1/messages/" + id + "/receipts.csv").status == 404);
  auto unknown = f.get(f.admin, "/api/v1/messages/01JD0000000000000000000000/receipts.csv");
  CHECK(unknown.status == 404);
  CHECK(json::parse(unknown.body)["error"] == "not_found");

  // Redis gone: a clear 503, not a partial file.
  f.redis.reset();
  auto down = f.get(f.admin, "/api/v1/messages/" + id + "/receipts.csv");
  CHECK(down.status == 503);
  CHECK(json::parse(down.body)["error"] == "broker_unavailable");
}

TEST_CASE("must-read: a send with repeat_every_s and escalate_after_s is checked and signed") {
  must_read_fixture f;
  const auto field_of = [](const test::http_result& r) {
    return json::parse(r.body).value("field", "");
  };
  json body = test::simple_message("Wajib dibaca");
  body["repeat_every_s"] = 60;
  auto r = f.send(f.admin, body);
  CHECK(r.status == 400);
  CHECK(field_of(r) == "repeat_every_s");
  CHECK(test::contains(json::parse(r.body)["message"].get<std::string>(), "require_ack"));

  body["require_ack"] = true;
  body["repeat_every_s"] = 9;
  r = f.send(f.admin, body);
  CHECK(r.status == 400);
  CHECK(field_of(r) == "repeat_every_s");

  body.erase("repeat_every_s");
  body["require_ack"] = false;
  body["escalate_after_s"] = 300;
  r = f.send(f.admin, body);
  CHECK(r.status == 400);
  CHECK(field_of(r) == "escalate_after_s");

  body["require_ack"] = true;
  body["repeat_every_s"] = 30;
  r = f.send(f.admin, body);
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto sent = json::parse(r.body);
  CHECK(sent["repeat_every_s"] == 30);
  CHECK(sent["escalate_after_s"] == 300);
  // Signed with them: a store that trusts the key shows it, and one that drops them cannot.
  auto key = trust::public_key::load(f.public_key);
  REQUIRE(key.ok());
  trust::keyring ring({std::move(key).value()});
  auto e = message::decode(std::string_view(r.body));
  REQUIRE(e.ok());
  CHECK(ring.verify(*e).ok());
  e->repeat_every_s.reset();
  CHECK_FALSE(ring.verify(*e).ok());
}

TEST_CASE("bcastctl: send --repeat-every/--escalate-after, and show --csv prints the receipts") {
  must_read_fixture f;
  f.store_seen("s1", {"region:jateng"});
  f.store_seen("0042", {"region:jateng"});
  REQUIRE(f.get(f.admin, "/api/v1/stores").status == 200);
  const std::string sock = "--socket " + f.socket + " ";
  const auto sent_id = [](const std::string& out) {
    REQUIRE(out.rfind("sent ", 0) == 0);
    return out.substr(5, 26);
  };
  const auto envelope = [&](const std::string& id) {
    auto r = f.get(f.admin, "/api/v1/messages/" + id);
    REQUIRE(r.status == 200);
    return json::parse(r.body)["message"];
  };

  std::string out;
  REQUIRE(test::run_bcastctl(sock + "send --target region:jateng --category announcement "
                                    "--title 'Wajib dibaca' --require-ack --repeat-every 5m "
                                    "--escalate-after 90 -",
                             "Stok opname jam 5.", &out) == 0);
  const std::string id = sent_id(out);
  auto m = envelope(id);
  CHECK(m["repeat_every_s"] == 300);
  CHECK(m["escalate_after_s"] == 90);

  REQUIRE(test::run_bcastctl(sock + "send --target all --category announcement --title Lagi "
                                    "--require-ack --repeat-every 45s --escalate-after 1h body",
                             {}, &out) == 0);
  m = envelope(sent_id(out));
  CHECK(m["repeat_every_s"] == 45);
  CHECK(m["escalate_after_s"] == 3600);

  // The server's refusal names the field; a DURATION that is not one is a usage error.
  CHECK(test::run_bcastctl(sock + "send --target all --category announcement --title x "
                                  "--require-ack --repeat-every 5s body",
                           {}, &out) == 1);
  CHECK(test::contains(out, "(field: repeat_every_s)"));
  CHECK(test::run_bcastctl(sock + "send --target all --category announcement --title x "
                                  "--escalate-after 60 body",
                           {}, &out) == 1);
  CHECK(test::contains(out, "(field: escalate_after_s)"));
  for (const char* bad : {"5x", "m", "-5", "1.5m", "99999999999"}) {
    INFO(bad);
    CHECK(test::run_bcastctl(sock +
                                 "send --target all --category announcement --title x "
                                 "--require-ack --repeat-every '" +
                                 bad + "' body",
                             {}, &out) == 2);
    CHECK(test::contains(out, "--repeat-every takes seconds"));
  }

  f.receipt("s1", id, broker::receipt_state::acknowledged, "2026-12-02T10:00:05.000Z");
  REQUIRE(test::run_bcastctl(sock + "show " + id + " --csv", {}, &out) == 0);
  CHECK(out ==
        "store,state,at\r\n"
        "0042,pending,\r\n"
        "s1,acknowledged,2026-12-02T10:00:05.000Z\r\n");
  CHECK(test::run_bcastctl(sock + "show 01JD0000000000000000000000 --csv", {}, &out) == 1);
  CHECK_FALSE(test::contains(out, "store,state,at"));
}
