#pragma once
// Login throttling per account name, with a growing lock.
//
// The key is the name as submitted, whether or not such a user exists, so that a 429 says
// nothing about which accounts exist. After `free_failures` failures the account is locked for
// `first_lock`, and each further failure doubles the lock, up to `max_lock`. Failures are
// forgotten after `forget_after` without any, counted from the end of the last lock.
//
// With the defaults: failures 1-4 cost nothing, the 5th locks for 1 s, the 6th for 2 s, then
// 4, 8, ... up to 15 min from the 15th failure on.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bcast::auth {

struct throttle_options {
  unsigned free_failures = 5;
  std::chrono::seconds first_lock{1};
  std::chrono::seconds max_lock = std::chrono::minutes(15);
  std::chrono::seconds forget_after = std::chrono::minutes(15);
  std::size_t max_entries = 10000;
  // Longer submitted names are cut here; valid user names have at most 64 bytes.
  std::size_t max_key_bytes = 128;
};

class login_throttle {
 public:
  using clock = std::chrono::steady_clock;

  explicit login_throttle(throttle_options options = {}) : options_(options) {
    if (options_.max_entries == 0) options_.max_entries = 1;
    if (options_.free_failures == 0) options_.free_failures = 1;
  }

  const throttle_options& options() const noexcept { return options_; }
  std::size_t size() const noexcept { return entries_.size(); }

  // nullopt if a login attempt may go ahead; otherwise the Retry-After in whole seconds (>= 1),
  // and the attempt must be refused without checking the password.
  [[nodiscard]] std::optional<std::chrono::seconds> check(std::string_view account,
                                                          clock::time_point now) const {
    const auto it = entries_.find(key(account));
    if (it == entries_.end() || now >= it->second.locked_until) return std::nullopt;
    const auto left = it->second.locked_until - now;
    auto seconds = std::chrono::ceil<std::chrono::seconds>(left);
    return std::max(seconds, std::chrono::seconds(1));
  }

  void record_failure(std::string_view account, clock::time_point now) {
    std::string k = key(account);
    auto it = entries_.find(k);
    if (it != entries_.end() && forgettable(it->second, now)) {
      entries_.erase(it);
      it = entries_.end();
    }
    if (it == entries_.end()) {
      make_room(now);
      it = entries_.emplace(std::move(k), entry{}).first;
    }
    entry& e = it->second;
    if (e.failures < 64) ++e.failures;
    e.last_failure = now;
    if (e.failures >= options_.free_failures) {
      const auto lock = lock_for(e.failures);
      e.locked_until = std::max(e.locked_until, now + lock);
    }
  }

  void record_success(std::string_view account) { entries_.erase(key(account)); }

  // Drops entries whose failures are forgotten; call it from a periodic timer. Returns how many.
  std::size_t sweep(clock::time_point now) {
    std::size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (forgettable(it->second, now)) {
        it = entries_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  // The lock that the n-th consecutive failure earns (zero below free_failures).
  std::chrono::seconds lock_for(unsigned failures) const noexcept {
    if (failures < options_.free_failures) return std::chrono::seconds(0);
    const unsigned doublings = failures - options_.free_failures;
    auto lock = options_.first_lock;
    for (unsigned i = 0; i < doublings && lock < options_.max_lock; ++i) lock *= 2;
    return std::min(lock, options_.max_lock);
  }

 private:
  struct entry {
    unsigned failures = 0;
    clock::time_point last_failure{};
    clock::time_point locked_until{};
  };

  std::string key(std::string_view account) const {
    return std::string(account.substr(0, std::min(account.size(), options_.max_key_bytes)));
  }

  bool forgettable(const entry& e, clock::time_point now) const noexcept {
    return now >= std::max(e.last_failure, e.locked_until) + options_.forget_after;
  }

  // Bounded memory: forget stale entries first, then the one idle the longest. Evicting may
  // hand an attacker who floods us with names a fresh count for one account, but every name
  // costs them a full password-hash run per attempt.
  void make_room(clock::time_point now) {
    if (entries_.size() < options_.max_entries) return;
    sweep(now);
    while (entries_.size() >= options_.max_entries) {
      auto oldest = entries_.begin();
      for (auto it = entries_.begin(); it != entries_.end(); ++it)
        if (std::max(it->second.last_failure, it->second.locked_until) <
            std::max(oldest->second.last_failure, oldest->second.locked_until))
          oldest = it;
      entries_.erase(oldest);
    }
  }

  throttle_options options_;
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace bcast::auth
