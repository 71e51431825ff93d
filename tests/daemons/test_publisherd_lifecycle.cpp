// End-to-end: recall, correction and scheduling (SPEC "Lifecycle") through the real publisherd's
// HTTP API and bcastctl, against a real Redis: what goes into the targets' histories, signed,
// what the API answers, and that a scheduled message goes out once, also across a restart and
// with two publisherd on one Redis.

#include "publisherd_fixture.hpp"

#include <broker/broker_helpers.hpp>

#include <bcast/broker/keys.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/trust/signature.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string at(std::chrono::system_clock::duration from_now) {
  return message::format_time(std::chrono::system_clock::now() + from_now);
}

struct lifecycle_fixture : test::publisherd_fixture {
  session admin = login();
  session jateng = login("jateng", "regional");  // region:jateng and store:*

  explicit lifecycle_fixture(std::vector<std::string> extra_args = {})
      : test::publisherd_fixture(std::move(extra_args)) {}

  test::http_result post(const session& s, const std::string& target, const std::string& body) {
    return call("POST", target, body, {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}});
  }
  test::http_result get(const session& s, const std::string& target) {
    return call("GET", target, {}, {{"Cookie", s.cookie}});
  }
  json sent(const session& s, const json& body) {
    auto r = send(s, body);
    INFO(r.body);
    REQUIRE(r.status == 201);
    return json::parse(r.body);
  }
  test::http_result recall(const session& s, const std::string& id, const std::string& body = "") {
    return post(s, "/api/v1/messages/" + id + "/recall", body);
  }
  test::http_result cancel(const session& s, const std::string& id) {
    return post(s, "/api/v1/scheduled/" + id + "/cancel", "");
  }

  // The envelopes in `target`'s history, oldest first. A connection of its own each time: the
  // test blocks on the daemons between reads.
  std::vector<message::envelope> history(const std::string& target) {
    core::loop l;
    redis::client c(l, test::broker_opts(redis->url()));
    return test::history_envelopes(l, c, target);
  }

  trust::keyring keys() {
    auto k = trust::public_key::load(public_key);
    REQUIRE_OK(k);
    return trust::keyring({std::move(k).value()});
  }
};

void check_signed(const trust::keyring& keys, const message::envelope& e) {
  INFO(e.id);
  CHECK(keys.verify(e).ok());
}

json rfc_body(json body, const std::string& send_at) {
  body["send_at"] = send_at;
  return body;
}

}  // namespace

TEST_CASE(
    "lifecycle: a recall answers its record, again on a repeat, and its signed notice is in "
    "every target's history after the message") {
  lifecycle_fixture f;
  auto m = f.sent(f.admin, {{"targets", {"region:jateng", "store:s1"}},
                            {"category", "price_info"},
                            {"title", "Harga salah"},
                            {"body", "Minyak 10.000"}});
  const std::string id = m["id"];

  auto r = f.recall(f.admin, id);
  INFO(r.body);
  REQUIRE(r.status == 200);
  const auto first = json::parse(r.body);
  CHECK(first["id"] == id);
  CHECK(first["state"] == "recalled");
  CHECK(first["recall"]["by"] == "admin");
  CHECK(first["recall"]["superseded_by"].is_null());
  const std::string notice_id = first["recall"]["id"];

  r = f.recall(f.admin, id, "{}");
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body) == first);

  const auto keys = f.keys();
  for (const auto* target : {"region:jateng", "store:s1"}) {
    const auto h = f.history(target);
    REQUIRE(h.size() == 2);  // one notice, however often it was recalled
    CHECK(h[0].id == id);
    CHECK(h[1].id == notice_id);
    CHECK(h[1].recalls == id);
    CHECK(h[1].targets == std::vector<std::string>{"region:jateng", "store:s1"});
    CHECK(h[1].title == "Harga salah");
    CHECK(h[1].body.empty());
    CHECK(h[1].sender == "admin");
    check_signed(keys, h[1]);
  }

  // The message page and the history say so; the notice is no message of its own.
  r = f.get(f.admin, "/api/v1/messages/" + id);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["recall"] == first["recall"]);
  CHECK(f.get(f.admin, "/api/v1/messages/" + notice_id).status == 404);
  const auto list = json::parse(f.get(f.admin, "/api/v1/messages").body);
  CHECK(list["recalled"].size() == 1);
  CHECK(list["recalled"][id] == first["recall"]);
  for (const auto& e : list["messages"]) CHECK(e["id"] != notice_id);

  // A message that was not recalled says so too.
  const std::string other = f.sent(f.admin, test::simple_message())["id"];
  CHECK(json::parse(f.get(f.admin, "/api/v1/messages/" + other).body)["recall"].is_null());

  const auto metrics = f.call("GET", "/metrics").body;
  CHECK(test::contains(metrics, "bcast_lifecycle_total{action=\"recall\"} 1"));
}

