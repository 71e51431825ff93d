#pragma once
// The store side of catch-up and live merge, as pure logic without I/O (catchup.hpp drives it
// with Redis). Per channel it knows the last seq and stream id it handled. When a channel's
// subscription is confirmed, it reads history after that position in pages while live messages are
// buffered, merges both by seq, and hands on every message in order exactly once. A message that
// reaches the store through several channels is handed on once (bounded set of recent ids).
//
// Why the merge is complete: reading starts only after the subscription is confirmed, so every
// entry is in the history read, or arrives live afterwards, or both (dropped by seq). A hole
// left after the history is exhausted was trimmed away: a gap, reported once, then skipped.
// A live entry past a hole (missed live messages) makes the channel read history for the hole.
//
// Inputs return their effects in order through an output vector: deliveries, duplicates dropped,
// gaps, history reads to make, channels that went live. Nothing is called back, so a fake feed in
// a test can answer a read at once without re-entering the tracker.

#include <bcast/broker/frame.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace bcast::broker {

// One message in one channel, from history or live.
struct entry {
  std::string target;
  std::uint64_t seq = 0;
  std::string stream_id;
  std::string message_id;
  std::string envelope_json;
};

struct position {
  std::uint64_t seq = 0;
  std::string stream_id = "0-0";

  friend bool operator==(const position&, const position&) = default;
};

enum class fresh_start {
  latest,    // a channel without a saved position starts at its newest entry
  earliest,  // ... or hands on everything still in its history
};

struct tracker_settings {
  std::size_t page_size = 500;       // XRANGE COUNT
  std::size_t max_buffered = 10000;  // live entries held per channel while reading history
  std::size_t recent_ids = 10000;    // message ids remembered for de-duplication
  broker::fresh_start fresh_start = broker::fresh_start::latest;
};

// ---- effects ---------------------------------------------------------------------------------
struct deliver_event {
  entry e;
};
// Already handed on through another channel (or before a restart): the position moves on.
struct duplicate_event {
  entry e;
};
enum class gap_kind {
  trimmed,  // history no longer holds seqs from..to
  reset,    // the target's seq went backwards (Redis lost its data): from = old seq + 1, to = 0
};
struct gap_event {
  std::string target;
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  gap_kind kind = gap_kind::trimmed;
};
enum class fetch_kind {
  head,   // the newest entry and its seq: where a fresh channel starts
  range,  // the newest seq, then up to `count` entries after `after`
};
struct fetch_request {
  std::string target;
  fetch_kind kind = fetch_kind::range;
  std::string after;  // stream id, exclusive
  std::size_t count = 0;
  std::uint64_t generation = 0;  // echoed in the answer; a stale answer is ignored
};
struct live_event {
  std::string target;  // caught up: from now on it is live
};

using tracker_event =
    std::variant<deliver_event, duplicate_event, gap_event, fetch_request, live_event>;

// What a fetch found. For `head`: entries holds the newest entry, if any.
struct history_reply {
  std::uint64_t head_seq = 0;  // the newest entry's seq, read before the entries
  std::vector<entry> entries;
  // Set by a reader that leaves out entries it cannot use: how many Redis returned, and the
  // newest stream id among them (the next page starts after it).
  std::size_t returned = 0;
  std::string last_id;
};

// A bounded first-in-first-out set of message ids.
class recent_ids {
 public:
  explicit recent_ids(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  recent_ids(const recent_ids&) = delete;
  recent_ids& operator=(const recent_ids&) = delete;

  bool contains(std::string_view id) const { return index_.count(id) != 0; }

  // False when already present.
  bool insert(std::string_view id) {
    if (contains(id)) return false;
    if (order_.size() >= capacity_) {
      index_.erase(order_.front());
      order_.pop_front();
    }
    // A deque never moves its elements on push_back/pop_front, so the index can view them.
    order_.emplace_back(id);
    index_.insert(order_.back());
    return true;
  }

  // Oldest first.
  std::vector<std::string> newest(std::size_t n) const {
    n = std::min(n, order_.size());
    return {order_.end() - static_cast<std::ptrdiff_t>(n), order_.end()};
  }
  std::size_t size() const noexcept { return order_.size(); }

 private:
  std::size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string_view> index_;
};

class tracker {
 public:
  explicit tracker(tracker_settings s = {}) : settings_(s), ids_(s.recent_ids) {}
  tracker(const tracker&) = delete;
  tracker& operator=(const tracker&) = delete;

