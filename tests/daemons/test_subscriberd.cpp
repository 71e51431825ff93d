// End-to-end: real stores (subscriberd) with real sinks, publisherd and Redis.

#include "store_fixture.hpp"

#include <bcast/message/ulid.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <thread>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;
using test::fleet;
using test::store_box;

namespace {

std::string iso_in(std::chrono::milliseconds from_now) {
  auto t = std::chrono::system_clock::now() + from_now;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

TEST_CASE("subscriberd: --version, and bad flags exit 2 with the reason") {
  auto bin = test::build_path("daemons/subscriberd/subscriberd");
  CHECK(test::shell("'" + bin + "' --version").find("subscriberd ") == 0);
  test::temp_dir dir;
  // A trusted key, so that each refusal below is for the reason it names.
  const auto keys = test::make_key_pair(dir.file("keys"));
  auto run = [&](const std::string& args) {
    FILE* p = ::popen(
        ("'" + bin + "' " + args + " --trusted-key '" + keys.public_key + "' >/dev/null 2>&1")
            .c_str(),
        "r");
    return WEXITSTATUS(::pclose(p));
  };
  CHECK(run("--store s1 --state-dir /tmp/x --check-config") == 0);
  CHECK(run("--state-dir /tmp/x --check-config") == 2);                          // no store
  CHECK(run("--store 'Bad Id' --state-dir /tmp/x --check-config") == 2);         // bad id
  CHECK(run("--store s1 --group all --state-dir /tmp/x --check-config") == 2);   // not a group
  CHECK(run("--store s1 --sink bogus --state-dir /tmp/x --check-config") == 2);  // unknown sink
  CHECK(run("--store s1 --sink exec: --state-dir /tmp/x --check-config") == 2);  // empty command
  CHECK(run("--bogus") == 2);
  std::ofstream(dir.file("loud.json")) << R"({"log_level": "loud"})";
  std::string said;
  CHECK(test::shell_status("'" + bin + "' --config '" + dir.file("loud.json") + "' --store s1 --state-dir /tmp/x 2>&1",
                           &said) == 2);
  CHECK(test::contains(said, "log_level: expected error, warning, notice, info or debug, got 'loud'"));
  // A typo, a repeated key or a wrong type is refused at every depth, named by its path.
  const std::vector<std::pair<std::string, std::string>> refused{
      {R"({"redis_tls": {"ca_file": "/etc/bcast/ca.crt", "verify_peers": false}})",
       "redis_tls.verify_peers: unknown key"},
      {R"({"groups": ["region:jateng"], "groups": []})", R"(top level: duplicate key "groups")"},
      {R"({"heartbeat_s": 0})", "heartbeat_s: expected a positive integer, got 0"},
      {R"({"sinks": ["terminal", 1]})", "sinks[1]: expected a string, got 1"}};
  for (const auto& [text, expected] : refused) {
    std::ofstream(dir.file("refused.json"), std::ios::trunc) << text;
    INFO(text);
    CHECK(test::shell_status("'" + bin + "' --check-config --config '" + dir.file("refused.json") +
                                 "' --store s1 --state-dir /tmp/x 2>&1",
                             &said) == 2);
    CHECK(test::contains(said, dir.file("refused.json") + ": " + expected));
  }
}

TEST_CASE("subscriberd: language is en or id; anything else is refused, naming the setting") {
  auto bin = test::build_path("daemons/subscriberd/subscriberd");
  test::temp_dir dir;
  const auto keys = test::make_key_pair(dir.file("keys"));
  const auto check = [&](const std::string& args, std::string* said) {
    return test::shell_status("'" + bin + "' --check-config --store s1 --state-dir /tmp/x " +
                                  "--trusted-key '" + keys.public_key + "' " + args + " 2>&1",
                              said);
  };
  const std::string refusal = "language: expected en (English) or id (Bahasa Indonesia), got ";
  std::string said;
  CHECK(check("--language id", &said) == 0);
  CHECK(check("--language en", &said) == 0);
  CHECK(check("--language fr", &said) == 2);
  CHECK(test::contains(said, refusal + "'fr'"));
  std::ofstream(dir.file("fr.json")) << R"({"language": "fr"})";
  CHECK(check("--config '" + dir.file("fr.json") + "'", &said) == 2);
  CHECK(test::contains(said, refusal + "'fr'"));
  std::ofstream(dir.file("id.json")) << R"({"language": "id"})";
  CHECK(check("--config '" + dir.file("id.json") + "'", &said) == 0);
  // The flag wins over the file, as for every other setting.
  CHECK(check("--config '" + dir.file("id.json") + "' --language Indonesian", &said) == 2);
  CHECK(test::contains(said, refusal + "'Indonesian'"));
}

TEST_CASE("subscriberd: a store with --language id shows a message in Indonesian words") {
  fleet f;
  auto& store = f.prepare("s1", {"region:jateng"});
  store.extra_args = {"--language", "id"};
  store.start();
  auto& english = f.add("s2", {"region:jateng"});
  const auto sent = f.send({"region:jateng"}, "Toko tutup",
                           {{"priority", "urgent"}, {"require_ack", true}, {"category", "price_info"}});
  REQUIRE(store.wait_shown("Toko tutup"));
  REQUIRE(english.wait_shown("Toko tutup"));
  const auto& shown = store.process->log();
  INFO(shown);
  CHECK(test::contains(shown, "!!!!!!!! MENDESAK !!!!!!!!\n== "));
  CHECK(test::contains(shown, " | MENDESAK | Info Harga ==\nToko tutup\n  Isi pesan Toko tutup\n"));
  CHECK(test::contains(shown, "  (mohon konfirmasi pesan ini)\n"));
  CHECK_FALSE(test::contains(shown, "URGENT"));
  CHECK_FALSE(test::contains(shown, "please confirm"));
  const auto& english_shown = english.process->log();
  CHECK(test::contains(english_shown, " | URGENT | Price info ==\nToko tutup\n"));
  CHECK(test::contains(english_shown, "  (please confirm this message)\n"));
  f.wait_for_receipt(sent["id"], "s1", "displayed");
}

TEST_CASE("subscriberd: the right stores get each message, overlaps are shown once, order holds") {
  fleet f;
  auto& s1 = f.add("s1", {"region:jateng", "format:minimarket"});
  auto& s2 = f.add("s2", {"region:jateng"});
  auto& s3 = f.add("s3", {"region:jatim", "format:minimarket"});

  f.send({"all"}, "to everyone");
  f.send({"region:jateng"}, "to jateng");
  f.send({"store:s3"}, "to s3 only");
  f.send({"format:minimarket"}, "to minimarkets");
  f.send({"all", "region:jateng", "store:s1", "format:minimarket"}, "overlapping");
  for (int i = 1; i <= 20; ++i) f.send({"all"}, "sequence " + std::to_string(i));
  for (auto* s : {&s1, &s2, &s3}) REQUIRE(s->wait_shown("sequence 20"));

  std::vector<std::string> sequence;
  for (int i = 1; i <= 20; ++i) sequence.push_back("sequence " + std::to_string(i));
  auto expect = [&](std::vector<std::string> head) {
    head.insert(head.end(), sequence.begin(), sequence.end());
    return head;
  };
  CHECK(s1.shown_titles() == expect({"to everyone", "to jateng", "to minimarkets", "overlapping"}));
  CHECK(s2.shown_titles() == expect({"to everyone", "to jateng", "overlapping"}));
  CHECK(s3.shown_titles() == expect({"to everyone", "to s3 only", "to minimarkets", "overlapping"}));

  // Presence: all three online with their groups; a stopped store is offline at once.
  auto stores = f.stores_api();
  REQUIRE(stores.size() == 3);
  CHECK(stores[0]["id"] == "s1");
  CHECK(stores[0]["online"] == true);
  CHECK(stores[0]["groups"] == json{"region:jateng", "format:minimarket"});
  s2.stop();
  CHECK(f.stores_api()[1]["online"] == false);
}

TEST_CASE("subscriberd: Redis killed and restarted; the store is live again and gets the next message") {
  fleet f;
  auto& s1 = f.add("s1", {"region:jateng"});
  f.send({"all"}, "before the outage");
  REQUIRE(s1.wait_shown("before the outage"));
  f.hq.redis->stop(SIGKILL);
  REQUIRE(s1.process->wait_for_log("broker unreachable"));
  f.hq.redis->start();
  REQUIRE(s1.process->wait_for_log("broker reachable again"));
  REQUIRE(s1.process->wait_for_log("is live on"));
  REQUIRE(f.hq.daemon->wait_for_log("Redis is back"));
  f.send({"region:jateng"}, "after the outage");
  REQUIRE(s1.wait_shown("after the outage"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"before the outage", "after the outage"});
  // One line when the broker went away and one when it came back: no flood while it was down.
  std::string log = s1.process->log();
  std::size_t downs = 0;
  for (auto p = log.find("broker unreachable"); p != std::string::npos; p = log.find("broker unreachable", p + 1)) ++downs;
  CHECK(downs == 1);
}

TEST_CASE("subscriberd: a store that was off catches up on 100 messages, in order, exactly once") {
  fleet f;
  auto& s1 = f.add("s1", {"region:jateng"});
  f.send({"all"}, "seen live");
  REQUIRE(s1.wait_shown("seen live"));
  s1.stop();
  for (int i = 1; i <= 100; ++i) f.send({i % 2 ? "all" : "region:jateng"}, "missed " + std::to_string(i));
  s1.start();
  REQUIRE(s1.wait_shown("missed 100"));
  f.send({"store:s1"}, "live again");
  REQUIRE(s1.wait_shown("live again"));
  std::vector<std::string> expected{"seen live"};
  for (int i = 1; i <= 100; ++i) expected.push_back("missed " + std::to_string(i));
  expected.push_back("live again");
  CHECK(s1.shown_titles() == expected);
}

TEST_CASE("subscriberd: killed with -9 at random points during 200 messages, each is shown exactly once") {
  fleet f;
  auto& s1 = f.add("s1", {});
  // BCAST_TEST_SEED=N replays the kill points of a run that failed (its seed is printed).
  const char* seed_text = std::getenv("BCAST_TEST_SEED");
  const auto seed =
      seed_text ? static_cast<std::uint32_t>(std::stoul(seed_text)) : std::random_device{}();
  std::cerr << "kill points from seed " << seed << " (BCAST_TEST_SEED=" << seed
            << " replays them)\n";
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::set<int> kill_points;
  while (kill_points.size() < 5) kill_points.insert(std::uniform_int_distribution<int>(5, 195)(rng));
  std::vector<std::string> ids;
  for (int i = 1; i <= 200; ++i) {
    ids.push_back(f.send({"all"}, "burst " + std::to_string(i))["id"]);
    if (kill_points.count(i)) {
      s1.process->signal(SIGKILL);
      s1.process->wait_exit();
      s1.start();
    }
  }
  f.send({"all"}, "end of burst");
  REQUIRE(s1.wait_shown("end of burst"));
  std::map<std::string, int> times_shown;
  for (const auto& e : s1.shown()) ++times_shown[e["id"].get<std::string>()];
  int missing = 0, repeated = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (times_shown[ids[i]] == 0) {
      ++missing;
      UNSCOPED_INFO("burst " << i + 1 << " was not shown");
    }
    if (times_shown[ids[i]] > 1) {
      ++repeated;
      UNSCOPED_INFO("burst " << i + 1 << " was shown " << times_shown[ids[i]] << " times");
    }
  }
  for (int k : kill_points) UNSCOPED_INFO("killed after burst " << k);
  CHECK(missing == 0);
  CHECK(repeated == 0);
}

TEST_CASE("subscriberd: a state dir that cannot hold the display journal still shows every message, and says why") {
  fleet f;
  // A directory where the journal file should be: it cannot be opened (tests run as root, so
  // permissions would prove nothing).
  std::filesystem::create_directories(f.hq.dir.file("store-s1") + "/state/shown.journal");
  auto& s1 = f.add("s1", {});
  CHECK(test::contains(s1.process->log(), "no display journal, a crash may show a message twice"));
  f.send({"all"}, "tetap tampil");
  REQUIRE(s1.wait_shown("tetap tampil"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"tetap tampil"});
}

TEST_CASE("receipts: five stores acknowledge through an exec sink; a stopped store is named as missing") {
  fleet f;
  // The exec sink's convention: exit 0 is displayed; printing "acknowledged" is a confirmation.
  std::vector<store_box*> boxes;
  for (int i = 1; i <= 5; ++i) boxes.push_back(&f.add("s" + std::to_string(i), {"region:jateng"}, {"exec:echo acknowledged"}));
  auto first = f.send({"region:jateng"}, "please confirm", {{"require_ack", true}});
  for (auto* b : boxes) REQUIRE(b->wait_shown("please confirm"));
  json r;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    r = f.receipts(first["id"]);
  } while (r["acknowledged"] != 5 && std::chrono::steady_clock::now() < deadline);
  CHECK(r["expected"] == 5);
  CHECK(r["delivered"] == 5);
  CHECK(r["displayed"] == 5);
  CHECK(r["acknowledged"] == 5);

