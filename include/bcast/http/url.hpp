#pragma once
// Query strings and path segments (percent-decoding itself is core/text.hpp).

#include <bcast/core/text.hpp>
#include <bcast/http/headers.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::http {

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
      out.add(core::form_decode(name), core::form_decode(value));
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
      auto decoded = core::percent_decode(seg);
      if (!decoded) return std::nullopt;
      out.push_back(std::move(*decoded));
    }
    if (slash == std::string_view::npos) break;
    raw_path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace bcast::http
