// End-to-end: the audit log (SPEC "Audit") through the real publisherd and bcastctl against a
// real Redis: what each action records, who may read it, paging, the cap, and Redis down.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/message/time.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct audit_fixture : test::publisherd_fixture {
  using test::publisherd_fixture::publisherd_fixture;

  test::http_result post(const session& s, const std::string& target, const std::string& body) {
    return call("POST", target, body, {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}});
  }
  test::http_result get(const session& s, const std::string& target) {
    return call("GET", target, {}, {{"Cookie", s.cookie}});
  }

  // GET /api/v1/audit as `s`, answered 200.
  json audit(const session& s, const std::string& query = "") {
    auto r = get(s, "/api/v1/audit" + query);
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }

  // The newest entry of `action` (and of `message_id`, when given), waiting up to 10 s for it:
  // an entry is written after the answer to what it records.
  json entry(const session& s, const std::string& action, const std::string& message_id = "") {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      const auto page = audit(s, "?limit=1000");
      for (const auto& e : page["entries"])
        if (e["action"] == action && (message_id.empty() || e["message_id"] == message_id))
          return e;
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("no audit entry " << action << " " << message_id);
        return {};
      }
      std::this_thread::sleep_for(50ms);
    }
  }
};

std::string in(std::chrono::system_clock::duration from_now) {
  return message::format_time(std::chrono::system_clock::now() + from_now);
}

void check_entry(const json& e, const std::string& actor, const std::string& result) {
  INFO(e.dump());
  CHECK(e["actor"] == actor);
  CHECK(e["address"] == "127.0.0.1");
  CHECK(e["result"] == result);
  CHECK(e["id"].get<std::string>().find('-') != std::string::npos);
  CHECK(message::parse_time(e["at"].get<std::string>()).has_value());
}

}  // namespace

TEST_CASE(
    "audit: logins (also failed, with the name tried), send, schedule, cancel, recall, "
    "correction, a scheduled message going out, token use and a users reload are recorded") {
  audit_fixture f;
  auto admin = f.login();
  check_entry(f.entry(admin, "login"), "admin", "ok");

  auto failed =
      f.call("POST", "/api/v1/login", json{{"username", "mallory"}, {"password", "x"}}.dump(),
             {{"Content-Type", "application/json"}});
  CHECK(failed.status == 401);
  auto bad_login = f.entry(admin, "login");
  check_entry(bad_login, "mallory", "invalid_credentials");
  CHECK(bad_login["message_id"].is_null());
  CHECK(test::contains(f.daemon->log(),
                       "audit: login by \"mallory\" from 127.0.0.1: invalid_credentials"));

  auto sent = f.send(admin, test::simple_message("Harga baru"));
  REQUIRE(sent.status == 201);
  const std::string id = json::parse(sent.body)["id"];
  check_entry(f.entry(admin, "send", id), "admin", "ok");

  auto refused = f.send(
      admin, json{{"targets", {"all"}}, {"category", "nope"}, {"title", "x"}, {"body", "y"}});
  CHECK(refused.status == 400);
  auto bad_send = f.entry(admin, "send");
  check_entry(bad_send, "admin", "invalid_request");
  CHECK(bad_send["detail"] == "field category");

  auto body = test::simple_message("Nanti");
  body["send_at"] = in(1h);
  auto scheduled = f.send(admin, body);
  REQUIRE(scheduled.status == 202);
  const std::string later = json::parse(scheduled.body)["id"];
  auto schedule_entry = f.entry(admin, "schedule", later);
  check_entry(schedule_entry, "admin", "ok");
  CHECK(test::contains(schedule_entry["detail"].get<std::string>(), "send_at"));

  REQUIRE(f.post(admin, "/api/v1/scheduled/" + later + "/cancel", "").status == 200);
  check_entry(f.entry(admin, "cancel", later), "admin", "ok");
  CHECK(f.post(admin, "/api/v1/scheduled/" + later + "/cancel", "").status == 404);
  check_entry(f.entry(admin, "cancel", later), "admin", "not_found");

  auto correction = test::simple_message("Harga baru (benar)");
  correction["supersedes"] = id;
  auto corrected = f.send(admin, correction);
  REQUIRE(corrected.status == 201);
  const std::string fixed = json::parse(corrected.body)["id"];
  auto correction_entry = f.entry(admin, "correction", id);
  check_entry(correction_entry, "admin", "ok");
  CHECK(correction_entry["detail"] == "correction " + fixed);

  REQUIRE(f.post(admin, "/api/v1/messages/" + fixed + "/recall", "").status == 200);
  check_entry(f.entry(admin, "recall", fixed), "admin", "ok");

  body = test::simple_message("Sebentar lagi");
  body["send_at"] = in(1500ms);
  scheduled = f.send(admin, body);
  REQUIRE(scheduled.status == 202);
  const std::string soon = json::parse(scheduled.body)["id"];
  auto went_out = f.entry(admin, "scheduled_send", soon);
  CHECK(went_out["actor"] == "admin");  // who scheduled it
  CHECK(went_out["address"].is_null());
  CHECK(went_out["result"] == "ok");

  // bearer_token() reloads the users with SIGHUP.
  const auto token = f.bearer_token();
  admin = f.login();  // the new token changed the user: their sessions ended
  auto reload = f.entry(admin, "users_reload");
  CHECK(reload["actor"] == "publisherd");
  CHECK(reload["result"] == "ok");
  CHECK(reload["detail"] == "2 users");
  CHECK(f.entry(admin, "config_reload")["result"] == "ok");

  // A token's use is recorded once a minute, however often it is used; what it does is recorded
  // under its user.
  for (int i = 0; i < 3; ++i)
    REQUIRE(f.call("GET", "/api/v1/messages", {}, {{"Authorization", "Bearer " + token}}).status ==
            200);
  auto by_token = f.call("POST", "/api/v1/messages", test::simple_message("Token").dump(),
                         {{"Authorization", "Bearer " + token}});
  REQUIRE(by_token.status == 201);
  check_entry(f.entry(admin, "send", json::parse(by_token.body)["id"]), "admin", "ok");
  int token_uses = 0;
  const auto page = f.audit(admin, "?limit=1000");
  for (const auto& e : page["entries"])
    if (e["action"] == "token_use") {
      ++token_uses;
      check_entry(e, "admin", "ok");
      CHECK(e["detail"] == "GET /api/v1/messages");
    }
  CHECK(token_uses == 1);

  // Newest first.
  const auto entries = f.audit(admin)["entries"];
  REQUIRE(entries.size() >= 2);
  for (std::size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1]["at"] >= entries[i]["at"]);
}

