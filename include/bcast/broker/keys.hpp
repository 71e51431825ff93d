#pragma once
// Every key and channel bcast keeps in Redis.
//
// Per target T (the canonical target string: "all", "store:s1", "region:jateng"), all under the
// hash tag {T}, so that they map to one Redis Cluster slot and sharded pub/sub keeps T's traffic
// on that slot's shard:
//   bcast:{T}:history           stream, one entry per message: id <ulid>, env <json>. Entry ids
//                               are "0-<seq>": Redis numbers them gap-free from 1 (XADD 0-*).
//                               Trimmed with MAXLEN ~ N and by age, never to empty (publish.hpp)
//   bcast:{T}:live              pub/sub channel (PUBLISH, or SPUBLISH in a cluster); payload is a
//                               frame, see frame.hpp
//
// Per store S, under the tag of the store's own target {store:S} (next to its channel's keys):
//   bcast:{store:S}:receipts        hash "<message-id>:<state>" -> time (set once, HSETNX)
//   bcast:{store:S}:receipts:index  sorted set message-id -> ULID time in ms, to trim receipts
//   bcast:{store:S}:gaps            list "<target> <from-seq> <to-seq> <time>", newest first
//   bcast:{store:S}:presence        hash id, groups, version, last_seen, interval_ms; PEXPIREs
//                                   after a few missed heartbeats: exists = online
//   bcast:{store:S}:profile         hash id, groups, version, first_seen, last_seen; kept, so
//                                   that publisherd knows every store ever seen (found by SCAN)
//
// publisherd's own records (one key, so no tag is needed):
//   bcast:message-log           sorted set, all scores 0, one member per message sent:
//                               "<id>\n<expected>\n<seqs json>\n<envelope json>" (messages.hpp).
//                               ULIDs sort by time as strings, so BYLEX REV gives newest first
//                               and "before" paging. Earlier builds kept bcast:messages and a
//                               hash bcast:message:<id> per message; nothing reads those now.
//   bcast:recall:<id>           string, JSON {"id","at","by","superseded_by"}: message <id> was
//                               recalled by the notice "id" (recalls.hpp). SET NX, so the first
//                               recall stands; it expires with the message log's max age. A key
//                               per message, not one hash, so that it works the same on a cluster
//                               and expires on its own.
//   bcast:audit                 stream, one entry per audited event: at, actor, address, action,
//                               message_id, result, detail (audit.hpp). MAXLEN and MINID trimmed.
//
// The schedule (schedule.hpp), both keys under the tag {schedule}, so that its scripts touch one
// slot:
//   bcast:{schedule}:due        sorted set, message id -> when it is due in ms: its send_at, or,
//                               once claimed, the end of the claimer's lease
//   bcast:{schedule}:items      hash, message id -> JSON {"attempts","send_at","created_at",
//                               "created_by","envelope"} (the unsigned envelope, signed when sent)
//
// Escalations (escalation.hpp), all under the tag {escalation}:
//   bcast:{escalation}:due        sorted set, message id -> when it is due in ms: sent_at +
//                                 escalate_after_s, or, once claimed, the end of the lease
//   bcast:{escalation}:items      hash, message id -> JSON {"attempts","due_at"}
//   bcast:{escalation}:done:<id>  string, JSON {"due_at","at","result"}: it ran (or was
//                                 dropped); expires with the message log's max age
//
// ACL (acl.hpp): a store's user writes exactly its five own keys above, reads (%R~) the history
// of its channels, subscribes to their live channels, and publishes nothing. Its own
// channel's history is under the same tag but read-only: the rules name keys, not the tag.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::broker {

inline constexpr std::string_view key_prefix = "bcast:";

namespace detail {

inline std::string tagged(std::string_view tag, std::string_view suffix) {
  std::string k;
  k.reserve(key_prefix.size() + tag.size() + suffix.size() + 3);
  k += key_prefix;
  k += '{';
  k += tag;
  k += "}:";
  k += suffix;
  return k;
}

inline std::string store_tag(std::string_view store_id) {
  std::string t = "store:";
  t += store_id;
  return t;
}

}  // namespace detail

