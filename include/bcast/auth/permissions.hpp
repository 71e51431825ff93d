#pragma once
// What a user may do: role checks and target patterns.

#include <bcast/auth/user.hpp>
#include <bcast/message/target.hpp>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::auth {

// A pattern allows a target if it is "*", equals the target, or is "<kind>:*" and the target is
// "<kind>:<name>" with a non-empty name. "all" reaches every store, so only "*" or an explicit
// "all" pattern allows it: "store:*" does not.
[[nodiscard]] inline bool pattern_allows(std::string_view pattern,
                                         std::string_view target) noexcept {
  if (pattern.empty()) return false;
  if (pattern == "*") return true;
  if (pattern == target) return pattern.find('*') == std::string_view::npos;
  if (pattern.size() < 3 || pattern.substr(pattern.size() - 2) != ":*") return false;
  const std::string_view kind_prefix = pattern.substr(0, pattern.size() - 1);  // "<kind>:"
  if (target.size() <= kind_prefix.size() || target.substr(0, kind_prefix.size()) != kind_prefix)
    return false;
  // A literal "*" or a nested pattern is never a real target name.
  return target.substr(kind_prefix.size()).find('*') == std::string_view::npos;
}

[[nodiscard]] inline bool may_send_to(std::span<const std::string> patterns,
                                      std::string_view target) noexcept {
  for (const auto& pattern : patterns)
    if (pattern_allows(pattern, target)) return true;
  return false;
}

[[nodiscard]] inline bool may_send_to(const user& u, std::string_view target) noexcept {
  return may_send_to(u.targets, target);
}

// The first target the patterns do not allow, or nullopt if all are allowed.
[[nodiscard]] inline std::optional<std::string> first_disallowed_target(
    std::span<const std::string> patterns, std::span<const std::string> targets) {
  for (const auto& target : targets)
    if (!may_send_to(patterns, target)) return target;
  return std::nullopt;
}

// The first target the user may not send to, or nullopt if all are allowed.
[[nodiscard]] inline std::optional<std::string> first_disallowed_target(
    const user& u, std::span<const std::string> targets) {
  return first_disallowed_target(u.targets, targets);
}

[[nodiscard]] inline std::optional<std::string> allowed_targets(
    const user& u, std::span<const std::string> targets) {
  return first_disallowed_target(u, targets);
}

inline bool can_publish(role r) noexcept {
  return r == role::admin || r == role::publisher;
}
inline bool can_read(role r) noexcept {
  return r == role::admin || r == role::publisher;
}
inline bool can_manage_users(role r) noexcept {
  return r == role::admin;
}

inline bool can_publish(const user& u) noexcept {
  return can_publish(u.role);
}
inline bool can_read(const user& u) noexcept {
  return can_read(u.role);
}
inline bool can_manage_users(const user& u) noexcept {
  return can_manage_users(u.role);
}

// What a caller may read (SPEC "Who sees what"): a message only when every one of its targets is
// one they may send to, and a store only when such a target reaches it: its own `store:<id>`, one
// of its groups, or `all`. Anything else is to be answered as if it did not exist. A default
// scope sees nothing.
class read_scope {
 public:
  read_scope() = default;
  explicit read_scope(std::span<const std::string> patterns)
      : patterns_(patterns.begin(), patterns.end()),
        unlimited_(std::find(patterns_.begin(), patterns_.end(), "*") != patterns_.end()) {}

  static read_scope everything() { return read_scope(std::vector<std::string>{"*"}); }

  // "*": sees everything, and the callers may skip filtering.
  bool unlimited() const noexcept { return unlimited_; }

  bool sees_message(std::span<const std::string> targets) const {
    if (unlimited_) return true;
    return !targets.empty() && !first_disallowed_target(patterns_, targets);
  }

  // `groups` are what the store declared of itself; only well-formed groups count, so a store
  // cannot declare itself into a scope with "all" or another store's target.
  bool sees_store(std::string_view id, std::span<const std::string> groups) const {
    if (unlimited_) return true;
    std::string own = "store:";
    own += id;
    if (may_send_to(patterns_, "all") || may_send_to(patterns_, own)) return true;
    return std::any_of(groups.begin(), groups.end(), [this](const std::string& g) {
      return message::parse_group(g).ok() && may_send_to(patterns_, g);
    });
  }

  // Drops the stores outside the scope; `Store` has `id` and `groups`.
  template <class Store>
  void keep_visible_stores(std::vector<Store>& stores) const {
    if (unlimited_) return;
    std::erase_if(stores, [this](const Store& s) { return !sees_store(s.id, s.groups); });
  }

 private:
  std::vector<std::string> patterns_;
  bool unlimited_ = false;
};

}  // namespace bcast::auth