TEST_CASE("lifecycle: a correction recalls the original for itself and goes out with supersedes") {
  lifecycle_fixture f;
  const std::string old = f.sent(f.admin, {{"targets", {"region:jateng", "store:s1"}},
                                           {"category", "price_info"},
                                           {"title", "Harga"},
                                           {"body", "Minyak 10.000"}})["id"];

  auto wider = f.send(f.admin, {{"targets", {"region:jateng", "region:jabar"}},
                                {"category", "price_info"},
                                {"title", "Harga"},
                                {"body", "Minyak 12.000"},
                                {"supersedes", old}});
  CHECK(wider.status == 400);
  CHECK(json::parse(wider.body)["field"] == "targets");

  const auto y = f.sent(f.admin, {{"targets", {"region:jateng"}},
                                  {"category", "price_info"},
                                  {"title", "Harga (benar)"},
                                  {"body", "Minyak 12.000"},
                                  {"supersedes", old}});
  CHECK(y["supersedes"] == old);
  const auto h = f.history("region:jateng");
  REQUIRE(h.size() == 3);
  CHECK(h[1].recalls == old);
  CHECK(h[2].id == y["id"]);
  CHECK(h[2].supersedes == old);
  check_signed(f.keys(), h[2]);

  const auto shown = json::parse(f.get(f.admin, "/api/v1/messages/" + old).body);
  CHECK(shown["recall"]["superseded_by"] == y["id"]);

  auto unknown = f.send(f.admin, {{"targets", {"all"}},
                                  {"category", "price_info"},
                                  {"title", "x"},
                                  {"body", "y"},
                                  {"supersedes", message::ulid_generator().next().value()}});
  CHECK(unknown.status == 404);
  CHECK(json::parse(unknown.body)["field"] == "supersedes");
  CHECK(test::contains(f.call("GET", "/metrics").body,
                       "bcast_lifecycle_total{action=\"correction\"} 1"));
}

TEST_CASE(
    "lifecycle: a scheduled message is answered 202, listed, and goes out once at its time, "
    "signed and sent as the user who scheduled it") {
  lifecycle_fixture f;
  const auto send_at = at(1500ms);
  auto r = f.send(f.jateng, rfc_body({{"targets", {"region:jateng"}},
                                      {"category", "announcement"},
                                      {"title", "Nanti"},
                                      {"body", "Rapat jam 3."}},
                                     send_at));
  INFO(r.body);
  REQUIRE(r.status == 202);
  const auto scheduled = json::parse(r.body);
  CHECK(scheduled["state"] == "scheduled");
  CHECK(scheduled["send_at"] == send_at);
  CHECK(scheduled["sender"] == "jateng");
  CHECK(scheduled["sent_at"] == send_at);
  CHECK_FALSE(scheduled.contains("sig"));
  const std::string id = scheduled["id"];
  CHECK(message::ulid_time_ms(id) == message::unix_ms(*message::parse_time(send_at)));

  auto listed = json::parse(f.get(f.jateng, "/api/v1/scheduled").body)["scheduled"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["id"] == id);
  CHECK(listed[0]["state"] == "scheduled");
  CHECK(listed[0]["created_at"].is_string());
  CHECK(f.get(f.admin, "/api/v1/messages/" + id).status == 404);  // not sent yet

  REQUIRE(f.daemon->wait_for_log("scheduled message " + id + " sent"));
  const auto h = f.history("region:jateng");
  REQUIRE(h.size() == 1);
  CHECK(h[0].id == id);
  CHECK(h[0].sender == "jateng");
  check_signed(f.keys(), h[0]);
  const auto went = *message::parse_time(h[0].sent_at) - *message::parse_time(send_at);
  CHECK(went >= 0ms);
  CHECK(went < 1s);
  CHECK(json::parse(f.get(f.admin, "/api/v1/scheduled").body)["scheduled"].empty());
  CHECK(f.get(f.admin, "/api/v1/messages/" + id).status == 200);
  const auto metrics = f.call("GET", "/metrics").body;
  CHECK(test::contains(metrics, "bcast_lifecycle_total{action=\"schedule\"} 1"));
  CHECK(test::contains(metrics, "bcast_lifecycle_total{action=\"scheduled_sent\"} 1"));
  // The gauge is the schedule's size at the last poll, a quarter second at most ago.
  CHECK(test::wait_until([&] {
    return test::contains(f.call("GET", "/metrics").body, "bcast_scheduled_messages 0");
  }));
}

