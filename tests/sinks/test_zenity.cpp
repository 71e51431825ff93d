// zenity: real dialogs on a private Xvfb, found with xdotool, read with tesseract, and answered
// with real key presses.

#include <bcast/core/loop.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/zenity.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <support/assert_ok.hpp>
#include <utility>
#include <vector>

using namespace bcast;
using namespace bcast::sinks;
using namespace std::chrono_literals;
using bcast::test::contains;
using bcast::test::recorder;

namespace {

bool have_desktop_tools() {
  for (const char* p : {"zenity", "Xvfb", "xdotool", "xprop", "import", "convert", "tesseract"}) {
    if (!test::have_program(p)) {
      WARN(std::string(p) + " is missing (./dev installs it); skipping");
      return false;
    }
  }
  return true;
}

sink_options dialog_options(const test::xvfb& x) {
  sink_options o;
  // No session bus: GTK must neither find the developer's desktop nor autolaunch one of its own.
  o.child_env = {"DISPLAY=" + x.display(), "DBUS_SESSION_BUS_ADDRESS=disabled:", "NO_AT_BRIDGE=1"};
  o.display_settle = 300ms;
  return o;
}

std::unique_ptr<sink> zenity(core::loop& l, const sink_options& o) {
  auto s = make_sink(l, "zenity", o);
  REQUIRE_OK(s);
  return std::move(s).value();
}

}  // namespace

TEST_CASE("zenity: the dialog shows title and body; OK acknowledges", "[sinks][zenity][x11]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto s = zenity(l, dialog_options(x));
  recorder r;
  s->show(test::make_envelope("Harga minyak turun",
                              "Mulai besok harga minyak goreng turun\nDiskon <b>20%</b> & lebih",
                              message::priority::high, true),
          r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));

  const auto w = x.find_window("^Harga minyak turun — Price info$");
  CHECK(x.window_title(w) == "Harga minyak turun — Price info");
  const auto text = x.read_window_until(w, {"goreng", "understood"});
  INFO(text);
  CHECK(contains(text, "Mulai besok harga minyak goreng turun"));
  CHECK(contains(text, "Diskon <b>20%</b> & lebih"));  // escaped, so shown as typed
  CHECK(contains(text, "OK, understood"));
  CHECK(r.kinds() == std::vector{outcome::displayed});

  x.press(w, "Return");
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
  CHECK(r.events[1].sink == "zenity");
}

TEST_CASE("zenity in Indonesian: OK, mengerti, and the labels and window title in Indonesian",
          "[sinks][zenity][x11][words]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto o = dialog_options(x);
  o.language = language::id;
  auto s = zenity(l, o);
  recorder r;
  s->show(test::make_envelope("Harga minyak turun", "Mulai besok harga minyak goreng turun",
                              message::priority::high, true),
          r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));

  const auto w = x.find_window("^Harga minyak turun");
  REQUIRE_FALSE(w.empty());
  CHECK(x.window_title(w) == "Harga minyak turun \u2014 Info Harga");
  const auto text = x.read_window_until(w, {"goreng", "mengerti", "Penting", "Info Harga"});
  INFO(text);
  CHECK(contains(text, "OK, mengerti"));
  CHECK(contains(text, "Penting"));
  CHECK(contains(text, "Info Harga"));
  CHECK_FALSE(contains(text, "understood"));

  x.press(w, "Return");
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
}

namespace {

bool have_window_manager_tools() {
  for (const char* p : {"openbox", "wmctrl"}) {
    if (!test::have_program(p)) {
      WARN(std::string(p) + " is missing (./dev installs it); skipping");
      return false;
    }
  }
  return true;
}

bool stays_on_top(const test::xvfb& x, const std::string& window) {
  return contains(x.run("xprop -id " + window + " _NET_WM_STATE"), "_NET_WM_STATE_ABOVE");
}

// "Geometry: 736x320" from xdotool.
std::pair<int, int> window_size(const test::xvfb& x, const std::string& window) {
  const auto out = x.run("xdotool getwindowgeometry " + window);
  const auto at = out.find("Geometry: ");
  if (at == std::string::npos) return {0, 0};
  const auto size = out.substr(at + 10);
  return {std::stoi(size), std::stoi(size.substr(size.find('x') + 1))};
}

}  // namespace

