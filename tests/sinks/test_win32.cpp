// win32: the MessageBox code is compiled and linked with mingw-w64; the thread machinery that runs
// it off the loop is tested here with a dialog that blocks on a condition variable.

#include <bcast/core/loop.hpp>
#include <bcast/sinks/win32.hpp>
#include <bcast/sinks/win32_session.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace bcast;
using namespace bcast::sinks;
using namespace std::chrono_literals;
using bcast::test::contains;
using bcast::test::recorder;

namespace {

std::filesystem::path source_root() {
  if (const char* root = std::getenv("BCAST_SOURCE_ROOT"); root && *root) return root;
  // Run by hand from anywhere: look upwards from here and from the binary.
  std::vector<std::filesystem::path> starts{std::filesystem::current_path()};
  std::error_code ec;
  if (auto exe = std::filesystem::read_symlink("/proc/self/exe", ec); !ec)
    starts.push_back(exe.parent_path());
  for (auto dir : starts) {
    for (; !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      if (std::filesystem::exists(dir / "include/bcast/sinks/win32_dialog.hpp")) return dir;
    }
  }
  return {};
}

// A dialog for Linux: it is "up" until the test presses OK or close_it() closes it.
struct fake_desktop {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> shown;  // captions
  std::vector<std::thread::id> threads;
  int ok_presses = 0;

  blocking_dialog dialog() {
    return [this](const win32::dialog_request& req, win32::dialog_control& control) {
      std::unique_lock lock(m);
      shown.push_back(req.caption);
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
      cv.wait(lock, [&] { return ok_presses > 0 || control.closed_by_us; });
      if (control.closed_by_us) return win32::dialog_result{win32::dialog_answer::closed, {}};
      --ok_presses;
      return win32::dialog_result{win32::dialog_answer::ok, {}};
    };
  }
  dialog_closer closer() {
    return [this](win32::dialog_control& control) {
      std::lock_guard lock(m);
      control.closed_by_us = true;
      cv.notify_all();
    };
  }
  void press_ok() {
    std::lock_guard lock(m);
    ++ok_presses;
    cv.notify_all();
  }
  std::size_t count() {
    std::lock_guard lock(m);
    return shown.size();
  }
};

}  // namespace

TEST_CASE("win32: the MessageBox code compiles and links with mingw-w64", "[sinks][win32]") {
  // The compiler ./dev windows builds with: mingw-w64's posix thread model (std::mutex).
  const std::string compiler = "x86_64-w64-mingw32-g++-posix";
  if (!test::have_program(compiler)) {
    WARN(compiler +
         " is missing (Debian package g++-mingw-w64-x86-64-posix, which ./dev installs); skipping");
    return;
  }
  const auto root = source_root();
  REQUIRE_FALSE(root.empty());
  test::temp_dir dir;
  const auto src = dir.file("box.cpp");
  std::ofstream(src) << R"(#include <bcast/sinks/win32_dialog.hpp>
using namespace bcast::sinks::win32;
int main(int argc, char**) {
  const std::wstring caption = to_wide("Harga \xE2\x82\xAC turun \xF0\x9F\x98\x80");
  if (caption.size() != 16) return 1;
  const dialog_request urgent{"Judul", "Isi", dialog_icon::error, true};
  const UINT on_top = MB_SYSTEMMODAL | MB_SETFOREGROUND | MB_TOPMOST;
  if ((message_box_style(urgent) & on_top) != on_top) return 3;
  if (message_box_style({"Judul", "Isi", dialog_icon::information}) & MB_SYSTEMMODAL) return 4;
  if (argc > 1) {
    dialog_control control;
    const auto r = show_message_box({"Judul", "Isi", dialog_icon::warning}, control);
    close_message_box(control);
    return r.answer == dialog_answer::ok ? 0 : 2;
  }
  return 0;
}
)";
  const auto exe = dir.file("box.exe");
  const auto out =
      test::shell(compiler + " -std=c++20 -Wall -Wextra -Wpedantic -Werror -I'" +
                  (root / "include").string() + "' '" + src + "' -o '" + exe + "' 2>&1");
  INFO(out);
  REQUIRE(std::filesystem::exists(exe));
  const auto imports = test::shell("x86_64-w64-mingw32-objdump -p '" + exe + "'");
  CHECK(contains(imports, "MessageBoxW"));
  CHECK(contains(imports, "EnumThreadWindows"));
  CHECK(contains(imports, "PostMessageW"));
  CHECK(contains(imports, "USER32.dll"));
}

