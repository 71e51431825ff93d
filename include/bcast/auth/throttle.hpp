#pragma once
// Login throttling per client address and per (address, account), with growing locks.
//
// An attempt is counted twice: for the address it comes from, and for the account name it tries
// from that address. Failures from one address never lock an account for anyone else, so nobody
// can lock the admin out from outside; an address that tries many names is stopped by its own
// count.
//
// Both counts work alike, each with its own `throttle_limits`: after `free_failures` failures the
// key is locked for `first_lock`, and each further failure doubles the lock, up to `max_lock`.
// Failures are forgotten after `forget_after` without any, counted from the end of the last lock.
// With the defaults an (address, account) has failures 1-4 free, the 5th locks for 1 s, the 6th
// for 2 s, then 4, 8, ... up to 15 min from the 15th on; an address has 30 free. A success clears
// the (address, account) count but not the address's, so that an attacker's own account cannot
// wipe the count of their guesses at others.
//
// An attempt counts from the moment it starts (begin), not when its password hash is done (end):
// attempts still being hashed count as failures to come, so a burst sent at once gets no further
// than the same attempts sent one after another. And at most `max_in_flight` attempts of one
// address are hashed at a time, so one address cannot hold every hashing thread.
//
// The account is the name as submitted, whether or not such a user exists, so that a 429 says
// nothing about which accounts exist. Memory is bounded: each table keeps at most `max_entries`
// keys and forgets the least recently used first; an IPv6 client counts under its /64, since one
// host usually has a whole /64 to pick addresses from.

#include <bcast/net/address.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace bcast::auth {

struct throttle_limits {
  unsigned free_failures = 5;
  std::chrono::seconds first_lock{1};
  std::chrono::seconds max_lock = std::chrono::minutes(15);
  std::chrono::seconds forget_after = std::chrono::minutes(15);
  unsigned max_in_flight = 5;  // attempts of one key being checked at once
};

struct throttle_options {
  throttle_limits per_account;  // per (address, account)
  throttle_limits per_address{30, std::chrono::seconds(1), std::chrono::minutes(15),
                              std::chrono::minutes(15), 4};
  std::size_t max_entries = 10000;  // per table
  // Longer submitted names are cut here; valid user names have at most 64 bytes.
  std::size_t max_key_bytes = 128;
};

namespace detail {

// One kind of key (addresses, or address and account) and its counts.
class throttle_table {
 public:
  using clock = std::chrono::steady_clock;
  enum class outcome { succeeded, failed, not_checked };

  throttle_table(throttle_limits limits, std::size_t max_entries, bool success_clears)
      : limits_(limits),
        max_entries_(std::max<std::size_t>(max_entries, 1)),
        success_clears_(success_clears) {
    if (limits_.free_failures == 0) limits_.free_failures = 1;
    if (limits_.max_in_flight == 0) limits_.max_in_flight = 1;
  }

  // The index holds iterators into the list: a copy would point into the original.
  throttle_table(const throttle_table&) = delete;
  throttle_table& operator=(const throttle_table&) = delete;

  std::size_t size() const noexcept { return index_.size(); }

  // nullopt if another attempt of `key` may start now; otherwise the Retry-After (>= 1 s).
  std::optional<std::chrono::seconds> refusal(const std::string& key, clock::time_point now) const {
    const auto found = index_.find(key);
    if (found == index_.end()) return std::nullopt;
    const entry& e = found->second->second;
    if (now < e.locked_until) {
      const auto left = std::chrono::ceil<std::chrono::seconds>(e.locked_until - now);
      return std::max(left, std::chrono::seconds(1));
    }
    const bool within_free = e.failures + e.in_flight < limits_.free_failures;
    if (e.in_flight >= limits_.max_in_flight || (e.in_flight > 0 && !within_free))
      return std::chrono::seconds(1);  // the attempts being checked decide what comes next
    return std::nullopt;
  }

  void start(const std::string& key, clock::time_point now) {
    auto it = find(key, now);
    if (it == lru_.end()) {
      make_room(now);
      lru_.emplace_front(key, entry{});
      it = lru_.begin();
      index_.emplace(key, it);
    } else {
      lru_.splice(lru_.begin(), lru_, it);
    }
    ++it->second.in_flight;
  }

  void finish(const std::string& key, outcome result, clock::time_point now) {
    const auto found = index_.find(key);
    if (found == index_.end()) return;  // evicted meanwhile
    const auto it = found->second;
    entry& e = it->second;
    if (e.in_flight > 0) --e.in_flight;
    if (result == outcome::failed) {
      if (e.failures < 64) ++e.failures;
      e.last_failure = now;
      if (e.failures >= limits_.free_failures)
        e.locked_until = std::max(e.locked_until, now + lock_for(e.failures));
    } else if (result == outcome::succeeded && success_clears_) {
      e.failures = 0;
      e.locked_until = {};
    }
    if (e.in_flight == 0 && e.failures == 0) erase(it);
  }

  // Drops entries whose failures are forgotten. Returns how many.
  std::size_t sweep(clock::time_point now) {
    std::size_t n = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
      const auto next = std::next(it);
      if (forgettable(it->second, now)) {
        erase(it);
        ++n;
      }
      it = next;
    }
    return n;
  }

