#pragma once
// Password hashes in PHC string format.
//   new hashes:    $pbkdf2-sha256$i=600000,l=32$<salt>$<hash>     (PBKDF2-HMAC-SHA256)
//   also verified: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>  (as written by passlib)
// Salt and hash are PHC B64 (standard alphabet, unpadded).

#include <bcast/auth/crypto.hpp>
#include <bcast/core/text.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <climits>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::auth {

inline constexpr unsigned pbkdf2_default_iterations = 600000;
// What new hashes must use to meet the product's policy (see hash_meets_policy). hash_password
// itself takes a lower count so that tests stay fast; production callers use the default.
inline constexpr unsigned pbkdf2_min_iterations = 600000;
inline constexpr std::size_t password_salt_bytes = 16;
inline constexpr std::size_t pbkdf2_hash_bytes = 32;

// Bounds on what verify_password will compute, so that a tampered or mistyped users file cannot
// stall the daemon for minutes or exhaust memory on one login.
inline constexpr unsigned pbkdf2_max_iterations = 10'000'000;
inline constexpr std::uint64_t scrypt_max_memory = 256ull << 20;

// Raw PBKDF2-HMAC-SHA256. Empty on failure (bad arguments or an OpenSSL allocation failure).
inline std::vector<unsigned char> pbkdf2_sha256(std::string_view password,
                                                std::span<const unsigned char> salt,
                                                unsigned iterations, std::size_t length) {
  if (iterations == 0 || iterations > INT_MAX || length == 0 || length > 1024 ||
      password.size() > INT_MAX || salt.size() > INT_MAX)
    return {};
  std::vector<unsigned char> out(length);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(length), out.data()) != 1) {
    clear_openssl_errors();
    return {};
  }
  return out;
}

