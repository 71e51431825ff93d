#include <bcast/message/ulid.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>
#include <support/assert_ok.hpp>

using namespace bcast::message;

namespace {

// A generator whose random part is always `byte` repeated.
ulid_generator fixed_generator(std::uint8_t byte) {
  return ulid_generator([byte](std::span<std::uint8_t> out) {
    std::fill(out.begin(), out.end(), byte);
    return true;
  });
}

}  // namespace

TEST_CASE("make_ulid encodes time and randomness in Crockford base32", "[ulid]") {
  CHECK(make_ulid(0, {}) == "00000000000000000000000000");
  ulid_random ones;
  ones.fill(0xFF);
  CHECK(make_ulid(ulid_max_time_ms, ones) == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
  // Example from the ULID spec: 1469918176385 ms is 01ARYZ6S41.
  CHECK(make_ulid(1469918176385, {}).substr(0, 10) == "01ARYZ6S41");
  ulid_random one{};
  one[9] = 1;
  CHECK(make_ulid(0, one) == "00000000000000000000000001");
  ulid_random top{};
  top[0] = 0x80;
  CHECK(make_ulid(0, top) == "0000000000G000000000000000");
}

TEST_CASE("is_valid_ulid", "[ulid]") {
  CHECK(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
  CHECK(is_valid_ulid("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"));
  CHECK_FALSE(is_valid_ulid("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"));  // more than 128 bits
  CHECK_FALSE(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FA"));   // 25
  CHECK_FALSE(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAVV"));
  CHECK_FALSE(is_valid_ulid("01arz3ndektsv4rrffq69g5fav"));  // not canonical
  CHECK_FALSE(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAI"));  // I, L, O, U are not in the alphabet
  CHECK_FALSE(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAL"));
  CHECK_FALSE(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAO"));
  CHECK_FALSE(is_valid_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAU"));
  CHECK_FALSE(is_valid_ulid(""));
}

TEST_CASE("ulid_time_ms reads the time back", "[ulid]") {
  ulid_generator gen;
  auto id = gen.next(1764151200123);
  REQUIRE_OK(id);
  CHECK(is_valid_ulid(*id));
  CHECK(ulid_time_ms(*id) == std::uint64_t{1764151200123});
  CHECK(ulid_time_ms("01ARYZ6S41TSV4RRFFQ69G5FAV") == std::uint64_t{1469918176385});
  CHECK_FALSE(ulid_time_ms("not an id").has_value());
}

TEST_CASE("ids sort by time", "[ulid]") {
  ulid_generator gen;
  auto a = gen.next(1000);
  auto b = gen.next(1001);
  auto c = gen.next(999999999999);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(*a < *b);
  CHECK(*b < *c);
  // A different generator, later millisecond, whatever its randomness.
  auto d = fixed_generator(0x00).next(1002);
  auto e = fixed_generator(0xFF).next(1001);
  REQUIRE((d.ok() && e.ok()));
  CHECK(*e < *d);
}

TEST_CASE("ids within one millisecond increase by one", "[ulid]") {
  auto gen = fixed_generator(0x00);
  auto a = gen.next(5000);
  auto b = gen.next(5000);
  auto c = gen.next(5000);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(*a == make_ulid(5000, {}));
  ulid_random one{};
  one[9] = 1;
  CHECK(*b == make_ulid(5000, one));
  CHECK(*b < *c);
  CHECK(ulid_time_ms(*c) == std::uint64_t{5000});
}

TEST_CASE("the increment carries across bytes", "[ulid]") {
  auto gen = ulid_generator([](std::span<std::uint8_t> out) {
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    out[8] = 0x01;
    out[9] = 0xFF;
    return true;
  });
  auto a = gen.next(7);
  auto b = gen.next(7);
  REQUIRE((a.ok() && b.ok()));
  ulid_random want{};
  want[8] = 0x02;
  CHECK(*b == make_ulid(7, want));
}

TEST_CASE("many ids in one millisecond stay unique and ordered", "[ulid]") {
  ulid_generator gen;
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    auto id = gen.next(1764151200000);
    REQUIRE_OK(id);
    ids.push_back(*id);
  }
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
}

TEST_CASE("a clock that steps back does not break the order", "[ulid]") {
  ulid_generator gen;
  auto a = gen.next(2000);
  auto b = gen.next(1500);
  REQUIRE((a.ok() && b.ok()));
  CHECK(*a < *b);
  CHECK(ulid_time_ms(*b) == std::uint64_t{2000});
  auto c = gen.next(2001);
  REQUIRE_OK(c);
  CHECK(*b < *c);
  CHECK(ulid_time_ms(*c) == std::uint64_t{2001});
}

TEST_CASE("an exhausted millisecond fails instead of repeating", "[ulid]") {
  auto gen = fixed_generator(0xFF);
  auto a = gen.next(42);
  REQUIRE_OK(a);
  auto b = gen.next(42);
  REQUIRE_FALSE(b.ok());
  CHECK(b.err() == bcast::core::errc::limit_exceeded);
  CHECK_FALSE(gen.next(42).ok());
  auto c = gen.next(43);
  REQUIRE_OK(c);
  CHECK(*a < *c);
}

TEST_CASE("generator errors", "[ulid]") {
  auto broken = ulid_generator([](std::span<std::uint8_t>) { return false; });
  auto a = broken.next(1);
  REQUIRE_FALSE(a.ok());
  CHECK_FALSE(a.err().detail().empty());

  ulid_generator gen;
  CHECK_FALSE(gen.next(ulid_max_time_ms + 1).ok());
  CHECK(gen.next(ulid_max_time_ms).ok());
  auto now = gen.next();
  REQUIRE_OK(now);
  CHECK(*ulid_time_ms(*now) >= ulid_max_time_ms);  // monotonic: it keeps the later time
}

TEST_CASE("the clock convenience uses the current time", "[ulid]") {
  ulid_generator gen;
  const auto before = unix_ms(std::chrono::system_clock::now());
  auto id = gen.next();
  const auto after = unix_ms(std::chrono::system_clock::now());
  REQUIRE_OK(id);
  const auto t = ulid_time_ms(*id);
  REQUIRE(t);
  CHECK(*t >= before);
  CHECK(*t <= after);
}
