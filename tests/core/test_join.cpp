#include <bcast/core/join.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <support/assert_ok.hpp>

using namespace bcast;

TEST_CASE("join: the last part completes it, with values in order or the first failure") {
  core::join<std::string> j(3);
  CHECK_FALSE(j.arrive(2, std::string("c")));
  CHECK_FALSE(j.arrive(0, std::string("a")));
  CHECK(j.remaining() == 1);
  REQUIRE(j.arrive(1, std::string("b")));
  auto all = j.take();
  REQUIRE_OK(all);
  CHECK(*all == std::vector<std::string>{"a", "b", "c"});

  core::join<int> failing(3);
  CHECK_FALSE(failing.arrive(1, core::error(core::errc::timeout, "first")));
  CHECK_FALSE(failing.arrive(0, 7));
  REQUIRE(failing.arrive(2, core::error(core::errc::closed, "second")));
  auto r = failing.take();
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::timeout);
  CHECK(r.err().detail() == "first");
}
