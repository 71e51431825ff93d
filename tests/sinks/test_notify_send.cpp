// notify-send against Debian's notification-daemon on a private session bus and Xvfb: the Notify
// call is watched with dbus-monitor, the popup is found with xdotool and read with tesseract, and
// the action button is clicked where tesseract finds its label.

#include <bcast/core/loop.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/notify_send.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>
#include <support/assert_ok.hpp>

using namespace bcast;
using namespace bcast::sinks;
using namespace std::chrono_literals;
using bcast::test::contains;
using bcast::test::recorder;

namespace {

bool have_notification_tools() {
  for (const char* p : {"notify-send", "Xvfb", "dbus-daemon", "dbus-monitor", "gdbus", "xdotool",
                        "import", "convert", "tesseract"}) {
    if (!test::have_program(p)) {
      WARN(std::string(p) + " is missing (./dev installs it); skipping");
      return false;
    }
  }
  if (!std::filesystem::exists("/usr/lib/notification-daemon/notification-daemon")) {
    WARN("notification-daemon is missing (./dev installs it); skipping");
    return false;
  }
  return true;
}

sink_options bus_options(const test::xvfb& x, const test::session_bus& bus) {
  sink_options o;
  o.child_env = {"DISPLAY=" + x.display(), "DBUS_SESSION_BUS_ADDRESS=" + bus.address()};
  o.display_settle = 300ms;
  return o;
}

std::unique_ptr<sink> notify_send(core::loop& l, const sink_options& o) {
  auto s = make_sink(l, "notify-send", o);
  REQUIRE_OK(s);
  return std::move(s).value();
}

}  // namespace

TEST_CASE("notify-send: the server gets title, escaped body, urgency and app name; the popup shows",
          "[sinks][notify-send][x11][dbus]") {
  if (!have_notification_tools()) return;
  test::xvfb x;
  test::session_bus bus;
  test::notification_server server(x, bus);
  test::notify_monitor monitor(bus);
  core::loop l;
  auto s = notify_send(l, bus_options(x, bus));

  recorder r;
  s->show(test::make_envelope("Harga minyak turun", "Diskon <b>20%</b> & lebih",
                              message::priority::urgent),
          r.reporter());
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  REQUIRE(r.kinds() == std::vector{outcome::displayed});

  const auto& call = monitor.read_until("int32 -1");  // the expire_timeout, Notify's last argument
  INFO(call);
  CHECK(contains(call, "member=Notify"));
  CHECK(contains(call, "string \"bcast\""));
  CHECK(contains(call, "string \"Harga minyak turun\""));
  CHECK(contains(call, "string \"Diskon &lt;b&gt;20%&lt;/b&gt; &amp; lebih\""));
  CHECK(contains(call, "string \"urgency\"\n         variant             byte 2"));

  const auto w = x.find_window("notification-daemon", "--class");
  const auto text = x.read_window_until(w, {"minyak", "lebih"});
  INFO(text);
  CHECK(contains(text, "Harga minyak turun"));
  CHECK(contains(text, "Diskon <b>20%</b> & lebih"));

  // notify-send runs g_strcompress() on the body: unescaped, \n would break the line and \074b\076
  // would be <b>. The server gets what was typed.
  recorder again;
  s->show(test::make_envelope("Folder", "Simpan di C:\\new \\074b\\076"), again.reporter());
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(again.kinds() == std::vector{outcome::displayed});
  CHECK_NOTHROW(monitor.read_until("string \"Simpan di C:\\new \\074b\\076\""));
}

TEST_CASE("notify-send: with require_ack, clicking the action button acknowledges",
          "[sinks][notify-send][x11][dbus]") {
  if (!have_notification_tools()) return;
  test::xvfb x;
  test::session_bus bus;
  test::notification_server server(x, bus);
  test::notify_monitor monitor(bus);
  core::loop l;
  auto s = notify_send(l, bus_options(x, bus));

  recorder r;
  s->show(test::make_envelope("Konfirmasi stok", "Mohon cek stok gudang", message::priority::normal,
                              true),
          r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  const auto& call = monitor.read_until("int32 3600000");  // expires with dialog_timeout
  CHECK(contains(call, "string \"ack\"\n      string \"OK, understood\""));
  CHECK(r.kinds() == std::vector{outcome::displayed});
  CHECK(s->pending() == 1);  // notify-send waits for the person

  const auto w = x.find_window("notification-daemon", "--class");
  REQUIRE(x.click_word(w, "understood"));
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
}

TEST_CASE("notify-send: no notification server on the bus is failed",
          "[sinks][notify-send][dbus]") {
  if (!have_notification_tools()) return;
  test::session_bus bus;
  core::loop l;
  sink_options o;
  o.child_env = {"DBUS_SESSION_BUS_ADDRESS=" + bus.address()};
  auto s = notify_send(l, o);
  recorder r;
  s->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(
      l, [&] { return s->pending() == 0; }, 40s));
  REQUIRE(r.kinds() == std::vector{outcome::failed});
  CHECK(contains(r.reason(), "notify-send exited with status 1"));
}
