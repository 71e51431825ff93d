#pragma once
// The words a store sees around a message, in the store's language (subscriberd `language`):
// buttons, priority labels and the other fixed text of every sink. One table for all sinks, so
// that a store never gets a mix of languages. Category labels come with the categories
// (message/category.hpp).

#include <bcast/message/category.hpp>
#include <bcast/message/envelope.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace bcast::sinks {

enum class language { en, id };

inline std::optional<language> parse_language(std::string_view name) {
  if (name == "en") return language::en;
  if (name == "id") return language::id;
  return std::nullopt;
}

struct words {
  std::string_view acknowledge;          // the confirm button of a message that needs confirming
  std::string_view ok;                   // dismisses a long message that needs no confirming
  std::string_view close;                // closes a long message's window without confirming
  std::string_view please_confirm;       // terminal: under a message that needs confirming
  std::string_view press_ok_to_confirm;  // win32: MessageBox has only its own OK button
  std::string_view reminder;             // a message shown again because nobody confirmed it yet
  std::string_view recalled;             // terminal: head office took the message back
  std::string_view replaced_by;          // terminal: ... by this correction
  std::string_view normal;
  std::string_view high;
  std::string_view urgent;
};

inline constexpr words english_words{
    .acknowledge = "OK, understood",
    .ok = "OK",
    .close = "Close",
    .please_confirm = "(please confirm this message)",
    .press_ok_to_confirm = "Press OK to confirm that you have read this message.",
    .reminder = "Reminder",
    .recalled = "RECALLED",
    .replaced_by = "replaced by",
    .normal = "Normal",
    .high = "High",
    .urgent = "Urgent",
};

inline constexpr words indonesian_words{
    .acknowledge = "OK, mengerti",
    .ok = "OK",
    .close = "Tutup",
    .please_confirm = "(mohon konfirmasi pesan ini)",
    .press_ok_to_confirm = "Tekan OK untuk konfirmasi bahwa Anda sudah membaca pesan ini.",
    .reminder = "Pengingat",
    .recalled = "DITARIK",
    .replaced_by = "diganti dengan",
    .normal = "Biasa",
    .high = "Penting",
    .urgent = "Mendesak",
};

inline const words& words_for(language l) noexcept {
  return l == language::id ? indonesian_words : english_words;
}

inline std::string_view priority_label(const words& w, message::priority p) noexcept {
  switch (p) {
    case message::priority::normal:
      return w.normal;
    case message::priority::high:
      return w.high;
    case message::priority::urgent:
      return w.urgent;
  }
  return w.normal;
}

// A title as a popup shows it: "Reminder 2: <title>" for the second reminder of a must-read
// message, the title alone the first time.
inline std::string reminder_title(const words& w, std::string title, unsigned reminder) {
  if (reminder == 0) return title;
  return std::string(w.reminder) + " " + std::to_string(reminder) + ": " + title;
}

// The default categories have a label; any other category shows its name as sent.
inline std::string category_label(language l, std::string_view category) {
  static const auto defaults = message::default_categories();
  const auto* known = message::find_category(defaults, category);
  if (!known) return std::string(category);
  return l == language::id ? known->label_id : known->label_en;
}

}  // namespace bcast::sinks
