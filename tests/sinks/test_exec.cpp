// exec:CMD with real /bin/sh children, and the bounded popup queue every sink shares.

#include <bcast/core/loop.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/sinks/exec.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/sink_set.hpp>

#include <catch2/catch.hpp>

#include "sink_fixtures.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
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

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<sink> exec(core::loop& l, const std::string& cmd, const sink_options& o = {}) {
  auto s = make_sink(l, "exec:" + cmd, o);
  REQUIRE_OK(s);
  return std::move(s).value();
}

// close() and wait until every child is gone, so that the loop can be destroyed.
}  // namespace

TEST_CASE("exec: the command sees every BCAST_ variable and the envelope JSON on stdin",
          "[sinks][exec]") {
  core::loop l;
  test::temp_dir dir;
  const auto d = dir.path().string();
  auto s =
      exec(l,
           "for v in BCAST_ID BCAST_TITLE BCAST_BODY BCAST_CATEGORY BCAST_PRIORITY BCAST_TARGETS "
           "BCAST_SENT_AT BCAST_EXPIRES_AT BCAST_SENDER BCAST_REQUIRE_ACK; do "
           "eval \"printf '%s' \\\"\\$$v\\\"\" > '" +
               d + "'/$v; done; cat > '" + d + "/stdin.json'");
  auto e = test::make_envelope("Harga \"minyak\" $HOME `id` turun",
                               "Baris satu\nBaris dua; rm -rf /tmp/x & echo",
                               message::priority::high, true);
  e.expires_at = "2026-11-27T10:00:00.000Z";
  recorder r;
  s->show(e, r.reporter());
  CHECK(r.events.empty());  // never from inside show()
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  REQUIRE(r.kinds() == std::vector{outcome::displayed});
  CHECK(r.events[0].sink == s->name());

  CHECK(slurp(dir.file("BCAST_ID")) == e.id);
  CHECK(slurp(dir.file("BCAST_TITLE")) == e.title);
  CHECK(slurp(dir.file("BCAST_BODY")) == e.body);
  CHECK(slurp(dir.file("BCAST_CATEGORY")) == "price_info");
  CHECK(slurp(dir.file("BCAST_PRIORITY")) == "high");
  CHECK(slurp(dir.file("BCAST_TARGETS")) == "all,region:jateng");
  CHECK(slurp(dir.file("BCAST_SENT_AT")) == "2026-11-26T10:00:00.123Z");
  CHECK(slurp(dir.file("BCAST_EXPIRES_AT")) == "2026-11-27T10:00:00.000Z");
  CHECK(slurp(dir.file("BCAST_SENDER")) == "admin");
  CHECK(slurp(dir.file("BCAST_REQUIRE_ACK")) == "1");
  const auto json = slurp(dir.file("stdin.json"));
  CHECK(json.back() == '\n');
  auto decoded = message::decode(json);
  REQUIRE_OK(decoded);
  CHECK(*decoded == e);
}

TEST_CASE("exec: a failing command is failed, with stderr's first line", "[sinks][exec]") {
  core::loop l;
  auto s = exec(l, "echo; echo 'cannot reach the display wall' >&2; echo more >&2; exit 3");
  recorder r;
  s->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  REQUIRE(r.kinds() == std::vector{outcome::failed});
  CHECK(r.reason() == "command exited with status 3: cannot reach the display wall");
}

TEST_CASE("exec: a hanging command is killed with its children at the timeout", "[sinks][exec]") {
  core::loop l;
  sink_options o;
  o.command_timeout = 300ms;
  // sleep is the shell's child: killing only the shell would leave it holding the pipes for 30 s.
  auto s = exec(l, "echo started >&2; sleep 30; echo never", o);
  recorder r;
  const auto started = std::chrono::steady_clock::now();
  s->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(
      l, [&] { return s->pending() == 0; }, 15s));
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  REQUIRE(r.kinds() == std::vector{outcome::failed});
  CHECK(r.reason() == "command timed out; killed after 300 ms: started");
}

TEST_CASE("exec: a line `acknowledged` on stdout acknowledges, after exit 0 only",
          "[sinks][exec]") {
  core::loop l;
  auto acks = exec(l, "cat >/dev/null; echo shown; echo acknowledged");
  auto plain = exec(l, "echo 'not acknowledged'");
  auto failing = exec(l, "echo acknowledged; exit 1");
  recorder a, p, f;
  acks->show(test::make_envelope("t", "b", message::priority::normal, true), a.reporter());
  plain->show(test::make_envelope("t", "b", message::priority::normal, true), p.reporter());
  failing->show(test::make_envelope("t", "b", message::priority::normal, true), f.reporter());
  REQUIRE(test::run_until(
      l, [&] { return acks->pending() + plain->pending() + failing->pending() == 0; }));
  CHECK(a.kinds() == std::vector{outcome::displayed, outcome::acknowledged});
  CHECK(p.kinds() == std::vector{outcome::displayed});
  CHECK(f.kinds() == std::vector{outcome::failed});
}

