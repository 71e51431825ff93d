#pragma once
// Text helpers every layer reads or writes with: whole-string integers, ASCII case, hex,
// percent-encoding (RFC 3986 and HTML form bodies), and input echoed into error messages.

#include <charconv>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace bcast::core {

// All of `text` as a decimal integer: no sign for unsigned types, '-' only for signed ones, no
// '+', no spaces, no trailing characters, no overflow. `out` is written only on success.
template <std::integral Int>
[[nodiscard]] bool parse_int(std::string_view text, Int& out) noexcept {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return false;
  out = value;
  return true;
}

// ---- ASCII case (protocol names: HTTP header fields, host names) ------------------------------

inline constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// ---- hex --------------------------------------------------------------------------------------

enum class hex_case { lower, upper };

inline constexpr std::string_view hex_digits(hex_case c) noexcept {
  return c == hex_case::lower ? "0123456789abcdef" : "0123456789ABCDEF";
}

// 0..15 for a hex digit of either case, -1 for anything else.
inline constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Two hex digits for one byte.
inline void append_hex(std::string& out, unsigned char byte, hex_case c = hex_case::lower) {
  const auto digits = hex_digits(c);
  out += digits[byte >> 4];
  out += digits[byte & 0x0f];
}

inline std::string to_hex(std::span<const unsigned char> bytes, hex_case c = hex_case::lower) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) append_hex(out, b, c);
  return out;
}

// Accepts upper- and lowercase digits; nullopt for an odd length or a non-digit.
inline std::optional<std::vector<unsigned char>> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<unsigned char> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]);
    const int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<unsigned char>(hi << 4 | lo));
  }
  return out;
}

// ---- percent-encoding ---------------------------------------------------------------------------

namespace detail {

enum class malformed_escape { refuse, keep };

inline std::optional<std::string> decode_percent(std::string_view in, bool plus_is_space,
                                                 malformed_escape malformed) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      const int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_value(in[i + 2]) : -1;
      if (lo >= 0) {
        out += static_cast<char>(hi << 4 | lo);
        i += 2;
      } else if (malformed == malformed_escape::refuse) {
        return std::nullopt;
      } else {
        out += c;
      }
    } else {
      out += c == '+' && plus_is_space ? ' ' : c;
    }
  }
  return out;
}

}  // namespace detail

// RFC 3986 %XX escapes ('+' is itself); nullopt for a '%' not followed by two hex digits.
[[nodiscard]] inline std::optional<std::string> percent_decode(std::string_view in) {
  return detail::decode_percent(in, false, detail::malformed_escape::refuse);
}

// The same, but a '%' that starts no escape stays as written (as browsers read URLs), for text
// a person typed, such as the password in a Redis URL.
inline std::string percent_decode_lenient(std::string_view in) {
  return *detail::decode_percent(in, false, detail::malformed_escape::keep);
}

// application/x-www-form-urlencoded (query strings): '+' is a space, and, leniently, a '%' that
// starts no escape stays as written.
inline std::string form_decode(std::string_view in) {
  return *detail::decode_percent(in, true, detail::malformed_escape::keep);
}

// Escapes every byte but the RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), so the result
// is one path segment or one query value.
inline std::string percent_encode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (const char c : in) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      append_hex(out, static_cast<unsigned char>(c), hex_case::upper);
    }
  }
  return out;
}

// ---- input echoed in messages -----------------------------------------------------------------

// For error messages that echo input: printable ASCII stays, every other byte becomes \xHH, and
// long input is cut. The result is always valid UTF-8, so it can go into a JSON reply.
inline std::string printable(std::string_view text, std::size_t max_bytes = 64,
                             bool escape_quotes = false) {
  std::string out;
  const std::size_t shown = text.size() < max_bytes ? text.size() : max_bytes;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (escape_quotes && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      append_hex(out, c, hex_case::upper);
    }
  }
  if (shown < text.size()) out += "...";
  return out;
}

// printable() in double quotes, with '"' and '\' escaped.
inline std::string quoted(std::string_view text, std::size_t max_bytes = 64) {
  return '"' + printable(text, max_bytes, true) + '"';
}

}  // namespace bcast::core
