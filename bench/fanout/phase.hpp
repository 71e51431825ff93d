#pragma once
// One measured phase (bcast or the baseline): store threads connect and subscribe, then the
// publisher sends every message, closed or open loop, from the main thread's loop, and the
// phase ends when every message reached every store it targets or the grace time ran out.
// The pacing is plain libuv on the loop's uv_loop_t, so both sides are driven alike.

#include "common.hpp"

#include <uv.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fanout {

// A slice of the stores, on a thread and a loop of its own.
class store_worker {
 public:
  // `recalls`: the tally of recall notices (--recall), or null.
  store_worker(const plan& p, tally& t, unsigned index, std::uint32_t first, std::uint32_t last,
               std::function<void()> on_complete, tally* recalls = nullptr)
      : plan_(p),
        tally_(t),
        recalls_(recalls),
        index_(index),
        first_(first),
        last_(last),
        next_(first),
        on_complete_(std::move(on_complete)) {}
  virtual ~store_worker() = default;

  // The thread's body: connects, subscribes, receives until request_stop(), disconnects.
  virtual void run() = 0;
  // Any thread.
  virtual void request_stop() = 0;

  std::uint32_t subscribed() const { return subscribed_.load(); }
  std::uint32_t failures() const { return failures_.load(); }
  std::string first_error() const {
    std::lock_guard lock(error_mutex_);
    return first_error_;
  }

 protected:
  // Stores connect in waves: a listen backlog of a few thousand cannot take ten thousand SYNs
  // at once, and retransmitted SYNs would make the set-up take seconds longer.
  static constexpr std::uint32_t max_connecting = 256;

  virtual void start_store(std::uint32_t i) = 0;

  void start_first_wave() {
    for (std::uint32_t n = 0; n < max_connecting && next_ < last_; ++n) start_store(next_++);
  }
  void store_subscribed() {
    subscribed_.fetch_add(1);
    if (next_ < last_) start_store(next_++);
  }
  void store_failed(const std::string& why) {
    failures_.fetch_add(1);
    std::lock_guard lock(error_mutex_);
    if (first_error_.empty()) first_error_ = why;
  }
  void received(std::uint32_t store, std::string_view text) {
    if (tally_.delivered(index_, store, text, now_ns())) on_complete_();
  }
  // The store took down the message titled `title`.
  void recalled(std::uint32_t store, std::string_view title) {
    if (recalls_ && recalls_->recalled(index_, store, title, now_ns())) on_complete_();
  }

  const plan& plan_;
  tally& tally_;
  tally* const recalls_;
  const unsigned index_;
  const std::uint32_t first_, last_;

 private:
  std::uint32_t next_;
  std::function<void()> on_complete_;
  std::atomic<std::uint32_t> subscribed_{0};
  std::atomic<std::uint32_t> failures_{0};
  mutable std::mutex error_mutex_;
  std::string first_error_;
};

class publisher {
 public:
  using prepared = std::function<void(const std::string& error)>;
  virtual ~publisher() = default;
  // Connects and sends one warm-up message nobody receives; `done` gets "" or what failed.
  virtual void prepare(prepared done) = 0;
  virtual void publish(std::uint32_t k, std::int64_t now) = 0;
  // --recall: the recall notice of message k, published after k reached every store.
  virtual void recall(std::uint32_t k, std::int64_t) {
    failed("this publisher cannot recall message " + std::to_string(k));
  }

  std::uint64_t errors() const { return errors_; }
  const std::string& first_error() const { return first_error_; }

 protected:
  void failed(const std::string& why) {
    if (errors_++ == 0) first_error_ = why;
  }

 private:
  std::uint64_t errors_ = 0;
  std::string first_error_;
};

struct phase_outcome {
  bool set_up = false;  // every store subscribed and the publisher was ready
  std::string problem;  // why not
  std::int64_t first_send_ns = 0;
  std::int64_t last_send_ns = 0;
  std::uint32_t sent = 0;
  std::int64_t first_recall_ns = 0;  // --recall
  std::uint32_t recalls_sent = 0;
  // How long each publish call took on the publisher's loop (signing included, with a key).
  std::vector<std::int64_t> publish_call_ns;
};

