#pragma once
// Signing and verifying envelopes. An envelope's "sig" is "<key id>.<signature>": the signer's key
// id (trust/keys.hpp), then the 64-byte Ed25519 signature of message::signed_bytes() as unpadded
// base64url (86 characters).

#include <bcast/core/base64.hpp>
#include <bcast/core/error.hpp>
#include <bcast/message/canonical.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/trust/keys.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace bcast::trust {

inline constexpr std::size_t signature_size = 64;
inline constexpr std::size_t encoded_signature_size = 86;  // unpadded base64url of 64 bytes

struct signature_parts {
  std::string key_id;
  std::array<unsigned char, signature_size> signature{};
};

// Strict: exactly a key id, a dot and 86 base64url characters that decode to 64 bytes.
[[nodiscard]] inline std::optional<signature_parts> parse_signature(std::string_view sig) {
  const auto dot = sig.find('.');
  if (dot != key_id_size || !is_valid_key_id(sig.substr(0, dot))) return std::nullopt;
  const auto encoded = sig.substr(dot + 1);
  if (encoded.size() != encoded_signature_size) return std::nullopt;
  const auto raw = core::b64url_decode(encoded);
  if (!raw || raw->size() != signature_size) return std::nullopt;
  signature_parts out;
  out.key_id = std::string(sig.substr(0, dot));
  std::copy(raw->begin(), raw->end(), out.signature.begin());
  return out;
}

// The Ed25519 signature of `data`.
[[nodiscard]] inline core::result<std::array<unsigned char, signature_size>> sign_bytes(
    const signing_key& key, std::string_view data) {
  const auto ctx = key.sign_context();
  std::array<unsigned char, signature_size> out{};
  std::size_t len = out.size();
  if (!ctx ||
      EVP_DigestSign(ctx.get(), out.data(), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      len != out.size()) {
    ERR_clear_error();
    return core::error(core::errc::server_error, "Ed25519 signing failed");
  }
  return out;
}

[[nodiscard]] inline bool verify_bytes(const public_key& key,
                                       std::span<const unsigned char, signature_size> signature,
                                       std::string_view data) {
  const auto ctx = key.verify_context();
  const bool ok = ctx && EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                                          reinterpret_cast<const unsigned char*>(data.data()),
                                          data.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

// Sets e.sig: signs every other member of `e` as it is now, after `context`
// (message::signed_bytes).
[[nodiscard]] inline core::result<void> sign(
    const signing_key& key, message::envelope& e,
    std::string_view context = message::envelope_signing_context) {
  auto signature = sign_bytes(key, message::signed_bytes(e, context));
  if (!signature) return signature.err();
  std::string sig;
  sig.reserve(key_id_size + 1 + encoded_signature_size);
  sig += key.id();
  sig += '.';
  sig += core::b64url_encode(*signature);
  e.sig = std::move(sig);
  return {};
}

// Why an envelope is not trusted.
enum class signature_problem { unsigned_message, malformed, unknown_key, mismatch };

inline std::string_view describe(signature_problem p) noexcept {
  switch (p) {
    case signature_problem::unsigned_message:
      return "it is not signed";
    case signature_problem::malformed:
      return "its signature is malformed";
    case signature_problem::unknown_key:
      return "it is signed by a key this store does not trust";
    case signature_problem::mismatch:
      return "its signature does not match its content (altered, or forged)";
  }
  return "its signature is not valid";
}

// The public keys a store trusts: several during a key rotation.
class keyring {
 public:
  keyring() = default;
  explicit keyring(std::vector<public_key> keys) : keys_(std::move(keys)) {}

  void add(public_key k) {
    if (!find(k.id())) keys_.push_back(std::move(k));
  }
  const public_key* find(std::string_view id) const noexcept {
    for (const auto& k : keys_) {
      if (k.id() == id) return &k;
    }
    return nullptr;
  }
  bool empty() const noexcept { return keys_.empty(); }
  std::size_t size() const noexcept { return keys_.size(); }
  const std::vector<public_key>& keys() const noexcept { return keys_; }

  // The key that signed `e` (after `context`, as sign() did), or why none of ours did.
  [[nodiscard]] core::result<const public_key*, signature_problem> verify(
      const message::envelope& e,
      std::string_view context = message::envelope_signing_context) const {
    if (e.sig.empty()) return signature_problem::unsigned_message;
    const auto parts = parse_signature(e.sig);
    if (!parts) return signature_problem::malformed;
    const auto* key = find(parts->key_id);
    if (!key) return signature_problem::unknown_key;
    if (!verify_bytes(*key, parts->signature, message::signed_bytes(e, context))) {
      return signature_problem::mismatch;
    }
    return key;
  }

 private:
  std::vector<public_key> keys_;
};

// The public keys in the files `paths`, or why the first that cannot be used cannot:
// "<what>: <its path and problem> (<the system's words>)".
[[nodiscard]] inline core::result<keyring> load_keyring(const std::vector<std::string>& paths,
                                                        std::string_view what) {
  keyring keys;
  for (const auto& path : paths) {
    auto key = public_key::load(path);
    if (!key) {
      std::string why = key.err().detail();
      if (key.err().code().category() == std::system_category())
        why += " (" + key.err().code().message() + ")";
      return core::error(core::errc::invalid_argument, std::string(what) + ": " + why);
    }
    keys.add(std::move(key).value());
  }
  return keys;
}

}  // namespace bcast::trust
