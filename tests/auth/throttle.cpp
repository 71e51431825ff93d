#include <bcast/auth/throttle.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace bcast::auth;
using namespace std::chrono_literals;
using throttle_outcome = login_throttle::outcome;

namespace {

const login_throttle::clock::time_point start = login_throttle::clock::time_point{} + 1000h;

// One attempt, started and ended at `now`; false if the throttle refused it.
bool attempt(login_throttle& t, std::string_view address, std::string_view account,
             throttle_outcome result, login_throttle::clock::time_point now) {
  if (t.begin(address, account, now)) return false;
  t.end(address, account, result, now);
  return true;
}

}  // namespace

TEST_CASE("per (address, account): five free failures, then a lock that doubles up to 15 minutes",
          "[auth][throttle]") {
  login_throttle throttle;
  auto now = start;
  for (int i = 0; i < 4; ++i)
    REQUIRE(attempt(throttle, "10.0.0.1", "admin", throttle_outcome::failed, now));
  CHECK_FALSE(throttle.check("10.0.0.1", "admin", now));
  REQUIRE(attempt(throttle, "10.0.0.1", "admin", throttle_outcome::failed, now));  // 5th
  CHECK(throttle.check("10.0.0.1", "admin", now) == 1s);
  CHECK(throttle.begin("10.0.0.1", "admin", now) == 1s);
  CHECK_FALSE(throttle.check("10.0.0.1", "admin", now + 1s));

  const std::chrono::seconds expected[] = {2s,   4s,   8s,   16s,  32s,  64s,
                                           128s, 256s, 512s, 900s, 900s, 900s};
  for (auto lock : expected) {
    // Try again as soon as the lock ends: failures are remembered for 15 min after that.
    now += throttle.check("10.0.0.1", "admin", now).value_or(0s);
    REQUIRE(attempt(throttle, "10.0.0.1", "admin", throttle_outcome::failed, now));
    CHECK(throttle.check("10.0.0.1", "admin", now) == lock);
  }
  CHECK(throttle.lock_for(4) == 0s);
  CHECK(throttle.lock_for(5) == 1s);
  CHECK(throttle.lock_for(6) == 2s);
  CHECK(throttle.lock_for(15) == 900s);
  CHECK(throttle.lock_for(64) == 900s);
}

TEST_CASE("failures from one address never lock the account for another address",
          "[auth][throttle]") {
  login_throttle throttle;
  for (int i = 0; i < 20; ++i)
    (void)attempt(throttle, "203.0.113.9", "admin", throttle_outcome::failed, start);
  CHECK(throttle.check("203.0.113.9", "admin", start));
  CHECK_FALSE(throttle.check("10.0.0.1", "admin", start));
  CHECK(attempt(throttle, "10.0.0.1", "admin", throttle_outcome::succeeded, start));
  // Another name from the locked address is its own count.
  CHECK_FALSE(throttle.check("203.0.113.9", "jateng", start));
}

TEST_CASE("an address that tries many names is locked by its own count", "[auth][throttle]") {
  login_throttle throttle;
  for (int i = 0; i < 29; ++i)
    REQUIRE(attempt(throttle, "203.0.113.9", "user" + std::to_string(i), throttle_outcome::failed,
                    start));
  REQUIRE(attempt(throttle, "203.0.113.9", "user29", throttle_outcome::failed, start));  // the 30th
  const auto wait = throttle.check("203.0.113.9", "someone-new", start);
  REQUIRE(wait);
  CHECK(*wait == 1s);
  CHECK_FALSE(throttle.check("203.0.113.10", "someone-new", start));
  // A success of the address's own does not wipe its count of guesses at others.
  CHECK(attempt(throttle, "203.0.113.9", "mine", throttle_outcome::succeeded, start + 1s));
  CHECK(attempt(throttle, "203.0.113.9", "user31", throttle_outcome::failed, start + 1s));
  CHECK(throttle.check("203.0.113.9", "someone-new", start + 1s) == 2s);
}

TEST_CASE("a burst gets no further than the same attempts one after another", "[auth][throttle]") {
  throttle_options o;
  o.per_address.max_in_flight = 10;
  login_throttle throttle(o);
  SECTION("one name: five may be checked at once, the sixth waits for their answers") {
    for (int i = 0; i < 5; ++i) REQUIRE_FALSE(throttle.begin("10.0.0.1", "admin", start));
    CHECK(throttle.begin("10.0.0.1", "admin", start) == 1s);
    for (int i = 0; i < 5; ++i) throttle.end("10.0.0.1", "admin", throttle_outcome::failed, start);
    CHECK(throttle.check("10.0.0.1", "admin", start) == 1s);  // locked as five failures earn
  }
  SECTION("past the free failures, one at a time") {
    for (int i = 0; i < 5; ++i)
      REQUIRE(attempt(throttle, "10.0.0.1", "x", throttle_outcome::failed, start));
    const auto later = start + 1s;
    REQUIRE_FALSE(throttle.begin("10.0.0.1", "x", later));
    CHECK(throttle.begin("10.0.0.1", "x", later) == 1s);
    throttle.end("10.0.0.1", "x", throttle_outcome::failed, later);
    CHECK(throttle.check("10.0.0.1", "x", later) == 2s);
  }
  SECTION("one address: four in flight at once by default, whatever the names") {
    login_throttle defaults;
    for (int i = 0; i < 4; ++i)
      REQUIRE_FALSE(defaults.begin("10.0.0.1", "name" + std::to_string(i), start));
    CHECK(defaults.begin("10.0.0.1", "name4", start) == 1s);
    CHECK_FALSE(defaults.begin("10.0.0.2", "name4", start));  // another address is not held up
    defaults.end("10.0.0.1", "name0", throttle_outcome::not_checked, start);
    CHECK_FALSE(defaults.begin("10.0.0.1", "name4", start));
  }
  SECTION("an attempt that was not checked (hashing busy) counts nothing") {
    REQUIRE_FALSE(throttle.begin("10.0.0.1", "admin", start));
    throttle.end("10.0.0.1", "admin", throttle_outcome::not_checked, start);
    CHECK(throttle.size() == 0);
  }
}