  boxes[2]->stop();  // s3
  auto second = f.send({"region:jateng"}, "second round", {{"require_ack", true}});
  for (auto* b : boxes) {
    if (b != boxes[2]) REQUIRE(b->wait_shown("second round"));
  }
  deadline = std::chrono::steady_clock::now() + 20s;
  do {
    r = f.receipts(second["id"]);
  } while (r["acknowledged"] != 4 && std::chrono::steady_clock::now() < deadline);
  CHECK(r["expected"] == 5);
  CHECK(r["delivered"] == 4);
  CHECK(r["acknowledged"] == 4);
  std::string missing_state;
  for (const auto& s : r["stores"]) {
    if (s["store"] == "s3") missing_state = s["state"];
  }
  CHECK(missing_state == "pending");

  // bcastctl show prints the same numbers and names the store.
  std::string out;
  REQUIRE(test::run_bcastctl("--socket " + f.hq.socket + " show " + second["id"].get<std::string>(), {}, &out) == 0);
  CHECK(out.find("4/5") != std::string::npos);
  CHECK(out.find("s3") != std::string::npos);
}

TEST_CASE("receipts: a message that expired while its store was off is recorded, not shown") {
  fleet f;
  auto& s1 = f.add("s1", {});
  s1.stop();
  auto expiry = std::chrono::system_clock::now() + 1500ms;
  auto doomed = f.send({"all"}, "short-lived", {{"expires_at", iso_in(1500ms)}});
  std::this_thread::sleep_until(expiry + 100ms);  // the point is that time passes
  f.send({"all"}, "still valid");
  s1.start();
  REQUIRE(s1.wait_shown("still valid"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"still valid"});
  json r;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    r = f.receipts(doomed["id"]);
  } while (r["stores"].empty() && std::chrono::steady_clock::now() < deadline);
  REQUIRE(r["stores"].size() == 1);
  CHECK(r["stores"][0]["state"] == "expired");
  CHECK(r["delivered"] == 1);
  CHECK(r["displayed"] == 0);
}

