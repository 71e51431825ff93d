#pragma once
// Targets say which stores get a message: `all`, `store:<id>`, or a group `<kind>:<name>` such as
// `region:jateng`. Kinds and names match [a-z0-9][a-z0-9_.-]{0,63}.
// Target patterns limit what a user may send to: `*`, `<kind>:*`, or one exact target.

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/utf8.hpp>

#include <compare>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::message {

inline constexpr std::size_t target_name_max_length = 64;

struct target {
  std::string kind;  // "all", "store", or a group kind
  std::string name;  // empty for "all"

  bool is_all() const noexcept { return kind == "all"; }
  bool is_store() const noexcept { return kind == "store"; }
  std::string str() const { return is_all() ? std::string("all") : kind + ":" + name; }

  friend bool operator==(const target&, const target&) = default;
  friend auto operator<=>(const target&, const target&) = default;
};

// A kind or a name: [a-z0-9][a-z0-9_.-]{0,63}.
inline bool is_valid_target_name(std::string_view text) noexcept {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (text.empty() || text.size() > target_name_max_length || !alnum(text[0])) return false;
  for (const char c : text.substr(1)) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

namespace detail {

// The kind and name of "<kind>:<name>", unchecked; nothing without a colon.
inline std::optional<std::pair<std::string_view, std::string_view>> split_target(
    std::string_view text) noexcept {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::pair{text.substr(0, colon), text.substr(colon + 1)};
}

inline std::string why_bad_target_name(std::string_view what, std::string_view text) {
  if (text.empty()) return std::string(what) + " is empty";
  if (text.size() > target_name_max_length) {
    return std::string(what) + " is longer than " + std::to_string(target_name_max_length) +
           " characters";
  }
  return std::string(what) +
         " must be lower-case letters, digits, '_', '.' or '-', starting with a letter or digit";
}

}  // namespace detail

inline bool is_valid_target(std::string_view text) noexcept {
  if (text == "all") return true;
  const auto parts = detail::split_target(text);
  return parts && parts->first != "all" && is_valid_target_name(parts->first) &&
         is_valid_target_name(parts->second);
}

// The error's detail names the input and what is wrong with it, ready to show to a person.
[[nodiscard]] inline core::result<target> parse_target(std::string_view text) {
  if (text == "all") return target{"all", ""};
  const auto fail = [&](const std::string& why) {
    return core::error(core::errc::invalid_argument,
                       "invalid target " + core::quoted(text) + ": " + why);
  };
  if (text.empty()) return core::error(core::errc::invalid_argument, "empty target");
  const auto parts = detail::split_target(text);
  if (!parts) return fail("expected \"all\", \"store:<id>\" or \"<kind>:<name>\"");
  const auto [kind, name] = *parts;
  if (kind == "all") return fail("\"all\" takes no name");
  if (!is_valid_target_name(kind)) return fail(detail::why_bad_target_name("the kind", kind));
  if (!is_valid_target_name(name)) {
    return fail(detail::why_bad_target_name(kind == "store" ? "the store id" : "the name", name));
  }
  return target{std::string(kind), std::string(name)};
}

// A group a store belongs to (subscriberd's --group): a target that is neither `all` nor a store.
[[nodiscard]] inline core::result<target> parse_group(std::string_view text) {
  auto parsed = parse_target(text);
  if (!parsed) return parsed;
  if (parsed->is_all() || parsed->is_store()) {
    return core::error(core::errc::invalid_argument,
                       "invalid group " + core::quoted(text) +
                           ": a group is \"<kind>:<name>\", not \"all\" or a store");
  }
  return parsed;
}

inline bool valid_pattern(std::string_view pattern) noexcept {
  if (pattern == "*") return true;
  if (const auto parts = detail::split_target(pattern); parts && parts->second == "*") {
    return parts->first != "all" && is_valid_target_name(parts->first);
  }
  return is_valid_target(pattern);
}

// An invalid pattern allows nothing.
inline bool pattern_allows(std::string_view pattern, const target& t) noexcept {
  if (pattern == "*") return true;
  if (!valid_pattern(pattern)) return false;
  if (pattern == "all") return t.is_all();
  if (t.is_all()) return false;
  const auto [kind, name] = *detail::split_target(pattern);
  return kind == t.kind && (name == "*" || name == t.name);
}

// True when any of the patterns allows the target.
inline bool patterns_allow(std::span<const std::string> patterns, const target& t) noexcept {
  for (const auto& p : patterns) {
    if (pattern_allows(p, t)) return true;
  }
  return false;
}

// Whether a store with this id and these groups (each "<kind>:<name>") receives a message for `t`.
inline bool store_matches(const target& t, std::string_view store_id,
                          std::span<const std::string> groups) noexcept {
  if (t.is_all()) return true;
  if (t.is_store()) return t.name == store_id;
  for (const std::string_view g : groups) {
    if (g.size() == t.kind.size() + 1 + t.name.size() && g.starts_with(t.kind) &&
        g[t.kind.size()] == ':' && g.ends_with(t.name)) {
      return true;
    }
  }
  return false;
}

}  // namespace bcast::message
