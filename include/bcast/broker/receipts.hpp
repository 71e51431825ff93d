#pragma once
// Receipts: what each store did with each message, written by the store under its own keys only,
// and summed up by publisherd for one message.
//
// Every state a store reaches is a field of its own, "<message-id>:<state>" -> time, written with
// HSETNX: a state is recorded once, with the time it was first reached, and nothing is ever
// overwritten. The store's state for a message is the most advanced one present, so states only
// move forward whatever order the writes land in (a retried `delivered` after `acknowledged`
// changes nothing). This needs no Lua, so a store's ACL user gets no EVAL, which would let it run
// arbitrary scripts on the shared Redis.
//
// A gap (history trimmed past the store's position) names seqs, not messages: the store cannot
// know the ids it never saw. It is a list entry "<target> <from> <to> <time>"; publisherd knows
// each message's seq per target (messages.hpp) and so which stores lost which message.
//
// This header is what both sides share: the states, the fields and the gap items. The store writes
// them with receipt_writer.hpp; publisherd sums them up with receipt_aggregator.hpp.

#include <bcast/core/text.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::broker {

// `rejected`: the store refused to show the message (trust/store_policy.hpp: a bad or missing
// signature, or not addressed to it). It is all a store records for such a message: no
// `delivered`, since what it got is not trusted to be head office's message at all.
// `recalled`: head office took the message back (a recall notice or a correction reached the
// store, message/lifecycle.hpp); whatever the store had done with it before stays recorded too.
enum class receipt_state {
  delivered,
  displayed,
  acknowledged,
  expired,
  failed,
  gap,
  rejected,
  recalled
};

inline constexpr std::array<receipt_state, 8> all_receipt_states = {
    receipt_state::delivered, receipt_state::displayed, receipt_state::acknowledged,
    receipt_state::expired,   receipt_state::failed,    receipt_state::gap,
    receipt_state::rejected,  receipt_state::recalled};

inline std::string_view to_string(receipt_state s) noexcept {
  switch (s) {
    case receipt_state::delivered:
      return "delivered";
    case receipt_state::displayed:
      return "displayed";
    case receipt_state::acknowledged:
      return "acknowledged";
    case receipt_state::expired:
      return "expired";
    case receipt_state::failed:
      return "failed";
    case receipt_state::gap:
      return "gap";
    case receipt_state::rejected:
      return "rejected";
    case receipt_state::recalled:
      return "recalled";
  }
  return "delivered";
}

// Where a store's receipts go: receipt_writer_recorder (Redis) in subscriberd, nowhere
// (discarded_receipts) in the benchmarks.
class receipt_recorder {
 public:
  virtual ~receipt_recorder() = default;
  virtual void record(std::string_view message_id, receipt_state s) = 0;
  virtual void record_gap(std::string_view target, std::uint64_t from, std::uint64_t to) = 0;
};

class discarded_receipts final : public receipt_recorder {
 public:
  void record(std::string_view, receipt_state) override {}
  void record_gap(std::string_view, std::uint64_t, std::uint64_t) override {}
};

inline std::optional<receipt_state> parse_receipt_state(std::string_view s) noexcept {
  for (auto st : all_receipt_states) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

// How far along a state is. expired and failed come after delivered (the store had it) and
// before displayed: with several sinks, one that displayed beats one that failed. rejected comes
// before delivered: when one id reached a store twice, once genuine and once forged (a copy
// with an altered title), what the store did with the genuine one is its state. recalled comes
// last: nothing the store does with a message after head office took it back counts (a popup
// that a recall closed reports nothing more, but a `displayed` written late may still land).
inline int rank(receipt_state s) noexcept {
  switch (s) {
    case receipt_state::gap:
      return 1;
    case receipt_state::rejected:
      return 2;
    case receipt_state::delivered:
      return 3;
    case receipt_state::failed:
      return 4;
    case receipt_state::expired:
      return 5;
    case receipt_state::displayed:
      return 6;
    case receipt_state::acknowledged:
      return 7;
    case receipt_state::recalled:
      return 8;
  }
  return 0;
}

inline std::string receipt_field(std::string_view message_id, receipt_state s) {
  std::string f(message_id);
  f += ':';
  f += to_string(s);
  return f;
}

struct gap_record {
  std::string target;
  std::uint64_t from = 0, to = 0;
  std::string at;
};

inline std::optional<gap_record> parse_gap_record(std::string_view item) {
  gap_record g;
  std::array<std::string_view, 4> parts;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto sp = i + 1 < parts.size() ? item.find(' ') : item.size();
    if (sp == std::string_view::npos) return std::nullopt;
    parts[i] = item.substr(0, sp);
    item.remove_prefix(std::min(item.size(), sp + 1));
  }
  if (!core::parse_int(parts[1], g.from) || !core::parse_int(parts[2], g.to)) {
    return std::nullopt;
  }
  g.target = parts[0];
  g.at = parts[3];
  return g;
}

// A gap list item: "<target> <from> <to> <time>".
inline std::string format_gap_record(std::string_view target, std::uint64_t from, std::uint64_t to,
                                     std::string_view at) {
  std::string item(target);
  item += ' ';
  item += std::to_string(from);
  item += ' ';
  item += std::to_string(to);
  item += ' ';
  item += at;
  return item;
}

}  // namespace bcast::broker
