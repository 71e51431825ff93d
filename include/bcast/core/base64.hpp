#pragma once
// Base64 without padding, strict: PHC "B64" (standard alphabet) for password hashes, and base64url
// for cookies, tokens and message signatures.

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::core {

namespace detail {

inline constexpr std::string_view b64_std_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
inline constexpr std::string_view b64_url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline std::string b64_encode_unpadded(std::span<const unsigned char> data,
                                       std::string_view alphabet) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = unsigned(data[i]) << 16 | unsigned(data[i + 1]) << 8 | data[i + 2];
    out.push_back(alphabet[v >> 18 & 63]);
    out.push_back(alphabet[v >> 12 & 63]);
    out.push_back(alphabet[v >> 6 & 63]);
    out.push_back(alphabet[v & 63]);
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const unsigned v = unsigned(data[i]) << 16;
    out.push_back(alphabet[v >> 18 & 63]);
    out.push_back(alphabet[v >> 12 & 63]);
  } else if (rest == 2) {
    const unsigned v = unsigned(data[i]) << 16 | unsigned(data[i + 1]) << 8;
    out.push_back(alphabet[v >> 18 & 63]);
    out.push_back(alphabet[v >> 12 & 63]);
    out.push_back(alphabet[v >> 6 & 63]);
  }
  return out;
}

// Strict: no padding, no whitespace, and the unused low bits of the last character must be zero,
// so every byte string has exactly one accepted encoding.
inline std::optional<std::vector<unsigned char>> b64_decode_unpadded(std::string_view text,
                                                                     std::string_view alphabet) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    value[static_cast<unsigned char>(alphabet[i])] = int(i);

  std::vector<unsigned char> out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6 | unsigned(v)) & 0xffffu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>(acc >> bits & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace detail

// PHC B64: standard alphabet, unpadded.
inline std::string b64_encode(std::span<const unsigned char> data) {
  return detail::b64_encode_unpadded(data, detail::b64_std_alphabet);
}

inline std::optional<std::vector<unsigned char>> b64_decode(std::string_view text) {
  return detail::b64_decode_unpadded(text, detail::b64_std_alphabet);
}

// base64url, unpadded: safe in cookies, headers and URLs without quoting.
inline std::string b64url_encode(std::span<const unsigned char> data) {
  return detail::b64_encode_unpadded(data, detail::b64_url_alphabet);
}

inline std::optional<std::vector<unsigned char>> b64url_decode(std::string_view text) {
  return detail::b64_decode_unpadded(text, detail::b64_url_alphabet);
}

}  // namespace bcast::core