TEST_CASE("lifecycle: the schedule survives a publisherd restart") {
  lifecycle_fixture f;
  auto r = f.send(f.admin, rfc_body(test::simple_message("Setelah restart"), at(2s)));
  REQUIRE(r.status == 202);
  const std::string id = json::parse(r.body)["id"];
  f.daemon->signal(SIGTERM);
  REQUIRE(f.daemon->wait_exit() == 0);
  CHECK(f.history("all").empty());
  f.daemon->start();
  REQUIRE(f.daemon->wait_for_log("connected to Redis"));
  CHECK(f.daemon->wait_for_log("1 scheduled message waiting to be sent"));
  REQUIRE(f.daemon->wait_for_log("scheduled message " + id + " sent"));
  const auto h = f.history("all");
  REQUIRE(h.size() == 1);
  CHECK(h[0].id == id);
  CHECK(h[0].title == "Setelah restart");
}

// A key rotation by restart (as under systemd): what the old key sealed on the schedule is
// refused by a publisherd that knows only the new key, and goes out, signed with the new key, from
// one that lists the old public key in previous_signing_keys.
TEST_CASE("lifecycle: scheduled messages across a key rotation by restart: previous_signing_keys") {
  lifecycle_fixture f;
  const auto next = test::make_key_pair(f.dir.file("next"));
  const auto config = f.dir.file("rotated.json");
  std::ofstream(config) << json{{"previous_signing_keys", json::array({f.key.public_key})}}.dump();
  const std::vector<std::string> base{
      "--redis",       f.redis->url(),  "--http",        "127.0.0.1:" + std::to_string(f.port),
      "--users",       f.users,         "--unix-socket", f.socket,
      "--signing-key", next.private_key};
  const auto schedule_then_stop = [&](const std::string& title) {
    auto r = f.send(f.admin, rfc_body(test::simple_message(title), at(2s)));
    REQUIRE(r.status == 202);
    f.daemon->signal(SIGTERM);
    REQUIRE(f.daemon->wait_exit() == 0);
    return json::parse(r.body)["id"].get<std::string>();
  };

  std::string out;
  CHECK(test::run_publisherd(
            "--check-config --signing-key '" + next.private_key + "' --config '" + config + "'",
            out) == 0);
  CHECK(test::contains(out, "signing key id " + next.id + "; previous key ids " + f.key.id));
  const auto missing = f.dir.file("missing.json");
  std::ofstream(missing)
      << json{{"previous_signing_keys", json::array({f.dir.file("gone.pub")})}}.dump();
  CHECK(test::run_publisherd(
            "--check-config --signing-key '" + next.private_key + "' --config '" + missing + "'",
            out) == 2);
  CHECK(test::contains(out, "previous_signing_keys: cannot open " + f.dir.file("gone.pub")));

  // Without the old key: refused, and nothing goes out.
  const auto refused = schedule_then_stop("Kunci lama, tanpa previous");
  {
    test::daemon_process rotated(test::build_path("daemons/publisherd/publisherd"), base);
    REQUIRE(rotated.wait_for_log("scheduled message " + refused +
                                 " refused, not sent: it was sealed by key " + f.key.id));
    rotated.signal(SIGTERM);
    REQUIRE(rotated.wait_exit() == 0);
  }
  CHECK(f.history("all").empty());

  // With it: sent, and signed with the new key.
  f.daemon->start();
  REQUIRE(f.daemon->wait_for_log("connected to Redis"));
  f.admin = f.login();
  const auto kept = schedule_then_stop("Kunci lama, dengan previous");
  auto with_previous = base;
  with_previous.insert(with_previous.end(), {"--config", config});
  test::daemon_process rotated(test::build_path("daemons/publisherd/publisherd"), with_previous);
  CHECK(rotated.wait_for_log("scheduled messages sealed with previous key id " + f.key.id +
                             " still go out"));
  REQUIRE(rotated.wait_for_log("scheduled message " + kept + " sent"));
  const auto h = f.history("all");
  REQUIRE(h.size() == 1);
  CHECK(h[0].id == kept);
  CHECK(h[0].sig.starts_with(next.id + "."));
  auto new_pub = trust::public_key::load(next.public_key);
  REQUIRE_OK(new_pub);
  check_signed(trust::keyring({std::move(new_pub).value()}), h[0]);
  CHECK_FALSE(f.keys().verify(h[0]).ok());
}

