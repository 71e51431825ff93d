#pragma once
// Gives counted live frames (frame.hpp) their seq, per channel, as pure logic without I/O
// (catchup.hpp drives it). A first attempt is published by MULTI { XADD, PUBLISH }, which cannot
// put the id XADD makes into the frame; but every frame on a channel comes with exactly one
// history entry, in the same order, so once one frame's seq is known the next frame's is one more.
//
// A frame's seq is known when it is numbered (a retry, by the publish script) or counted after a
// known one. The first counted frames of a subscription wait while their first message id is
// looked up among the newest history entries (the entry exists: XADD ran before PUBLISH); the
// newest entry with that id is the one, since a retry appends only when its id is not there yet.
// A numbered frame that arrives meanwhile tells the waiting frames' seqs at once.

#include <bcast/broker/frame.hpp>
#include <bcast/broker/tracker.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

// Read the newest history entries, newest first, for the one whose message id is `message_id`.
struct lookup_request {
  std::string target;
  std::string message_id;
  std::uint64_t generation = 0;  // echoed in the answer; a stale answer is ignored
};

class live_numbering {
 public:
  // `f` arrived on `target`'s channel; `f` may be undecodable (nothing): it still used up a seq.
  // Frames whose seq is now known go to `ready` in order; a lookup to make goes to `ask`.
  void on_frame(std::string_view target, const std::optional<frame>& f, std::vector<entry>& ready,
                std::vector<lookup_request>& ask) {
    auto it = channels_.find(target);  // no key string made for every frame
    if (it == channels_.end()) it = channels_.emplace(std::string(target), channel{}).first;
    auto& ch = it->second;
    if (f && f->seq != 0) {
      // Numbered: the frames waiting before it come just before it.
      number_waiting(ch, f->seq - ch.waiting.size(), ready);
      ready.push_back(make_entry(target, *f, f->seq));
      ch.last = f->seq;
      return;
    }
    if (ch.last) {
      ++*ch.last;
      if (f) ready.push_back(make_entry(target, *f, *ch.last));
      return;
    }
    ch.waiting.push_back(f ? std::optional<entry>(make_entry(target, *f, 0)) : std::nullopt);
    if (!ch.asked && f) {
      ch.asked = true;
      ch.looked_up = ch.waiting.size() - 1;
      ask.push_back(
          lookup_request{std::string(target), std::string(f->message_id), ++ch.generation});
    }
  }

  // The answer to `req`: the seq of the newest entry holding its message id, or nothing when the
  // newest entries do not hold it (trimmed meanwhile). Then the waiting frames are dropped: they
  // are in history, or trimmed, and the tracker reads history for the hole the next frame shows.
  // True when frames were dropped.
  bool on_lookup(const lookup_request& req, std::optional<std::uint64_t> seq,
                 std::vector<entry>& ready) {
    auto it = channels_.find(req.target);
    if (it == channels_.end()) return false;
    auto& ch = it->second;
    if (!ch.asked || ch.generation != req.generation || ch.waiting.empty()) return false;
    if (!seq || *seq <= ch.looked_up) {
      ch.waiting.clear();
      ch.asked = false;
      return true;
    }
    const auto first = *seq - ch.looked_up;
    const auto count = ch.waiting.size();
    number_waiting(ch, first, ready);
    ch.last = first + count - 1;
    return false;
  }

  // Whether the answer to `req` is still awaited (a retry of a stale lookup is wasted).
  bool wants(const lookup_request& req) const {
    auto it = channels_.find(req.target);
    return it != channels_.end() && it->second.asked && it->second.generation == req.generation;
  }

  // The subscription was lost: nothing is known until frames come again.
  void reset() {
    for (auto& [t, ch] : channels_) forget(ch);
  }
  void reset(std::string_view target) {
    if (auto it = channels_.find(target); it != channels_.end()) forget(it->second);
  }

  std::size_t waiting(std::string_view target) const {
    auto it = channels_.find(target);
    return it == channels_.end() ? 0 : it->second.waiting.size();
  }

 private:
  struct channel {
    std::optional<std::uint64_t> last;          // the seq of the newest frame on this subscription
    std::vector<std::optional<entry>> waiting;  // counted frames before any seq was known
    std::size_t looked_up = 0;                  // which waiting frame the lookup is for
    std::uint64_t generation = 0;
    bool asked = false;
  };

  static void forget(channel& ch) {
    ch.last.reset();
    ch.waiting.clear();
    ch.asked = false;
    ++ch.generation;
  }

  static entry make_entry(std::string_view target, const frame& f, std::uint64_t seq) {
    return entry{std::string(target), seq,
                 f.stream_id.empty() ? stream_id{0, seq}.str() : std::string(f.stream_id),
                 std::string(f.message_id), std::string(f.envelope_json)};
  }

  // The waiting frames are `first`, first + 1, ...; seqs that would be 0 or less cannot be (a
  // numbered frame that went backwards: the tracker sees the reset), so those frames go.
  static void number_waiting(channel& ch, std::uint64_t first, std::vector<entry>& ready) {
    const bool valid = first >= 1 && first < (std::uint64_t{1} << 63);
    for (std::size_t i = 0; i < ch.waiting.size(); ++i) {
      if (!valid || !ch.waiting[i]) continue;
      auto& e = *ch.waiting[i];
      e.seq = first + i;
      e.stream_id = stream_id{0, e.seq}.str();
      ready.push_back(std::move(e));
    }
    ch.waiting.clear();
    ch.asked = false;
    ++ch.generation;
  }

  std::map<std::string, channel, std::less<>> channels_;
};

}  // namespace bcast::broker
