#pragma once
// Cookie header parsing and Set-Cookie formatting (RFC 6265).

#include <bcast/http/headers.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::http {

// "a=1; b=\"two\"" -> {a:1, b:two}. Values are returned as sent, minus surrounding quotes.
inline std::vector<std::pair<std::string, std::string>> parse_cookies(std::string_view header) {
  std::vector<std::pair<std::string, std::string>> out;
  for_each_item(header, ';', [&](std::string_view item) {
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return;
    std::string_view name = trim(item.substr(0, eq));
    std::string_view value = trim(item.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!name.empty()) out.emplace_back(std::string(name), std::string(value));
  });
  return out;
}

// The first cookie called `name` in a Cookie header.
inline std::optional<std::string> find_cookie(std::string_view header, std::string_view name) {
  std::optional<std::string> found;
  for_each_item(header, ';', [&](std::string_view item) {
    if (found) return;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || trim(item.substr(0, eq)) != name) return;
    std::string_view value = trim(item.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    found.emplace(value);
  });
  return found;
}

enum class same_site { unset, strict, lax, none };

struct cookie_options {
  std::string path = "/";
  std::string domain;                           // empty: host-only
  std::optional<std::chrono::seconds> max_age;  // empty: a session cookie
  bool http_only = true;
  bool secure = false;  // set it for HTTPS connections
  same_site site = same_site::strict;
};

// token characters (RFC 7230), which is what a cookie name must be.
inline constexpr bool is_token_char(char c) noexcept {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

inline constexpr bool valid_cookie_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name)
    if (!is_token_char(c)) return false;
  return true;
}

// cookie-octet: printable ASCII except space, '"', ',', ';' and '\'.
inline constexpr bool valid_cookie_value(std::string_view value) noexcept {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\') return false;
  }
  return true;
}

// The Set-Cookie field value, or nullopt when the name or value would need escaping (so a value
// cannot smuggle attributes in).
inline std::optional<std::string> format_set_cookie(std::string_view name, std::string_view value,
                                                    const cookie_options& options = {}) {
  if (!valid_cookie_name(name) || !valid_cookie_value(value)) return std::nullopt;
  if (!valid_cookie_value(options.path) || !valid_cookie_value(options.domain)) return std::nullopt;
  std::string out;
  out.reserve(name.size() + value.size() + 64);
  out.append(name).append("=").append(value);
  if (!options.path.empty()) out.append("; Path=").append(options.path);
  if (!options.domain.empty()) out.append("; Domain=").append(options.domain);
  if (options.max_age) out.append("; Max-Age=").append(std::to_string(options.max_age->count()));
  if (options.http_only) out.append("; HttpOnly");
  // Browsers drop SameSite=None without Secure.
  if (options.secure || options.site == same_site::none) out.append("; Secure");
  switch (options.site) {
    case same_site::strict:
      out.append("; SameSite=Strict");
      break;
    case same_site::lax:
      out.append("; SameSite=Lax");
      break;
    case same_site::none:
      out.append("; SameSite=None");
      break;
    case same_site::unset:
      break;
  }
  return out;
}

}  // namespace bcast::http
