#pragma once
// Taking a message back: a recall notice, and the rule a correction is held to. Both are pure
// data; how they travel is broker/ (docs/ARCHITECTURE.md, "Recall, correction and scheduling").
//
// A recall notice is an envelope with "recalls": the id it takes down. It goes to the recalled
// message's targets, through their histories like any message, so that a store that was off
// meets it in catch-up right after the message (or without it, once history lost the message)
// and never shows one it has not shown yet. It is signed like a message, so only head office can
// take a message down, and addressed like it, so a store obeys only a notice meant for it. It
// carries the message's category and title, for a sink that says what was recalled, and an
// empty body.

#include <bcast/core/error.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/send_request.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

namespace bcast::message {

inline bool is_recall_notice(const envelope& e) noexcept {
  return e.recalls.has_value();
}

// The message a store takes down on receiving `e`: the one it recalls or the one it corrects.
inline const std::optional<std::string>& taken_down_by(const envelope& e) noexcept {
  return e.recalls ? e.recalls : e.supersedes;
}

[[nodiscard]] inline core::result<envelope> make_recall_notice(const envelope& recalled,
                                                               ulid_generator& ids,
                                                               std::string sender, time_point now) {
  auto id = ids.next(unix_ms(now));
  if (!id) return id.err();
  envelope notice;
  notice.id = std::move(id).value();
  notice.targets = recalled.targets;
  notice.category = recalled.category;
  notice.title = recalled.title;
  notice.sent_at = format_time(now);
  notice.sender = std::move(sender);
  notice.recalls = recalled.id;
  return notice;
}

// Whether `correction` may stand in for `original`: the same targets or fewer, since a store the
// original did not reach has nothing to correct. Names the field at fault.
[[nodiscard]] inline std::optional<validation_error> check_correction(const envelope& correction,
                                                                      const envelope& original) {
  if (is_recall_notice(original)) {
    return validation_error{"supersedes", "supersedes names a recall, not a message"};
  }
  for (const auto& t : correction.targets) {
    if (std::find(original.targets.begin(), original.targets.end(), t) == original.targets.end()) {
      return validation_error{"targets",
                              "a correction goes to the targets of the message it "
                              "corrects, or fewer: " +
                                  t + " is not one of them"};
    }
  }
  return std::nullopt;
}

}  // namespace bcast::message
