#pragma once
// A user account as the users file holds it, and the syntax rules for its fields.

#include <bcast/core/digest.hpp>
#include <bcast/core/text.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::auth {

enum class role { admin, publisher };

inline std::string_view to_string(role r) noexcept {
  return r == role::admin ? "admin" : "publisher";
}

inline std::optional<role> parse_role(std::string_view text) noexcept {
  if (text == "admin") return role::admin;
  if (text == "publisher") return role::publisher;
  return std::nullopt;
}

struct user {
  std::string name;
  auth::role role = auth::role::publisher;
  // PHC string; empty means the account cannot log in with a password (bearer tokens only).
  std::string password_hash;
  // Target patterns this user may send to: "*", "all", "<kind>:*" or "<kind>:<name>".
  std::vector<std::string> targets{"*"};
  // Stored forms of bearer tokens: "sha256:<64 lowercase hex digits>", never the token itself.
  std::vector<std::string> tokens;

  bool operator==(const user&) const = default;
};

// The target name syntax, [a-z0-9][a-z0-9_.-]{0,63}, used for user names as well as for the
// kind and name halves of targets. Lowercase only, so that "Admin" and "admin" cannot be two
// different accounts, and no characters that need quoting in JSON, logs, shells or URLs.
inline bool valid_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(s[0])) return false;
  for (char c : s)
    if (!lower_or_digit(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

inline bool valid_user_name(std::string_view s) noexcept {
  return valid_name(s);
}

// "*", "all", "<kind>:*" or "<kind>:<name>", with kind and name per valid_name.
inline bool valid_target_pattern(std::string_view p) noexcept {
  if (p == "*" || p == "all") return true;
  const std::size_t colon = p.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view kind = p.substr(0, colon);
  const std::string_view name = p.substr(colon + 1);
  return valid_name(kind) && (name == "*" || valid_name(name));
}

inline constexpr std::string_view token_hash_prefix = "sha256:";

// The stored form of a bearer token: "sha256:" + lowercase hex SHA-256 of the token text.
inline std::string token_hash(std::string_view token) {
  return std::string(token_hash_prefix) + core::to_hex(core::sha256(token));
}

inline bool valid_token_hash(std::string_view s) noexcept {
  if (s.size() != token_hash_prefix.size() + 64 ||
      s.substr(0, token_hash_prefix.size()) != token_hash_prefix)
    return false;
  for (char c : s.substr(token_hash_prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace bcast::auth