TEST_CASE("audit: a refused users reload is recorded as refused") {
  audit_fixture f;
  const auto admin = f.login();
  std::ofstream(f.users, std::ios::trunc) << "not json";
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("reload refused"));
  auto e = f.entry(admin, "users_reload");
  CHECK(e["result"] == "refused");
  CHECK(e["actor"] == "publisherd");
}

TEST_CASE("audit: only admins read it: 403 forbidden for a publisher, 401 without a login") {
  audit_fixture f;
  const auto jateng = f.login("jateng", "regional");
  auto r = f.get(jateng, "/api/v1/audit");
  CHECK(r.status == 403);
  CHECK(json::parse(r.body)["error"] == "forbidden");
  r = f.call("GET", "/api/v1/audit");
  CHECK(r.status == 401);
  CHECK(json::parse(r.body)["error"] == "unauthenticated");
}

TEST_CASE("audit: paging with limit and before; a bad limit or cursor is 400 naming the field") {
  audit_fixture f;
  const auto admin = f.login();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = f.send(admin, test::simple_message("m" + std::to_string(i)));
    REQUIRE(r.status == 201);
    ids.push_back(json::parse(r.body)["id"]);
  }
  f.entry(admin, "send", ids.back());
  // 1 login + 5 sends, newest first, two at a time.
  std::vector<json> seen;
  std::string query = "?limit=2";
  for (int page = 0; page < 10; ++page) {
    auto p = f.audit(admin, query);
    CHECK(p["entries"].size() <= 2);
    for (const auto& e : p["entries"]) seen.push_back(e);
    if (p["next"].is_null()) break;
    CHECK(p["entries"].size() == 2);
    query = "?limit=2&before=" + p["next"].get<std::string>();
  }
  REQUIRE(seen.size() == 6);
  for (int i = 0; i < 5; ++i) {
    CHECK(seen[i]["action"] == "send");
    CHECK(seen[i]["message_id"] == ids[4 - i]);
  }
  CHECK(seen[5]["action"] == "login");
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i - 1]["id"] != seen[i]["id"]);

  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"?limit=0", "limit"},
           {"?limit=1001", "limit"},
           {"?limit=x", "limit"},
           {"?before=01JD0000000000000000000000", "before"},
           {"?before=12-", "before"},
           {"?before=-1", "before"}}) {
    INFO(query);
    auto r = f.get(admin, "/api/v1/audit" + query);
    CHECK(r.status == 400);
    auto e = json::parse(r.body);
    CHECK(e["error"] == "invalid_request");
    CHECK(e["field"] == field);
  }
}