TEST_CASE("Retry-After rounds up and never says 0", "[auth][throttle]") {
  throttle_options o;
  o.per_account = {1, 10s, 15min, 15min, 5};
  login_throttle throttle(o);
  REQUIRE(attempt(throttle, "a", "x", throttle_outcome::failed, start));
  CHECK(throttle.check("a", "x", start) == 10s);
  CHECK(throttle.check("a", "x", start + 1ms) == 10s);
  CHECK(throttle.check("a", "x", start + 9s) == 1s);
  CHECK(throttle.check("a", "x", start + 9s + 999ms) == 1s);
  CHECK_FALSE(throttle.check("a", "x", start + 10s));
}

TEST_CASE("success resets the account, quiet time forgets, accounts are separate",
          "[auth][throttle]") {
  login_throttle throttle;
  for (int i = 0; i < 5; ++i)
    REQUIRE(attempt(throttle, "a", "alice", throttle_outcome::failed, start));
  CHECK(throttle.check("a", "alice", start));
  CHECK_FALSE(throttle.check("a", "bob", start));

  // Unknown names are tracked exactly like real ones: the caller cannot tell them apart.
  for (int i = 0; i < 5; ++i)
    REQUIRE(attempt(throttle, "a", "no-such-user", throttle_outcome::failed, start));
  CHECK(throttle.check("a", "no-such-user", start) == 1s);

  REQUIRE(attempt(throttle, "a", "alice", throttle_outcome::succeeded, start + 1s));
  REQUIRE(attempt(throttle, "a", "alice", throttle_outcome::failed, start + 1s));
  CHECK_FALSE(throttle.check("a", "alice", start + 1s));  // counting starts again

  // Four failures, then 15 quiet minutes: the count is forgotten.
  login_throttle quiet;
  for (int i = 0; i < 4; ++i)
    REQUIRE(attempt(quiet, "a", "carol", throttle_outcome::failed, start));
  REQUIRE(attempt(quiet, "a", "carol", throttle_outcome::failed, start + 15min));
  CHECK_FALSE(quiet.check("a", "carol", start + 15min));
  // ...but four failures and then one more within the window do lock.
  for (int i = 0; i < 3; ++i)
    REQUIRE(attempt(quiet, "a", "carol", throttle_outcome::failed, start + 16min));
  REQUIRE(attempt(quiet, "a", "carol", throttle_outcome::failed, start + 20min));
  CHECK(quiet.check("a", "carol", start + 20min) == 1s);

  CHECK(quiet.sweep(start + 20min + 1s + 14min) == 0);
  CHECK(quiet.sweep(start + 20min + 1s + 15min) == 2);  // the address and the account
  CHECK(quiet.size() == 0);
}

TEST_CASE("bounded memory", "[auth][throttle]") {
  throttle_options o;
  o.max_entries = 100;
  o.max_key_bytes = 16;
  login_throttle throttle(o);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(attempt(throttle, "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                    "user" + std::to_string(i), throttle_outcome::failed,
                    start + std::chrono::seconds(i)));
  CHECK(throttle.size() == 200);  // 100 addresses, 100 (address, account) pairs
  // The most recent ones are kept.
  for (int i = 0; i < 4; ++i)
    REQUIRE(attempt(throttle, "10.0.3.249", "user999", throttle_outcome::failed, start + 1000s));
  CHECK(throttle.check("10.0.3.249", "user999", start + 1000s) == 1s);

  // Over-long names are cut, so they cannot be used to grow memory per entry.
  login_throttle cut(o);
  for (int i = 0; i < 5; ++i)
    REQUIRE(attempt(cut, "a", std::string(16, 'a') + std::to_string(i), throttle_outcome::failed,
                    start));
  CHECK(cut.size() == 2);
  CHECK(cut.check("a", std::string(16, 'a'), start) == 1s);

  // Attempts still being checked are never evicted: their end() must find them.
  login_throttle busy(o);
  REQUIRE_FALSE(busy.begin("10.9.9.9", "held", start));
  for (int i = 0; i < 300; ++i)
    REQUIRE(attempt(busy, "10.1.1." + std::to_string(i % 250), "u" + std::to_string(i),
                    throttle_outcome::failed, start + std::chrono::seconds(i)));
  busy.end("10.9.9.9", "held", throttle_outcome::failed, start + 300s);
  for (int i = 0; i < 4; ++i)
    REQUIRE(attempt(busy, "10.9.9.9", "held", throttle_outcome::failed, start + 300s));
  CHECK(busy.check("10.9.9.9", "held", start + 300s) == 1s);
}

TEST_CASE("addresses: an IPv6 client counts under its /64", "[auth][throttle]") {
  CHECK(login_throttle::address_key("192.0.2.7") == "192.0.2.7");
  CHECK(login_throttle::address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(login_throttle::address_key("unix") == "unix");
  login_throttle throttle;
  for (int i = 0; i < 5; ++i)
    REQUIRE(attempt(throttle, "2001:db8:1:2::" + std::to_string(i + 1), "admin",
                    throttle_outcome::failed, start));
  CHECK(throttle.check("2001:db8:1:2::99", "admin", start) == 1s);
  CHECK_FALSE(throttle.check("2001:db8:1:3::1", "admin", start));
}
