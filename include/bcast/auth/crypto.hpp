#pragma once
// Small OpenSSL helpers shared by the auth headers: randomness and constant-time compare. Base64,
// SHA-256 and hex are core's (core/base64.hpp, core/digest.hpp, core/text.hpp).

#include <bcast/core/base64.hpp>
#include <bcast/core/digest.hpp>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <array>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::auth {

// The base64 functions below take bytes.
using core::as_bytes;

// A failing CSPRNG is not something to carry on from: every session id and salt made after it
// could be predictable. Abort rather than hand out weak secrets.
inline void fill_random(std::span<unsigned char> out) noexcept {
  while (!out.empty()) {
    const std::size_t n = out.size() > INT_MAX ? static_cast<std::size_t>(INT_MAX) : out.size();
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
      std::fputs("bcast: RAND_bytes failed, no secure randomness available; aborting\n", stderr);
      std::abort();
    }
    out = out.subspan(n);
  }
}

// Failed OpenSSL calls leave entries on the thread's error queue; TLS code on the same thread
// reads that queue through SSL_get_error, so never leave them behind.
inline void clear_openssl_errors() noexcept {
  ERR_clear_error();
}

// Equal-length inputs are compared without data-dependent branches; the length itself is not
// secret (tokens, digests and CSRF tokens all have fixed, public lengths).
[[nodiscard]] inline bool constant_time_equal(std::span<const unsigned char> a,
                                              std::span<const unsigned char> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

[[nodiscard]] inline bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  return constant_time_equal(as_bytes(a), as_bytes(b));
}

// PHC "B64" and base64url: core's (core/base64.hpp).
using core::b64_decode;
using core::b64_encode;
using core::b64url_decode;
using core::b64url_encode;

// `bytes` random bytes as unpadded base64url (32 bytes -> 43 characters).
inline std::string random_token(std::size_t bytes = 32) {
  std::vector<unsigned char> raw(bytes);
  fill_random(raw);
  std::string out = b64url_encode(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

}  // namespace bcast::auth
