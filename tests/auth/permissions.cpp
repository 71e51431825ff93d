#include <bcast/auth/permissions.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace bcast::auth;

TEST_CASE("target patterns", "[auth][permissions]") {
  CHECK(pattern_allows("*", "all"));
  CHECK(pattern_allows("*", "store:12"));
  CHECK(pattern_allows("*", "region:jateng"));

  CHECK(pattern_allows("region:*", "region:jateng"));
  CHECK(pattern_allows("region:jateng", "region:jateng"));
  CHECK_FALSE(pattern_allows("region:jateng", "region:jatim"));
  CHECK_FALSE(pattern_allows("region:*", "format:minimarket"));
  CHECK_FALSE(pattern_allows("region:*", "region:"));
  CHECK_FALSE(pattern_allows("region:*", "region"));
  CHECK_FALSE(pattern_allows("region:*", "regional:x"));
  CHECK_FALSE(pattern_allows("region:*", "region:*"));
  CHECK_FALSE(pattern_allows("region:jateng", "region:jateng2"));

  CHECK(pattern_allows("store:*", "store:12"));
  CHECK_FALSE(pattern_allows("store:*", "all"));
  CHECK_FALSE(pattern_allows("store:*", "store"));
  CHECK(pattern_allows("all", "all"));
  CHECK_FALSE(pattern_allows("all", "store:12"));
  CHECK_FALSE(pattern_allows("", ""));
  CHECK_FALSE(pattern_allows(":*", ":x"));
}

TEST_CASE("pattern syntax", "[auth][permissions]") {
  for (const char* ok : {"*", "all", "store:*", "store:12", "region:jateng", "format:mini.market"})
    CHECK(valid_target_pattern(ok));
  for (const char* bad :
       {"", "**", "store", "store:", ":x", "Store:1", "store:*x", "store:a*", "*:x", "a:b:c"})
    CHECK_FALSE(valid_target_pattern(bad));
}

TEST_CASE("a user's allowed targets", "[auth][permissions]") {
  user manager{"jateng", role::publisher, "", {"region:jateng", "store:*"}, {}};
  CHECK_FALSE(
      first_disallowed_target(manager, std::vector<std::string>{"region:jateng", "store:7"}));
  CHECK(first_disallowed_target(
            manager, std::vector<std::string>{"store:7", "all", "region:jatim"}) == "all");
  CHECK(allowed_targets(manager, std::vector<std::string>{"region:jatim"}) == "region:jatim");
  CHECK_FALSE(allowed_targets(manager, std::vector<std::string>{}));
  CHECK(may_send_to(manager, "store:1"));
  CHECK_FALSE(may_send_to(manager, "all"));

  user everyone{"admin", role::admin, "", {"*"}, {}};
  CHECK_FALSE(
      first_disallowed_target(everyone, std::vector<std::string>{"all", "store:1", "format:x"}));

  user nothing{"idle", role::publisher, "", {}, {}};
  CHECK(first_disallowed_target(nothing, std::vector<std::string>{"store:1"}) == "store:1");

  user only_all{"hq", role::publisher, "", {"all"}, {}};
  CHECK(may_send_to(only_all, "all"));
  CHECK_FALSE(may_send_to(only_all, "store:1"));
}

TEST_CASE("roles", "[auth][permissions]") {
  user admin{"a", role::admin, "", {"*"}, {}};
  user publisher{"p", role::publisher, "", {"*"}, {}};
  CHECK(can_publish(admin));
  CHECK(can_publish(publisher));
  CHECK(can_read(admin));
  CHECK(can_read(publisher));
  CHECK(can_manage_users(admin));
  CHECK_FALSE(can_manage_users(publisher));
  CHECK(parse_role("admin") == role::admin);
  CHECK(parse_role("publisher") == role::publisher);
  CHECK_FALSE(parse_role("Admin"));
  CHECK(to_string(role::publisher) == "publisher");
}

TEST_CASE("read scope: every target of a message must be allowed", "[auth][permissions][scope]") {
  const std::vector<std::string> patterns{"region:jateng", "store:*"};
  const read_scope scope(patterns);
  using targets = std::vector<std::string>;
  CHECK_FALSE(scope.unlimited());
  CHECK(scope.sees_message(targets{"region:jateng"}));
  CHECK(scope.sees_message(targets{"store:smg-01"}));
  CHECK(scope.sees_message(targets{"region:jateng", "store:solo-2"}));
  CHECK_FALSE(scope.sees_message(targets{"all"}));
  CHECK_FALSE(scope.sees_message(targets{"region:jabar"}));
  CHECK_FALSE(scope.sees_message(targets{"region:jateng", "region:jabar"}));
  CHECK_FALSE(scope.sees_message(targets{"region:jateng", "all"}));
  CHECK_FALSE(scope.sees_message(targets{}));

  const read_scope everything = read_scope::everything();
  CHECK(everything.unlimited());
  CHECK(everything.sees_message(targets{"all", "region:jabar"}));

  const read_scope nothing;
  CHECK_FALSE(nothing.unlimited());
  CHECK_FALSE(nothing.sees_message(targets{"region:jateng"}));
  CHECK_FALSE(nothing.sees_store("s1", targets{"region:jateng"}));

  const std::vector<std::string> with_all{"all", "region:jateng"};
  CHECK(read_scope(with_all).sees_message(targets{"all", "region:jateng"}));
  CHECK_FALSE(read_scope(with_all).sees_message(targets{"store:s1"}));
}

TEST_CASE("read scope: a store is seen when an allowed target reaches it",
          "[auth][permissions][scope]") {
  using groups = std::vector<std::string>;
  const std::vector<std::string> jateng{"region:jateng"};
  const read_scope region(jateng);
  CHECK(region.sees_store("s1", groups{"format:minimarket", "region:jateng"}));
  CHECK_FALSE(region.sees_store("s2", groups{"region:jabar"}));
  CHECK_FALSE(region.sees_store("s3", groups{}));
  // Only well-formed groups count: a store cannot declare itself in with a target that is not one.
  CHECK_FALSE(region.sees_store("s4", groups{"region:jateng:x", "Region:jateng", "all"}));

  const std::vector<std::string> one_store{"store:s2"};
  CHECK(read_scope(one_store).sees_store("s2", groups{"region:jabar"}));
  CHECK_FALSE(read_scope(one_store).sees_store("s1", groups{"region:jateng", "store:s2"}));

  const std::vector<std::string> all_stores{"store:*"};
  CHECK(read_scope(all_stores).sees_store("anything", groups{}));
  const std::vector<std::string> all{"all"};
  CHECK(read_scope(all).sees_store("anything", groups{}));
  CHECK(read_scope::everything().sees_store("anything", groups{}));

  struct store {
    std::string id;
    std::vector<std::string> groups;
  };
  std::vector<store> stores{
      {"s1", {"region:jateng"}}, {"s2", {"region:jabar"}}, {"s3", {"region:jateng"}}};
  region.keep_visible_stores(stores);
  REQUIRE(stores.size() == 2);
  CHECK(stores[0].id == "s1");
  CHECK(stores[1].id == "s3");
}
