#include <bcast/auth/throttle.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace bcast::auth;
using namespace std::chrono_literals;

namespace {
const login_throttle::clock::time_point t0 = login_throttle::clock::time_point{} + 1000h;
}

TEST_CASE("five free failures, then a lock that doubles up to 15 minutes", "[auth][throttle]") {
  login_throttle throttle;
  auto now = t0;
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(throttle.check("admin", now));
    throttle.record_failure("admin", now);
  }
  CHECK_FALSE(throttle.check("admin", now));
  throttle.record_failure("admin", now);  // 5th
  CHECK(throttle.check("admin", now) == 1s);
  CHECK_FALSE(throttle.check("admin", now + 1s));

  const std::chrono::seconds expected[] = {2s,   4s,   8s,   16s,  32s,  64s,
                                           128s, 256s, 512s, 900s, 900s, 900s};
  for (auto lock : expected) {
    // Try again as soon as the lock ends: failures are remembered for 15 min after that.
    now += throttle.check("admin", now).value_or(0s);
    REQUIRE_FALSE(throttle.check("admin", now));
    throttle.record_failure("admin", now);
    CHECK(throttle.check("admin", now) == lock);
  }
  CHECK(throttle.lock_for(4) == 0s);
  CHECK(throttle.lock_for(5) == 1s);
  CHECK(throttle.lock_for(6) == 2s);
  CHECK(throttle.lock_for(15) == 900s);
  CHECK(throttle.lock_for(64) == 900s);
}

TEST_CASE("Retry-After rounds up and never says 0", "[auth][throttle]") {
  login_throttle throttle(throttle_options{1, 10s, 15min, 15min, 100, 128});
  throttle.record_failure("x", t0);
  CHECK(throttle.check("x", t0) == 10s);
  CHECK(throttle.check("x", t0 + 1ms) == 10s);
  CHECK(throttle.check("x", t0 + 9s) == 1s);
  CHECK(throttle.check("x", t0 + 9s + 999ms) == 1s);
  CHECK_FALSE(throttle.check("x", t0 + 10s));
}

TEST_CASE("success resets, quiet time forgets, accounts are separate", "[auth][throttle]") {
  login_throttle throttle;
  for (int i = 0; i < 5; ++i) throttle.record_failure("alice", t0);
  CHECK(throttle.check("alice", t0));
  CHECK_FALSE(throttle.check("bob", t0));

  // Unknown names are tracked exactly like real ones: the caller cannot tell them apart.
  for (int i = 0; i < 5; ++i) throttle.record_failure("no-such-user", t0);
  CHECK(throttle.check("no-such-user", t0) == 1s);

  throttle.record_success("alice");
  CHECK_FALSE(throttle.check("alice", t0));
  throttle.record_failure("alice", t0);
  CHECK_FALSE(throttle.check("alice", t0));  // counting starts again

  // Four failures, then 15 quiet minutes: the count is forgotten.
  login_throttle quiet;
  for (int i = 0; i < 4; ++i) quiet.record_failure("carol", t0);
  quiet.record_failure("carol", t0 + 15min);
  CHECK_FALSE(quiet.check("carol", t0 + 15min));
  // ...but four failures and then one more within the window do lock.
  for (int i = 0; i < 3; ++i) quiet.record_failure("carol", t0 + 16min);
  quiet.record_failure("carol", t0 + 20min);
  CHECK(quiet.check("carol", t0 + 20min) == 1s);

  CHECK(quiet.sweep(t0 + 20min + 1s + 14min) == 0);
  CHECK(quiet.sweep(t0 + 20min + 1s + 15min) == 1);
  CHECK(quiet.size() == 0);
}

TEST_CASE("bounded memory", "[auth][throttle]") {
  login_throttle throttle(throttle_options{5, 1s, 15min, 15min, 100, 16});
  for (int i = 0; i < 1000; ++i)
    throttle.record_failure("user" + std::to_string(i), t0 + std::chrono::seconds(i));
  CHECK(throttle.size() == 100);
  // The most recent ones are kept.
  for (int i = 0; i < 4; ++i) throttle.record_failure("user999", t0 + 1000s);
  CHECK(throttle.check("user999", t0 + 1000s) == 1s);

  // Over-long names are cut, so they cannot be used to grow memory per entry.
  login_throttle cut(throttle_options{5, 1s, 15min, 15min, 100, 16});
  for (int i = 0; i < 5; ++i) cut.record_failure(std::string(16, 'a') + std::to_string(i), t0);
  CHECK(cut.size() == 1);
  CHECK(cut.check(std::string(16, 'a'), t0) == 1s);
}
