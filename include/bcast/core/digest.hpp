#pragma once
// SHA-256 and SHA-1 (OpenSSL EVP), for the layers that name things by a hash: bearer tokens and
// sessions (auth/), a Redis ACL password (broker/), a Lua script's EVALSHA name (redis/).

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace bcast::core {

using sha256_digest = std::array<unsigned char, 32>;
using sha1_digest = std::array<unsigned char, 20>;

inline std::span<const unsigned char> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

namespace detail {

// OpenSSL 3 looks EVP_sha256() up in its provider tables on every digest; fetched once, a
// bearer token's SHA-256 (on every API request) costs a third as much.
inline const EVP_MD* sha256_algorithm() noexcept {
  static const EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return fetched ? fetched : EVP_sha256();
}

template <std::size_t N>
std::array<unsigned char, N> digest(std::span<const unsigned char> data, const EVP_MD* algorithm,
                                    const char* name) noexcept {
  std::array<unsigned char, N> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, algorithm, nullptr) != 1 ||
      len != out.size()) {
    // Only an allocation failure inside OpenSSL gets here; an all-zero digest would silently
    // match other failures, so treat it like a failed RNG. The error queue is cleared first:
    // TLS code on this thread reads it through SSL_get_error.
    ERR_clear_error();
    std::fprintf(stderr, "bcast: %s failed; aborting\n", name);
    std::abort();
  }
  return out;
}

}  // namespace detail

inline sha256_digest sha256(std::span<const unsigned char> data) noexcept {
  return detail::digest<32>(data, detail::sha256_algorithm(), "SHA-256");
}

inline sha256_digest sha256(std::string_view data) noexcept {
  return sha256(as_bytes(data));
}

// Only where a protocol names it (Redis scripts are known by their SHA-1), never for secrets.
inline sha1_digest sha1(std::string_view data) noexcept {
  return detail::digest<20>(as_bytes(data), EVP_sha1(), "SHA-1");
}

}  // namespace bcast::core