TEST_CASE("audit: with a tiny max_entries the stream stays that long; --check-config checks it") {
  test::temp_dir dir;
  std::ofstream(dir.file("p.json")) << R"({"audit": {"max_entries": 5, "max_age_days": 1}})";
  audit_fixture f({"--config", dir.file("p.json")});
  const auto admin = f.login();
  std::string last;
  for (int i = 0; i < 20; ++i) {
    auto r = f.send(admin, test::simple_message("m" + std::to_string(i)));
    REQUIRE(r.status == 201);
    last = json::parse(r.body)["id"];
  }
  f.entry(admin, "send", last);
  CHECK(f.redis->cli("XLEN " + broker::audit_key()) == "5\n");
  CHECK(f.audit(admin)["entries"].size() == 5);

  const auto bin = test::build_path("daemons/publisherd/publisherd");
  std::string out;
  for (const auto& [text, said] : std::vector<std::pair<std::string, std::string>>{
           {R"({"audit": {"max_entries": 0}})", "audit.max_entries: expected"},
           {R"({"audit": {"max_age_days": 0}})", "audit.max_age_days: expected"},
           {R"({"audit": {"max_age_days": 5000}})", "audit.max_age_days"},
           {R"({"audit": {"max_entrie": 10}})", "audit.max_entrie: unknown key"}}) {
    std::ofstream(dir.file("bad.json"), std::ios::trunc) << text;
    INFO(text);
    CHECK(test::shell_status("'" + bin + "' --check-config --signing-key '" + f.key.private_key +
                                 "' --config " + dir.file("bad.json"),
                             &out) == 2);
    CHECK(test::contains(out, said));
  }
  CHECK(test::shell_status("'" + bin + "' --check-config --signing-key '" + f.key.private_key +
                               "' --config " + dir.file("p.json"),
                           &out) == 0);
}

TEST_CASE(
    "audit: with Redis down a send still answers 503, the failed audit write is logged, and "
    "publisherd goes on serving") {
  audit_fixture f;
  const auto admin = f.login();
  REQUIRE(f.send(admin, test::simple_message("before")).status == 201);
  f.redis->stop();
  const auto started = std::chrono::steady_clock::now();
  auto down = f.send(admin, test::simple_message("during"));
  CHECK(down.status == 503);
  CHECK(json::parse(down.body)["error"] == "broker_unavailable");
  CHECK(std::chrono::steady_clock::now() - started < 8s);
  CHECK(f.daemon->wait_for_log("audit: send by \"admin\" from 127.0.0.1"));
  CHECK(f.daemon->wait_for_log("audit entry not stored (send"));
  CHECK(f.get(admin, "/api/v1/audit").status == 503);
  CHECK(f.call("GET", "/api/v1/health").status == 503);  // answered: the loop is not stalled

  f.redis->start();
  REQUIRE(f.daemon->wait_for_log("Redis is back"));
  auto after = f.send(admin, test::simple_message("after"));
  REQUIRE(after.status == 201);
  f.entry(admin, "send", json::parse(after.body)["id"]);
}

TEST_CASE("audit: bcastctl audit prints a table, pages, and exits 0, 1 or 2") {
  audit_fixture f;
  const auto admin = f.login();
  for (int i = 0; i < 3; ++i) REQUIRE(f.send(admin, test::simple_message()).status == 201);
  std::string out;
  const std::string sock = "--socket " + f.socket + " ";
  REQUIRE(test::run_bcastctl(sock + "send --target all --category announcement --title Rapat -",
                             "Semua ikut.", &out) == 0);
  const std::string id = out.substr(5, out.find('\n') - 5);  // "sent <id>"
  f.entry(admin, "send", id);

  REQUIRE(test::run_bcastctl(sock + "audit", {}, &out) == 0);
  INFO(out);
  CHECK(out.rfind("AT", 0) == 0);
  CHECK(test::contains(out, "ACTOR"));
  CHECK(test::contains(out, "RESULT"));
  // The Unix-socket peer is its uid, from the address "unix"; the newest line comes first.
  const auto first_row = out.substr(out.find('\n') + 1);
  CHECK(test::contains(first_row.substr(0, first_row.find('\n')),
                       "uid:" + std::to_string(::getuid())));
  CHECK(test::contains(first_row.substr(0, first_row.find('\n')), id));
  CHECK(test::contains(first_row.substr(0, first_row.find('\n')), "unix"));
  CHECK(test::contains(out, "login"));
  CHECK(!test::contains(out, "more:"));

  REQUIRE(test::run_bcastctl(sock + "audit --limit 2", {}, &out) == 0);
  const auto more = out.find("more: bcastctl audit --before ");
  REQUIRE(more != std::string::npos);
  const auto cursor = out.substr(more + 30, out.find('\n', more) - more - 30);
  REQUIRE(test::run_bcastctl(sock + "audit --limit 2 --before " + cursor, {}, &out) == 0);
  CHECK(!test::contains(out, id));
  CHECK(test::contains(out, "send"));

  CHECK(test::run_bcastctl(sock + "audit --limit 0", {}, &out) == 1);
  CHECK(test::contains(out, "limit"));
  CHECK(test::run_bcastctl(sock + "audit " + id, {}, &out) == 2);
}
