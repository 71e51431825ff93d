#pragma once
// UTF-8 checks for message text. Limits are in characters (code points), so the text must be
// validated first: every other function here assumes valid UTF-8 unless it says otherwise.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bcast::message {

// Well-formed UTF-8 as in Unicode's table 3-7: no overlong forms, no surrogates (U+D800..U+DFFF),
// nothing above U+10FFFF, no truncated or stray continuation bytes.
inline bool is_valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    // The second byte's range is what rules out overlongs, surrogates and > U+10FFFF.
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;
    } else {
      return false;  // 0x80..0xC1 (continuation or overlong lead) and 0xF5..0xFF
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// Code points in valid UTF-8. On invalid input it counts the bytes that are not continuation
// bytes, which is never more than the byte length.
inline std::size_t utf8_length(std::string_view text) noexcept {
  std::size_t count = 0;
  for (const char ch : text) {
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++count;
  }
  return count;
}

namespace detail {

// Decodes the code point at `i` and moves `i` past it. Meant for valid UTF-8; on a sequence cut
// short by the end of the text it gives U+FFFD and moves one byte, so it never reads past the end.
inline char32_t next_code_point(std::string_view text, std::size_t& i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned c = byte(i);
  const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (text.size() - i < len) {
    i += 1;
    return 0xFFFD;
  }
  char32_t cp = 0;
  switch (len) {
    case 1:
      cp = c;
      break;
    case 2:
      cp = ((c & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu);
      break;
    case 3:
      cp = ((c & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu);
      break;
    default:
      cp = ((c & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) | ((byte(i + 2) & 0x3Fu) << 6) |
           (byte(i + 3) & 0x3Fu);
  }
  i += len;
  return cp;
}

// Unicode White_Space, plus the zero-width characters that render as nothing.
inline bool is_blank_code_point(char32_t cp) noexcept {
  switch (cp) {
    case 0x0009:
    case 0x000A:
    case 0x000B:
    case 0x000C:
    case 0x000D:
    case 0x0020:
    case 0x0085:
    case 0x00A0:
    case 0x1680:
    case 0x180E:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace detail

// True when valid UTF-8 text shows nothing: empty, or only white space and zero-width characters.
inline bool is_blank(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!detail::is_blank_code_point(detail::next_code_point(text, i))) return false;
  }
  return true;
}

// True when valid UTF-8 text holds a C0 control (U+0000..U+001F), DEL or a C1 control
// (U+0080..U+009F) other than the ASCII ones listed in `allowed` (for example "\t\n\r").
// Message text reaches terminals, environment variables and dialogs, where NUL truncates and
// escape sequences act.
inline bool has_control_chars(std::string_view text, std::string_view allowed = {}) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t cp = detail::next_code_point(text, i);
    if (cp < 0x20 || cp == 0x7F) {
      if (allowed.find(static_cast<char>(cp)) == std::string_view::npos) return true;
    } else if (cp >= 0x80 && cp <= 0x9F) {
      return true;
    }
  }
  return false;
}

}  // namespace bcast::message
