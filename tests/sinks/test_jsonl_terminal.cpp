// jsonl:PATH on real files, and terminal on real pipes and a pty.

#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/sinks/jsonl.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/sinks/terminal.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace bcast::sinks;
using namespace std::chrono_literals;
using bcast::test::contains;
using bcast::test::recorder;

namespace {

// Sets an environment variable (empty: unsets it) for one scope.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (*value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  while (true) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::fcntl(fd, F_SETFL, flags);
  return out;
}

struct pipe_pair {
  int read = -1, write = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read = fds[0];
    write = fds[1];
  }
  ~pipe_pair() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
};

// A pseudo-terminal: what the sink writes to `slave` is read back from `master`.
struct pty_pair {
  int master = -1, slave = -1;
  pty_pair() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
  }
  pty_pair(const pty_pair&) = delete;
  pty_pair& operator=(const pty_pair&) = delete;
  ~pty_pair() {
    if (slave >= 0) ::close(slave);
    if (master >= 0) ::close(master);
  }
};

}  // namespace

TEST_CASE("jsonl: each message is one appended line that decodes to the envelope, in order",
          "[sinks][jsonl]") {
  core::loop l;
  test::temp_dir dir;
  const auto path = dir.file("messages.jsonl");
  { std::ofstream(path) << "{\"earlier\":true}\n"; }
  auto s = make_sink(l, "jsonl:" + path);
  REQUIRE_OK(s);
  std::vector<message::envelope> sent;
  std::vector<recorder> r(20);
  for (int i = 0; i < 20; ++i) {
    sent.push_back(
        test::make_envelope("Judul " + std::to_string(i), "Isi\nbaris \"dua\" \xe2\x82\xac"));
    (*s)->show(sent.back(), r[static_cast<std::size_t>(i)].reporter());
  }
  REQUIRE(test::run_until(l, [&] { return (*s)->pending() == 0; }));
  for (const auto& rec : r) CHECK(rec.kinds() == std::vector{outcome::displayed});
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 21);
  CHECK(lines[0] == "{\"earlier\":true}");
  for (std::size_t i = 0; i < 20; ++i) {
    auto e = message::decode(lines[i + 1]);
    REQUIRE_OK(e);
    CHECK(*e == sent[i]);
  }
}

TEST_CASE("jsonl: a path that cannot be written is failed with the errno text", "[sinks][jsonl]") {
  core::loop l;
  test::temp_dir dir;
  // Tests run as root in CI, so permissions prove nothing; a missing directory and a directory do.
  auto missing = make_sink(l, "jsonl:" + dir.file("no/such/dir/m.jsonl"));
  auto directory = make_sink(l, "jsonl:" + dir.path().string());
  REQUIRE_OK(missing);
  REQUIRE_OK(directory);
  recorder a, b;
  (*missing)->show(test::make_envelope("t", "b"), a.reporter());
  (*directory)->show(test::make_envelope("t", "b"), b.reporter());
  REQUIRE(test::run_until(l, [&] { return a.has(outcome::failed) && b.has(outcome::failed); }));
  CHECK(a.kinds() == std::vector{outcome::failed});
  CHECK(a.reason() ==
        "cannot open " + dir.file("no/such/dir/m.jsonl") + ": No such file or directory");
  CHECK(b.reason() == "cannot open " + dir.path().string() + ": Is a directory");
  REQUIRE(test::run_until(l, [&] { return (*missing)->pending() + (*directory)->pending() == 0; }));
}

