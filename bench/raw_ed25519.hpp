#pragma once
// The baseline the signing benchmarks compare with, in the same run: OpenSSL's Ed25519 as a
// program without bcast calls it, a context initialised for the key on every call, then the
// one-shot EVP_DigestSign / EVP_DigestVerify (bcast copies a context its keys prepared once:
// trust/keys.hpp).

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <string_view>

namespace raw_ed25519 {

inline bool sign(EVP_PKEY* key, std::string_view data, std::array<unsigned char, 64>& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = signature.size();
  const bool ok =
      ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestSign(ctx, signature.data(), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) ERR_clear_error();
  return ok;
}

inline bool verify(EVP_PKEY* key, const std::array<unsigned char, 64>& signature,
                   std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, signature.data(), signature.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace raw_ed25519