  // Channels are added before they start; `from` is a saved position, if any.
  void add_channel(std::string target, std::optional<position> from = std::nullopt) {
    auto& ch = channels_[target];
    ch.target = std::move(target);
    ch.last = std::move(from);
  }
  // A message id handed on before (restored state).
  void remember(std::string_view message_id) { ids_.insert(message_id); }

  bool has_channel(std::string_view target) const { return find(target) != nullptr; }
  std::vector<std::string> targets() const {
    std::vector<std::string> out;
    for (const auto& [t, ch] : channels_) out.push_back(t);
    return out;
  }
  std::optional<position> position_of(std::string_view target) const {
    const auto* ch = find(target);
    return ch ? ch->last : std::nullopt;
  }
  // Saved positions: only channels whose position is known.
  std::map<std::string, position> positions() const {
    std::map<std::string, position> out;
    for (const auto& [t, ch] : channels_) {
      if (ch.last) out.emplace(t, *ch.last);
    }
    return out;
  }
  std::vector<std::string> recent(std::size_t n) const { return ids_.newest(n); }
  bool is_live(std::string_view target) const {
    const auto* ch = find(target);
    return ch && ch->live;
  }
  bool all_live() const {
    for (const auto& [t, ch] : channels_) {
      if (!ch.live) return false;
    }
    return !channels_.empty();
  }
  std::size_t buffered(std::string_view target) const {
    const auto* ch = find(target);
    return ch ? ch->pending.size() : 0;
  }

  // The channel's subscription is confirmed: catch up from its position.
  void start(std::string_view target, std::vector<tracker_event>& out) {
    auto* ch = find(target);
    if (!ch) return;
    ch->subscribed = true;
    ch->live = false;
    if (!ch->last && settings_.fresh_start == fresh_start::earliest) ch->last = position{};
    if (!ch->last) {
      request(*ch, fetch_kind::head, {}, out);
    } else {
      request(*ch, fetch_kind::range, ch->last->stream_id, out);
    }
  }

  // Whether the answer to `req` is still awaited (a retry of a stale request is wasted).
  bool wants(const fetch_request& req) const {
    const auto* ch = find(req.target);
    return ch && ch->fetching && ch->generation == req.generation;
  }

  // The subscription connection was lost: everything waits for start() again.
  void disconnected() {
    for (auto& [t, ch] : channels_) lose(ch);
  }
  // One channel's subscription was lost (on a cluster, its node's): it waits for start() again.
  void disconnected(std::string_view target) {
    if (auto* ch = find(target)) lose(*ch);
  }

  // History may hold entries past the position that no live message brought (live frames were
  // dropped): read it once more, after the read in progress if there is one.
  void read_again(std::string_view target, std::vector<tracker_event>& out) {
    auto* ch = find(target);
    if (!ch || !ch->subscribed || !ch->last) return;
    if (ch->fetching) {
      ch->overflowed = true;
      return;
    }
    request(*ch, fetch_kind::range, ch->last->stream_id, out);
  }

  void on_live(entry e, std::vector<tracker_event>& out) {
    auto* ch = find(e.target);
    if (!ch) return;
    if (!ch->last || !ch->subscribed || ch->fetching) {
      buffer(*ch, std::move(e));
      return;
    }
    if (e.seq <= ch->last->seq) {
      if (newer(e.stream_id, ch->last->stream_id)) reset(*ch, out);
      return;  // already handled (or refetched after the reset)
    }
    if (e.seq == ch->last->seq + 1) {
      advance(*ch, std::move(e), out);
      return;
    }
    buffer(*ch, std::move(e));
    request(*ch, fetch_kind::range, ch->last->stream_id, out);
  }

