#pragma once
// What both sides of a bcast-bench run share: the settings, which store gets which message, the
// send stamp every message carries, and the tally that the store threads fill in.

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

enum class target_kind { all, group, store };
enum class via { library, api, frame };

inline const char* via_name(via v) {
  switch (v) {
    case via::library:
      return "library";
    case via::api:
      return "api";
    case via::frame:
      return "frame";
  }
  return "?";
}

struct settings {
  std::uint32_t stores = 100;
  std::uint32_t groups = 4;
  std::uint32_t messages = 100;
  double rate = 0;  // messages per second; 0: closed loop
  target_kind target = target_kind::all;
  std::size_t payload = 64;  // bytes of message body
  via publish_via = via::library;
  std::string redis_url;  // empty: a private redis-server
  std::string api_url;
  std::string token;
  std::string out_dir = "bcast-bench-out";
  unsigned threads = 1;                             // store threads
  std::chrono::milliseconds grace{5000};            // wait for stragglers after the last send
  std::chrono::milliseconds message_timeout{2000};  // closed loop: give up on one message
  std::chrono::seconds setup_timeout{60};           // no store subscribed for this long: stop
  bool skip_baseline = false;
  // Stores run the catch-up driver as subscriberd does (frame counting, merge, de-duplication,
  // the envelope's JSON decode), instead of only decoding the frame.
  bool full_receive = false;
  // The publisher signs every message with a key made for the run, the stores trust only that
  // key, and the bcast phase runs twice, unsigned then signed (needs full_receive).
  bool sign = false;
  // Once a message reached every store it targets, its recall notice follows, and a store counts
  // the notice when its display pipeline takes the message down (needs full_receive).
  bool recall = false;
};

// --sign: what one message's signature costs, measured apart from the phases, right after them
// (bcast_side.hpp).
struct signing_costs {
  unsigned samples = 0;  // messages signed and verified
  double sign_us = 0;    // medians
  double verify_us = 0;
};

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Store i is "s<i>" in group "region:g<i % K>". Message k goes to one target, by kind: all, group
// k % K, or store k % N.
class plan {
 public:
  explicit plan(const settings& s) : s_(s) {}

  std::uint32_t stores() const { return s_.stores; }
  std::uint32_t messages() const { return s_.messages; }
  std::uint32_t groups() const { return s_.groups; }
  static std::string store_id(std::uint32_t i) { return "s" + std::to_string(i); }
  std::string group_of(std::uint32_t i) const { return "region:g" + std::to_string(i % s_.groups); }

  std::string target_of(std::uint32_t k) const {
    switch (s_.target) {
      case target_kind::all:
        return "all";
      case target_kind::group:
        return "region:g" + std::to_string(k % s_.groups);
      case target_kind::store:
        return "store:" + store_id(k % s_.stores);
    }
    return "all";
  }

  bool store_gets(std::uint32_t i, std::uint32_t k) const {
    switch (s_.target) {
      case target_kind::all:
        return true;
      case target_kind::group:
        return i % s_.groups == k % s_.groups;
      case target_kind::store:
        return i == k % s_.stores;
    }
    return false;
  }

  std::uint32_t expected(std::uint32_t k) const {
    switch (s_.target) {
      case target_kind::all:
        return s_.stores;
      case target_kind::group: {
        const auto g = k % s_.groups;
        return s_.stores / s_.groups + (g < s_.stores % s_.groups ? 1 : 0);
      }
      case target_kind::store:
        return 1;
    }
    return 0;
  }

 private:
  settings s_;
};

// Every message carries "bench <k> <send time in ns>": in the envelope's title for bcast, at the
// start of the payload for the baseline. Found by text search, so neither side parses JSON.
inline constexpr std::string_view stamp_prefix = "bench ";

struct stamp {
  std::uint32_t k = 0;
  std::int64_t sent_ns = 0;
};

inline std::string format_stamp(std::uint32_t k, std::int64_t sent_ns) {
  return std::string(stamp_prefix) + std::to_string(k) + " " + std::to_string(sent_ns);
}

inline std::optional<stamp> find_stamp(std::string_view text) {
  const auto at = text.find(stamp_prefix);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = text.data() + at + stamp_prefix.size();
  const char* end = text.data() + text.size();
  stamp s;
  auto [after_k, ec1] = std::from_chars(p, end, s.k);
  if (ec1 != std::errc() || after_k == end || *after_k != ' ') return std::nullopt;
  auto [after_t, ec2] = std::from_chars(after_k + 1, end, s.sent_ns);
  if (ec2 != std::errc()) return std::nullopt;
  return s;
}