TEST_CASE("lifecycle: two publisherd on one Redis send each scheduled message exactly once") {
  lifecycle_fixture f;
  const auto port2 = test::free_port();
  test::daemon_process second(
      test::build_path("daemons/publisherd/publisherd"),
      {"--redis", f.redis->url(), "--http", "127.0.0.1:" + std::to_string(port2), "--users",
       f.users, "--unix-socket", f.dir.file("second.sock"), "--signing-key", f.key.private_key});
  REQUIRE(second.wait_for_log("connected to Redis"));

  constexpr int n = 30;
  std::set<std::string> ids;
  const auto when = at(2s);
  for (int i = 0; i < n; ++i) {
    // Half through each instance, all due at once, so that both claim.
    auto body = rfc_body(test::simple_message("Serentak " + std::to_string(i)), when).dump();
    auto r = i % 2 ? test::http_call(port2, "POST", "/api/v1/messages", body, {},
                                     f.dir.file("second.sock"))
                   : test::http_call(0, "POST", "/api/v1/messages", body, {}, f.socket);
    REQUIRE(r.status == 202);
    ids.insert(json::parse(r.body)["id"].get<std::string>());
  }
  REQUIRE(ids.size() == n);
  REQUIRE(test::wait_until([&] { return f.history("all").size() >= n; }));
  REQUIRE(test::wait_until(
      [&] { return f.redis->cli("ZCARD '" + broker::schedule_due_key() + "'") == "0\n"; }));
  const auto h = f.history("all");
  CHECK(h.size() == n);
  std::set<std::string> seen;
  for (const auto& e : h) {
    CHECK(seen.insert(e.id).second);
    const auto late = *message::parse_time(e.sent_at) - *message::parse_time(when);
    CHECK(late < 1s);
  }
  CHECK(seen == ids);
  // Each went out through exactly one of them.
  const auto times = [](const std::string& log, const std::string& line) {
    std::size_t k = 0;
    for (auto p = log.find(line); p != std::string::npos; p = log.find(line, p + 1)) ++k;
    return k;
  };
  std::size_t by_second = 0;
  for (const auto& id : ids) {
    const auto line = "scheduled message " + id + " sent";
    CHECK(times(f.daemon->log(), line) + times(second.log(), line) == 1);
    by_second += times(second.log(), line);
  }
  INFO("the second instance sent " << by_second << " of " << n);
}