  // The answer to a fetch_request.
  void on_history(const fetch_request& req, history_reply reply, std::vector<tracker_event>& out) {
    auto* ch = find(req.target);
    if (!ch || !ch->fetching || req.generation != ch->generation) return;
    if (req.kind == fetch_kind::head) {
      position p{reply.head_seq, reply.last_id.empty() ? std::string("0-0") : reply.last_id};
      if (!reply.entries.empty()) {
        p.seq = std::max(p.seq, reply.entries.back().seq);
        p.stream_id = reply.entries.back().stream_id;
      }
      ch->last = std::move(p);
      drop_handled(*ch);
      request(*ch, fetch_kind::range, ch->last->stream_id, out);
      return;
    }
    auto& last = *ch->last;
    if (reply.head_seq < last.seq) {
      reset(*ch, out);
      return;
    }
    const bool full = std::max(reply.returned, reply.entries.size()) >= req.count;
    std::string cursor = reply.last_id.empty() ? req.after : reply.last_id;
    for (auto& e : reply.entries) {
      if (newer(e.stream_id, cursor)) cursor = e.stream_id;
      // The read starts after a stream id at or past the position, so a seq at or below the
      // position means the seqs started again.
      if (e.seq <= last.seq) {
        reset(*ch, out);
        return;
      }
      if (e.seq > last.seq + 1) {
        out.push_back(gap_event{ch->target, last.seq + 1, e.seq - 1, gap_kind::trimmed});
      }
      advance(*ch, std::move(e), out);
    }
    drop_handled(*ch);
    if (full || ch->overflowed) {
      ch->overflowed = false;
      request(*ch, fetch_kind::range, cursor, out);
      return;
    }
    // History is exhausted: what it did not have and the buffer does not cover was trimmed.
    while (!ch->pending.empty()) {
      auto node = ch->pending.extract(ch->pending.begin());
      auto& e = node.mapped();
      if (e.seq <= last.seq) continue;
      if (e.seq > last.seq + 1) {
        out.push_back(gap_event{ch->target, last.seq + 1, e.seq - 1, gap_kind::trimmed});
      }
      advance(*ch, std::move(e), out);
    }
    if (last.seq < reply.head_seq) {
      out.push_back(gap_event{ch->target, last.seq + 1, reply.head_seq, gap_kind::trimmed});
      last.seq = reply.head_seq;
      if (newer(cursor, last.stream_id)) last.stream_id = cursor;
    }
    ch->fetching = false;
    if (!ch->live) {
      ch->live = true;
      out.push_back(live_event{ch->target});
    }
  }

 private:
  struct channel {
    std::string target;
    std::optional<position> last;
    std::map<std::uint64_t, entry> pending;  // live entries waiting for their turn, by seq
    std::uint64_t generation = 0;
    bool subscribed = false;
    bool fetching = false;
    bool live = false;
    bool overflowed = false;  // buffer entries were dropped: read history once more
  };

  static void lose(channel& ch) {
    ch.subscribed = false;
    ch.live = false;
    ch.fetching = false;
    ch.overflowed = false;
    ch.pending.clear();
    ++ch.generation;
  }

  channel* find(std::string_view target) {
    auto it = channels_.find(target);
    return it == channels_.end() ? nullptr : &it->second;
  }
  const channel* find(std::string_view target) const {
    auto it = channels_.find(target);
    return it == channels_.end() ? nullptr : &it->second;
  }

  static bool newer(std::string_view a, std::string_view b) {
    const auto x = stream_id::parse(a);
    const auto y = stream_id::parse(b);
    return x && y && *x > *y;
  }

  void request(channel& ch, fetch_kind kind, std::string after, std::vector<tracker_event>& out) {
    ch.fetching = true;
    ++ch.generation;
    out.push_back(fetch_request{ch.target, kind, std::move(after),
                                kind == fetch_kind::head ? 1 : settings_.page_size, ch.generation});
  }

  void buffer(channel& ch, entry e) {
    if (ch.last && e.seq <= ch.last->seq) return;
    if (ch.pending.size() >= settings_.max_buffered && !ch.pending.count(e.seq)) {
      // History still has it; the read after this one picks it up.
      ch.overflowed = true;
      return;
    }
    const auto seq = e.seq;
    ch.pending.try_emplace(seq, std::move(e));
  }

  void drop_handled(channel& ch) {
    if (!ch.last) return;
    ch.pending.erase(ch.pending.begin(), ch.pending.upper_bound(ch.last->seq));
  }

  void advance(channel& ch, entry e, std::vector<tracker_event>& out) {
    ch.last = position{e.seq, e.stream_id};
    // An entry without a usable id is handed on for the owner to report; it cannot be deduped.
    if (e.message_id.empty() || ids_.insert(e.message_id)) {
      out.push_back(deliver_event{std::move(e)});
    } else {
      out.push_back(duplicate_event{std::move(e)});
    }
  }

  // The seqs went backwards: Redis lost the target's keys. Nothing tells what was missed;
  // read the new history from its start (recent ids keep already shown messages away).
  void reset(channel& ch, std::vector<tracker_event>& out) {
    const auto old = ch.last ? ch.last->seq : 0;
    out.push_back(gap_event{ch.target, old + 1, 0, gap_kind::reset});
    ch.last = position{};
    ch.pending.clear();
    ch.overflowed = false;
    request(ch, fetch_kind::range, ch.last->stream_id, out);
  }

  tracker_settings settings_;
  std::map<std::string, channel, std::less<>> channels_;
  recent_ids ids_;
};

}  // namespace bcast::broker
