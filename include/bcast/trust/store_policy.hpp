#pragma once
// What a store shows: a message signed by a key it trusts, and addressed to it. The signature
// covers the targets, so a genuine message copied into a channel this store reads is still
// refused when none of its targets is this store's. Live and catch-up messages alike go through
// check() (broker/display_pipeline.hpp), once per message id.

#include <bcast/message/envelope.hpp>
#include <bcast/trust/signature.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bcast::trust {

class store_policy {
 public:
  // `targets`: what this store subscribes to (all, store:<id>, its groups). `allow_unsigned`
  // accepts unsigned messages, a migration setting; a signature that is there must still verify
  // when the store has keys to check it with.
  store_policy(keyring keys, bool allow_unsigned, std::vector<std::string> targets)
      : keys_(std::move(keys)), allow_unsigned_(allow_unsigned), targets_(std::move(targets)) {}

  // Why `e` must not be shown, as the end of a sentence "message X rejected: ..."; nothing when
  // it may be.
  [[nodiscard]] std::optional<std::string> check(const message::envelope& e) const {
    const bool addressed = std::any_of(e.targets.begin(), e.targets.end(), [&](const auto& t) {
      return std::find(targets_.begin(), targets_.end(), t) != targets_.end();
    });
    if (!addressed)
      return "it is not addressed to this store (its targets: " + joined(e.targets) + ")";
    if (e.sig.empty() ? allow_unsigned_ : (allow_unsigned_ && keys_.empty())) return std::nullopt;
    auto verified = keys_.verify(e);
    if (!verified) {
      std::string why(describe(verified.err()));
      if (verified.err() == signature_problem::unknown_key) {
        why += " (key id " + e.sig.substr(0, e.sig.find('.')) + ")";
      }
      return why;
    }
    return std::nullopt;
  }

  const keyring& keys() const noexcept { return keys_; }
  bool allows_unsigned() const noexcept { return allow_unsigned_; }
  const std::vector<std::string>& targets() const noexcept { return targets_; }

 private:
  static std::string joined(const std::vector<std::string>& list) {
    std::string out;
    for (const auto& t : list) {
      if (!out.empty()) out += ' ';
      out += t;
      if (out.size() > 200) return out + " ...";
    }
    return out;
  }

  keyring keys_;
  bool allow_unsigned_;
  std::vector<std::string> targets_;
};

}  // namespace bcast::trust