TEST_CASE(
    "lifecycle: a cancel removes a message before it goes out; what was sent cannot be "
    "cancelled") {
  lifecycle_fixture f;
  auto r = f.send(f.admin, rfc_body(test::simple_message("Batal"), at(1h)));
  REQUIRE(r.status == 202);
  const std::string id = json::parse(r.body)["id"];

  // A scheduled message is cancelled, not recalled or corrected.
  r = f.recall(f.admin, id);
  CHECK(r.status == 409);
  CHECK(json::parse(r.body)["field"] == "id");
  auto corrected = f.send(f.admin, {{"targets", {"all"}},
                                    {"category", "announcement"},
                                    {"title", "x"},
                                    {"body", "y"},
                                    {"supersedes", id}});
  CHECK(corrected.status == 409);
  CHECK(json::parse(corrected.body)["field"] == "supersedes");

  r = f.cancel(f.admin, id);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body) == json{{"id", id}, {"state", "cancelled"}});
  CHECK(json::parse(f.get(f.admin, "/api/v1/scheduled").body)["scheduled"].empty());
  r = f.cancel(f.admin, id);
  CHECK(r.status == 404);
  CHECK(json::parse(r.body)["field"] == "id");

  const std::string sent = f.sent(f.admin, test::simple_message())["id"];
  r = f.cancel(f.admin, sent);
  CHECK(r.status == 409);
  CHECK(json::parse(r.body)["field"] == "id");
  CHECK(
      test::contains(f.call("GET", "/metrics").body, "bcast_lifecycle_total{action=\"cancel\"} 1"));
}

TEST_CASE("lifecycle: bad requests are refused with the field to blame") {
  lifecycle_fixture f;
  const auto field_of = [](const test::http_result& r) {
    return json::parse(r.body).value("field", "");
  };
  auto r = f.send(f.admin, rfc_body(test::simple_message(), at(-1min)));
  CHECK(r.status == 400);
  CHECK(field_of(r) == "send_at");
  r = f.send(f.admin, rfc_body(test::simple_message(), at(std::chrono::hours(24 * 91))));
  CHECK(r.status == 400);
  CHECK(field_of(r) == "send_at");
  CHECK(test::contains(json::parse(r.body)["message"].get<std::string>(), "90 days"));
  r = f.send(f.admin, rfc_body(test::simple_message(), "tomorrow"));
  CHECK(r.status == 400);
  CHECK(field_of(r) == "send_at");
  // An offset is fine.
  r = f.send(f.admin, rfc_body(test::simple_message(), "2099-01-01T09:00:00+07:00"));
  CHECK(r.status == 400);  // beyond 90 days, but read
  CHECK(field_of(r) == "send_at");

  r = f.recall(f.admin, "not-a-message");
  CHECK(r.status == 400);
  CHECK(field_of(r) == "id");
  r = f.recall(f.admin, message::ulid_generator().next().value());
  CHECK(r.status == 404);
  CHECK(field_of(r) == "id");
  const std::string id = f.sent(f.admin, test::simple_message())["id"];
  r = f.recall(f.admin, id, "{\"why\":1}");
  CHECK(r.status == 400);
  // A session needs its CSRF token for a recall too.
  r = f.call("POST", "/api/v1/messages/" + id + "/recall", "", {{"Cookie", f.admin.cookie}});
  CHECK(r.status == 403);
  CHECK(f.history("all").size() == 1);
}

