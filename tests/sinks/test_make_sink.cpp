// Sink specs, text helpers and the argv each dialog program gets.

#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/notify_send.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/win32_dialog.hpp>
#include <bcast/sinks/zenity.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <algorithm>
#include <string>
#include <vector>
#include <support/assert_ok.hpp>

using namespace bcast;
using namespace bcast::sinks;
using bcast::test::contains;

namespace {

bool has_arg(const std::vector<std::string>& args, const std::string& a) {
  return std::find(args.begin(), args.end(), a) != args.end();
}

}  // namespace

TEST_CASE("make_sink builds every documented sink spec", "[sinks][spec]") {
  core::loop l;
  for (std::string spec :
       {"zenity", "notify-send", "terminal", "exec:echo hi", "jsonl:/tmp/x.jsonl"}) {
    auto s = make_sink(l, spec);
    INFO(spec);
    REQUIRE_OK(s);
    CHECK((*s)->name() == spec);
    CHECK((*s)->pending() == 0);
  }
}

TEST_CASE("make_sink refuses unknown and malformed specs clearly", "[sinks][spec]") {
  core::loop l;
  struct bad {
    std::string spec;
    std::string says;
  };
  for (const auto& b : std::vector<bad>{
           {"", "empty sink spec"},
           {"popup",
            "unknown sink \"popup\"; expected zenity, notify-send, win32, terminal, exec:CMD or "
            "jsonl:PATH"},
           {"Zenity", "unknown sink"},
           {"exec:", "needs a command"},
           {"exec:   ", "needs a command"},
           {"exec", "needs an argument, as in exec:CMD"},
           {"jsonl:", "needs a file"},
           {"jsonl", "needs an argument, as in jsonl:PATH"},
           {"zenity:big", "zenity takes no argument"},
           {"terminal:x", "terminal takes no argument"},
           {"win32", "only in Windows builds"},
           {"exec\x01", "\\x01"},
       }) {
    INFO(b.spec);
    auto s = make_sink(l, b.spec);
    REQUIRE_FALSE(s.ok());
    CHECK(s.err() == core::errc::invalid_argument);
    CHECK(contains(s.err().message(), b.says));
  }
}

TEST_CASE("make_sink says when a dialog program is missing", "[sinks][spec]") {
  core::loop l;
  sink_options o;
  o.zenity_program = "/nonexistent/zenity";
  o.notify_send_program = "no-such-notify-send-program";
  auto z = make_sink(l, "zenity", o);
  REQUIRE_FALSE(z.ok());
  CHECK(
      contains(z.err().message(), "/nonexistent/zenity is not installed (Debian package zenity)"));
  auto n = make_sink(l, "notify-send", o);
  REQUIRE_FALSE(n.ok());
  CHECK(contains(n.err().message(), "Debian package libnotify-bin"));
  o.check_programs = false;
  CHECK(make_sink(l, "zenity", o).ok());
}

TEST_CASE("make_sinks makes one set of every --sink, or the first error", "[sinks][spec]") {
  core::loop l;
  auto set = make_sinks(l, {"terminal", "exec:true", "jsonl:/tmp/a.jsonl"});
  REQUIRE_OK(set);
  CHECK((*set)->size() == 3);
  CHECK((*set)->name() == "terminal exec:true jsonl:/tmp/a.jsonl");
  auto bad = make_sinks(l, {"terminal", "exec:"});
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.err().message(), "exec"));
}

TEST_CASE("text helpers make message text safe", "[sinks][text]") {
  CHECK(text::escape_markup("a & <b>\"x\"</b> 'y'") ==
        "a &amp; &lt;b&gt;&quot;x&quot;&lt;/b&gt; &apos;y&apos;");
  CHECK(text::without_controls("a\x1b[31mb\tc\nd\r\n\x7f\xc2\x9b"
                               "e\xc3\xa9",
                               true) == "a [31mb\tc\nd\n  e\xc3\xa9");
  CHECK(text::without_controls(std::string("a\0b\nc", 5), false) == "a b c");
  CHECK(text::first_line("\n  \n  first line  \r\nsecond") == "first line");
  CHECK(text::first_line(std::string(300, 'x')).size() == 203);
  CHECK(text::first_line("") == "");
  CHECK(text::has_line("x\nacknowledged\r\n", "acknowledged"));
  CHECK(text::has_line("  ack  ", "ack"));
  CHECK_FALSE(text::has_line("not acknowledged\n", "acknowledged"));
  CHECK_FALSE(text::has_line("", "ack"));
}