TEST_CASE(
    "jsonl: a symbolic link or a FIFO at the path is refused with a clear reason, the target "
    "untouched",
    "[sinks][jsonl]") {
  core::loop l;
  test::temp_dir dir;
  const auto target = dir.file("elsewhere.txt");
  std::ofstream(target) << "not for bcast\n";
  const auto link = dir.file("m.jsonl");
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  const auto fifo = dir.file("fifo.jsonl");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // nobody reads it: a blocking open would hang
  auto linked = make_sink(l, "jsonl:" + link);
  auto piped = make_sink(l, "jsonl:" + fifo);
  REQUIRE_OK(linked);
  REQUIRE_OK(piped);
  recorder a, b;
  (*linked)->show(test::make_envelope("t", "b"), a.reporter());
  (*piped)->show(test::make_envelope("t", "b"), b.reporter());
  REQUIRE(test::run_until(l, [&] { return a.has(outcome::failed) && b.has(outcome::failed); }));
  CHECK(a.kinds() == std::vector{outcome::failed});
  CHECK(a.reason() ==
        "cannot open " + link + ": it is a symbolic link, which the jsonl sink refuses");
  CHECK(b.reason() == "cannot open " + fifo + ": not a regular file");
  CHECK(lines_of(target) == std::vector<std::string>{"not for bcast"});
  CHECK_FALSE((*linked)->has_shown(test::make_envelope("t", "b")));
  CHECK_FALSE((*piped)->has_shown(test::make_envelope("t", "b")));
  REQUIRE(test::run_until(l, [&] { return (*linked)->pending() + (*piped)->pending() == 0; }));
}

TEST_CASE("jsonl: after a crash it tells which messages its file already holds", "[sinks][jsonl]") {
  core::loop l;
  test::temp_dir dir;
  const auto path = dir.file("messages.jsonl");
  auto s = make_sink(l, "jsonl:" + path);
  REQUIRE_OK(s);
  const auto written = test::make_envelope("written", "b");
  auto other = test::make_envelope("not written", "b");
  other.id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4Z";
  REQUIRE(written.id != other.id);
  CHECK_FALSE((*s)->has_shown(written));  // no file yet
  recorder r;
  (*s)->show(written, r.reporter());
  CHECK((*s)->has_shown(written));
  CHECK_FALSE((*s)->has_shown(other));

  // A set of sinks shows a message only where it is missing.
  sink_set both(l);
  both.add(std::move(*s));
  auto second = make_sink(l, "jsonl:" + dir.file("second.jsonl"));
  REQUIRE_OK(second);
  both.add(std::move(*second));
  CHECK_FALSE(both.has_shown(written));
  recorder again;
  CHECK(both.show_where_missing(written, again.reporter()) == 1);
  CHECK(both.has_shown(written));
  CHECK(both.show_where_missing(written, again.reporter()) == 0);
  REQUIRE(test::run_until(l, [&] { return both.pending() == 0; }));
  CHECK(lines_of(path).size() == 1);
  CHECK(lines_of(dir.file("second.jsonl")).size() == 1);
}