TEST_CASE(
    "lifecycle: a limited user recalls, corrects, lists and cancels only within their "
    "targets; anything else does not exist for them") {
  lifecycle_fixture f;
  const std::string everyone = f.sent(f.admin, test::simple_message("Untuk semua"))["id"];
  const std::string theirs = f.sent(f.admin, {{"targets", {"region:jateng"}},
                                              {"category", "announcement"},
                                              {"title", "Jateng"},
                                              {"body", "Isi"}})["id"];

  auto r = f.recall(f.jateng, everyone);
  CHECK(r.status == 404);
  CHECK(json::parse(r.body)["field"] == "id");
  CHECK(f.history("all").size() == 1);  // nothing published
  r = f.send(f.jateng, {{"targets", {"region:jateng"}},
                        {"category", "announcement"},
                        {"title", "x"},
                        {"body", "y"},
                        {"supersedes", everyone}});
  CHECK(r.status == 404);
  CHECK(json::parse(r.body)["field"] == "supersedes");
  r = f.recall(f.jateng, theirs);
  CHECK(r.status == 200);
  CHECK(json::parse(r.body)["recall"]["by"] == "jateng");

  // The schedule, as each sees it.
  r = f.send(f.admin, rfc_body(test::simple_message("Semua nanti"), at(2h)));
  REQUIRE(r.status == 202);
  const std::string all_later = json::parse(r.body)["id"];
  r = f.send(f.jateng, rfc_body({{"targets", {"store:s7"}},
                                 {"category", "announcement"},
                                 {"title", "Toko 7 nanti"},
                                 {"body", "Isi"}},
                                at(1h)));
  REQUIRE(r.status == 202);
  const std::string store_later = json::parse(r.body)["id"];

  auto mine = json::parse(f.get(f.jateng, "/api/v1/scheduled").body)["scheduled"];
  REQUIRE(mine.size() == 1);
  CHECK(mine[0]["id"] == store_later);
  auto every = json::parse(f.get(f.admin, "/api/v1/scheduled?limit=10").body)["scheduled"];
  REQUIRE(every.size() == 2);
  CHECK(every[0]["id"] == store_later);  // soonest first
  CHECK(every[1]["id"] == all_later);
  CHECK(f.get(f.admin, "/api/v1/scheduled?limit=0").status == 400);

  r = f.cancel(f.jateng, all_later);
  CHECK(r.status == 404);
  CHECK(f.cancel(f.jateng, store_later).status == 200);
  CHECK(f.cancel(f.admin, all_later).status == 200);
}

TEST_CASE("lifecycle: limits.schedule_max_ahead_days sets how far ahead send_at may be") {
  test::temp_dir dir;
  std::ofstream(dir.file("short.json")) << R"({"limits": {"schedule_max_ahead_days": 2}})";
  std::ofstream(dir.file("zero.json"))
      << R"({"allow_unsigned": true, "limits": {"schedule_max_ahead_days": 0}})";
  std::string out;
  CHECK(test::run_publisherd("--check-config --config " + dir.file("zero.json"), out) == 2);
  CHECK(test::contains(out, "limits.schedule_max_ahead_days"));

  lifecycle_fixture f({"--config", dir.file("short.json")});
  auto r = f.send(f.admin, rfc_body(test::simple_message(), at(std::chrono::hours(24 * 3))));
  CHECK(r.status == 400);
  CHECK(test::contains(json::parse(r.body)["message"].get<std::string>(), "2 days"));
  CHECK(f.send(f.admin, rfc_body(test::simple_message(), at(std::chrono::hours(24)))).status ==
        202);
  const auto limits = json::parse(f.get(f.admin, "/api/v1/categories").body)["limits"];
  CHECK(limits["schedule_max_ahead_days"] == 2);
}

