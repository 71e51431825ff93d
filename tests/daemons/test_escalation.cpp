// End-to-end: escalation of must-read messages (SPEC "Urgency and escalation") through the real
// publisherd against a real Redis: escalation_command runs once, also with two publisherd on one
// Redis and across a restart, for exactly the stores that have not acknowledged; a failure or a
// timeout is logged and audited and never run again.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/redis/client.hpp>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

using namespace bcast;
using nlohmann::json;

namespace {

// The command appends "<tag>|ID|TITLE|UNACKNOWLEDGED|EXPECTED|ACKNOWLEDGED" to `runs`.
std::string recording_command(const std::string& runs, const std::string& tag) {
  return "printf '%s|%s|%s|%s|%s|%s\\n' " + tag +
         " \"$BCAST_ID\" \"$BCAST_TITLE\" \"$BCAST_UNACKNOWLEDGED\" \"$BCAST_EXPECTED\" "
         "\"$BCAST_ACKNOWLEDGED\" >> '" +
         runs + "'";
}

// A config file in `dir` with this escalation_command (none when empty).
std::string escalation_config(const test::temp_dir& dir, const std::string& name,
                              const std::string& command, int timeout_s = 60) {
  json c = json::object();
  if (!command.empty()) c["escalation_command"] = command;
  c["escalation_timeout_s"] = timeout_s;
  const auto path = dir.file(name);
  std::ofstream(path) << c.dump();
  return path;
}

struct escalation_fixture : test::publisherd_fixture {
  session admin = login();

  explicit escalation_fixture(const std::string& config)
      : test::publisherd_fixture({"--config", config}) {}

  void acknowledged(const std::string& store, const std::string& id) {
    REQUIRE(redis->cli("HSETNX '" + broker::receipts_key(store) + "' '" +
                       broker::receipt_field(id, broker::receipt_state::acknowledged) +
                       "' 2026-12-02T10:00:05.000Z") == "1\n");
  }

  test::http_result get(const std::string& target) {
    return call("GET", target, {}, {{"Cookie", admin.cookie}});
  }

  // A must-read message to region:jateng, escalated after `after_s`; its id.
  std::string send_must_read(const std::string& title, int after_s = 1) {
    auto r = send(admin, {{"targets", {"region:jateng"}},
                          {"category", "announcement"},
                          {"title", title},
                          {"body", "Wajib dibaca."},
                          {"require_ack", true},
                          {"escalate_after_s", after_s}});
    INFO(r.body);
    REQUIRE(r.status == 201);
    return json::parse(r.body)["id"];
  }

  // Nothing left to run: the item is gone and how it ended is recorded.
  bool escalation_finished(const std::string& id) {
    return redis->cli("EXISTS '" + broker::escalation_done_key(id) + "'") == "1\n" &&
           redis->cli("ZCARD '" + broker::escalation_due_key() + "'") == "0\n" &&
           redis->cli("HLEN '" + broker::escalation_items_key() + "'") == "0\n";
  }

  // The audit entries of action escalation, newest first.
  std::vector<json> escalation_entries() {
    auto r = get("/api/v1/audit?limit=1000");
    REQUIRE(r.status == 200);
    std::vector<json> out;
    const auto page = json::parse(r.body);
    for (const auto& e : page["entries"])
      if (e["action"] == "escalation") out.push_back(e);
    return out;
  }
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t times(const std::string& log, const std::string& line) {
  std::size_t k = 0;
  for (auto p = log.find(line); p != std::string::npos; p = log.find(line, p + 1)) ++k;
  return k;
}

}  // namespace

TEST_CASE("escalation: runs once with two publisherd on one Redis, naming the unacknowledged") {
  test::temp_dir files;
  const auto runs = files.file("runs");
  escalation_fixture f(escalation_config(files, "first.json", recording_command(runs, "first")));
  const auto port2 = test::free_port();
  test::daemon_process second(
      test::build_path("daemons/publisherd/publisherd"),
      {"--redis", f.redis->url(), "--http", "127.0.0.1:" + std::to_string(port2), "--users",
       f.users, "--unix-socket", f.dir.file("second.sock"), "--signing-key", f.key.private_key,
       "--config", escalation_config(files, "second.json", recording_command(runs, "second"))});
  REQUIRE(second.wait_for_log("connected to Redis"));

  f.store_seen("s1", {"region:jateng"});
  f.store_seen("s2", {"region:jateng"});
  f.store_seen("s3", {"region:jateng"});
  f.store_seen("jkt-9", {"region:jabar"});  // not addressed: never named
  // Both learn the stores now rather than at their next 5 s refresh.
  REQUIRE(f.get("/api/v1/stores").status == 200);
  REQUIRE(
      test::http_call(port2, "GET", "/api/v1/stores", {}, {}, f.dir.file("second.sock")).status ==
      200);

  const auto id = f.send_must_read("Stok opname malam ini", 2);
  f.acknowledged("s2", id);
  auto shown = json::parse(f.get("/api/v1/messages/" + id).body);
  CHECK(shown["escalation"]["state"] == "pending");
  CHECK(shown["escalation"]["result"].is_null());

  REQUIRE(test::wait_until([&] { return f.escalation_finished(id); }));
  const auto ran = lines_of(runs);
  REQUIRE(ran.size() == 1);
  const auto tail = ran[0].substr(ran[0].find('|'));
  CHECK(tail == "|" + id + "|Stok opname malam ini|s1 s3|3|1");
  const auto line = "escalation of message " + id + ": 2 of 3 stores have not acknowledged";
  CHECK(times(f.daemon->log(), line) + times(second.log(), line) == 1);

  shown = json::parse(f.get("/api/v1/messages/" + id).body);
  CHECK(shown["escalation"]["state"] == "done");
  CHECK(shown["escalation"]["result"] == "ok");
  CHECK(shown["escalation"]["at"].is_string());
  CHECK(shown["receipts"]["acknowledged"] == 1);  // the existing fields stay
  const auto entries = f.escalation_entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0]["message_id"] == id);
  CHECK(entries[0]["result"] == "ok");
  CHECK(entries[0]["actor"] == "publisherd");
}