TEST_CASE("exec: a missing shell is failed, not a crash", "[sinks][exec]") {
  core::loop l;
  sink_options o;
  o.shell = "/nonexistent/sh";
  auto s = exec(l, "true", o);
  recorder r;
  s->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  REQUIRE(r.kinds() == std::vector{outcome::failed});
  CHECK(contains(r.reason(), "/nonexistent/sh"));
}

TEST_CASE("queue: past max_running + max_queued a message is failed, not queued",
          "[sinks][queue]") {
  core::loop l;
  sink_options o;
  o.max_running = 2;
  o.max_queued = 3;
  test::temp_dir dir;
  // Each command records that it started, then hangs like a popup nobody closes.
  auto s = exec(l, "echo $BCAST_ID >> '" + dir.file("started") + "'; exec sleep 60", o);
  std::vector<recorder> r(7);
  for (auto& rec : r) s->show(test::make_envelope("t", "b"), rec.reporter());
  CHECK(s->pending() == 5);
  for (const auto& rec : r) CHECK(rec.events.empty());
  REQUIRE(
      test::run_until(l, [&] { return r[5].has(outcome::failed) && r[6].has(outcome::failed); }));
  CHECK(r[5].reason() == "queue full: 5 messages are already showing or waiting");
  for (int i = 0; i < 5; ++i) CHECK(r[i].events.empty());
  // Exactly two run: wait for both to have started, then prove no third starts meanwhile.
  REQUIRE(test::run_until_polled(l, [&] { return slurp(dir.file("started")).size() == 2 * 27; }));
  test::run_for(l, 300ms);
  CHECK(slurp(dir.file("started")).size() == 2 * 27);

  test::close_and_drain(l, *s);
  CHECK(s->pending() == 0);
  for (int i = 0; i < 5; ++i) CHECK(r[i].events.empty());  // nothing is reported after close()
  recorder late;
  s->show(test::make_envelope("t", "b"), late.reporter());
  test::run_for(l, 50ms);
  CHECK(late.events.empty());
}

TEST_CASE("queue: a popup that never ends does not stop the next messages", "[sinks][queue]") {
  core::loop l;
  sink_options o;
  o.max_running = 2;
  auto s = exec(l, "if [ \"$BCAST_TITLE\" = stuck ]; then exec sleep 60; fi", o);
  recorder stuck, next1, next2;
  s->show(test::make_envelope("stuck", "b"), stuck.reporter());
  s->show(test::make_envelope("next", "b"), next1.reporter());
  s->show(test::make_envelope("next", "b"), next2.reporter());
  REQUIRE(test::run_until(
      l, [&] { return next1.has(outcome::displayed) && next2.has(outcome::displayed); }));
  CHECK(stuck.events.empty());
  CHECK(s->pending() == 1);
  test::close_and_drain(l, *s);
}

TEST_CASE("sink_set: one message reaches every sink, each reports under its name", "[sinks][set]") {
  core::loop l;
  test::temp_dir dir;
  auto set = make_sinks(l, {"exec:true", "jsonl:" + dir.file("a.jsonl"), "exec:exit 4"});
  REQUIRE_OK(set);
  recorder r;
  (*set)->show(test::make_envelope("t", "b"), r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.events.size() == 3 && (*set)->pending() == 0; }));
  std::vector<std::string> names;
  for (const auto& e : r.events) names.push_back(e.sink + "=" + std::string(to_string(e.kind)));
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"exec:exit 4=failed", "exec:true=displayed",
                                          "jsonl:" + dir.file("a.jsonl") + "=displayed"});
  bool closed = false;
  (*set)->close([&] { closed = true; });
  CHECK_FALSE(closed);
  REQUIRE(test::run_until(l, [&] { return closed; }));
}

