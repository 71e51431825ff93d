// Sink specs, text helpers and the argv each dialog program gets.

#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/notify_send.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/win32.hpp>
#include <bcast/sinks/win32_dialog.hpp>
#include <bcast/sinks/words.hpp>
#include <bcast/sinks/zenity.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <algorithm>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

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
  CHECK(has_arg(args, "--title=-Harga <naik> & turun — Price info"));
  CHECK(has_arg(args,
                "--text=<small>Price info</small>\n<b>-Harga &lt;naik&gt; &amp; turun</b>\n\nBody "
                "&lt;i&gt;1&lt;/i&gt;\nline   2"));
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
  CHECK(*z.stdin_text == "Urgent · Price info\n\n-Harga <naik> & turun\n\n" + e.body);
  e.body = std::string(1001, 'x');
  e.require_ack = false;
  z = zenity_command(e, o);
  CHECK(z.args[0] == "--text-info");
  CHECK(has_arg(z.args, "--ok-label=OK"));
}

TEST_CASE("zenity in Indonesian: button, labels and window title", "[sinks][zenity][words]") {
  sink_options o;
  o.language = language::id;
  auto e = test::make_envelope("Harga naik", "Mulai besok", message::priority::high, true);
  e.category = "discount_info";
  auto args = zenity_command(e, o).args;
  CHECK(has_arg(args, "--ok-label=OK, mengerti"));
  CHECK(has_arg(args, "--title=Harga naik — Info Diskon"));
  CHECK(has_arg(args,
                "--text=<small>Penting · Info Diskon</small>\n<b>Harga naik</b>\n\nMulai besok"));
  e.category = "stock_check";  // not a default category: its name as sent
  e.body = std::string(2000, 'x');
  const auto z = zenity_command(e, o);
  CHECK(has_arg(z.args, "--title=Harga naik — stock_check"));
  CHECK(has_arg(z.args, "--cancel-label=Tutup"));
  CHECK(has_arg(z.args, "--ok-label=OK, mengerti"));
  REQUIRE(z.stdin_text);
  CHECK(z.stdin_text->starts_with("Penting · stock_check\n\nHarga naik\n\n"));
}

TEST_CASE("zenity: an urgent dialog is large, in large text; the others are not",
          "[sinks][zenity][urgent]") {
  sink_options o;
  auto e = test::make_envelope("Toko tutup", "Listrik padam", message::priority::urgent);
  auto args = zenity_command(e, o).args;
  CHECK(has_arg(args, "--width=" + std::to_string(zenity_urgent_min_width)));
  CHECK(has_arg(args, "--height=" + std::to_string(zenity_urgent_min_height)));
  CHECK(has_arg(args,
                "--text=<span size=\"large\" weight=\"bold\">Urgent · Price info</span>"
                "\n\n<span size=\"xx-large\"><b>Toko tutup</b></span>\n\n"
                "<span size=\"x-large\">Listrik padam</span>"));
  e.priority = message::priority::high;
  args = zenity_command(e, o).args;
  CHECK(has_arg(args, "--width=420"));
  CHECK_FALSE(std::any_of(args.begin(), args.end(),
                          [](const auto& a) { return a.starts_with("--height"); }));
  // The helper that asks the window manager to keep the urgent dialog above the rest.
  o.xdotool_program = "/opt/xdotool";
  o.wmctrl_program = "/opt/wmctrl";
  const auto helper = keep_above_args(o, 4242);
  REQUIRE(helper.size() == 5);
  CHECK(contains(helper[1], "search --sync --onlyvisible --pid"));
  CHECK(contains(helper[1], "-b add,above"));
  CHECK(helper[2] == "/opt/xdotool");
  CHECK(helper[3] == "/opt/wmctrl");
  CHECK(helper[4] == "4242");
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

  o.language = language::id;
  args = notify_send_args(e, o);
  CHECK(has_arg(args, "--action=ack=OK, mengerti"));
  CHECK_FALSE(has_arg(args, "--action=ack=OK, understood"));
}

TEST_CASE("the word tables: every language has every word, and the settings are en and id",
          "[sinks][words]") {
  CHECK(parse_language("en") == language::en);
  CHECK(parse_language("id") == language::id);
  CHECK_FALSE(parse_language("fr"));
  CHECK_FALSE(parse_language("ID"));
  CHECK_FALSE(parse_language(""));
  for (auto l : {language::en, language::id}) {
    const auto& w = words_for(l);
    for (auto word : {w.acknowledge, w.ok, w.close, w.please_confirm, w.press_ok_to_confirm,
                      w.reminder, w.recalled, w.replaced_by, w.normal, w.high, w.urgent}) {
      CHECK_FALSE(word.empty());
    }
  }
  const auto& id = words_for(language::id);
  CHECK(id.acknowledge == "OK, mengerti");
  CHECK(id.reminder == "Pengingat");
  CHECK(words_for(language::en).reminder == "Reminder");
  CHECK(priority_label(id, message::priority::normal) == "Biasa");
  CHECK(priority_label(id, message::priority::high) == "Penting");
  CHECK(priority_label(id, message::priority::urgent) == "Mendesak");
  CHECK(category_label(language::id, "announcement") == "Pengumuman");
  CHECK(category_label(language::id, "price_info") == "Info Harga");
  CHECK(category_label(language::id, "discount_info") == "Info Diskon");
  CHECK(category_label(language::en, "price_info") == "Price info");
  CHECK(category_label(language::id, "stock_check") == "stock_check");
}

TEST_CASE("win32: the MessageBox words in Indonesian; an urgent box is marked urgent",
          "[sinks][win32][words]") {
  auto e = test::make_envelope("Toko tutup", "Listrik padam", message::priority::urgent, true);
  e.category = "announcement";
  const auto r = dialog_request_for(e, language::id);
  CHECK(r.caption == "Toko tutup — Pengumuman");
  CHECK(r.text == "Mendesak\n\nToko tutup\n\nListrik padam\n\n" +
                      std::string(words_for(language::id).press_ok_to_confirm));
  CHECK(r.urgent);
  e.priority = message::priority::normal;
  e.require_ack = false;
  const auto plain = dialog_request_for(e, language::id);
  CHECK(plain.text == "Toko tutup\n\nListrik padam");
  CHECK_FALSE(plain.urgent);
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