TEST_CASE("zenity gets the dialog kind, title, escaped text and labels in safe argv entries",
          "[sinks][zenity]") {
  sink_options o;
  o.dialog_timeout = std::chrono::seconds(900);
  auto e = test::make_envelope("-Harga <naik> & turun", "Body <i>1</i>\nline \x1b 2",
                               message::priority::normal);
  auto args = zenity_command(e, o).args;
  CHECK(args[0] == "--info");
  CHECK(has_arg(args, "--title=-Harga <naik> & turun"));
  CHECK(has_arg(
      args,
      "--text=<b>-Harga &lt;naik&gt; &amp; turun</b>\n\nBody &lt;i&gt;1&lt;/i&gt;\nline   2"));
  CHECK(has_arg(args, "--timeout=900"));
  CHECK_FALSE(std::any_of(args.begin(), args.end(),
                          [](const auto& a) { return a.starts_with("--ok-label"); }));

  e.priority = message::priority::high;
  e.require_ack = true;
  args = zenity_command(e, o).args;
  CHECK(args[0] == "--warning");
  CHECK(has_arg(args, "--ok-label=OK, understood"));
  e.priority = message::priority::urgent;
  CHECK(zenity_command(e, o).args[0] == "--error");
  CHECK_FALSE(zenity_command(e, o).stdin_text);

  // A body too long for a message dialog goes to a scrolling text window, on stdin.
  e.body = std::string(20, '\n') + "<end>";
  auto z = zenity_command(e, o);
  CHECK(z.args[0] == "--text-info");
  CHECK(has_arg(z.args, "--ok-label=OK, understood"));
  CHECK(has_arg(z.args, "--cancel-label=Close"));
  REQUIRE(z.stdin_text);
  CHECK(*z.stdin_text == "-Harga <naik> & turun\n\n" + e.body);
  e.body = std::string(1001, 'x');
  e.require_ack = false;
  z = zenity_command(e, o);
  CHECK(z.args[0] == "--text-info");
  CHECK(has_arg(z.args, "--ok-label=OK"));
}

TEST_CASE("notify-send gets urgency, app name, the action with require_ack, and an escaped body",
          "[sinks][notify-send]") {
  sink_options o;
  o.dialog_timeout = std::chrono::seconds(60);
  auto e = test::make_envelope("--help", "a < b & c", message::priority::urgent);
  auto args = notify_send_args(e, o);
  CHECK(has_arg(args, "--app-name=bcast"));
  CHECK(has_arg(args, "--urgency=critical"));
  CHECK_FALSE(std::any_of(args.begin(), args.end(),
                          [](const auto& a) { return a.starts_with("--action"); }));
  REQUIRE(args.size() >= 3);
  CHECK(args[args.size() - 3] == "--");
  CHECK(args[args.size() - 2] == "--help");
  CHECK(args.back() == "a &lt; b &amp; c");

  e.priority = message::priority::high;
  e.require_ack = true;
  args = notify_send_args(e, o);
  CHECK(has_arg(args, "--urgency=normal"));
  CHECK(has_arg(args, "--action=ack=OK, understood"));
  CHECK(has_arg(args, "--expire-time=60000"));
}

TEST_CASE("UTF-8 becomes UTF-16 for MessageBoxW, bad bytes become U+FFFD", "[sinks][win32]") {
  using win32::utf8_to_utf16;
  CHECK(utf8_to_utf16("Harga") == u"Harga");
  CHECK(utf8_to_utf16("\xc3\xa9\xe2\x82\xac") == u"\u00e9\u20ac");
  CHECK(utf8_to_utf16("\xf0\x9f\x98\x80") == u"\xd83d\xde00");  // U+1F600, a surrogate pair
  CHECK(utf8_to_utf16("a\x80z") == u"a\xfffdz");
  CHECK(utf8_to_utf16("\xc0\xaf") == u"\xfffd\xfffd");                      // overlong
  CHECK(utf8_to_utf16("\xed\xa0\x80") == u"\xfffd\xfffd\xfffd");            // a surrogate
  CHECK(utf8_to_utf16("\xe2\x82") == u"\xfffd");                            // cut short
  CHECK(utf8_to_utf16("\xf4\x90\x80\x80") == u"\xfffd\xfffd\xfffd\xfffd");  // past U+10FFFF
  CHECK(utf8_to_utf16("") == u"");
}