TEST_CASE("receipts: history trimmed past a store's position is reported as a gap") {
  test::temp_dir cfgdir;
  std::ofstream(cfgdir.file("p.json")) << R"({"history": {"max_len": 5}})";
  fleet f({"--config", cfgdir.file("p.json")});
  f.hq.redis->cli("CONFIG SET stream-node-max-entries 1");  // so that MAXLEN ~ trims exactly enough
  auto& s1 = f.add("s1", {});
  f.send({"all"}, "first");
  REQUIRE(s1.wait_shown("first"));
  s1.stop();
  std::vector<std::string> ids;
  for (int i = 1; i <= 30; ++i) ids.push_back(f.send({"all"}, "flood " + std::to_string(i))["id"]);
  s1.start();
  REQUIRE(s1.wait_shown("flood 30"));
  CHECK(s1.process->log().find("history of all was trimmed past this store's position") != std::string::npos);
  auto shown = s1.shown_titles();
  CHECK(shown.size() < 31);  // some were lost to it
  json r;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    r = f.receipts(ids[0]);
  } while ((r["stores"].empty() || r["stores"][0]["state"] != "gap") && std::chrono::steady_clock::now() < deadline);
  REQUIRE(r["stores"].size() == 1);
  CHECK(r["stores"][0]["state"] == "gap");
}

