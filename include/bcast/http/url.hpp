#pragma once
// Percent-encoding, query strings and path segments.

#include <bcast/http/headers.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::http {

inline constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; `plus_as_space` for query strings (application/x-www-form-urlencoded).
// nullopt for a malformed escape.
inline std::optional<std::string> percent_decode(std::string_view in, bool plus_as_space = false) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Escapes everything but RFC 3986 unreserved characters (and '/' when `keep_slash`).
inline std::string percent_encode(std::string_view in, bool keep_slash = false) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out.push_back(c);
    } else {
      auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(digits[b >> 4]);
      out.push_back(digits[b & 15]);
    }
  }
  return out;
}

// Name/value pairs in order, for query parameters and route parameters. Lookups are exact
// (case-sensitive); the first occurrence wins.
class param_map {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  std::optional<std::string_view> get(std::string_view name) const noexcept {
    for (const auto& [n, v] : items_)
      if (n == name) return std::string_view(v);
    return std::nullopt;
  }
  std::vector<std::string_view> get_all(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [n, v] : items_)
      if (n == name) out.emplace_back(v);
    return out;
  }
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  void add(std::string name, std::string value) {
    items_.emplace_back(std::move(name), std::move(value));
  }
  const_iterator begin() const noexcept { return items_.begin(); }
  const_iterator end() const noexcept { return items_.end(); }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  void clear() noexcept { items_.clear(); }

 private:
  std::vector<value_type> items_;
};

// "a=1&b=x+y&c" -> {a:1, b:"x y", c:""}. Lenient: a malformed escape is kept as written.
inline param_map parse_query(std::string_view raw) {
  param_map out;
  while (!raw.empty()) {
    std::size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    if (!pair.empty()) {
      std::size_t eq = pair.find('=');
      std::string_view name = pair.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      auto n = percent_decode(name, true);
      auto v = percent_decode(value, true);
      out.add(n ? std::move(*n) : std::string(name), v ? std::move(*v) : std::string(value));
    }
    if (amp == std::string_view::npos) break;
    raw.remove_prefix(amp + 1);
  }
  return out;
}

// Splits a raw path "/a/b%2Fc/" into decoded segments {"a", "b/c", ""}; the leading '/' is
// dropped and a trailing '/' yields a final empty segment. nullopt for a malformed escape.
inline std::optional<std::vector<std::string>> split_path(std::string_view raw_path) {
  std::vector<std::string> out;
  if (!raw_path.empty() && raw_path.front() == '/') raw_path.remove_prefix(1);
  if (raw_path.empty()) return out;
  for (;;) {
    std::size_t slash = raw_path.find('/');
    std::string_view seg = raw_path.substr(0, slash);
    if (seg.find('%') == std::string_view::npos) {
      out.emplace_back(seg);
    } else {
      auto decoded = percent_decode(seg);
      if (!decoded) return std::nullopt;
      out.push_back(std::move(*decoded));
    }
    if (slash == std::string_view::npos) break;
    raw_path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace bcast::http