// Drives the publisher on `loop` until the phase is over, then uv_stop()s the loop.
class pacer {
 public:
  // `recalls` (or null): each message's recall notice goes out once the message is complete, and
  // in closed loop the next message waits for the notice to be complete too.
  pacer(uv_loop_t* loop, const settings& s, const plan& p, tally& t,
        std::vector<std::unique_ptr<store_worker>>& workers, publisher& pub, tally* recalls)
      : loop_(loop),
        settings_(s),
        plan_(p),
        tally_(t),
        recalls_(recalls),
        recall_sent_(recalls ? p.messages() : 0, false),
        workers_(workers),
        publisher_(pub) {
    uv_timer_init(loop, &poll_timer_);
    uv_timer_init(loop, &send_timer_);
    uv_timer_init(loop, &deadline_timer_);
    uv_async_init(loop, &completion_, [](uv_async_t* h) { self(h)->on_completion(); });
    for (auto* h : handles()) h->data = this;
    set_up_since_ = uv_now(loop);
    uv_timer_start(
        &poll_timer_, [](uv_timer_t* h) { self(h)->poll_set_up(); }, 20, 20);
  }
  pacer(const pacer&) = delete;
  pacer& operator=(const pacer&) = delete;
  // Before destruction; the loop must run once more so that the handles finish closing.
  void close() {
    for (auto* h : handles()) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }
  }

  // Any thread: a message has reached every store it targets.
  void notify_complete() { uv_async_send(&completion_); }

  const phase_outcome& outcome() const { return outcome_; }

 private:
  template <class H>
  static pacer* self(H* h) {
    return static_cast<pacer*>(h->data);
  }
  std::vector<uv_handle_t*> handles() {
    return {reinterpret_cast<uv_handle_t*>(&poll_timer_),
            reinterpret_cast<uv_handle_t*>(&send_timer_),
            reinterpret_cast<uv_handle_t*>(&deadline_timer_),
            reinterpret_cast<uv_handle_t*>(&completion_)};
  }

  void poll_set_up() {
    std::uint32_t subscribed = 0, failures = 0;
    std::string error;
    for (const auto& w : workers_) {
      subscribed += w->subscribed();
      failures += w->failures();
      if (error.empty()) error = w->first_error();
    }
    const auto now = uv_now(loop_);
    if (subscribed != last_subscribed_) {
      last_subscribed_ = subscribed;
      set_up_since_ = now;
    }
    if (now - last_report_ >= 1000 && subscribed < plan_.stores()) {
      last_report_ = now;
      std::fprintf(stderr, "  %u of %u stores subscribed\n", subscribed, plan_.stores());
    }
    if (subscribed == plan_.stores()) {
      uv_timer_stop(&poll_timer_);
      publisher_.prepare([this](const std::string& problem) {
        if (!problem.empty()) return finish("the publisher is not ready: " + problem);
        start_sending();
      });
      return;
    }
    if (now - set_up_since_ > static_cast<std::uint64_t>(settings_.setup_timeout.count()) * 1000) {
      finish("only " + std::to_string(subscribed) + " of " + std::to_string(plan_.stores()) +
             " stores subscribed, none more for " +
             std::to_string(settings_.setup_timeout.count()) + " s (" + std::to_string(failures) +
             " connection failures" + (error.empty() ? "" : ", first: " + error) + ")");
    }
  }

  void start_sending() {
    outcome_.set_up = true;
    outcome_.publish_call_ns.reserve(plan_.messages());
    if (settings_.rate > 0) {
      start_ns_ = now_ns();
      uv_timer_start(
          &send_timer_, [](uv_timer_t* h) { self(h)->send_due(); }, 0, 1);
    } else {
      send_next();
    }
  }

  void send(std::uint32_t k) {
    const auto now = now_ns();
    if (k == 0) outcome_.first_send_ns = now;
    outcome_.last_send_ns = now;
    tally_.sent(k, now);
    publisher_.publish(k, now);
    outcome_.publish_call_ns.push_back(now_ns() - now);
    outcome_.sent = k + 1;
  }

  void send_recall(std::uint32_t k) {
    const auto now = now_ns();
    if (outcome_.recalls_sent == 0) outcome_.first_recall_ns = now;
    recall_sent_[k] = true;
    ++outcome_.recalls_sent;
    recalls_->sent(k, now);
    publisher_.recall(k, now);
  }

  // The notices of the messages that are complete. In closed loop the notice gets a timeout of
  // its own, as the message had.
  void send_due_recalls() {
    while (recall_cursor_ < outcome_.sent && recall_sent_[recall_cursor_]) ++recall_cursor_;
    bool any = false;
    for (auto k = recall_cursor_; k < outcome_.sent; ++k) {
      if (recall_sent_[k] || !tally_.complete(k)) continue;
      send_recall(k);
      any = true;
    }
    if (any && settings_.rate <= 0 && !draining_) start_deadline();
  }

  bool done(std::uint32_t k) const {
    return tally_.complete(k) && (!recalls_ || recalls_->complete(k));
  }
  bool all_done() const {
    return tally_.completed() == plan_.messages() &&
           (!recalls_ || recalls_->completed() == plan_.messages());
  }

  // Closed loop: the next message once the previous one is everywhere (or timed out).
  void send_next() {
    if (outcome_.sent == plan_.messages()) return drain();
    send(outcome_.sent);
    start_deadline();
  }

  void start_deadline() {
    uv_timer_start(
        &deadline_timer_, [](uv_timer_t* h) { self(h)->timed_out(); },
        static_cast<std::uint64_t>(settings_.message_timeout.count()), 0);
  }

  // A message that did not reach every store in time is recalled all the same, so that the
  // recalls' losses count only the notices that went missing.
  void timed_out() {
    const auto k = outcome_.sent - 1;
    if (recalls_ && !recall_sent_[k]) {
      send_recall(k);
      return start_deadline();
    }
    send_next();
  }

  // Open loop: every message whose time has come, whatever has arrived so far.
  void send_due() {
    const double elapsed_s = static_cast<double>(now_ns() - start_ns_) / 1e9;
    const auto due = static_cast<std::uint32_t>(
        std::min<double>(plan_.messages(), std::floor(elapsed_s * settings_.rate) + 1));
    while (outcome_.sent < due) send(outcome_.sent);
    if (outcome_.sent == plan_.messages()) {
      uv_timer_stop(&send_timer_);
      drain();
    }
  }

  void drain() {
    draining_ = true;
    uv_timer_start(
        &deadline_timer_, [](uv_timer_t* h) { self(h)->finish(""); },
        static_cast<std::uint64_t>(settings_.grace.count()), 0);
    on_completion();
  }

  void on_completion() {
    if (recalls_) send_due_recalls();
    if (draining_) {
      if (all_done()) finish("");
      return;
    }
    if (settings_.rate <= 0 && outcome_.sent > 0 && done(outcome_.sent - 1)) send_next();
  }

  void finish(std::string problem) {
    if (finished_) return;
    finished_ = true;
    if (!problem.empty()) outcome_.problem = std::move(problem);
    for (auto* t : {&poll_timer_, &send_timer_, &deadline_timer_}) uv_timer_stop(t);
    uv_stop(loop_);
  }

  uv_loop_t* loop_;
  const settings& settings_;
  const plan& plan_;
  tally& tally_;
  tally* recalls_;
  std::vector<bool> recall_sent_;
  std::uint32_t recall_cursor_ = 0;  // every notice before it has been sent
  std::vector<std::unique_ptr<store_worker>>& workers_;
  publisher& publisher_;
  uv_timer_t poll_timer_{}, send_timer_{}, deadline_timer_{};
  uv_async_t completion_{};
  std::uint64_t set_up_since_ = 0, last_report_ = 0;
  std::uint32_t last_subscribed_ = 0;
  std::int64_t start_ns_ = 0;
  bool draining_ = false, finished_ = false;
  phase_outcome outcome_;
};

