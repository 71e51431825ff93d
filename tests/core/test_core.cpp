#include <bcast/core/cli.hpp>
#include <bcast/core/daemon.hpp>
#include <bcast/core/files.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/core/temp_dir.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/core/work.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace bcast;
using namespace std::chrono_literals;

TEST_CASE("a timer fires once, a repeating timer until stopped") {
  core::loop l;
  int once = 0, repeated = 0;
  core::timer a(l), b(l);
  a.start(5ms, [&] { ++once; });
  b.start(
      1ms,
      [&] {
        if (++repeated == 3) b.stop();
      },
      1ms);
  l.run();
  CHECK(once == 1);
  CHECK(repeated == 3);
}

TEST_CASE("a timer may be destroyed and restarted from inside its own callback") {
  core::loop l;
  auto t = std::make_unique<core::timer>(l);
  int fired = 0;
  t->start(1ms, [&] {
    ++fired;
    t.reset();
  });
  core::timer r(l);
  int restarts = 0;
  r.start(1ms, [&] { r.start(1ms, [&] { ++restarts; }); });
  l.run();
  CHECK(fired == 1);
  CHECK(t == nullptr);
  CHECK(restarts == 1);
}

TEST_CASE("defer never runs the work inside the call that asked for it") {
  core::loop l;
  bool ran = false;
  l.defer([&] { ran = true; });
  CHECK_FALSE(ran);
  l.run();
  CHECK(ran);
}

