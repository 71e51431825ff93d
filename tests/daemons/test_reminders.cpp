// End-to-end: must-read messages at the stores (SPEC "Urgency and escalation"). Real subscriberd
// processes with real sinks (exec, jsonl, terminal, zenity under Xvfb), publisherd and
// redis-server: a message nobody acknowledges comes back every interval, never as a second popup
// while the first is open, and only in the sinks that can take an acknowledgement; reminders go on
// across a restart of the store and end when a person presses OK.

#include "store_fixture.hpp"

#include "../sinks/sink_fixtures.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;
using test::fleet;

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

bool wait_for_line(const std::string& path, const std::string& line,
                   std::chrono::seconds timeout) {
  return test::wait_until(
      [&] {
        for (const auto& l : read_lines(path)) {
          if (l == line) return true;
        }
        return false;
      },
      timeout);
}

const json must_read_every_10s{{"require_ack", true}, {"repeat_every_s", 10}};

}  // namespace

TEST_CASE(
    "must-read at the stores: reminded every interval until acknowledged, never stacked, and "
    "recorded once where nobody can acknowledge") {
  fleet f;
  // s1: a quick command, and a slow one whose run outlasts the interval (an open popup).
  auto& s1 = f.prepare("s1", {"region:jateng"});
  const auto runs = s1.dir + "/runs";
  s1.extra_sinks = {"exec:echo \"quick $BCAST_REMINDER\" >> " + runs,
                    "exec:echo \"slow $BCAST_REMINDER\" >> " + runs + "; sleep 13"};
  s1.start();
  // s2: only sinks that record, which then record each reminder.
  auto& s2 = f.add("s2", {"region:jateng"}, {}, false);

  const std::string id = f.send({"region:jateng"}, "Stok opname malam ini", must_read_every_10s)["id"];
  REQUIRE(wait_for_line(runs, "quick 2", 40s));
  const auto lines = read_lines(runs);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  INFO(all);
  CHECK(std::count(lines.begin(), lines.end(), "quick 0") == 1);
  CHECK(std::count(lines.begin(), lines.end(), "quick 1") == 1);
  CHECK(std::count(lines.begin(), lines.end(), "slow 0") == 1);
  // The slow popup was still open when reminder 1 came: it got none, and no second process.
  CHECK(std::count(lines.begin(), lines.end(), "slow 1") == 0);
  REQUIRE(wait_for_line(runs, "slow 2", 15s));

  // s1's jsonl recorded the first showing only; s2's records each reminder.
  std::size_t s1_lines = 0;
  for (const auto& e : s1.shown()) {
    CHECK(!e.contains("event"));
    if (e["id"] == id) ++s1_lines;
  }
  CHECK(s1_lines == 1);
  CHECK(s1.process->wait_for_log("Reminder 2: Stok opname malam ini", 1s) == false);
  REQUIRE(test::wait_until(
      [&] {
        for (const auto& e : s2.shown()) {
          if (e == json{{"event", "reminder"}, {"id", id}, {"count", 2}}) return true;
        }
        return false;
      },
      15s));
  CHECK(s2.process->wait_for_log("not acknowledged yet: reminder 1"));

  // Nobody acknowledged: the receipts say so.
  const auto receipts = f.receipts(id);
  CHECK(receipts["acknowledged"] == 0);
  CHECK(receipts["displayed"] == 2);
}

TEST_CASE(
    "must-read at the stores: reminders go on across a restart, and end when OK is pressed in "
    "zenity",
    "[x11]") {
  for (const char* p : {"zenity", "Xvfb", "xdotool"}) {
    if (!test::have_program(p)) {
      WARN(std::string(p) + " is missing (./dev installs it); skipping");
      return;
    }
  }
  test::xvfb x;
  fleet f;
  auto& s1 = f.prepare("s1", {"region:jateng"});
  s1.extra_sinks = {"zenity"};
  s1.env = {"DISPLAY=" + x.display(), "DBUS_SESSION_BUS_ADDRESS=disabled:", "NO_AT_BRIDGE=1"};
  s1.start();

  const std::string id =
      f.send({"region:jateng"}, "Cek harga promo", must_read_every_10s)["id"];
  const auto first = x.find_window("^Cek harga promo — ");
  REQUIRE(!first.empty());
  f.wait_for_receipt(id, "s1", "displayed");
  x.press(first, "Escape");  // closed without OK: displayed, not acknowledged

  s1.stop();
  s1.start();
  CHECK(s1.process->log().find("1 must-read messages not acknowledged yet; reminding") !=
        std::string::npos);
  const auto reminder = x.find_window("^Reminder 1: Cek harga promo — ");
  REQUIRE(!reminder.empty());
  CHECK(f.receipts(id)["acknowledged"] == 0);
  x.press(reminder, "Return");
  f.wait_for_receipt(id, "s1", "acknowledged");
  const auto acknowledged_at = s1.process->log().size();

  // No second reminder after the acknowledgement, and the state dir keeps none.
  std::this_thread::sleep_for(12s);
  CHECK(x.run("xdotool search --onlyvisible --name '^Reminder 2' 2>/dev/null || true").empty());
  INFO(s1.process->log());
  CHECK(s1.process->log().find("not acknowledged yet", acknowledged_at) == std::string::npos);
  const auto saved = json::parse(std::ifstream(s1.dir + "/state/reminders.json"));
  CHECK(saved["reminders"].empty());
}