TEST_CASE("lifecycle: bcastctl recall, send --at, scheduled, cancel and send --supersedes") {
  lifecycle_fixture f;
  const std::string sock = "--socket " + f.socket + " ";
  std::string out;
  REQUIRE(test::run_bcastctl(sock + "send --target all --category announcement --title Salah "
                                    "'Harga 10.000'",
                             {}, &out) == 0);
  const std::string id = out.substr(5, 26);

  CHECK(test::run_bcastctl(sock +
                               "send --target all --category announcement --title Benar "
                               "--supersedes " +
                               id + " 'Harga 12.000'",
                           {}, &out) == 0);
  CHECK(out.rfind("sent ", 0) == 0);
  CHECK(test::run_bcastctl(sock + "recall " + id, {}, &out) == 0);
  CHECK(test::contains(out, "recalled " + id));
  CHECK(test::run_bcastctl(sock + "show " + id, {}, &out) == 0);
  CHECK(test::contains(out, "RECALLED"));
  CHECK(test::run_bcastctl(sock + "recall " + message::ulid_generator().next().value(), {}, &out) ==
        1);
  CHECK(test::contains(out, "field: id"));
  CHECK(test::run_bcastctl(sock + "recall", {}, &out) == 2);

  const auto when = at(3h);
  REQUIRE(test::run_bcastctl(sock +
                                 "send --target region:jateng --category announcement --title "
                                 "Nanti --at " +
                                 when + " 'Rapat'",
                             {}, &out) == 0);
  CHECK(out.rfind("scheduled ", 0) == 0);
  CHECK(test::contains(out, "for " + when));
  const std::string later = out.substr(10, 26);
  CHECK(test::run_bcastctl(sock + "scheduled", {}, &out) == 0);
  CHECK(test::contains(out, later));
  CHECK(test::contains(out, "Nanti"));
  CHECK(test::contains(out, "scheduled"));
  CHECK(test::run_bcastctl(sock + "send --target all --category announcement --title x --at "
                                  "yesterday body",
                           {}, &out) == 1);
  CHECK(test::contains(out, "field: send_at"));
  CHECK(test::run_bcastctl(sock + "cancel " + later, {}, &out) == 0);
  CHECK(test::contains(out, "cancelled " + later));
  CHECK(test::run_bcastctl(sock + "cancel " + later, {}, &out) == 1);
  CHECK(test::run_bcastctl(sock + "cancel", {}, &out) == 2);
  CHECK(test::run_bcastctl(sock + "scheduled", {}, &out) == 0);
  CHECK_FALSE(test::contains(out, later));
  CHECK(test::run_bcastctl("--help", {}, &out) == 0);
  for (const auto* word : {"recall ID", "scheduled", "cancel ID", "--at TIME", "--supersedes ID"})
    CHECK(test::contains(out, word));
}

TEST_CASE(
    "lifecycle: a scheduled message altered or added in Redis is refused, not signed and sent") {
  lifecycle_fixture f;
  auto r = f.send(f.admin, rfc_body(test::simple_message("Asli"), at(1500ms)));
  REQUIRE(r.status == 202);
  const std::string id = json::parse(r.body)["id"];
  CHECK_FALSE(json::parse(r.body).contains("sig"));

  // Whoever can write to Redis rewrites its title, and files one of its own.
  core::loop l;
  redis::client c(l, test::broker_opts(f.redis->url()));
  auto item = test::run_command(l, c, {"HGET", broker::schedule_items_key(), id});
  REQUIRE_OK(item);
  auto text = item->str;
  const auto title = text.find("\"Asli\"");
  REQUIRE(title != std::string::npos);
  text.replace(title, 6, "\"Palsu\"");
  REQUIRE_OK(test::run_command(l, c, {"HSET", broker::schedule_items_key(), id, text}));
  auto own = json::parse(text);
  const std::string forged_id =
      message::make_ulid(message::unix_ms(std::chrono::system_clock::now() + 1s), {});
  own["envelope"]["id"] = forged_id;
  own["envelope"].erase("sig");
  REQUIRE_OK(
      test::run_command(l, c, {"HSET", broker::schedule_items_key(), forged_id, own.dump()}));
  REQUIRE_OK(test::run_command(
      l, c,
      {"ZADD", broker::schedule_due_key(),
       std::to_string(message::unix_ms(std::chrono::system_clock::now() + 1s)), forged_id}));

  // In either order: each went its own way.
  const auto refused = [&](const std::string& which, const std::string& why) {
    return f.daemon->log().find("scheduled message " + which + " refused, not sent: " + why) !=
           std::string::npos;
  };
  REQUIRE(test::wait_until([&] {
    return refused(id, "its seal does not match it") && refused(forged_id, "it carries no seal");
  }));
  CHECK(f.history("all").empty());
  // Off the schedule: nothing is tried again.
  auto left = test::run_command(l, c, {"ZCARD", broker::schedule_due_key()});
  REQUIRE_OK(left);
  CHECK(left->integer == 0);
  auto metrics = f.call("GET", "/metrics", {}, {});
  CHECK_THAT(metrics.body,
             Catch::Contains("bcast_lifecycle_total{action=\"scheduled_refused\"} 2"));
}