// Filled by the store threads while the publisher sends; read by the main thread after they stop.
class tally {
 public:
  tally(const plan& p, unsigned threads)
      : plan_(p),
        received_(new std::atomic<std::uint32_t>[p.messages()]),
        last_ns_(new std::atomic<std::int64_t>[p.messages()]),
        sent_ns_(new std::atomic<std::int64_t>[p.messages()]),
        last_k_(p.stores(), -1),
        per_thread_(threads) {
    for (std::uint32_t k = 0; k < p.messages(); ++k) {
      received_[k].store(0, std::memory_order_relaxed);
      last_ns_[k].store(0, std::memory_order_relaxed);
      sent_ns_[k].store(0, std::memory_order_relaxed);
    }
  }

  struct thread_counts {
    std::vector<std::int64_t> latencies_ns;
    std::uint64_t duplicates = 0;  // seen again, or out of order
    std::uint64_t strays = 0;      // a message the store should not get, or no stamp
    // --sign: how long each message took in a store's display pipeline (the trust check and
    // the sink), as the phase ran.
    std::vector<std::int64_t> pipeline_ns;
  };

  // On store i's thread. True when this receipt completed message k's fan-out.
  bool delivered(unsigned thread, std::uint32_t store, std::string_view text, std::int64_t now) {
    return count(thread, store, find_stamp(text), now);
  }

  // A tally of recall notices: a notice carries the title of the message it recalls, so its
  // stamp names k but holds the message's send time; the notice's own is what sent() noted.
  bool recalled(unsigned thread, std::uint32_t store, std::string_view title, std::int64_t now) {
    auto s = find_stamp(title);
    if (s && s->k < plan_.messages()) s->sent_ns = sent_ns_[s->k].load(std::memory_order_acquire);
    return count(thread, store, s, now);
  }

  // On a store's thread: one message took `ns` in its display pipeline.
  void in_pipeline(unsigned thread, std::int64_t ns) {
    per_thread_[thread].pipeline_ns.push_back(ns);
  }

  // On the publisher's thread. Atomic, since a recall tally's store threads read it.
  void sent(std::uint32_t k, std::int64_t at) { sent_ns_[k].store(at, std::memory_order_release); }
  bool complete(std::uint32_t k) const { return received_[k].load() == plan_.expected(k); }
  std::uint32_t completed() const { return completed_.load(); }

  // After the store threads stopped.
  std::uint32_t received(std::uint32_t k) const { return received_[k].load(); }
  std::int64_t last_receipt_ns(std::uint32_t k) const { return last_ns_[k].load(); }
  std::int64_t sent_ns(std::uint32_t k) const { return sent_ns_[k].load(); }
  const std::vector<thread_counts>& per_thread() const { return per_thread_; }

 private:
  bool count(unsigned thread, std::uint32_t store, std::optional<stamp> s, std::int64_t now) {
    auto& counts = per_thread_[thread];
    if (!s || s->k >= plan_.messages() || !plan_.store_gets(store, s->k)) {
      ++counts.strays;
      return false;
    }
    // One publisher connection and one channel per message: a store sees its messages in order.
    if (static_cast<std::int64_t>(s->k) <= last_k_[store]) {
      ++counts.duplicates;
      return false;
    }
    last_k_[store] = s->k;
    counts.latencies_ns.push_back(now - s->sent_ns);
    auto last = last_ns_[s->k].load(std::memory_order_relaxed);
    while (last < now && !last_ns_[s->k].compare_exchange_weak(last, now)) {
    }
    const bool complete = received_[s->k].fetch_add(1) + 1 == plan_.expected(s->k);
    if (complete) completed_.fetch_add(1);
    return complete;
  }

  const plan& plan_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> received_;
  std::unique_ptr<std::atomic<std::int64_t>[]> last_ns_;
  std::unique_ptr<std::atomic<std::int64_t>[]> sent_ns_;
  std::vector<std::int64_t> last_k_;  // each store's entry is touched by its own thread only
  std::vector<thread_counts> per_thread_;
  std::atomic<std::uint32_t> completed_{0};
};

}  // namespace fanout
