#pragma once
// The bounded popup queue every sink is built on: a message is a job; at most max_running jobs run
// at once and at most max_queued wait. Jobs share the queue's state through shared_ptr, so a job
// whose child exits after its sink was destroyed touches nothing that is gone.

#include <bcast/core/loop.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/sink.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::sinks {

class job;

namespace detail {

struct queue_state {
  queue_state(core::loop& l, std::string n, std::size_t running, std::size_t queued)
      : loop(l),
        name(std::move(n)),
        max_running(std::max<std::size_t>(running, 1)),
        max_queued(queued) {}

  core::loop& loop;
  std::string name;
  std::size_t max_running;
  std::size_t max_queued;
  std::function<void(const std::shared_ptr<job>&)> start;  // must not hold the state itself
  std::deque<std::shared_ptr<job>> waiting;
  std::vector<std::shared_ptr<job>> running;
  std::vector<std::function<void()>> on_closed;
  bool open = true;
  bool pump_scheduled = false;
};

inline void schedule_pump(const std::shared_ptr<queue_state>& q);

}  // namespace detail

// One message in one sink. The sink's work reports through it and calls finish() when it is over.
class job : public std::enable_shared_from_this<job> {
 public:
  job(std::shared_ptr<detail::queue_state> q, message::envelope e, reporter r, unsigned reminder = 0)
      : queue_(std::move(q)), envelope_(std::move(e)), report_(std::move(r)), reminder_(reminder) {}

  const message::envelope& envelope() const noexcept { return envelope_; }
  // 0 for the first showing; n for the n-th reminder of a must-read message.
  unsigned reminder() const noexcept { return reminder_; }
  core::loop& loop() const noexcept { return queue_->loop; }
  const std::string& sink_name() const noexcept { return queue_->name; }

  void displayed() noexcept {
    if (displayed_ || failed_) return;
    displayed_ = true;
    emit(outcome::displayed, {});
  }
  void acknowledged() noexcept {
    if (acknowledged_ || failed_) return;
    displayed();
    acknowledged_ = true;
    emit(outcome::acknowledged, {});
  }
  void failed(std::string reason) noexcept {
    if (failed_ || acknowledged_) return;
    failed_ = true;
    emit(outcome::failed, std::move(reason));
  }
  bool is_displayed() const noexcept { return displayed_; }

  // Head office took the message back: nothing is reported any more, whatever the work makes of
  // its end, and with `stop` the work is stopped as close() stops it.
  void recall(bool stop = true) noexcept {
    recalled_ = true;
    if (stop) cancel();
  }
  bool is_recalled() const noexcept { return recalled_; }

  // What close() calls to stop the running work (kill the child, close the dialog). The work
  // still calls finish() when it is really over.
  void set_cancel(std::function<void()> fn) { cancel_ = std::move(fn); }
  void cancel() noexcept {
    if (auto fn = std::move(cancel_)) fn();
  }

  // Frees the slot for the next message. Idempotent.
  void finish() noexcept {
    if (finished_) return;
    finished_ = true;
    auto keep = shared_from_this();
    cancel_ = nullptr;  // it may hold what holds this job
    auto q = queue_;
    auto& r = q->running;
    r.erase(std::remove(r.begin(), r.end(), keep), r.end());
    if (q->open) {
      detail::schedule_pump(q);
    } else if (r.empty() && !q->on_closed.empty()) {
      auto callbacks = std::move(q->on_closed);
      q->on_closed.clear();
      q->loop.defer([callbacks = std::move(callbacks)] {
        for (const auto& cb : callbacks) cb();
      });
    }
  }

 private:
  void emit(outcome kind, std::string reason) noexcept {
    if (!queue_->open || recalled_ || !report_) return;
    auto keep = shared_from_this();  // the reporter may destroy the sink
    report_(outcome_event{kind, queue_->name, std::move(reason)});
  }

  std::shared_ptr<detail::queue_state> queue_;
  message::envelope envelope_;
  reporter report_;
  std::function<void()> cancel_;
  bool displayed_ = false;
  bool acknowledged_ = false;
  unsigned reminder_ = 0;
  bool failed_ = false;
  bool finished_ = false;
  bool recalled_ = false;
};

