#include <bcast/message/target.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>
#include <support/assert_ok.hpp>

using namespace bcast::message;

TEST_CASE("valid targets parse", "[target]") {
  auto all = parse_target("all");
  REQUIRE_OK(all);
  CHECK(all->is_all());
  CHECK_FALSE(all->is_store());
  CHECK(all->str() == "all");

  auto store = parse_target("store:jkt-001");
  REQUIRE_OK(store);
  CHECK(store->is_store());
  CHECK(store->kind == "store");
  CHECK(store->name == "jkt-001");
  CHECK(store->str() == "store:jkt-001");

  auto region = parse_target("region:jateng");
  REQUIRE_OK(region);
  CHECK_FALSE(region->is_all());
  CHECK_FALSE(region->is_store());
  CHECK(region->kind == "region");
  CHECK(region->str() == "region:jateng");

  CHECK(parse_target("format:mini_market.v2-x").ok());
  CHECK(parse_target("0:0").ok());
  const std::string longest = "k:" + std::string(64, 'n');
  CHECK(parse_target(longest).ok());
  CHECK(parse_target(std::string(64, 'k') + ":n").ok());
}

TEST_CASE("bad targets are refused with a clear message", "[target]") {
  const auto refused = [](const std::string& text) {
    auto r = parse_target(text);
    INFO(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == bcast::core::errc::invalid_argument);
    return r.err().detail();
  };
  CHECK_THAT(refused("Region:X"), Catch::Contains("kind") && Catch::Contains("\"Region:X\""));
  CHECK_THAT(refused("region:X"), Catch::Contains("name"));
  CHECK_THAT(refused("store:"), Catch::Contains("store id is empty"));
  CHECK_THAT(refused(":x"), Catch::Contains("kind is empty"));
  CHECK_THAT(refused("k:" + std::string(65, 'n')), Catch::Contains("longer than 64"));
  CHECK_THAT(refused(std::string(65, 'k') + ":n"), Catch::Contains("longer than 64"));
  CHECK_THAT(refused("all:x"), Catch::Contains("\"all\" takes no name"));
  CHECK_THAT(refused("all:"), Catch::Contains("\"all\" takes no name"));
  CHECK_THAT(refused("ALL"), Catch::Contains("expected"));
  CHECK_THAT(refused("jateng"), Catch::Contains("expected"));
  CHECK_THAT(refused(""), Catch::Contains("empty"));
  refused("region:a:b");
  refused("region:_x");
  refused("region:.x");
  refused("region:-x");
  refused("_region:x");
  refused("region: x");
  refused("region:x ");
  refused("region:x\n");
  refused("region:\xC3\xA9");
  refused("store:*");
  refused("*");
  // The message never carries raw bytes that are not printable.
  CHECK_THAT(refused("region:\xFF"), Catch::Contains("\\xFF"));
}

TEST_CASE("is_valid_target and is_valid_target_name agree with the parser", "[target]") {
  for (const char* text :
       {"all", "store:1", "region:jateng", "Region:X", "store:", "all:x", "x", "a:b:c", "a:*"}) {
    INFO(text);
    CHECK(is_valid_target(text) == parse_target(text).ok());
  }
  CHECK(is_valid_target_name("a"));
  CHECK(is_valid_target_name(std::string(64, 'a')));
  CHECK_FALSE(is_valid_target_name(std::string(65, 'a')));
  CHECK_FALSE(is_valid_target_name(""));
  CHECK_FALSE(is_valid_target_name("A"));
}

TEST_CASE("groups are neither all nor stores", "[target]") {
  CHECK(parse_group("region:jateng").ok());
  CHECK_FALSE(parse_group("all").ok());
  CHECK_FALSE(parse_group("store:1").ok());
  CHECK_FALSE(parse_group("Region:x").ok());
}

TEST_CASE("target patterns", "[target]") {
  CHECK(valid_pattern("*"));
  CHECK(valid_pattern("store:*"));
  CHECK(valid_pattern("region:*"));
  CHECK(valid_pattern("region:jateng"));
  CHECK(valid_pattern("all"));
  CHECK_FALSE(valid_pattern("all:*"));
  CHECK_FALSE(valid_pattern("*:*"));
  CHECK_FALSE(valid_pattern("*:jateng"));
  CHECK_FALSE(valid_pattern("region:jat*"));
  CHECK_FALSE(valid_pattern("Region:*"));
  CHECK_FALSE(valid_pattern(""));
  CHECK_FALSE(valid_pattern("**"));

  const auto t = [](const char* text) { return parse_target(text).value(); };
  CHECK(pattern_allows("*", t("all")));
  CHECK(pattern_allows("*", t("store:1")));
  CHECK(pattern_allows("*", t("region:jateng")));

  CHECK(pattern_allows("store:*", t("store:1")));
  CHECK_FALSE(pattern_allows("store:*", t("all")));
  CHECK_FALSE(pattern_allows("store:*", t("region:jateng")));

  CHECK(pattern_allows("region:jateng", t("region:jateng")));
  CHECK_FALSE(pattern_allows("region:jateng", t("region:jatim")));
  CHECK_FALSE(pattern_allows("region:jateng", t("format:jateng")));
  CHECK_FALSE(pattern_allows("region:jateng", t("all")));
  CHECK_FALSE(pattern_allows("region:jate", t("region:jateng")));

  CHECK(pattern_allows("all", t("all")));
  CHECK_FALSE(pattern_allows("all", t("store:1")));

  CHECK_FALSE(pattern_allows("all:*", t("all")));
  CHECK_FALSE(pattern_allows("", t("all")));
  CHECK_FALSE(pattern_allows("Region:*", t("region:x")));

  const std::vector<std::string> manager = {"region:jateng", "store:*"};
  CHECK(patterns_allow(manager, t("region:jateng")));
  CHECK(patterns_allow(manager, t("store:42")));
  CHECK_FALSE(patterns_allow(manager, t("region:jatim")));
  CHECK_FALSE(patterns_allow(manager, t("all")));
  CHECK_FALSE(patterns_allow({}, t("all")));
}

TEST_CASE("a store matches all, itself and its groups", "[target]") {
  const std::vector<std::string> groups = {"region:jateng", "format:minimarket"};
  const auto matches = [&](const char* text, const char* store = "smg-01") {
    return store_matches(parse_target(text).value(), store, groups);
  };
  CHECK(matches("all"));
  CHECK(matches("store:smg-01"));
  CHECK_FALSE(matches("store:smg-02"));
  CHECK_FALSE(matches("store:smg-0"));
  CHECK(matches("region:jateng"));
  CHECK(matches("format:minimarket"));
  CHECK_FALSE(matches("region:jatim"));
  CHECK_FALSE(matches("region:jaten"));
  CHECK_FALSE(matches("format:jateng"));
  CHECK_FALSE(matches("region:minimarket"));
  // A group spelled like a store does not make the store match other stores' messages.
  const std::vector<std::string> odd = {"store:other"};
  CHECK_FALSE(store_matches(parse_target("store:other").value(), "smg-01", odd));
  CHECK(store_matches(parse_target("all").value(), "x", {}));
}

TEST_CASE("targets compare and order", "[target]") {
  CHECK(parse_target("region:a").value() == target{"region", "a"});
  CHECK(parse_target("region:a").value() < parse_target("region:b").value());
}
