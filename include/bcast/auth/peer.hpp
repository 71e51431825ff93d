#pragma once
// Which local peers on the Unix socket may call the API without a login. The credentials come
// from SO_PEERCRED elsewhere; the decision here is a pure function of them and the policy.

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bcast::auth {

struct peer_policy {
  std::vector<uid_t> uids;
  std::vector<gid_t> gids;
  // The daemon's own user (e.g. bcastctl run as the service user) is allowed by default.
  bool allow_own_uid = true;
  uid_t own_uid = ::geteuid();
  // Root can read the users file and the daemon's memory anyway, so refusing it protects
  // nothing and only breaks `sudo bcastctl ...`.
  bool allow_root = true;
};

[[nodiscard]] inline bool peer_allowed(uid_t uid, gid_t gid, const peer_policy& policy) noexcept {
  if (policy.allow_root && uid == 0) return true;
  if (policy.allow_own_uid && uid == policy.own_uid) return true;
  if (std::find(policy.uids.begin(), policy.uids.end(), uid) != policy.uids.end()) return true;
  return std::find(policy.gids.begin(), policy.gids.end(), gid) != policy.gids.end();
}

// As above, also accepting a peer whose supplementary groups (see groups_of_user) include an
// allowed gid: SO_PEERCRED reports only the primary group.
[[nodiscard]] inline bool peer_allowed(uid_t uid, gid_t gid, std::span<const gid_t> supplementary,
                                       const peer_policy& policy) noexcept {
  if (peer_allowed(uid, gid, policy)) return true;
  for (gid_t g : supplementary)
    if (std::find(policy.gids.begin(), policy.gids.end(), g) != policy.gids.end()) return true;
  return false;
}

namespace detail {

// Runs a getpw*_r/getgr*_r style lookup, growing the buffer while it reports ERANGE.
template <class Entry, class Lookup>
inline bool lookup_entry(Entry& entry, std::vector<char>& buf, Lookup lookup) {
  buf.resize(4096);
  while (true) {
    Entry* found = nullptr;
    const int rc = lookup(&entry, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (std::size_t{1} << 24)) {
      buf.resize(buf.size() * 4);
      continue;
    }
    return rc == 0 && found != nullptr;
  }
}

}  // namespace detail

// Name lookups for the config ("allow_users": ["alice"], "allow_groups": ["bcast"]). They read
// the passwd/group databases (maybe through NSS), so call them at start-up or reload, not per
// request.
inline std::optional<uid_t> uid_by_name(const std::string& name) {
  passwd pw{};
  std::vector<char> buf;
  if (!detail::lookup_entry(pw, buf, [&](passwd* e, char* b, std::size_t n, passwd** r) {
        return ::getpwnam_r(name.c_str(), e, b, n, r);
      }))
    return std::nullopt;
  return pw.pw_uid;
}

inline std::optional<gid_t> gid_by_name(const std::string& name) {
  group gr{};
  std::vector<char> buf;
  if (!detail::lookup_entry(gr, buf, [&](group* e, char* b, std::size_t n, group** r) {
        return ::getgrnam_r(name.c_str(), e, b, n, r);
      }))
    return std::nullopt;
  return gr.gr_gid;
}

// All groups of a user, primary included; empty if the user is unknown.
inline std::vector<gid_t> groups_of_user(uid_t uid) {
  passwd pw{};
  std::vector<char> buf;
  if (!detail::lookup_entry(pw, buf, [&](passwd* e, char* b, std::size_t n, passwd** r) {
        return ::getpwuid_r(uid, e, b, n, r);
      }))
    return {};
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 8; ++attempt) {
    int n = static_cast<int>(groups.size());
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(n));
      return groups;
    }
    if (n <= static_cast<int>(groups.size())) n = static_cast<int>(groups.size()) * 2;
    groups.resize(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace bcast::auth