TEST_CASE("terminal: a readable block on the fd, without colour on a pipe", "[sinks][terminal]") {
  core::loop l;
  pipe_pair p;
  sink_options o;
  o.terminal_fd = p.write;
  auto s = make_sink(l, "terminal", o);
  REQUIRE_OK(s);
  recorder r;
  auto e = test::make_envelope("Harga \x1b[2J minyak turun", "Mulai besok\nDiskon 20%",
                               message::priority::urgent);
  (*s)->show(e, r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  const auto out = drain(p.read);
  CHECK(contains(out, "!!!!!!!! URGENT !!!!!!!!\n== "));
  CHECK(contains(out, "| URGENT | Price info =="));
  CHECK(contains(out, "\nHarga  [2J minyak turun\n  Mulai besok\n  Diskon 20%\n"));
  CHECK(contains(out, "2026-11-26 "));
  CHECK_FALSE(contains(out, "\x1b"));
}

TEST_CASE("terminal: colour when asked, or on a tty", "[sinks][terminal]") {
  core::loop l;
  pipe_pair p;
  sink_options o;
  o.terminal_fd = p.write;
  o.terminal_colour = colour_mode::always;
  auto s = make_sink(l, "terminal", o);
  REQUIRE_OK(s);
  recorder r;
  (*s)->show(test::make_envelope("Judul", "Isi", message::priority::high), r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  const auto out = drain(p.read);
  CHECK(contains(out, "\x1b[1;33m== "));
  CHECK(contains(out, "\x1b[1mJudul\x1b[0m"));

  pty_pair tty;
  o.terminal_fd = tty.slave;
  o.terminal_colour = colour_mode::automatic;
  const char* no_colour = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  const bool colour_expected = !(no_colour && *no_colour) && !(term && std::string(term) == "dumb");
  auto t = make_sink(l, "terminal", o);
  REQUIRE_OK(t);
  recorder r2;
  (*t)->show(test::make_envelope("Judul", "Isi"), r2.reporter());
  REQUIRE(test::run_until(l, [&] { return r2.has(outcome::displayed); }));
  CHECK(contains(drain(tty.master), "\x1b[") == colour_expected);
}

TEST_CASE("terminal: Indonesian words; an urgent message has a banner, in colour only when allowed",
          "[sinks][terminal][words][urgent]") {
  core::loop l;
  pipe_pair p;
  sink_options o;
  o.terminal_fd = p.write;
  o.language = language::id;
  auto s = make_sink(l, "terminal", o);
  REQUIRE_OK(s);
  recorder r;
  auto e = test::make_envelope("Toko tutup", "Listrik padam", message::priority::urgent, true);
  (*s)->show(e, r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  auto out = drain(p.read);
  INFO(out);
  CHECK(out.starts_with("!!!!!!!! MENDESAK !!!!!!!!\n== 2026-11-26 "));
  CHECK(contains(out, " | MENDESAK | Info Harga ==\nToko tutup\n  Listrik padam\n"));
  CHECK(contains(out, "  (mohon konfirmasi pesan ini)\n"));
  CHECK_FALSE(contains(out, "confirm"));
  CHECK_FALSE(contains(out, "URGENT"));

  recorder r2;
  auto normal = test::make_envelope("Jam buka", "Buka jam 8", message::priority::normal);
  normal.category = "announcement";
  (*s)->show(normal, r2.reporter());
  REQUIRE(test::run_until(l, [&] { return r2.has(outcome::displayed); }));
  out = drain(p.read);
  CHECK(contains(out, " | Biasa | Pengumuman ==\n"));
  CHECK_FALSE(contains(out, "!!!"));

  (*s)->recall(test::recall_notice_for(normal), normal.id);
  REQUIRE(test::run_until(l, [&] { return (*s)->pending() == 0; }));
  CHECK(contains(drain(p.read), " | DITARIK | Jam buka ==\n"));

  // On a tty the banner is in reverse video, unless NO_COLOR says no colour at all.
  pty_pair tty;
  o.terminal_fd = tty.slave;
  o.language = language::en;
  for (const bool no_colour : {false, true}) {
    scoped_env env("NO_COLOR", no_colour ? "1" : "");
    scoped_env term("TERM", "xterm");
    auto t = make_sink(l, "terminal", o);
    REQUIRE_OK(t);
    recorder r3;
    (*t)->show(test::make_envelope("Toko tutup", "Isi", message::priority::urgent), r3.reporter());
    REQUIRE(test::run_until(l, [&] { return r3.has(outcome::displayed); }));
    const auto shown = drain(tty.master);
    INFO(shown);
    if (no_colour) {
      CHECK(contains(shown, "!!!!!!!! URGENT !!!!!!!!"));
      CHECK_FALSE(contains(shown, "\x1b"));
    } else {
      CHECK(contains(shown, "\x1b[1;7;31m!!!!!!!! URGENT !!!!!!!!\x1b[0m"));
    }
  }
}

TEST_CASE("terminal: a reader that does not read never blocks the loop", "[sinks][terminal]") {
  core::loop l;
  pipe_pair p;
  // Fill the pipe, then make its write end blocking again, as a stuck `subscriberd | less` is.
  const int flags = ::fcntl(p.write, F_GETFL);
  ::fcntl(p.write, F_SETFL, flags | O_NONBLOCK);
  const std::string junk(4096, 'x');
  while (::write(p.write, junk.data(), junk.size()) > 0) {
  }
  ::fcntl(p.write, F_SETFL, flags);

  sink_options o;
  o.terminal_fd = p.write;
  o.command_timeout = 300ms;
  auto s = make_sink(l, "terminal", o);
  REQUIRE_OK(s);
  recorder first, second;
  (*s)->show(test::make_envelope("one", "b"), first.reporter());
  (*s)->show(test::make_envelope("two", "b"), second.reporter());
  int ticks = 0;
  core::timer heartbeat(l);
  heartbeat.start(
      10ms, [&] { ++ticks; }, 10ms);
  REQUIRE(test::run_until(
      l, [&] { return second.has(outcome::failed); }, 10s));
  CHECK(ticks > 20);  // the loop kept running while stdout was stuck
  CHECK(contains(first.reason(), "cannot write to stdout: stdout did not take the message"));

  // Once the reader reads again, messages go through.
  drain(p.read);
  recorder third;
  (*s)->show(test::make_envelope("three", "b"), third.reporter());
  REQUIRE(test::run_until(l, [&] { return third.has(outcome::displayed); }));
  CHECK(contains(drain(p.read), "three"));
}

TEST_CASE("terminal: a reader that went away is failed (EPIPE), not SIGPIPE", "[sinks][terminal]") {
  core::loop l;
  pipe_pair p;
  ::close(p.read);
  p.read = -1;
  sink_options o;
  o.terminal_fd = p.write;
  auto s = make_sink(l, "terminal", o);
  REQUIRE_OK(s);
  recorder r;
  (*s)->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::failed); }));
  CHECK(contains(r.reason(), "cannot write to stdout: "));
}

