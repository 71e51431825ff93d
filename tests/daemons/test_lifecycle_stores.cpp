// End-to-end: what stores do when head office takes a message back (SPEC "Lifecycle"). Real
// subscriberd processes with real sinks (jsonl, terminal, exec), publisherd and redis-server: a
// store online takes the message down, one that was off never shows it, an exec popup's whole
// process group ends, a correction stands in for the original, and a recall notice that head
// office did not sign takes nothing down.

#include "redis_writer.hpp"
#include "store_fixture.hpp"

#include <bcast/message/lifecycle.hpp>
#include <bcast/message/ulid.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;
using test::fleet;
using test::store_box;

namespace {

std::string recall(fleet& f, const std::string& id) {
  auto r = test::http_call(0, "POST", "/api/v1/messages/" + id + "/recall", "", {}, f.hq.socket);
  INFO(r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body)["recall"]["id"];
}

// The jsonl sink's lines: messages shown, and {"event":"recalled","id":...} events.
struct jsonl_record {
  std::vector<std::string> shown_titles;
  std::vector<std::string> recalled_ids;
};

jsonl_record read_jsonl(const store_box& box) {
  jsonl_record out;
  std::ifstream in(box.jsonl());
  std::string line;
  while (std::getline(in, line)) {
    const auto j = json::parse(line);
    if (j.contains("event")) {
      CHECK(j == json{{"event", "recalled"}, {"id", j["id"]}});
      out.recalled_ids.push_back(j["id"]);
    } else {
      out.shown_titles.push_back(j["title"]);
    }
  }
  return out;
}

bool wait_recalled_in_jsonl(const store_box& box, const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& r : read_jsonl(box).recalled_ids) {
      if (r == id) return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

}  // namespace

TEST_CASE(
    "recall at the stores: one online takes the message down, one that was off during the send "
    "and the recall never shows it") {
  fleet f;
  auto& online = f.add("s1", {"region:jateng"});
  auto& off = f.add("s2", {"region:jateng"});
  f.send({"all"}, "before");
  REQUIRE(off.wait_shown("before"));
  off.stop();

  const std::string id = f.send({"region:jateng"}, "Harga minyak Rp 10.000")["id"];
  REQUIRE(online.wait_shown("Harga minyak Rp 10.000"));
  f.wait_for_receipt(id, "s1", "displayed");

  const auto notice = recall(f, id);
  REQUIRE(wait_recalled_in_jsonl(online, id));
  // The terminal sink says so on a line of its own, with the title.
  REQUIRE(online.process->wait_for_log("RECALLED | Harga minyak Rp 10.000"));
  f.wait_for_receipt(id, "s1", "recalled");

  off.start();
  f.send({"all"}, "after");
  REQUIRE(off.wait_shown("after"));
  const auto record = read_jsonl(off);
  CHECK(record.shown_titles == std::vector<std::string>{"before", "after"});
  auto receipts = f.wait_for_receipt(id, "s2", "recalled");
  CHECK(receipts["recalled"] == 2);
  // Counts stay cumulative: s1 displayed it before it was recalled.
  CHECK(receipts["displayed"] == 1);
  CHECK(receipts["delivered"] == 2);  // s2 got it in catch-up, with its notice

  // The notice is no message: nobody shows it, and it is not in the history API.
  CHECK(read_jsonl(online).shown_titles ==
        std::vector<std::string>{"before", "Harga minyak Rp 10.000", "after"});
  CHECK(test::http_call(0, "GET", "/api/v1/messages/" + notice, "", {}, f.hq.socket).status == 404);
  auto shown = test::http_call(0, "GET", "/api/v1/messages/" + id, "", {}, f.hq.socket);
  REQUIRE(shown.status == 200);
  CHECK(json::parse(shown.body)["recall"]["id"] == notice);
}

TEST_CASE("recall at the stores: a running exec popup ends with its whole process group") {
  fleet f;
  test::temp_dir scratch;
  const auto pids = scratch.file("pids");
  // A popup that stays up: the shell waits on a child of its own.
  const std::string popup = "exec:sh -c 'sleep 600 & echo $$ $! >> " + pids + "; wait'";
  auto& s1 = f.add("s1", {}, {popup});
  const std::string id = f.send({"store:s1"}, "Rapat jam 3")["id"];
  REQUIRE(s1.wait_shown("Rapat jam 3"));
  int shell = 0, grandchild = 0;
  REQUIRE(test::wait_until([&] {
    std::ifstream in(pids);
    return static_cast<bool>(in >> shell >> grandchild);
  }));
  REQUIRE(test::process_alive(shell));
  REQUIRE(test::process_alive(grandchild));

  recall(f, id);
  REQUIRE(test::wait_until(
      [&] { return !test::process_alive(shell) && !test::process_alive(grandchild); }));
  f.wait_for_receipt(id, "s1", "recalled");
  // Ended by the recall, the exec sink reports no failure for it.
  const auto status = s1.process->log();
  CHECK(status.find("failed for message " + id) == std::string::npos);
}

TEST_CASE(
    "correction at the stores: shown in place of the original; a store outside the corrected "
    "targets only loses the original") {
  fleet f;
  auto& jateng = f.add("s1", {"region:jateng"});
  auto& s9 = f.add("s9", {});
  const std::string original =
      f.send({"region:jateng", "store:s9"}, "Diskon 50%", {{"category", "discount_info"}})["id"];
  REQUIRE(jateng.wait_shown("Diskon 50%"));
  REQUIRE(s9.wait_shown("Diskon 50%"));

  const auto correction = f.send({"region:jateng"}, "Diskon 15%",
                                 {{"category", "discount_info"}, {"supersedes", original}});
  CHECK(correction["supersedes"] == original);
  REQUIRE(jateng.wait_shown("Diskon 15%"));
  REQUIRE(wait_recalled_in_jsonl(jateng, original));
  REQUIRE(wait_recalled_in_jsonl(s9, original));
  f.wait_for_receipt(original, "s1", "recalled");
  f.wait_for_receipt(original, "s9", "recalled");
  f.wait_for_receipt(correction["id"], "s1", "displayed");

  f.send({"all"}, "sync");
  REQUIRE(s9.wait_shown("sync"));
  CHECK(read_jsonl(s9).shown_titles == std::vector<std::string>{"Diskon 50%", "sync"});
}

TEST_CASE("recall at the stores: a notice head office did not sign takes nothing down") {
  fleet f;
  auto& s1 = f.add("s1", {});
  const auto sent = f.send({"all"}, "Tetap tampil");
  REQUIRE(s1.wait_shown("Tetap tampil"));
  auto original = message::decode(sent.dump());
  REQUIRE_OK(original);

  // Whoever can write to Redis sends a notice for it: unsigned, then signed by a key of its own.
  message::ulid_generator ids;
  auto unsigned_notice =
      message::make_recall_notice(*original, ids, "admin", std::chrono::system_clock::now());
  REQUIRE_OK(unsigned_notice);
  auto forged =
      message::make_recall_notice(*original, ids, "admin", std::chrono::system_clock::now());
  REQUIRE_OK(forged);
  auto own_key = trust::signing_key::generate();
  REQUIRE_OK(own_key);
  REQUIRE_OK(trust::sign(*own_key, *forged));
  test::redis_writer attacker{f.hq.redis->url()};
  attacker.publish(*unsigned_notice);
  attacker.publish(*forged);
  f.wait_for_receipt(unsigned_notice->id, "s1", "rejected");
  f.wait_for_receipt(forged->id, "s1", "rejected");

  f.send({"all"}, "sync");
  REQUIRE(s1.wait_shown("sync"));
  CHECK(read_jsonl(s1).recalled_ids.empty());
  f.wait_for_receipt(original->id, "s1", "displayed");
}
