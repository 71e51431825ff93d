#pragma once
// A client's own message id (the API's Idempotency-Key): the id it sends again when it does not
// know whether a send went through. Such an id is bound to the sender who made the message, and
// must have been made within publisher_settings::retry_window of now, which also bounds how far
// back a retry searches each target's history (publish.hpp).
//
// The message log answers first: a message recorded under the id is the one that went out. Its
// sender gets that record back and nothing is published again; anyone else gets errc::conflict
// and nothing changes. Only an id that is not recorded (new, or an attempt that failed part way)
// is published, as a retry, whose record is then filed only if none has appeared meanwhile
// (save_record).

#include <bcast/broker/messages.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::broker {

// Whether `key` may name a message now: a ULID made within `window` of `now`, either way. The
// error's detail is a sentence for the client, naming the header.
[[nodiscard]] inline core::result<void> check_idempotency_key(
    std::string_view key, std::chrono::system_clock::time_point now,
    std::chrono::milliseconds window) {
  const auto made = message::ulid_time_ms(key);
  if (!made)
    return core::error(core::errc::invalid_argument,
                       "Idempotency-Key must be a message id (ULID).");
  const auto now_ms = message::unix_ms(now);
  const auto apart = *made > now_ms ? *made - now_ms : now_ms - *made;
  if (apart > static_cast<std::uint64_t>(window.count())) {
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(window).count();
    std::string when = "a time far in the future";
    if (*made <= message::unix_ms(std::chrono::system_clock::time_point::max()))
      when = message::format_time(std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::milliseconds(*made))));
    return core::error(core::errc::invalid_argument,
                       "Idempotency-Key must be a message id made within " +
                           std::to_string(minutes) + " minutes of now; this one was made at " +
                           when + ".");
  }
  return {};
}

// What a send under a recorded id answers: the record, every target a duplicate.
inline publish_outcome outcome_of_record(const message_record& rec) {
  publish_outcome out;
  out.message_id = rec.envelope.id;
  out.envelope_json = rec.json;
  for (const auto& t : rec.envelope.targets) {
    target_outcome o;
    o.target = t;
    o.duplicate = true;
    if (auto seq = rec.seqs.find(t); seq != rec.seqs.end()) {
      o.seq = seq->second;
      o.stream_id = "0-" + std::to_string(seq->second);
    }
    out.targets.push_back(std::move(o));
  }
  return out;
}

// Publishes `e`, whose id the client chose and check_idempotency_key() accepted. `log` reads the
// message log that `pub` records into; both must outlive the answer.
inline void publish_with_key(publisher& pub, message_log& log, message::envelope e,
                             publish_options options, publisher::callback cb) {
  const std::string id = e.id;
  log.get(id, [&pub, e = std::move(e), options,
               cb = std::move(cb)](core::result<std::optional<message_record>> found) mutable {
    if (!found) return cb(found.err());
    if (!found->has_value()) {
      options.retry = true;
      return pub.publish(e, std::move(cb), options);
    }
    const message_record& rec = **found;
    if (rec.envelope.sender != e.sender)
      return cb(core::error(core::errc::conflict, "message " + e.id +
                                                      " was sent by another user; choose a new "
                                                      "Idempotency-Key for a new message"));
    cb(outcome_of_record(rec));
  });
}

}  // namespace bcast::broker