TEST_CASE("win32 machinery: dialogs run on their own threads; OK acknowledges", "[sinks][win32]") {
  core::loop l;
  fake_desktop desktop;
  sink_options o;
  o.display_settle = 50ms;
  threaded_dialog_sink s(l, "win32", o, desktop.dialog(), desktop.closer());
  recorder r;
  s.show(test::make_envelope("Judul", "Isi", message::priority::urgent, true), r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  REQUIRE(desktop.count() == 1);
  CHECK(desktop.shown[0] == "Judul — Price info");
  CHECK(desktop.threads[0] != std::this_thread::get_id());
  CHECK(r.kinds() == std::vector{outcome::displayed});
  desktop.press_ok();
  REQUIRE(test::run_until(l, [&] { return s.pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
  CHECK(dialog_request_for(test::make_envelope("a", "b", message::priority::urgent)).icon ==
        win32::dialog_icon::error);
}

TEST_CASE("win32 machinery: dialog_timeout closes an unattended box, displayed only",
          "[sinks][win32]") {
  core::loop l;
  fake_desktop desktop;
  sink_options o;
  o.display_settle = 50ms;
  o.dialog_timeout = 1s;
  threaded_dialog_sink s(l, "win32", o, desktop.dialog(), desktop.closer());
  recorder r;
  s.show(test::make_envelope("Judul", "Isi", message::priority::normal, true), r.reporter());
  REQUIRE(test::run_until(l, [&] { return s.pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed});
}

TEST_CASE("win32 machinery: the queue bounds open boxes; close() closes them",
          "[sinks][win32][queue]") {
  core::loop l;
  fake_desktop desktop;
  sink_options o;
  o.max_running = 2;
  o.max_queued = 1;
  o.display_settle = 50ms;
  threaded_dialog_sink s(l, "win32", o, desktop.dialog(), desktop.closer());
  std::vector<recorder> r(4);
  for (auto& rec : r) s.show(test::make_envelope("m", "b"), rec.reporter());
  REQUIRE(test::run_until(l, [&] {
    return r[0].has(outcome::displayed) && r[1].has(outcome::displayed) &&
           r[3].has(outcome::failed);
  }));
  CHECK(desktop.count() == 2);
  CHECK(r[2].events.empty());
  desktop.press_ok();  // one box answered: the waiting message gets its slot
  REQUIRE(test::run_until(l, [&] { return r[2].has(outcome::displayed); }));
  test::close_and_drain(l, s);
  CHECK(s.pending() == 0);
  CHECK(desktop.count() == 3);
}

TEST_CASE(
    "win32 machinery: a recall closes the open box, reports nothing more, and drops a "
    "waiting one",
    "[sinks][win32][recall]") {
  core::loop l;
  fake_desktop desktop;
  sink_options o;
  o.max_running = 1;
  o.display_settle = 50ms;
  threaded_dialog_sink s(l, "win32", o, desktop.dialog(), desktop.closer());
  const auto open = test::make_envelope("Terbuka", "Isi", message::priority::normal, true);
  const auto waiting = test::make_envelope("Menunggu", "Isi");
  recorder r_open, r_waiting;
  s.show(open, r_open.reporter());
  s.show(waiting, r_waiting.reporter());
  REQUIRE(test::run_until(l, [&] { return r_open.has(outcome::displayed); }));
  REQUIRE(desktop.count() == 1);

  auto notice = test::make_envelope("Menunggu", "");
  notice.recalls = waiting.id;
  s.recall(notice, waiting.id);
  CHECK(s.pending() == 1);
  notice.recalls = open.id;
  s.recall(notice, open.id);
  REQUIRE(test::run_until(l, [&] { return s.pending() == 0; }));
  test::run_for(l, 100ms);
  CHECK(desktop.count() == 1);  // the waiting one never came up
  // Closed by us: a box whose only button is OK would answer OK, which is no acknowledgement.
  CHECK(r_open.kinds() == std::vector{outcome::displayed});
  CHECK(r_waiting.events.empty());
}

TEST_CASE("win32: the popup request a service sends to its box in the user's session",
          "[sinks][win32]") {
  auto e =
      test::make_envelope("Harga baru \xE2\x80\x94 minyak", "Rp 34.900 \xE2\x9C\x93\n\"baris dua\"",
                          message::priority::urgent, true);
  const auto request = dialog_request_for(e, language::id);
  const auto text = win32::encode_popup_request(request);
  CHECK(text.find('\n') == std::string::npos);  // one line, the body's newline escaped
  const auto back = win32::decode_popup_request(text);
  REQUIRE(back);
  CHECK(back->caption == request.caption);
  CHECK(back->text == request.text);
  CHECK(back->icon == win32::dialog_icon::error);
  CHECK(back->urgent);
  // Invalid UTF-8 in a title goes out as U+FFFD rather than failing the box.
  win32::dialog_request bad = request;
  bad.caption = "a\x80z";
  const auto replaced = win32::decode_popup_request(win32::encode_popup_request(bad));
  REQUIRE(replaced);
  CHECK(replaced->caption == "a\xEF\xBF\xBDz");
  for (const char* refused :
       {"", "[]", "{\"caption\":\"c\",\"text\":\"t\",\"icon\":\"info\",\"urgent\":false}",
        "{\"caption\":\"c\",\"text\":\"t\",\"icon\":\"warning\"}",
        "{\"caption\":1,\"text\":\"t\",\"icon\":\"warning\",\"urgent\":false}"}) {
    INFO(refused);
    CHECK_FALSE(win32::decode_popup_request(refused));
  }
}
