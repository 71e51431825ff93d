#pragma once
// Message categories. publisherd's config lists them; these are the defaults.

#include <bcast/message/target.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::message {

struct category {
  std::string id;
  std::string label_en;
  std::string label_id;  // Bahasa Indonesia

  friend bool operator==(const category&, const category&) = default;
};

inline std::vector<category> default_categories() {
  return {
      {"announcement", "Announcement", "Pengumuman"},
      {"price_info", "Price info", "Info Harga"},
      {"discount_info", "Discount info", "Info Diskon"},
  };
}

// Ids follow the target name grammar, so they are safe in keys, file names and CSS classes.
inline bool is_valid_category_id(std::string_view id) noexcept {
  return is_valid_target_name(id);
}

inline const category* find_category(std::span<const category> categories,
                                     std::string_view id) noexcept {
  for (const auto& c : categories) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

}  // namespace bcast::message
