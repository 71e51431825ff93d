#pragma once
// One loop per thread. Other threads reach it through post(), a uv_async mailbox. defer() runs work
// later on the loop's own thread, so a completion is never called from the call that started it.

#include <bcast/core/error.hpp>

#include <uv.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace bcast::core {

class loop {
 public:
  loop() {
    if (int rc = uv_loop_init(&loop_); rc != 0) throw std::runtime_error(uv_strerror(rc));
    loop_.data = this;
    uv_async_init(&loop_, &mailbox_,
                  [](uv_async_t* h) { static_cast<loop*>(h->data)->drain_mailbox(); });
    mailbox_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&mailbox_));
    uv_async_init(&loop_, &deferred_async_,
                  [](uv_async_t* h) { static_cast<loop*>(h->data)->run_deferred(); });
    deferred_async_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&deferred_async_));
    // Writes queued during a loop iteration are flushed once, before the loop polls again.
    uv_prepare_init(&loop_, &prepare_);
    uv_check_init(&loop_, &check_);
    prepare_.data = check_.data = this;
    uv_prepare_start(&prepare_,
                     [](uv_prepare_t* h) { static_cast<loop*>(h->data)->run_end_of_tick(); });
    uv_check_start(&check_, [](uv_check_t* h) { static_cast<loop*>(h->data)->run_end_of_tick(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
    uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  }

  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  ~loop() {
    for (uv_handle_t* h :
         {reinterpret_cast<uv_handle_t*>(&mailbox_),
          reinterpret_cast<uv_handle_t*>(&deferred_async_),
          reinterpret_cast<uv_handle_t*>(&prepare_), reinterpret_cast<uv_handle_t*>(&check_)}) {
      uv_close(h, nullptr);
    }
    // Owners that free themselves from their handles' close callbacks close those handles their
    // own way; the walk then closes what nobody owns that way.
    auto members = std::move(teardown_members_);
    for (auto& [ticket, close] : members) close();
    for (;;) {
      // Work deferred or posted but not run is dropped, never run (what it would call may be
      // gone). It may hold the last owner of a handle, which is freed here, while libuv can
      // still close that handle.
      drop_unrun_work();
      // Let every pending close callback run so that objects libuv still holds are freed.
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      while (uv_run(&loop_, UV_RUN_DEFAULT) != 0) {
      }
      if (after_teardown_.empty() && deferred_.empty()) break;
      // A released owner may release another, which asks for an after_teardown of its own.
      auto batch = std::move(after_teardown_);
      after_teardown_.clear();
      for (auto& fn : batch) fn();
    }
    uv_loop_close(&loop_);
  }

  uv_loop_t* uv() noexcept { return &loop_; }
  static loop& from(uv_loop_t* l) noexcept { return *static_cast<loop*>(l->data); }

  // Runs until nothing keeps the loop alive or stop() is called.
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  bool run_once() { return uv_run(&loop_, UV_RUN_ONCE) != 0; }
  void stop() noexcept { uv_stop(&loop_); }

  std::chrono::steady_clock::time_point now() const noexcept {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(uv_now(&loop_)));
  }
  std::uint64_t now_ms() const noexcept { return uv_now(&loop_); }

  // Thread-safe: fn runs on the loop's thread in a later iteration. The mailbox does not keep the
  // loop alive by itself; the posting side owns that concern.
  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(mailbox_mutex_);
      mailbox_queue_.push_back(std::move(fn));
    }
    uv_async_send(&mailbox_);
  }

  // Loop thread only: fn runs in a later iteration, and keeps the loop alive until it has.
  void defer(std::function<void()> fn) {
    deferred_.push_back(std::move(fn));
    uv_ref(reinterpret_cast<uv_handle_t*>(&deferred_async_));
    uv_async_send(&deferred_async_);
  }

  // Loop thread only: fn runs at the end of this iteration (before the next poll). Used to coalesce
  // writes; not a way to defer a completion (use defer for that).
  void at_end_of_tick(std::function<void()> fn) { end_of_tick_.push_back(std::move(fn)); }

  // For an owner whose handle this loop's teardown closed (without a callback, so the owner's own
  // close callback never runs): fn runs once that teardown has finished every close.
  void after_teardown(std::function<void()> fn) { after_teardown_.push_back(std::move(fn)); }

  // For an object that holds open handles and is freed by their close callbacks (held_by_uv)
  // while nobody owns it (a running child process): the teardown calls `close` to close those
  // handles with their callbacks, so that the object is freed. leave() once they have closed.
  std::uint64_t enlist_for_teardown(std::function<void()> close) {
    teardown_members_.emplace(++last_teardown_ticket_, std::move(close));
    return last_teardown_ticket_;
  }
  void leave_teardown(std::uint64_t ticket) noexcept { teardown_members_.erase(ticket); }

  // A scratch buffer for uv_read callbacks; data is consumed before the callback returns, so one
  // buffer serves every stream of the loop, which keeps thousands of idle connections cheap.
  uv_buf_t read_buffer() noexcept { return uv_buf_init(read_buffer_.data(), read_buffer_.size()); }

 private:
  void drain_mailbox() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard lock(mailbox_mutex_);
      batch.swap(mailbox_queue_);
    }
    for (auto& fn : batch) fn();
  }

  void drop_unrun_work() {
    while (!deferred_.empty() || !mailbox_queue_.empty()) {
      auto deferred = std::move(deferred_);
      deferred_.clear();
      std::vector<std::function<void()>> posted;
      {
        std::lock_guard lock(mailbox_mutex_);
        posted.swap(mailbox_queue_);
      }
    }
  }

  void run_deferred() {
    std::vector<std::function<void()>> batch;
    batch.swap(deferred_);
    uv_unref(reinterpret_cast<uv_handle_t*>(&deferred_async_));
    for (auto& fn : batch) fn();
    // Work deferred by the batch itself was signalled again by defer() and runs next time.
  }

  void run_end_of_tick() {
    while (!end_of_tick_.empty()) {
      std::vector<std::function<void()>> batch;
      batch.swap(end_of_tick_);
      for (auto& fn : batch) fn();
    }
  }

  uv_loop_t loop_{};
  uv_async_t mailbox_{};
  uv_async_t deferred_async_{};
  uv_prepare_t prepare_{};
  uv_check_t check_{};
  std::mutex mailbox_mutex_;
  std::vector<std::function<void()>> mailbox_queue_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> end_of_tick_;
  std::vector<std::function<void()>> after_teardown_;
  std::map<std::uint64_t, std::function<void()>> teardown_members_;
  std::uint64_t last_teardown_ticket_ = 0;
  std::array<char, 64 * 1024> read_buffer_{};
};

}  // namespace bcast::core