TEST_CASE("a sink destroyed with children running kills them and reports nothing more",
          "[sinks][queue]") {
  core::loop l;
  test::temp_dir dir;
  recorder r;
  {
    auto s = exec(l, "echo $$ > '" + dir.file("pid") + "'; exec sleep 60");
    s->show(test::make_envelope("t", "b"), r.reporter());
    REQUIRE(test::run_until_polled(l, [&] { return slurp(dir.file("pid")).size() > 1; }));
  }
  const auto pid = std::stoi(slurp(dir.file("pid")));
  // The child is reaped by the loop; run it until the pid is gone.
  REQUIRE(test::run_until_polled(l, [&] { return ::kill(pid, 0) != 0; }));
  test::run_for(l, 50ms);
  CHECK(r.events.empty());
}

TEST_CASE("exec: a recall ends the command and its whole process group, reporting nothing",
          "[sinks][exec][recall]") {
  core::loop l;
  test::temp_dir dir;
  // The shell starts a grandchild and waits for it, as a command that runs a viewer would.
  auto s = exec(l, "sleep 600 & echo $! > '" + dir.file("grandchild") + "'; echo $$ > '" +
                       dir.file("child") + "'; wait");
  const auto e = test::make_envelope("Ditarik", "b", message::priority::normal, true);
  recorder r;
  s->show(e, r.reporter());
  REQUIRE(test::run_until_polled(l, [&] {
    return slurp(dir.file("grandchild")).size() > 1 && slurp(dir.file("child")).size() > 1;
  }));
  const auto child = std::stoi(slurp(dir.file("child")));
  const auto grandchild = std::stoi(slurp(dir.file("grandchild")));
  REQUIRE(test::process_alive(child));
  REQUIRE(test::process_alive(grandchild));

  s->recall(test::recall_notice_for(e), e.id);
  REQUIRE(test::run_until_polled(l, [&] {
    return s->pending() == 0 && !test::process_alive(child) && !test::process_alive(grandchild);
  }));
  test::run_for(l, 50ms);
  CHECK(r.events.empty());  // killed by the recall: neither failed nor displayed
}

TEST_CASE("queue: a recalled message that is still waiting is dropped, never run",
          "[sinks][queue][recall]") {
  core::loop l;
  test::temp_dir dir;
  sink_options o;
  o.max_running = 1;
  auto s = exec(l,
                "echo \"$BCAST_TITLE\" >> '" + dir.file("started") +
                    "'; if [ \"$BCAST_TITLE\" = open ]; then exec sleep 600; fi",
                o);
  const auto open = test::make_envelope("open", "b");
  const auto waiting = test::make_envelope("waiting", "b");
  const auto next = test::make_envelope("next", "b");
  recorder r_open, r_waiting, r_next;
  s->show(open, r_open.reporter());
  s->show(waiting, r_waiting.reporter());
  s->show(next, r_next.reporter());
  REQUIRE(test::run_until_polled(l, [&] { return slurp(dir.file("started")) == "open\n"; }));
  CHECK(s->pending() == 3);

  s->recall(test::recall_notice_for(waiting), waiting.id);
  CHECK(s->pending() == 2);
  // Recalling the open one frees its slot: the next message runs, the recalled one never does.
  s->recall(test::recall_notice_for(open), open.id);
  REQUIRE(test::run_until(l, [&] { return r_next.has(outcome::displayed); }));
  REQUIRE(test::run_until(l, [&] { return s->pending() == 0; }));
  CHECK(slurp(dir.file("started")) == "open\nnext\n");
  CHECK(r_waiting.events.empty());
  CHECK(r_open.events.empty());

  // A recall of a message the sink never had, or is done with, changes nothing.
  s->recall(test::recall_notice_for(next), next.id);
  s->recall(test::recall_notice_for(next), "01JD0000000000000000000000");
  test::run_for(l, 50ms);
  CHECK(r_next.kinds() == std::vector{outcome::displayed});
}

TEST_CASE("sink_set: a recall reaches every sink", "[sinks][set][recall]") {
  core::loop l;
  test::temp_dir dir;
  const auto path = dir.file("a.jsonl");
  auto set = make_sinks(l, {"exec:exec sleep 600", "jsonl:" + path});
  REQUIRE_OK(set);
  const auto e = test::make_envelope("t", "b");
  recorder r;
  (*set)->show(e, r.reporter());
  REQUIRE(test::run_until(l, [&] { return r.has(outcome::displayed); }));  // jsonl
  CHECK((*set)->pending() == 1);                                           // exec's sleep
  (*set)->recall(test::recall_notice_for(e), e.id);
  REQUIRE(test::run_until(l, [&] { return (*set)->pending() == 0; }));
  CHECK(slurp(path).ends_with("{\"event\":\"recalled\",\"id\":\"" + e.id + "\"}\n"));
  CHECK(r.events.size() == 1);
}