// ---- per target ------------------------------------------------------------------------------
inline std::string history_key(std::string_view target) {
  return detail::tagged(target, "history");
}
inline std::string live_channel(std::string_view target) {
  return detail::tagged(target, "live");
}

// The target of a live channel name, or nothing for any other name.
inline std::optional<std::string_view> target_of_live_channel(std::string_view channel) {
  constexpr std::string_view tail = "}:live";
  if (!channel.starts_with(key_prefix) || channel.size() <= key_prefix.size() + 1 + tail.size() ||
      channel[key_prefix.size()] != '{' || !channel.ends_with(tail)) {
    return std::nullopt;
  }
  auto t =
      channel.substr(key_prefix.size() + 1, channel.size() - key_prefix.size() - 1 - tail.size());
  if (t.empty() || t.find_first_of("{}") != std::string_view::npos) return std::nullopt;
  return t;
}

// ---- per store -------------------------------------------------------------------------------
inline std::string receipts_key(std::string_view store_id) {
  return detail::tagged(detail::store_tag(store_id), "receipts");
}
inline std::string receipts_index_key(std::string_view store_id) {
  return detail::tagged(detail::store_tag(store_id), "receipts:index");
}
inline std::string gaps_key(std::string_view store_id) {
  return detail::tagged(detail::store_tag(store_id), "gaps");
}
inline std::string presence_key(std::string_view store_id) {
  return detail::tagged(detail::store_tag(store_id), "presence");
}
inline std::string profile_key(std::string_view store_id) {
  return detail::tagged(detail::store_tag(store_id), "profile");
}

// SCAN MATCH pattern for every store's profile key.
inline std::string profile_scan_pattern() {
  return std::string(key_prefix) + "{store:*}:profile";
}

// The store id in a profile key, or nothing for any other key.
inline std::optional<std::string_view> store_of_profile_key(std::string_view key) {
  constexpr std::string_view head = "{store:";
  constexpr std::string_view tail = "}:profile";
  if (!key.starts_with(key_prefix)) return std::nullopt;
  key.remove_prefix(key_prefix.size());
  if (!key.starts_with(head) || !key.ends_with(tail) || key.size() <= head.size() + tail.size()) {
    return std::nullopt;
  }
  auto id = key.substr(head.size(), key.size() - head.size() - tail.size());
  if (id.find_first_of("{}") != std::string_view::npos) return std::nullopt;
  return id;
}

// ---- publisherd's records --------------------------------------------------------------------
inline std::string message_log_key() {
  return std::string(key_prefix) + "message-log";
}

inline std::string recall_key(std::string_view message_id) {
  std::string k(key_prefix);
  k += "recall:";
  k += message_id;
  return k;
}

inline std::string audit_key() {
  return std::string(key_prefix) + "audit";
}

inline std::string schedule_due_key() {
  return detail::tagged("schedule", "due");
}
inline std::string schedule_items_key() {
  return detail::tagged("schedule", "items");
}

inline std::string escalation_due_key() {
  return detail::tagged("escalation", "due");
}
inline std::string escalation_items_key() {
  return detail::tagged("escalation", "items");
}
inline std::string escalation_done_key(std::string_view message_id) {
  std::string suffix = "done:";
  suffix += message_id;
  return detail::tagged("escalation", suffix);
}

// ---- channels --------------------------------------------------------------------------------
// The targets a store listens to: all, its own store:<id>, and its groups, without duplicates.
inline std::vector<std::string> store_targets(std::string_view store_id,
                                              std::span<const std::string> groups) {
  std::vector<std::string> out{"all", detail::store_tag(store_id)};
  for (const auto& g : groups) {
    bool seen = false;
    for (const auto& o : out) seen = seen || o == g;
    if (!seen) out.push_back(g);
  }
  return out;
}

}  // namespace bcast::broker