TEST_CASE("zenity: an urgent dialog stays above other windows and is large; a normal one is not",
          "[sinks][zenity][x11][urgent]") {
  if (!have_desktop_tools() || !have_window_manager_tools()) return;
  test::xvfb x;
  test::window_manager wm(x);
  core::loop l;
  auto s = zenity(l, dialog_options(x));
  recorder r_urgent, r_normal;
  s->show(test::make_envelope("Toko tutup", "Listrik padam", message::priority::urgent),
          r_urgent.reporter());
  REQUIRE(test::run_until(l, [&] { return r_urgent.has(outcome::displayed); }));
  const auto urgent = x.find_window("^Toko tutup");
  REQUIRE_FALSE(urgent.empty());
  // The window manager sets the state when asked, a moment after the window is up.
  CHECK(test::run_until_polled(
      l, [&] { return stays_on_top(x, urgent); }, 10s));
  const auto [width, height] = window_size(x, urgent);
  CHECK(width >= zenity_urgent_min_width);
  CHECK(height >= zenity_urgent_min_height);

  s->show(test::make_envelope("Jam buka", "Buka jam 8", message::priority::normal),
          r_normal.reporter());
  REQUIRE(test::run_until(l, [&] { return r_normal.has(outcome::displayed); }));
  const auto normal = x.find_window("^Jam buka");
  REQUIRE_FALSE(normal.empty());
  test::run_for(l, 1500ms);  // as long as an urgent one needed, and more
  CHECK_FALSE(stays_on_top(x, normal));
  CHECK(window_size(x, normal).second < zenity_urgent_min_height);
  CHECK(stays_on_top(x, urgent));
  test::close_and_drain(l, *s);
}