TEST_CASE("subscriberd: Redis with appendonly restarted during a stream of messages; nothing that got a 201 is lost") {
  fleet f({}, {"--appendonly", "yes", "--appendfsync", "always"});
  auto& s1 = f.add("s1", {"region:jateng"});
  std::vector<std::string> accepted;
  for (int i = 1; i <= 60; ++i) {
    if (i == 30) f.hq.redis->stop(SIGKILL);
    if (i == 35) f.hq.redis->start();  // replays its append-only file
    auto r = f.try_send({"all"}, "stream " + std::to_string(i));
    if (r.status == 201) {
      accepted.push_back(json::parse(r.body)["id"]);
    } else {
      CHECK(r.status == 503);  // refused, and said so: the sender knows to retry
    }
  }
  REQUIRE(accepted.size() >= 50);
  f.send({"all"}, "stream end");
  REQUIRE(s1.wait_shown("stream end"));
  std::set<std::string> shown;
  std::map<std::string, int> times;
  for (const auto& e : s1.shown()) ++times[e["id"].get<std::string>()];
  std::size_t lost = 0, repeated = 0;
  for (const auto& id : accepted) {
    if (times[id] == 0) ++lost;
    if (times[id] > 1) ++repeated;
  }
  CHECK(lost == 0);
  CHECK(repeated == 0);
}