namespace detail {

struct phc_hash {
  enum class kind { pbkdf2_sha256, scrypt } algorithm = kind::pbkdf2_sha256;
  unsigned iterations = 0;  // pbkdf2
  unsigned log2_n = 0;      // scrypt
  unsigned r = 0;           // scrypt
  unsigned p = 0;           // scrypt
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

inline std::optional<unsigned> parse_decimal(std::string_view text) {
  // PHC: decimal, no sign, no leading zeros.
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  unsigned value = 0;
  if (!core::parse_int(text, value)) return std::nullopt;
  return value;
}

// Splits "a=1,b=2" into name/value pairs, in order; nullopt on any malformed part.
inline std::optional<std::vector<std::pair<std::string_view, unsigned>>> parse_phc_params(
    std::string_view text) {
  std::vector<std::pair<std::string_view, unsigned>> out;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    const auto value = parse_decimal(part.substr(eq + 1));
    if (!value) return std::nullopt;
    out.emplace_back(part.substr(0, eq), *value);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

inline std::optional<phc_hash> parse_phc(std::string_view phc) {
  // "$id$params$salt$hash": exactly five fields when split on '$', the first one empty.
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t dollar = phc.find('$', start);
    fields.push_back(phc.substr(start, dollar == std::string_view::npos ? dollar : dollar - start));
    if (dollar == std::string_view::npos) break;
    start = dollar + 1;
    if (fields.size() > 5) return std::nullopt;
  }
  if (fields.size() != 5 || !fields[0].empty()) return std::nullopt;

  phc_hash out;
  const auto params = parse_phc_params(fields[2]);
  if (!params) return std::nullopt;
  auto salt = b64_decode(fields[3]);
  auto hash = b64_decode(fields[4]);
  if (!salt || !hash || salt->size() < 8 || salt->size() > 64 || hash->size() < 16 ||
      hash->size() > 64)
    return std::nullopt;
  out.salt = std::move(*salt);
  out.hash = std::move(*hash);

  if (fields[1] == "pbkdf2-sha256") {
    out.algorithm = phc_hash::kind::pbkdf2_sha256;
    // i=N is required and first; l=N is optional and must agree with the hash length.
    if (params->empty() || params->size() > 2 || (*params)[0].first != "i") return std::nullopt;
    out.iterations = (*params)[0].second;
    if (out.iterations == 0 || out.iterations > pbkdf2_max_iterations) return std::nullopt;
    if (params->size() == 2 &&
        ((*params)[1].first != "l" || (*params)[1].second != out.hash.size()))
      return std::nullopt;
    return out;
  }
  if (fields[1] == "scrypt") {
    out.algorithm = phc_hash::kind::scrypt;
    if (params->size() != 3 || (*params)[0].first != "ln" || (*params)[1].first != "r" ||
        (*params)[2].first != "p")
      return std::nullopt;
    out.log2_n = (*params)[0].second;
    out.r = (*params)[1].second;
    out.p = (*params)[2].second;
    if (out.log2_n < 1 || out.log2_n > 24 || out.r < 1 || out.r > 64 || out.p < 1 || out.p > 64)
      return std::nullopt;
    return out;
  }
  return std::nullopt;
}

// What OpenSSL's scrypt allocates: the p*128*r byte B array plus the 128*r*(N+2) byte V array.
inline std::uint64_t scrypt_memory(unsigned log2_n, unsigned r, unsigned p) {
  const std::uint64_t n = std::uint64_t{1} << log2_n;
  return std::uint64_t{128} * r * p + std::uint64_t{128} * r * (n + 2);
}

inline std::vector<unsigned char> derive(const phc_hash& h, std::string_view password) {
  if (h.algorithm == phc_hash::kind::pbkdf2_sha256)
    return pbkdf2_sha256(password, h.salt, h.iterations, h.hash.size());
  const std::uint64_t memory = scrypt_memory(h.log2_n, h.r, h.p);
  if (memory > scrypt_max_memory) return {};
  std::vector<unsigned char> out(h.hash.size());
  if (EVP_PBE_scrypt(password.data(), password.size(), h.salt.data(), h.salt.size(),
                     std::uint64_t{1} << h.log2_n, h.r, h.p, memory + (64u << 10), out.data(),
                     out.size()) != 1) {
    clear_openssl_errors();
    return {};
  }
  return out;
}

inline std::string format_pbkdf2(unsigned iterations, std::span<const unsigned char> salt,
                                 std::span<const unsigned char> hash) {
  return "$pbkdf2-sha256$i=" + std::to_string(iterations) + ",l=" + std::to_string(hash.size()) +
         "$" + b64_encode(salt) + "$" + b64_encode(hash);
}

}  // namespace detail

// A fresh PHC string with a random 16-byte salt. Empty if OpenSSL fails or iterations is 0 or
// above pbkdf2_max_iterations.
inline std::string hash_password(std::string_view password,
                                 unsigned iterations = pbkdf2_default_iterations) {
  if (iterations == 0 || iterations > pbkdf2_max_iterations) return {};
  std::array<unsigned char, password_salt_bytes> salt{};
  fill_random(salt);
  auto hash = pbkdf2_sha256(password, salt, iterations, pbkdf2_hash_bytes);
  if (hash.empty()) return {};
  std::string out = detail::format_pbkdf2(iterations, salt, hash);
  OPENSSL_cleanse(hash.data(), hash.size());
  return out;
}

// False for a wrong password and for anything that is not a well-formed, supported PHC string.
[[nodiscard]] inline bool verify_password(std::string_view password, std::string_view phc) {
  const auto parsed = detail::parse_phc(phc);
  if (!parsed) return false;
  auto derived = detail::derive(*parsed, password);
  const bool ok = !derived.empty() && constant_time_equal(derived, parsed->hash);
  OPENSSL_cleanse(derived.data(), derived.size());
  return ok;
}

// True if `phc` is a PHC string that verify_password understands.
inline bool is_supported_hash(std::string_view phc) {
  return detail::parse_phc(phc).has_value();
}

// True if `phc` meets the storage policy: PBKDF2-HMAC-SHA256 with at least
// pbkdf2_min_iterations, a salt of at least 16 bytes and a 32-byte hash, or any scrypt hash
// verify_password accepts.
inline bool hash_meets_policy(std::string_view phc) {
  const auto parsed = detail::parse_phc(phc);
  if (!parsed) return false;
  if (parsed->algorithm == detail::phc_hash::kind::scrypt) return true;
  return parsed->iterations >= pbkdf2_min_iterations &&
         parsed->salt.size() >= password_salt_bytes && parsed->hash.size() >= pbkdf2_hash_bytes;
}

// The PBKDF2 iteration count of a PHC string, or nullopt for scrypt and malformed strings.
inline std::optional<unsigned> pbkdf2_iterations(std::string_view phc) {
  const auto parsed = detail::parse_phc(phc);
  if (!parsed || parsed->algorithm != detail::phc_hash::kind::pbkdf2_sha256) return std::nullopt;
  return parsed->iterations;
}

// A well-formed hash that no password matches in practice (its hash bytes are not the output of
// PBKDF2 for a known password). Verifying against it costs exactly what verifying a real hash
// with the same iteration count costs.
inline std::string dummy_hash(unsigned iterations = pbkdf2_default_iterations) {
  static constexpr unsigned char salt[password_salt_bytes] = {
      'b', 'c', 'a', 's', 't', '-', 'd', 'u', 'm', 'm', 'y', '-', 's', 'a', 'l', 't'};
  static constexpr unsigned char hash[pbkdf2_hash_bytes] = {};
  return detail::format_pbkdf2(iterations, salt, hash);
}

// The cost of one failed verification, for a login whose user does not exist (or has no
// password), so that the response time does not reveal which names exist.
inline void burn_equivalent_work(std::string_view password,
                                 unsigned iterations = pbkdf2_default_iterations) {
  [[maybe_unused]] const bool ignored = verify_password(password, dummy_hash(iterations));
}

}  // namespace bcast::auth