TEST_CASE("zenity: backslashes show as typed, never as escapes or markup", "[sinks][zenity][x11]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto s = zenity(l, dialog_options(x));
  recorder r;
  // zenity runs g_strcompress() on --text: unescaped, \n breaks the line and \074b\076 is <b>.
  s->show(test::make_envelope("Folder C:\\new", "Simpan di C:\\new\n\\074b\\076tebal\\074/b\\076"),
          r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  const auto w = x.find_window("^Folder C:");
  const auto text = x.read_window_until(w, {"tebal", "OK"});
  INFO(text);
  CHECK(contains(text, "Folder C:\\new"));
  CHECK(contains(text, "Simpan di C:\\new"));
  CHECK(contains(text, "\\074b\\076tebal\\074/b\\076"));
  x.press(w, "Return");
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
}

TEST_CASE("zenity: a long body scrolls in a text window; OK acknowledges", "[sinks][zenity][x11]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto s = zenity(l, dialog_options(x));
  std::string body;
  for (int i = 1; i <= 40; ++i) body += "Baris nomor " + std::to_string(i) + " dari pengumuman\n";
  recorder r;
  s->show(test::make_envelope("Pengumuman panjang", body, message::priority::normal, true),
          r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  const auto w = x.find_window("^Pengumuman panjang ");
  const auto text = x.read_window_until(w, {"nomor 3 dari", "understood"});
  INFO(text);
  CHECK(contains(text, "Baris nomor 3 dari pengumuman"));
  CHECK(contains(text, "OK, understood"));
  x.press(w, "Return");
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
}

TEST_CASE("zenity: a dialog closed without OK, or timed out, is displayed only",
          "[sinks][zenity][x11]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  // Only Escape can end the first dialog within the test; the second closes itself after 2 s.
  auto patient = zenity(l, dialog_options(x));
  auto o = dialog_options(x);
  o.dialog_timeout = 2s;
  auto hasty = zenity(l, o);
  recorder escaped, unattended;
  patient->show(test::make_envelope("Tutup saja", "Pesan", message::priority::normal, true),
                escaped.reporter());
  hasty->show(test::make_envelope("Tidak ada orang", "Pesan", message::priority::urgent, true),
              unattended.reporter());
  REQUIRE(test::run_until(l, [&] { return escaped.has(outcome::displayed); }));
  x.press(x.find_window("^Tutup saja "), "Escape");
  REQUIRE(test::run_until(l, [&] { return patient->pending() + hasty->pending() == 0; }));
  CHECK(escaped.kinds() == std::vector{outcome::displayed});
  CHECK(unattended.kinds() == std::vector{outcome::displayed});
}

TEST_CASE("zenity: a dialog nobody closes does not stop the next messages",
          "[sinks][zenity][x11][queue]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto o = dialog_options(x);
  o.max_running = 2;
  o.max_queued = 1;
  auto s = zenity(l, o);
  recorder open_one, next, waiting, overflow;
  s->show(test::make_envelope("Dibiarkan terbuka", "Tidak ada yang menutup"), open_one.reporter());
  s->show(test::make_envelope("Pesan berikutnya", "Tetap tampil"), next.reporter());
  s->show(test::make_envelope("Menunggu", "Di antrean"), waiting.reporter());
  s->show(test::make_envelope("Terlalu banyak", "Antrean penuh"), overflow.reporter());
  REQUIRE(test::run_until(
      l, [&] { return next.has(outcome::displayed) && overflow.has(outcome::failed); }));
  CHECK(contains(overflow.reason(), "queue full"));
  CHECK(open_one.kinds() == std::vector{outcome::displayed});
  x.find_window("^Dibiarkan terbuka ");
  const auto w = x.find_window("^Pesan berikutnya ");
  const auto text = x.read_window_until(w, {"Tetap tampil"});
  INFO(text);
  CHECK(contains(text, "Tetap tampil"));

  // Closing the second frees its slot for the waiting one, while the first stays open.
  x.press(w, "Return");
  REQUIRE(test::run_until(l, [&] { return waiting.has(outcome::displayed); }));
  x.find_window("^Menunggu ");
  CHECK(next.kinds() == std::vector{outcome::displayed});  // no require_ack: OK just dismisses
  CHECK(s->pending() == 2);

  test::close_and_drain(l, *s);  // kills the open dialogs
  CHECK(x.run("xdotool search --onlyvisible --class zenity 2>/dev/null || true").empty());
}

TEST_CASE(
    "zenity: a recall closes the open dialog and drops a waiting one; nothing is reported "
    "after it",
    "[sinks][zenity][x11][recall]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto o = dialog_options(x);
  o.max_running = 1;
  auto s = zenity(l, o);
  const auto open = test::make_envelope("Segera ditarik", "Pesan", message::priority::urgent, true);
  const auto waiting = test::make_envelope("Menunggu giliran", "Pesan");
  recorder r_open, r_waiting;
  s->show(open, r_open.reporter());
  s->show(waiting, r_waiting.reporter());
  REQUIRE(test::run_until(l, [&] { return r_open.has(outcome::displayed); }));
  const auto w = x.find_window("^Segera ditarik ");
  REQUIRE_FALSE(w.empty());

  auto notice = test::make_envelope(waiting.title, "");
  notice.recalls = waiting.id;
  s->recall(notice, waiting.id);
  CHECK(s->pending() == 1);
  notice.recalls = open.id;
  s->recall(notice, open.id);
  // The window is gone, as the X server sees it (it drops a client's windows a moment after the
  // client is gone).
  REQUIRE(test::run_until_polled(l, [&] {
    return s->pending() == 0 &&
           x.run("xdotool search --onlyvisible --name '^Segera ditarik ' 2>/dev/null || true")
               .empty();
  }));
  CHECK(x.run("xwininfo -id " + w + " >/dev/null 2>&1 || echo gone") == "gone\n");
  CHECK(x.run("xdotool search --onlyvisible --class zenity 2>/dev/null || true").empty());
  test::run_for(l, 100ms);
  CHECK(r_open.kinds() == std::vector{outcome::displayed});  // not failed, not acknowledged
  CHECK(r_waiting.events.empty());
}

TEST_CASE("zenity: no X display is failed, not displayed", "[sinks][zenity]") {
  if (!test::have_program("zenity")) {
    WARN("zenity is missing (./dev installs it); skipping");
    return;
  }
  int n = 4321;
  while (std::filesystem::exists("/tmp/.X11-unix/X" + std::to_string(n))) ++n;
  core::loop l;
  sink_options o;
  o.child_env = {"DISPLAY=:" + std::to_string(n),
                 "DBUS_SESSION_BUS_ADDRESS=disabled:", "NO_AT_BRIDGE=1"};
  o.display_settle = 15s;  // judged by the exit, however slow GTK is to give up
  auto s = zenity(l, o);
  recorder r;
  s->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  REQUIRE(r.kinds() == std::vector{outcome::failed});
  CHECK(contains(r.reason(), "zenity exited with status 1"));
  CHECK(contains(r.reason(), "cannot open display"));
}

TEST_CASE("zenity: a program that cannot start is failed", "[sinks][zenity]") {
  core::loop l;
  sink_options o;
  o.check_programs = false;
  o.zenity_program = "/nonexistent/zenity";
  auto s = zenity(l, o);
  recorder r;
  s->show(test::make_envelope("t", "b"), r.reporter());
  CHECK(r.events.empty());
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  REQUIRE(r.kinds() == std::vector{outcome::failed});
  CHECK(r.reason() == "cannot start /nonexistent/zenity: no such file or directory");
}

TEST_CASE(
    "zenity: a must-read reminder waits while its dialog is open, then shows titled Reminder N",
    "[sinks][zenity][x11]") {
  if (!have_desktop_tools()) return;
  test::xvfb x;
  core::loop l;
  auto o = dialog_options(x);
  o.language = language::id;
  auto s = zenity(l, o);
  CHECK(s->acknowledges());
  auto e = test::make_envelope("Stok opname", "Malam ini", message::priority::normal, true);
  e.repeat_every_s = 10;
  recorder first;
  s->show(e, first.reporter());
  REQUIRE(test::run_until(l, [&] { return first.has(outcome::displayed); }));
  const auto w = x.find_window("^Stok opname — ");
  REQUIRE(!w.empty());

  recorder stacked;
  s->remind(e, 1, stacked.reporter());  // still open: no second dialog
  CHECK(s->pending() == 1);
  x.press(w, "Escape");
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(first.kinds() == std::vector{outcome::displayed});
  CHECK(stacked.events.empty());

  recorder reminded;
  s->remind(e, 2, reminded.reporter());
  REQUIRE(test::run_until(l, [&] { return reminded.has(outcome::displayed); }));
  const auto again = x.find_window("^Pengingat 2: Stok opname — ");
  REQUIRE(!again.empty());
  CHECK(x.window_title(again).starts_with("Pengingat 2: Stok opname — "));
  x.press(again, "Return");
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(reminded.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
}
