// The rate-limited log: at most N lines a window, then one line with the count of the rest.

#include <bcast/core/log_limit.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

TEST_CASE("log::limited: N lines a window, the rest counted and told once the window is over") {
  std::vector<std::pair<core::log::level, std::string>> out;
  core::log::limited log(
      {2, 60s}, "rejected messages",
      [&](core::log::level l, std::string_view text) { out.emplace_back(l, text); });
  const auto t0 = core::log::limited::clock::now();
  using core::log::level;
  log.write(level::warning, "one", t0);
  log.write(level::warning, "two", t0 + 1s);
  log.write(level::warning, "three", t0 + 2s);
  log.write(level::warning, "four", t0 + 59s);
  CHECK(log.held_back() == 2);
  REQUIRE(out.size() == 2);
  CHECK(out[1] == std::pair{level::warning, std::string("two")});
  log.flush(t0 + 59s);  // the window started with "one" and is not over
  CHECK(out.size() == 2);

  // The next line after the window: first the count, then the line, in a new window.
  log.write(level::warning, "five", t0 + 60s);
  REQUIRE(out.size() == 4);
  CHECK(out[2] == std::pair{level::warning, std::string("... and 2 more rejected messages (the "
                                                        "log names at most 2 per 60 s)")});
  CHECK(out[3].second == "five");
  CHECK(log.held_back() == 0);

  // flush() alone tells the count once the window is over (no event may come to do it).
  log.write(level::warning, "six", t0 + 61s);
  log.write(level::warning, "seven", t0 + 62s);
  CHECK(log.held_back() == 1);
  log.flush(t0 + 119s);
  CHECK(out.size() == 5);
  log.flush(t0 + 120s);
  REQUIRE(out.size() == 6);
  CHECK(out[5].second == "... and 1 more rejected messages (the log names at most 2 per 60 s)");
  log.flush(t0 + 500s);
  CHECK(out.size() == 6);

  // A window that held nothing back ends without a line.
  log.write(level::warning, "eight", t0 + 600s);
  log.write(level::warning, "nine", t0 + 661s);
  REQUIRE(out.size() == 8);
  CHECK(out[7].second == "nine");

  // finish(): the count at once, window over or not.
  log.write(level::warning, "ten", t0 + 662s);
  log.write(level::warning, "eleven", t0 + 663s);
  log.finish();
  REQUIRE(out.size() == 10);
  CHECK(out[9].second == "... and 1 more rejected messages (the log names at most 2 per 60 s)");
}