namespace detail {

inline void pump(const std::shared_ptr<queue_state>& q) {
  q->pump_scheduled = false;
  while (q->open && q->running.size() < q->max_running && !q->waiting.empty()) {
    auto j = std::move(q->waiting.front());
    q->waiting.pop_front();
    q->running.push_back(j);
    q->start(j);
  }
}

// Work starts from a deferred pump, so no outcome is ever reported from inside show(). A sink
// closed meanwhile leaves the pump nothing to do.
inline void schedule_pump(const std::shared_ptr<queue_state>& q) {
  if (q->pump_scheduled) return;
  q->pump_scheduled = true;
  q->loop.defer([q] { pump(q); });
}

}  // namespace detail

// A sink whose messages go through the bounded queue; subclasses give the per-message work.
class queued_sink : public sink {
 public:
  queued_sink(core::loop& l, std::string name, std::size_t max_running, std::size_t max_queued,
              std::function<void(const std::shared_ptr<job>&)> start)
      : state_(std::make_shared<detail::queue_state>(l, std::move(name), max_running, max_queued)) {
    state_->start = std::move(start);
  }
  ~queued_sink() override {
    if (state_->open) close(nullptr);
  }

  const std::string& name() const noexcept override { return state_->name; }

  void show(const message::envelope& e, reporter report) override {
    enqueue(e, std::move(report), 0);
  }

  void remind(const message::envelope& e, unsigned count, reporter report) override {
    if (holds(e.id)) return;
    enqueue(e, std::move(report), count);
  }

  void close(std::function<void()> done) override {
    auto q = state_;
    q->open = false;
    q->waiting.clear();
    if (done) q->on_closed.push_back(std::move(done));
    const auto running = q->running;  // cancel() may finish a job, which edits the list
    for (const auto& j : running) j->cancel();
    if (q->running.empty() && !q->on_closed.empty()) {
      auto callbacks = std::move(q->on_closed);
      q->on_closed.clear();
      q->loop.defer([callbacks = std::move(callbacks)] {
        for (const auto& cb : callbacks) cb();
      });
    }
  }

  std::size_t pending() const noexcept override {
    return state_->running.size() + state_->waiting.size();
  }

  void recall(const message::envelope&, std::string_view id) override {
    drop_waiting(id);
    for (const auto& j : running_jobs()) {
      if (j->envelope().id == id) j->recall();
    }
  }

 protected:
  // A copy: a job's recall() may finish it, which edits the list.
  std::vector<std::shared_ptr<job>> running_jobs() const { return state_->running; }

  // Whether `id` was waiting. It is dropped without an outcome: it never reached the screen.
  bool drop_waiting(std::string_view id) {
    auto& w = state_->waiting;
    const auto before = w.size();
    w.erase(std::remove_if(w.begin(), w.end(),
                           [id](const std::shared_ptr<job>& j) { return j->envelope().id == id; }),
            w.end());
    return w.size() != before;
  }

 private:
  // Whether message `id` is showing or waiting here.
  bool holds(std::string_view id) const {
    const auto is_it = [id](const std::shared_ptr<job>& j) { return j->envelope().id == id; };
    return std::any_of(state_->running.begin(), state_->running.end(), is_it) ||
           std::any_of(state_->waiting.begin(), state_->waiting.end(), is_it);
  }

  void enqueue(const message::envelope& e, reporter report, unsigned reminder) {
    if (!state_->open) return;
    auto j = std::make_shared<job>(state_, e, std::move(report), reminder);
    if (state_->running.size() + state_->waiting.size() >=
        state_->max_running + state_->max_queued) {
      const std::string why =
          "queue full: " + std::to_string(state_->running.size() + state_->waiting.size()) +
          " messages are already showing or waiting";
      state_->loop.defer([j, why] { j->failed(why); });
      return;
    }
    state_->waiting.push_back(std::move(j));
    detail::schedule_pump(state_);
  }

  std::shared_ptr<detail::queue_state> state_;
};

}  // namespace bcast::sinks
