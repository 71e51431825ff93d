#pragma once
// Text handling shared by the sinks: making message text safe for markup, argv and terminals, and
// short reasons for the log.

#include <cstddef>
#include <string>
#include <string_view>

namespace bcast::sinks::text {

// Envelope text comes from the wire. Control characters (NUL would cut an argv entry short, ESC
// would drive a terminal) become spaces; tab and newline stay when `keep_newlines`, CR goes.
// Invalid UTF-8 is left to the caller's escaping; this touches only C0, DEL and C1 controls.
inline std::string without_controls(std::string_view in, bool keep_newlines) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c == '\r') continue;
    if ((c == '\n' || c == '\t') && keep_newlines) {
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (c == 0xc2 && i + 1 < in.size() && static_cast<unsigned char>(in[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(in[i + 1]) <= 0x9f) {
      out += ' ';  // U+0080..U+009F, which terminals read as CSI and friends
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Pango markup (zenity) and the Desktop Notifications body-markup subset are XML text.
inline std::string escape_markup(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 8);
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// zenity's --text and notify-send's body go through g_strcompress() after we escaped the markup:
// it turns \n, \t, \\ and octal escapes such as \074 ('<') back into characters, so "C:\new"
// would break the line and "\074b\076" would become markup. Each backslash doubled comes out as
// the one that was typed.
inline std::string escape_markup_argument(std::string_view in) {
  const auto markup = escape_markup(in);
  std::string out;
  out.reserve(markup.size());
  for (char c : markup) {
    if (c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The first non-blank line of a child's stderr, trimmed and shortened, for a `failed` reason.
inline std::string first_line(std::string_view in, std::size_t max_bytes = 200) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    auto end = in.find('\n', pos);
    if (end == std::string_view::npos) end = in.size();
    auto line = in.substr(pos, end - pos);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t' || line.front() == '\r')) {
      line.remove_prefix(1);
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      std::string out = without_controls(line, false);
      if (out.size() > max_bytes) {
        std::size_t cut = max_bytes;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
        out.resize(cut);
        out += "...";
      }
      return out;
    }
    pos = end + 1;
  }
  return {};
}

// True when one line of `output` (CR and surrounding blanks ignored) is exactly `word`.
inline bool has_line(std::string_view output, std::string_view word) {
  std::size_t pos = 0;
  while (pos <= output.size()) {
    auto end = output.find('\n', pos);
    if (end == std::string_view::npos) end = output.size();
    auto line = output.substr(pos, end - pos);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (line == word) return true;
    if (end == output.size()) break;
    pos = end + 1;
  }
  return false;
}

}  // namespace bcast::sinks::text
