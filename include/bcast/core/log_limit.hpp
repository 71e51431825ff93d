#pragma once
// A log line per event, rate-limited: at most `lines` lines in each `window`, and the rest
// counted and told in one line once the window is over ("... and 37 more rejected messages").
// Whoever can cause the event (a peer writing to Redis) then cannot flood the log, and the log
// still says how many there were.

#include <bcast/core/log.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::core::log {

struct rate_limit {
  std::size_t lines = 10;
  std::chrono::steady_clock::duration window = std::chrono::minutes(1);
};

using writer = std::function<void(level, std::string_view)>;

class limited {
 public:
  using clock = std::chrono::steady_clock;

  // `what` names the events for the summary line, in the plural: "rejected messages". `out`
  // is where lines go (the log; a test keeps them).
  limited(rate_limit limit, std::string_view what, writer out = &bcast::core::log::write)
      : limit_(limit), what_(what), out_(std::move(out)) {}

  // Writes `text` while the window has room; otherwise counts it for the summary.
  void write(level l, std::string_view text, clock::time_point now = clock::now()) {
    flush(now);
    if (written_ == 0 && held_back_ == 0) window_start_ = now;
    if (written_ < limit_.lines) {
      ++written_;
      out_(l, text);
      return;
    }
    ++held_back_;
    held_back_level_ = l;
  }

  // Once the window is over: the summary of what it held back, and a fresh window.
  void flush(clock::time_point now = clock::now()) {
    if ((written_ == 0 && held_back_ == 0) || now - window_start_ < limit_.window) return;
    finish();
  }

  // The summary now, window over or not (the program ends), and a fresh window.
  void finish() {
    if (held_back_ > 0) {
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(limit_.window).count();
      out_(held_back_level_, "... and " + std::to_string(held_back_) + " more " + what_ +
                                 " (the log names at most " + std::to_string(limit_.lines) +
                                 " per " + std::to_string(seconds) + " s)");
    }
    written_ = 0;
    held_back_ = 0;
  }

  // Lines held back in the current window, not told yet.
  std::uint64_t held_back() const noexcept { return held_back_; }

 private:
  rate_limit limit_;
  std::string what_;
  writer out_;
  clock::time_point window_start_{};
  std::size_t written_ = 0;
  std::uint64_t held_back_ = 0;
  level held_back_level_ = level::warning;
};

}  // namespace bcast::core::log
