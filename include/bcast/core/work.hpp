#pragma once
// CPU-heavy work (password hashing) off the loop thread, on a bounded pool of threads of its own.
// Not on libuv's thread pool: that one also runs every getaddrinfo (a Redis reconnect), which a
// queue of hashing would hold up. Bounded: at most `threads` jobs run and `queue` more wait; past
// that submit() refuses at once, so that the caller can answer "busy" instead of queueing without
// end. Results come back on the loop thread; the loop never waits.

#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>

#include <uv.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcast::core {

struct worker_pool_options {
  unsigned threads = 2;
  std::size_t queue = 8;  // jobs that may wait for a thread
};

class worker_pool {
 public:
  worker_pool(loop& l, worker_pool_options options)
      : options_(options),
        wakeup_(detail::handle_box<uv_async_t>::open(l, [](uv_loop_t* uv, uv_async_t* h) {
          return uv_async_init(uv, h,
                               [](uv_async_t* a) { detail::handle_box<uv_async_t>::of(a).fire(); });
        })) {
    if (options_.threads == 0) options_.threads = 1;
    // Idle, the pool keeps no loop alive; jobs in flight do (see submit).
    uv_unref(wakeup_->base());
    wakeup_->set_callback([this] { run_finished(); });
    shared_->wakeup = &wakeup_->handle;
    threads_.reserve(options_.threads);
    try {
      for (unsigned i = 0; i < options_.threads; ++i)
        threads_.emplace_back([shared = shared_] { work(*shared); });
    } catch (...) {
      stop();
      throw;
    }
  }

  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // Waits for the jobs running now (the waiting ones are dropped); no `done` runs after this.
  ~worker_pool() { stop(); }

  const worker_pool_options& options() const noexcept { return options_; }

  // Jobs submitted whose `done` has not run yet.
  std::size_t in_flight() const noexcept { return finishers_.size(); }

  // `work` runs on a pool thread and must touch no loop object; it, and what it captured, are
  // destroyed there. `done` runs later on the loop thread with its result, and never leaves that
  // thread. Returns false, and runs nothing, while threads + queue jobs are in flight already.
  // Work that throws is dropped: its `done` never runs.
  template <class Work, class Done>
  [[nodiscard]] bool submit(Work work, Done done) {
    if (in_flight() >= options_.threads + options_.queue) return false;
    using result_type = decltype(work());
    auto result = std::make_shared<std::optional<result_type>>();
    const std::uint64_t id = next_id_++;
    finishers_.emplace(id, [result, done = std::move(done)]() mutable {
      if (*result) done(std::move(**result));
    });
    if (finishers_.size() == 1) uv_ref(wakeup_->base());
    {
      std::lock_guard lock(shared_->mutex);
      shared_->waiting.push_back(
          {id, [result, work = std::move(work)]() mutable { result->emplace(work()); }});
    }
    shared_->wake.notify_one();
    return true;
  }

 private:
  struct job {
    std::uint64_t id = 0;
    std::function<void()> run;
  };

  // What the threads share with the loop thread; the threads hold it, so it outlives them.
  struct shared_state {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<job> waiting;
    std::vector<std::uint64_t> finished;
    bool stopping = false;
    uv_async_t* wakeup = nullptr;  // open until every thread has been joined
  };

  void stop() {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
      shared_->waiting.clear();
    }
    shared_->wake.notify_all();
    for (auto& t : threads_) t.join();
    wakeup_->set_callback({});
    wakeup_->close();
  }

  static void work(shared_state& s) {
    for (;;) {
      job j;
      {
        std::unique_lock lock(s.mutex);
        s.wake.wait(lock, [&] { return s.stopping || !s.waiting.empty(); });
        if (s.stopping) return;
        j = std::move(s.waiting.front());
        s.waiting.pop_front();
      }
      try {
        j.run();
      } catch (...) {
        // Dropped: the finisher finds no result and calls nothing.
      }
      j.run = nullptr;  // what the work captured goes here, on this thread
      {
        std::lock_guard lock(s.mutex);
        s.finished.push_back(j.id);
      }
      uv_async_send(s.wakeup);
    }
  }

  void run_finished() {
    std::vector<std::uint64_t> ids;
    {
      std::lock_guard lock(shared_->mutex);
      ids.swap(shared_->finished);
    }
    for (const auto id : ids) {
      const auto found = finishers_.find(id);
      if (found == finishers_.end()) continue;
      auto finish = std::move(found->second);
      finishers_.erase(found);
      if (finishers_.empty()) uv_unref(wakeup_->base());
      const auto alive = alive_.watch();
      finish();
      if (alive.expired()) return;  // the pool was destroyed by what `done` did
    }
  }

  worker_pool_options options_;
  std::shared_ptr<detail::handle_box<uv_async_t>> wakeup_;
  std::shared_ptr<shared_state> shared_ = std::make_shared<shared_state>();
  std::vector<std::thread> threads_;
  std::unordered_map<std::uint64_t, std::function<void()>> finishers_;  // loop thread only
  std::uint64_t next_id_ = 0;
  liveness_token alive_;
};

}  // namespace bcast::core
