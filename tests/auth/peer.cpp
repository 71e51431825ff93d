#include <bcast/auth/peer.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <vector>

using namespace bcast::auth;

TEST_CASE("unix socket peers", "[auth][peer]") {
  peer_policy policy;
  policy.own_uid = 1000;
  policy.uids = {1001};
  policy.gids = {2000};

  CHECK(peer_allowed(1000, 1000, policy));  // the daemon's own user
  CHECK(peer_allowed(1001, 1001, policy));  // listed uid
  CHECK(peer_allowed(1234, 2000, policy));  // listed primary gid
  CHECK(peer_allowed(0, 0, policy));        // root
  CHECK_FALSE(peer_allowed(1234, 1234, policy));

  const std::vector<gid_t> supplementary{5, 2000};
  CHECK(peer_allowed(1234, 1234, supplementary, policy));
  CHECK_FALSE(peer_allowed(1234, 1234, std::vector<gid_t>{5, 6}, policy));

  policy.allow_own_uid = false;
  policy.allow_root = false;
  CHECK_FALSE(peer_allowed(1000, 1000, policy));
  CHECK_FALSE(peer_allowed(0, 0, policy));
  CHECK(peer_allowed(1001, 1001, policy));

  CHECK(peer_policy{}.own_uid == ::geteuid());
  CHECK(peer_allowed(::geteuid(), 99999, peer_policy{}));
}

TEST_CASE("user and group lookups", "[auth][peer]") {
  CHECK(uid_by_name("root") == uid_t{0});
  CHECK(gid_by_name("root") == gid_t{0});
  CHECK_FALSE(uid_by_name("no-such-user-bcast"));
  CHECK_FALSE(gid_by_name("no-such-group-bcast"));
  const auto groups = groups_of_user(0);
  CHECK(std::find(groups.begin(), groups.end(), gid_t{0}) != groups.end());
}