TEST_CASE("escalation: a failing command and one that times out are logged, audited, run once") {
  test::temp_dir files;
  const auto runs = files.file("runs");
  const auto command = recording_command(runs, "x") +
                       "; case \"$BCAST_TITLE\" in slow*) sleep 30 ;; *) echo boom >&2; exit 1 ;; "
                       "esac";
  escalation_fixture f(escalation_config(files, "c.json", command, 1));
  f.store_seen("s1", {"region:jateng"});
  REQUIRE(f.get("/api/v1/stores").status == 200);

  const auto failing = f.send_must_read("Gagal");
  const auto slow = f.send_must_read("slow command");
  REQUIRE(test::wait_until(
      [&] { return f.escalation_finished(failing) && f.escalation_finished(slow); }));
  CHECK(f.daemon->wait_for_log("escalation of message " + failing +
                               ": failed (exit status 1: boom; 1 of 1 stores"));
  CHECK(test::contains(f.daemon->log(), "escalation of message " + slow +
                                            ": failed (timed out after 1 s; 1 of 1 stores"));
  CHECK(lines_of(runs).size() == 2);
  std::map<std::string, json> by_id;
  for (const auto& e : f.escalation_entries()) {
    CHECK(by_id.emplace(e["message_id"].get<std::string>(), e).second);  // once each
  }
  REQUIRE(by_id.size() == 2);
  CHECK(by_id[failing]["result"] == "failed");
  CHECK(test::contains(by_id[failing]["detail"].get<std::string>(), "exit status 1: boom"));
  CHECK(by_id[slow]["result"] == "failed");
  CHECK(test::contains(by_id[slow]["detail"].get<std::string>(), "timed out after 1 s"));
  CHECK(test::contains(f.call("GET", "/metrics").body,
                       "bcast_escalations_total{result=\"failed\"} 2"));
  CHECK(json::parse(f.get("/api/v1/messages/" + slow).body)["escalation"]["result"] == "failed");
}

TEST_CASE("escalation: survives a publisherd restart") {
  test::temp_dir files;
  const auto runs = files.file("runs");
  escalation_fixture f(escalation_config(files, "c.json", recording_command(runs, "x")));
  f.store_seen("s1", {"region:jateng"});
  f.store_seen("s2", {"region:jateng"});
  REQUIRE(f.get("/api/v1/stores").status == 200);
  const auto id = f.send_must_read("Setelah restart", 2);
  // Filed (pipelined before the answer, but a stop may come before Redis has it).
  REQUIRE(test::wait_until(
      [&] { return f.redis->cli("HLEN '" + broker::escalation_items_key() + "'") == "1\n"; }));
  f.daemon->signal(SIGTERM);
  REQUIRE(f.daemon->wait_exit() == 0);
  CHECK(lines_of(runs).empty());
  f.daemon->start();
  REQUIRE(f.daemon->wait_for_log("connected to Redis"));
  const bool ran_ok = f.daemon->wait_for_log("escalation of message " + id + ": ok");
  INFO(f.daemon->log());
  REQUIRE(ran_ok);
  REQUIRE(test::wait_until([&] { return f.escalation_finished(id); }));
  const auto ran = lines_of(runs);
  REQUIRE(ran.size() == 1);
  CHECK(ran[0] == "x|" + id + "|Setelah restart|s1 s2|2|0");
}

TEST_CASE("escalation: without a command, all acknowledged, recalled: nothing runs, all audited") {
  test::temp_dir files;
  escalation_fixture f(escalation_config(files, "c.json", ""));
  f.store_seen("s1", {"region:jateng"});
  f.store_seen("s2", {"region:jateng"});
  REQUIRE(f.get("/api/v1/stores").status == 200);

  const auto unconfigured = f.send_must_read("Tanpa perintah");
  const auto everyone = f.send_must_read("Semua sudah baca");
  f.acknowledged("s1", everyone);
  f.acknowledged("s2", everyone);
  const auto recalled = f.send_must_read("Ditarik", 3);
  REQUIRE(f.call("POST", "/api/v1/messages/" + recalled + "/recall", "",
                 {{"Cookie", f.admin.cookie}, {"X-CSRF-Token", f.admin.csrf}})
              .status == 200);
  const auto plain = f.send(f.admin, test::simple_message());  // asks for none
  REQUIRE(plain.status == 201);
  const std::string plain_id = json::parse(plain.body)["id"];
  CHECK(json::parse(f.get("/api/v1/messages/" + plain_id).body)["escalation"].is_null());

  for (const auto& id : {unconfigured, everyone, recalled})
    REQUIRE(test::wait_until([&] { return f.escalation_finished(id); }));
  CHECK(test::contains(f.daemon->log(),
                       "escalation of message " + unconfigured +
                           ": not_configured (2 of 2 stores have not acknowledged (s1 s2), but no "
                           "escalation_command is set)"));
  std::map<std::string, std::string> result;
  for (const auto& e : f.escalation_entries())
    result[e["message_id"].get<std::string>()] = e["result"];
  CHECK(result == std::map<std::string, std::string>{{unconfigured, "not_configured"},
                                                     {everyone, "all_acknowledged"},
                                                     {recalled, "recalled"}});
}