TEST_CASE("post delivers work from another thread onto the loop thread") {
  core::loop l;
  std::thread::id ran_on;
  bool done = false;
  core::timer keepalive(l);
  keepalive.start(10s, [] {});
  std::thread other([&] {
    l.post([&] {
      ran_on = std::this_thread::get_id();
      done = true;
      keepalive.stop();
    });
  });
  REQUIRE(test::run_until(l, [&] { return done; }));
  other.join();
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("a signal watcher sees the signal") {
  core::loop l;
  bool seen = false;
  core::signal_watcher w(l, SIGUSR1, [&] { seen = true; });
  ::raise(SIGUSR1);
  CHECK(test::run_until(
      l, [&] { return seen; }, 5s));
}

TEST_CASE("a child process gets stdin and its output and exit status are captured") {
  core::loop l;
  core::process_options o;
  o.file = "sh";
  o.args = {"-c", "read line; echo \"got $line $BCAST_X\"; echo oops >&2; exit 3"};
  o.extra_env = {"BCAST_X=42"};
  o.stdin_data = "hello\n";
  std::optional<core::process_result> result;
  auto p = core::process::spawn(l, o, [&](const core::process_result& r) { result = r; });
  REQUIRE_OK(p);
  CHECK(p.value()->pid() > 0);
  l.run();
  REQUIRE(result);
  CHECK(result->exit_status == 3);
  CHECK(result->stdout_data == "got hello 42\n");
  CHECK(result->stderr_data == "oops\n");
  CHECK_FALSE(result->timed_out);
  CHECK_FALSE(result->exited_ok());
}

TEST_CASE("a child that outlives its timeout is killed and reported as timed out") {
  core::loop l;
  core::process_options o;
  o.file = "sleep";
  o.args = {"30"};
  o.timeout = 100ms;
  std::optional<core::process_result> result;
  auto started = std::chrono::steady_clock::now();
  auto p = core::process::spawn(l, o, [&](const core::process_result& r) { result = r; });
  REQUIRE_OK(p);
  l.run();
  REQUIRE(result);
  CHECK(result->timed_out);
  CHECK(result->term_signal == SIGKILL);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("output beyond the capture bound is discarded, and the child still finishes") {
  core::loop l;
  core::process_options o;
  o.file = "sh";
  o.args = {"-c", "head -c 1000000 /dev/zero"};
  o.max_output_bytes = 1000;
  std::optional<core::process_result> result;
  auto p = core::process::spawn(l, o, [&](const core::process_result& r) { result = r; });
  REQUIRE_OK(p);
  l.run();
  REQUIRE(result);
  CHECK(result->exit_status == 0);
  CHECK(result->stdout_data.size() == 1000);
}

TEST_CASE("spawning a program that does not exist is a clear error, not a crash") {
  core::loop l;
  core::process_options o;
  o.file = "/nonexistent/bcast-no-such-program";
  bool called = false;
  auto p = core::process::spawn(l, o, [&](const core::process_result&) { called = true; });
  REQUIRE_FALSE(p.ok());
  CHECK(p.err().message().find("no such file") != std::string::npos);
  l.run();
  CHECK_FALSE(called);
}

TEST_CASE("error carries its detail into the message") {
  core::error e(core::errc::timeout, "Redis at x");
  CHECK(e == core::errc::timeout);
  CHECK(e.message() == "timed out: Redis at x");
  core::result<int> r = core::errc::closed;
  CHECK_FALSE(r.ok());
  core::result<int> v = 7;
  CHECK(*v == 7);
}

TEST_CASE("work runs on a pool thread and its result comes back on the loop thread") {
  core::loop l;
  core::worker_pool pool(l, {.threads = 2, .queue = 8});
  auto loop_thread = std::this_thread::get_id();
  std::thread::id worked_on, done_on;
  int result = 0;
  REQUIRE(pool.submit(
      [&] {
        worked_on = std::this_thread::get_id();
        return 6 * 7;
      },
      [&](int r) {
        done_on = std::this_thread::get_id();
        result = r;
      }));
  CHECK(result == 0);
  CHECK(pool.in_flight() == 1);
  l.run();  // the job in flight keeps the loop running; an idle pool does not
  CHECK(result == 42);
  CHECK(worked_on != loop_thread);
  CHECK(done_on == loop_thread);
  CHECK(pool.in_flight() == 0);
}

TEST_CASE("a worker pool takes threads + queue jobs, refuses more at once, and frees the room") {
  core::loop l;
  core::worker_pool pool(l, {.threads = 2, .queue = 3});
  std::mutex gate;
  std::unique_lock closed(gate);  // the jobs wait here, so that none finishes early
  int done = 0;
  const auto job = [&] {
    std::lock_guard pass(gate);
    return 1;
  };
  for (int i = 0; i < 5; ++i) REQUIRE(pool.submit(job, [&](int r) { done += r; }));
  CHECK_FALSE(pool.submit(job, [&](int) { FAIL("a refused job ran"); }));
  CHECK(pool.in_flight() == 5);
  closed.unlock();
  REQUIRE(test::run_until(l, [&] { return done == 5; }));
  CHECK(pool.submit(job, [&](int r) { done += r; }));
  REQUIRE(test::run_until(l, [&] { return done == 6; }));
}

TEST_CASE(
    "a worker pool destroyed with jobs in flight runs no `done`, and work that throws is "
    "dropped") {
  core::loop l;
  bool called = false;
  {
    core::worker_pool pool(l, {.threads = 1, .queue = 4});
    for (int i = 0; i < 4; ++i) REQUIRE(pool.submit([] { return 1; }, [&](int) { called = true; }));
  }
  l.run();
  CHECK_FALSE(called);

  core::worker_pool pool(l, {.threads = 1, .queue = 0});
  REQUIRE(
      pool.submit([]() -> int { throw std::runtime_error("no"); }, [&](int) { called = true; }));
  REQUIRE(test::run_until(l, [&] { return pool.in_flight() == 0; }));
  CHECK_FALSE(called);
}

TEST_CASE("command lines: options, repeats, switches, positionals and usage errors") {
  core::cli::spec s{{"redis", "http", "target"}, {"check-config", "require-ack"}};
  const char* argv[] = {"publisherd", "--redis",        "redis://a",      "--http=127.0.0.1:1",
                        "--http",     "[::1]:2",        "--check-config", "body text",
                        "--",         "--not-an-option"};
  auto a = core::cli::parse(10, argv, s);
  REQUIRE_OK(a);
  CHECK(a->value("redis") == "redis://a");
  CHECK(a->values("http") == std::vector<std::string>{"127.0.0.1:1", "[::1]:2"});
  CHECK(a->has("check-config"));
  CHECK_FALSE(a->has("require-ack"));
  CHECK(a->positional() == std::vector<std::string>{"body text", "--not-an-option"});

  const char* unknown[] = {"x", "--bogus"};
  CHECK(core::cli::parse(2, unknown, s).err().message().find("unknown option --bogus") !=
        std::string::npos);
  const char* missing[] = {"x", "--redis"};
  CHECK(core::cli::parse(2, missing, s).err().message().find("needs a value") != std::string::npos);
  const char* valued_switch[] = {"x", "--check-config=yes"};
  CHECK_FALSE(core::cli::parse(2, valued_switch, s).ok());
}

TEST_CASE("a log message stays one line: control characters from outside are escaped") {
  std::string line = "warning: ";
  core::log::append_escaped(line,
                            "failed login for \"x\nerror: forged\" \x1b[31m\tend\x7f \xc3\xa9\\n");
  CHECK(line ==
        "warning: failed login for \"x\\x0Aerror: forged\" \\x1B[31m\\x09end\\x7F \xc3\xa9\\n");
}

TEST_CASE("log::to_file: the log goes to a file, appended, the old one kept as .1 past its size") {
  auto dir = core::temp_dir::make();
  REQUIRE(dir);
  const auto file = dir->path() / "logs" / "subscriberd.log";  // the directory is made
  struct restore_stderr {
    ~restore_stderr() {
      if (core::log::config().output) std::fclose(core::log::config().output);
      core::log::config().output = nullptr;
    }
  } restore;
  const auto text_of = [](const std::filesystem::path& p) {
    return core::read_file_bounded(p.string(), 1 << 20).value();
  };
  REQUIRE(core::log::to_file(file, 1024));
  core::log::notice("first line");
  REQUIRE(core::log::to_file(file, 1024));  // small: appended to
  core::log::notice("second line");
  CHECK(test::contains(text_of(file), "first line\n"));
  CHECK(test::contains(text_of(file), "second line\n"));
  REQUIRE(core::log::to_file(file, 10));  // past 10 bytes: kept as .1, a new file begun
  core::log::notice("third line");
  CHECK(test::contains(text_of(file.string() + ".1"), "second line\n"));
  CHECK(text_of(file).find("first line") == std::string::npos);
  CHECK(test::contains(text_of(file), "third line\n"));
  // Under a plain file there is no directory to make: refused, and the log stays where it was.
  REQUIRE(core::write_file_atomic(dir->file("plain"), "", 0600));
  CHECK_FALSE(core::log::to_file(dir->path() / "plain" / "x.log", 10));
  core::log::notice("fourth line");
  CHECK(test::contains(text_of(file), "fourth line\n"));
}

TEST_CASE("raise_descriptor_limit lifts the soft limit towards the hard one, up to its ceiling") {
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (saved.rlim_max < 512) {
    WARN("the hard descriptor limit is below 512; skipped");
    return;
  }
  rlimit low{256, saved.rlim_max};
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  const std::size_t ceiling = 400;
  CHECK(core::raise_descriptor_limit(ceiling) == ceiling);
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  CHECK(now.rlim_cur == ceiling);
  CHECK(now.rlim_max == saved.rlim_max);  // the hard limit is never touched
  // A soft limit already above the ceiling stays as it is.
  CHECK(core::raise_descriptor_limit(300) == ceiling);
  CHECK(core::raise_descriptor_limit() == std::min<rlim_t>(saved.rlim_max, 65536));
  ::setrlimit(RLIMIT_NOFILE, &saved);
}
