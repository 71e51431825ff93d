#pragma once
// In-memory browser sessions with CSRF tokens, and the session cookie.
// Time is passed in by the caller, so tests need no clock and no sleeps.

#include <bcast/auth/crypto.hpp>
#include <bcast/auth/user.hpp>
#include <bcast/core/digest.hpp>

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

// Over HTTPS the cookie is Secure and carries the __Host- prefix, which the browser accepts only
// from a secure origin, with Path=/ and no Domain: a sibling host or a plain-HTTP page cannot set
// or overwrite it. Over plain HTTP (a demo on loopback) the prefix is not allowed.
inline constexpr std::string_view session_cookie_name = "bcast_session";
inline constexpr std::string_view secure_session_cookie_name = "__Host-bcast_session";

inline constexpr std::string_view session_cookie_name_for(bool secure) noexcept {
  return secure ? secure_session_cookie_name : session_cookie_name;
}
inline constexpr std::size_t session_id_bytes = 32;
// Length of an id or CSRF token: 32 bytes as unpadded base64url.
inline constexpr std::size_t session_token_chars = 43;

struct session_options {
  std::chrono::seconds idle_timeout = std::chrono::minutes(30);  // sliding
  std::chrono::seconds absolute_timeout = std::chrono::hours(12);
  std::size_t max_sessions = 10000;
  // So that one account logging in in a loop (a script, a stuck browser) evicts its own oldest
  // sessions instead of everyone else's.
  std::size_t max_sessions_per_user = 64;
};

struct session {
  std::string id;          // the cookie value
  std::string csrf_token;  // sent back in X-CSRF-Token on unsafe requests
  std::string user_name;
  auth::role role = auth::role::publisher;
  std::chrono::steady_clock::time_point created{};
  std::chrono::steady_clock::time_point last_seen{};
};

// Constant time; false for an empty presented token.
[[nodiscard]] inline bool csrf_token_matches(const session& s,
                                             std::string_view presented) noexcept {
  return !presented.empty() && !s.csrf_token.empty() &&
         constant_time_equal(s.csrf_token, presented);
}

class session_store {
 public:
  using clock = std::chrono::steady_clock;

  explicit session_store(session_options options = {}) { set_options(options); }

  const session_options& options() const noexcept { return options_; }
  // Applies to existing sessions too, at their next use.
  void set_options(session_options o) {
    options_ = o;
    if (options_.max_sessions == 0) options_.max_sessions = 1;
    if (options_.max_sessions_per_user == 0) options_.max_sessions_per_user = 1;
  }
  std::size_t size() const noexcept { return index_.size(); }

  // Every login gets a fresh id and CSRF token; an id held before login is never reused.
  session create(std::string user_name, role r, clock::time_point now) {
    drop_idle_from_back(now);
    if (auto it = per_user_.find(user_name);
        it != per_user_.end() && it->second >= options_.max_sessions_per_user)
      evict_oldest_of(user_name);
    while (index_.size() >= options_.max_sessions) erase(std::prev(lru_.end()));

    session s;
    std::string key;
    do {
      s.id = random_token(session_id_bytes);
      key = key_of(s.id);
    } while (index_.count(key) != 0);
    s.csrf_token = random_token(session_id_bytes);
    s.user_name = std::move(user_name);
    s.role = r;
    s.created = now;
    s.last_seen = now;

    record rec{key, s};
    rec.s.id.clear();  // only the hash of the id is kept
    lru_.push_front(std::move(rec));
    index_.emplace(std::move(key), lru_.begin());
    ++per_user_[s.user_name];
    return s;
  }

  // The live session for `id`, with its idle timer restarted; nullopt if unknown or expired
  // (an expired session is removed).
  std::optional<session> find(std::string_view id, clock::time_point now) {
    if (!plausible_id(id)) return std::nullopt;
    const auto found = index_.find(key_of(id));
    if (found == index_.end()) return std::nullopt;
    const auto it = found->second;
    if (expired(it->s, now)) {
      erase(it);
      return std::nullopt;
    }
    if (now > it->s.last_seen) it->s.last_seen = now;
    lru_.splice(lru_.begin(), lru_, it);
    session out = it->s;
    out.id = std::string(id);
    return out;
  }

  bool destroy(std::string_view id) {
    if (!plausible_id(id)) return false;
    const auto found = index_.find(key_of(id));
    if (found == index_.end()) return false;
    erase(found->second);
    return true;
  }

  // Ends every session of a user (deleted, password or role changed). Returns how many.
  std::size_t destroy_user(std::string_view user_name) {
    std::size_t n = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
      const auto next = std::next(it);
      if (it->s.user_name == user_name) {
        erase(it);
        ++n;
      }
      it = next;
    }
    return n;
  }

  // Removes expired sessions; call it from a periodic timer. Returns how many.
  std::size_t sweep(clock::time_point now) {
    std::size_t n = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
      const auto next = std::next(it);
      if (expired(it->s, now)) {
        erase(it);
        ++n;
      }
      it = next;
    }
    return n;
  }

 private:
  struct record {
    std::string key;
    session s;
  };
  using list_type = std::list<record>;

  // Sessions are indexed by SHA-256 of the id, so hash-table timing says nothing about valid ids
  // and a memory dump holds no usable cookie.
  static std::string key_of(std::string_view id) {
    const auto digest = core::sha256(id);
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
  }

  static bool plausible_id(std::string_view id) noexcept {
    if (id.size() != session_token_chars) return false;
    for (char c : id)
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_'))
        return false;
    return true;
  }

  bool expired(const session& s, clock::time_point now) const noexcept {
    return now - s.last_seen >= options_.idle_timeout ||
           now - s.created >= options_.absolute_timeout;
  }

  void erase(list_type::iterator it) {
    if (auto count = per_user_.find(it->s.user_name);
        count != per_user_.end() && --count->second == 0)
      per_user_.erase(count);
    index_.erase(it->key);
    lru_.erase(it);
  }

  // The list is ordered by last use, so idle-expired sessions sit at the back.
  void drop_idle_from_back(clock::time_point now) {
    while (!lru_.empty() && expired(lru_.back().s, now)) erase(std::prev(lru_.end()));
  }

  void evict_oldest_of(std::string_view user_name) {
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it)
      if (it->s.user_name == user_name) {
        erase(std::prev(it.base()));
        return;
      }
  }

  session_options options_;
  list_type lru_;  // most recently used first
  std::unordered_map<std::string, list_type::iterator> index_;
  std::unordered_map<std::string, std::size_t> per_user_;
};

// Set-Cookie value for a new session. Max-Age bounds the cookie to the absolute timeout; the
// idle timeout is enforced by the server alone.
inline std::string session_cookie(std::string_view id, bool secure, std::chrono::seconds max_age) {
  std::string out(session_cookie_name_for(secure));
  out += '=';
  out += id;
  out += "; Path=/; Max-Age=";
  out += std::to_string(max_age.count() < 0 ? 0 : max_age.count());
  out += "; HttpOnly; SameSite=Strict";
  if (secure) out += "; Secure";
  return out;
}

// Set-Cookie value that makes the browser drop the session cookie (logout, expired session).
inline std::string clear_session_cookie(bool secure) {
  std::string out(session_cookie_name_for(secure));
  out += "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict";
  if (secure) out += "; Secure";
  return out;
}

}  // namespace bcast::auth