// Splits the stores over `threads` workers made by `make(index, first, last)`, runs the phase,
// and stops everything again. `run_main_loop` runs the publisher's loop until the pacer stops it.
// With a `recalls` tally every message is recalled (the workers must count the notices in it).
template <class MakeWorker>
phase_outcome run_phase(uv_loop_t* main_loop, const std::function<void()>& run_main_loop,
                        const settings& s, const plan& p, tally& t, publisher& pub, MakeWorker make,
                        tally* recalls = nullptr) {
  std::vector<std::unique_ptr<store_worker>> workers;
  std::unique_ptr<pacer> pace;
  const unsigned threads = std::max(1u, std::min<unsigned>(s.threads, p.stores()));
  for (unsigned w = 0; w < threads; ++w) {
    const auto first = static_cast<std::uint32_t>(std::uint64_t{p.stores()} * w / threads);
    const auto last = static_cast<std::uint32_t>(std::uint64_t{p.stores()} * (w + 1) / threads);
    workers.push_back(make(w, first, last, [&pace] { pace->notify_complete(); }));
  }
  pace = std::make_unique<pacer>(main_loop, s, p, t, workers, pub, recalls);
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->run(); });
  run_main_loop();
  for (auto& w : workers) w->request_stop();
  for (auto& r : running) r.join();
  auto outcome = pace->outcome();
  pace->close();
  uv_run(main_loop, UV_RUN_NOWAIT);
  return outcome;
}

}  // namespace fanout