TEST_CASE("subscriberd: a slow consumer dropped by Redis's pub/sub output limit reconnects and recovers from history") {
  fleet f;
  // jsonl only: a terminal's bounded queue would rightly refuse part of an 800-message burst.
  auto& s1 = f.add("s1", {}, {}, false);
  f.send({"all"}, "warm up");
  REQUIRE(s1.wait_shown("warm up"));
  // A store that stops reading (a frozen PC) must not make Redis buffer without limit.
  f.hq.redis->cli("CONFIG SET client-output-buffer-limit 'pubsub 16kb 8kb 1'");
  REQUIRE(f.hq.redis->cli("CLIENT LIST TYPE pubsub").find("cmd=") != std::string::npos);
  s1.process->signal(SIGSTOP);
  // Enough to fill the kernel's socket buffers on both sides too (several MiB on loopback).
  std::string big(8000, 'x');
  const int flood = 800;
  for (int i = 1; i <= flood; ++i) f.send({"all"}, "while frozen " + std::to_string(i), {{"body", big}});
  // Redis cut the frozen store's pub/sub connection (the store is its only pub/sub client).
  CHECK(f.hq.redis->cli("CLIENT LIST TYPE pubsub").find("cmd=") == std::string::npos);
  s1.process->signal(SIGCONT);
  REQUIRE(s1.wait_shown("while frozen " + std::to_string(flood)));
  f.send({"all"}, "after thaw");
  REQUIRE(s1.wait_shown("after thaw"));
  std::vector<std::string> expected{"warm up"};
  for (int i = 1; i <= flood; ++i) expected.push_back("while frozen " + std::to_string(i));
  expected.push_back("after thaw");
  CHECK(s1.shown_titles() == expected);
}

TEST_CASE("Idempotency-Key: the same user's retry is shown once by a store; another user's reuse is refused") {
  fleet f;
  auto& s1 = f.add("s1", {"region:jateng"});
  const auto admin = f.hq.login();
  const auto jateng = f.hq.login("jateng", "regional");
  message::ulid_generator ids;
  const auto key = ids.next().value();
  auto post = [&](const test::publisherd_fixture::session& s, const std::string& title) {
    json body{{"targets", {"region:jateng"}}, {"category", "announcement"}, {"title", title}, {"body", "Isi"}};
    return f.hq.call("POST", "/api/v1/messages", body.dump(),
                     {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}, {"Idempotency-Key", key}});
  };
  auto first = post(admin, "Sekali saja");
  REQUIRE(first.status == 201);
  auto retry = post(admin, "Sekali saja");
  CHECK(retry.status == 201);
  CHECK(retry.body == first.body);
  auto taken = post(jateng, "Bukan milikmu");
  CHECK(taken.status == 409);
  // Once a later message is shown, the store has handled everything sent before it.
  f.send({"region:jateng"}, "sesudahnya");
  REQUIRE(s1.wait_shown("sesudahnya"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"Sekali saja", "sesudahnya"});
  CHECK(s1.shown()[0]["id"] == key);
}
