#pragma once
// Header fields and the small string helpers HTTP needs: names compare case-insensitively, and
// list-valued fields (Connection, Accept-Encoding) are comma-separated tokens.

#include <bcast/core/text.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::http {

using core::ascii_lower;
using core::iequals;

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

inline constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(item) for each trimmed, non-empty item of a `sep`-separated list.
template <class Fn>
inline void for_each_item(std::string_view list, char sep, Fn&& fn) {
  while (!list.empty()) {
    std::size_t end = list.find(sep);
    std::string_view item = trim(list.substr(0, end));
    if (!item.empty()) fn(item);
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
}

// True when the comma-separated `list` holds `token` (case-insensitive), e.g. "keep-alive,
// Upgrade".
inline bool has_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_item(list, ',', [&](std::string_view item) {
    if (iequals(item, token)) found = true;
  });
  return found;
}

// The media type of a Content-Type value, without its parameters: "application/json" of
// "application/json; charset=utf-8". Compare it with iequals.
inline constexpr std::string_view media_type(std::string_view content_type) noexcept {
  return trim(content_type.substr(0, content_type.find(';')));
}

// Fields in arrival order. A vector rather than a map: requests carry a dozen fields, and repeated
// fields (Set-Cookie) must stay separate.
class header_map {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  std::optional<std::string_view> get(std::string_view name) const noexcept {
    for (const auto& [n, v] : fields_)
      if (iequals(n, name)) return std::string_view(v);
    return std::nullopt;
  }

  std::string_view get_or(std::string_view name, std::string_view fallback) const noexcept {
    auto v = get(name);
    return v ? *v : fallback;
  }

  std::vector<std::string_view> get_all(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [n, v] : fields_)
      if (iequals(n, name)) out.emplace_back(v);
    return out;
  }

  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }

  void add(std::string name, std::string value) {
    fields_.emplace_back(std::move(name), std::move(value));
  }

  // Replaces every field of that name.
  void set(std::string name, std::string value) {
    remove(name);
    add(std::move(name), std::move(value));
  }

  // Adds the field only when none of that name exists yet.
  void set_default(std::string_view name, std::string_view value) {
    if (!contains(name)) add(std::string(name), std::string(value));
  }

  std::size_t remove(std::string_view name) {
    std::size_t before = fields_.size();
    std::erase_if(fields_, [&](const value_type& f) { return iequals(f.first, name); });
    return before - fields_.size();
  }

  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  void reserve(std::size_t n) { fields_.reserve(n); }

 private:
  std::vector<value_type> fields_;
};

}  // namespace bcast::http