TEST_CASE("jsonl: a recall appends exactly one event line after the message",
          "[sinks][jsonl][recall]") {
  core::loop l;
  test::temp_dir dir;
  const auto path = dir.file("messages.jsonl");
  auto s = make_sink(l, "jsonl:" + path);
  REQUIRE_OK(s);
  const auto e = test::make_envelope("Harga minyak turun", "b");
  recorder r;
  (*s)->show(e, r.reporter());
  (*s)->recall(test::recall_notice_for(e), e.id);
  REQUIRE(test::run_until(l, [&] { return (*s)->pending() == 0; }));
  CHECK(r.kinds() == std::vector{outcome::displayed});
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 2);
  CHECK(message::decode(lines[0]).value() == e);
  CHECK(lines[1] == "{\"event\":\"recalled\",\"id\":\"" + e.id + "\"}");
}

TEST_CASE("terminal: a recall prints one line with the title; a waiting message is dropped",
          "[sinks][terminal][recall]") {
  core::loop l;
  pipe_pair p;
  sink_options o;
  o.terminal_fd = p.write;
  auto s = make_sink(l, "terminal", o);
  REQUIRE_OK(s);
  const auto shown = test::make_envelope("Harga \x1b[2J minyak turun", "Diskon 20%");
  recorder r;
  (*s)->show(shown, r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));
  const auto block = drain(p.read);
  REQUIRE(contains(block, "Diskon 20%"));

  (*s)->recall(test::recall_notice_for(shown), shown.id);
  REQUIRE(test::run_until(l, [&] { return (*s)->pending() == 0; }));
  const auto line = drain(p.read);
  CHECK(contains(line, "2026-11-26 "));
  CHECK(line.ends_with(" | RECALLED | Harga  [2J minyak turun ==\n\n"));
  CHECK(line.starts_with("== "));
  CHECK(std::count(line.begin(), line.end(), '\n') == 2);  // the line and a blank one
  CHECK(r.kinds() == std::vector{outcome::displayed});

  // Queued behind another block and recalled before its turn: never printed, and no line.
  const auto first = test::make_envelope("Pertama", "satu");
  const auto second = test::make_envelope("Kedua", "dua");
  recorder r1, r2;
  (*s)->show(first, r1.reporter());
  (*s)->show(second, r2.reporter());
  (*s)->recall(test::recall_notice_for(second), second.id);
  REQUIRE(test::run_until(l, [&] { return (*s)->pending() == 0; }));
  const auto out = drain(p.read);
  CHECK(contains(out, "Pertama"));
  CHECK_FALSE(contains(out, "Kedua"));
  CHECK_FALSE(contains(out, "RECALLED"));
  CHECK(r2.events.empty());

  // Taken down by a correction, whose block comes next: the line names it.
  auto correction = test::make_envelope("Harga minyak turun 25%", "Koreksi");
  correction.supersedes = first.id;
  (*s)->recall(correction, first.id);
  REQUIRE(test::run_until(l, [&] { return (*s)->pending() == 0; }));
  CHECK(contains(drain(p.read), " | RECALLED | replaced by \"Harga minyak turun 25%\" ==\n"));
}