  // The lock that the n-th consecutive failure earns (zero below free_failures).
  std::chrono::seconds lock_for(unsigned failures) const noexcept {
    if (failures < limits_.free_failures) return std::chrono::seconds(0);
    const unsigned doublings = failures - limits_.free_failures;
    auto lock = limits_.first_lock;
    for (unsigned i = 0; i < doublings && lock < limits_.max_lock; ++i) lock *= 2;
    return std::min(lock, limits_.max_lock);
  }

 private:
  struct entry {
    unsigned failures = 0;
    unsigned in_flight = 0;
    clock::time_point last_failure{};
    clock::time_point locked_until{};
  };
  using list_type = std::list<std::pair<std::string, entry>>;  // most recently used first

  // The live entry of `key`; a forgettable one is dropped first, so counting starts afresh.
  list_type::iterator find(const std::string& key, clock::time_point now) {
    const auto found = index_.find(key);
    if (found == index_.end()) return lru_.end();
    if (forgettable(found->second->second, now)) {
      erase(found->second);
      return lru_.end();
    }
    return found->second;
  }

  bool forgettable(const entry& e, clock::time_point now) const noexcept {
    return e.in_flight == 0 &&
           now >= std::max(e.last_failure, e.locked_until) + limits_.forget_after;
  }

  void erase(list_type::iterator it) {
    index_.erase(it->first);
    lru_.erase(it);
  }

  // Evicting may hand an attacker with many addresses or names a fresh count for one key, but
  // every attempt costs them a password-hash run, and those are bounded.
  void make_room(clock::time_point now) {
    if (index_.size() < max_entries_) return;
    sweep(now);
    auto it = lru_.end();
    while (index_.size() >= max_entries_ && it != lru_.begin()) {
      --it;
      if (it->second.in_flight > 0) continue;  // its end() is still to come
      const auto victim = it++;
      erase(victim);
    }
  }

  throttle_limits limits_;
  std::size_t max_entries_;
  bool success_clears_;
  list_type lru_;
  std::unordered_map<std::string, list_type::iterator> index_;
};

}  // namespace detail

class login_throttle {
 public:
  using clock = std::chrono::steady_clock;
  using outcome = detail::throttle_table::outcome;

  explicit login_throttle(throttle_options options = {})
      : options_(options),
        addresses_(options.per_address, options.max_entries, /*success_clears=*/false),
        accounts_(options.per_account, options.max_entries, /*success_clears=*/true) {}

  const throttle_options& options() const noexcept { return options_; }
  // Keys held: addresses plus (address, account) pairs.
  std::size_t size() const noexcept { return addresses_.size() + accounts_.size(); }

  // The key an address counts under: the IP address, or its /64 for IPv6; anything that is no IP
  // address ("unix") as it is.
  static std::string address_key(std::string_view address) {
    const auto ip = net::ip_address::parse(address);
    if (!ip) return std::string(address);
    return ip->is_v4() ? ip->str() : ip->masked(64).str() + "/64";
  }

  // nullopt if an attempt may go ahead; otherwise the Retry-After in whole seconds (>= 1), and
  // the attempt must be refused without checking the password. Counts nothing.
  [[nodiscard]] std::optional<std::chrono::seconds> check(std::string_view address,
                                                          std::string_view account,
                                                          clock::time_point now) const {
    const auto by_address = addresses_.refusal(address_key_cut(address), now);
    const auto by_account = accounts_.refusal(pair_key(address, account), now);
    if (by_address && by_account) return std::max(*by_address, *by_account);
    return by_address ? by_address : by_account;
  }

  // check(), and when the attempt may go ahead it counts as started from now on: end() it
  // exactly once when its password has been checked (or was not, after all).
  [[nodiscard]] std::optional<std::chrono::seconds> begin(std::string_view address,
                                                          std::string_view account,
                                                          clock::time_point now) {
    if (auto wait = check(address, account, now)) return wait;
    addresses_.start(address_key_cut(address), now);
    accounts_.start(pair_key(address, account), now);
    return std::nullopt;
  }

  void end(std::string_view address, std::string_view account, outcome result,
           clock::time_point now) {
    addresses_.finish(address_key_cut(address), result, now);
    accounts_.finish(pair_key(address, account), result, now);
  }

  // Drops entries whose failures are forgotten; call it from a periodic timer. Returns how many.
  std::size_t sweep(clock::time_point now) { return addresses_.sweep(now) + accounts_.sweep(now); }

  // The lock that the n-th consecutive failure of one (address, account) earns.
  std::chrono::seconds lock_for(unsigned failures) const noexcept {
    return accounts_.lock_for(failures);
  }

 private:
  std::string address_key_cut(std::string_view address) const {
    return address_key(address.substr(0, options_.max_key_bytes));
  }

  std::string pair_key(std::string_view address, std::string_view account) const {
    std::string key = address_key_cut(address);
    key += '\n';
    key += account.substr(0, options_.max_key_bytes);
    return key;
  }

  throttle_options options_;
  detail::throttle_table addresses_;
  detail::throttle_table accounts_;
};

}  // namespace bcast::auth
