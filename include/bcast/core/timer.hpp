#pragma once
// Timers and signal watchers. The uv handle lives in a heap box that only the close callback frees,
// so destroying the owner from inside its own callback is safe.

#include <bcast/core/loop.hpp>

#include <uv.h>

#include <chrono>
#include <functional>
#include <utility>

namespace bcast::core {

namespace detail {

template <class Handle>
struct handle_box {
  Handle handle{};
  std::function<void()> callback;
  std::function<void()> replacement;  // set while the callback runs, swapped in afterwards
  bool running = false;
  bool has_replacement = false;

  void set_callback(std::function<void()> cb) {
    if (running) {
      replacement = std::move(cb);
      has_replacement = true;
    } else {
      callback = std::move(cb);
    }
  }

  void fire() {
    running = true;
    if (callback) callback();
    running = false;
    if (has_replacement) {
      callback = std::move(replacement);
      has_replacement = false;
    }
  }

  static void close(handle_box* box) {
    box->handle.data = box;
    uv_close(reinterpret_cast<uv_handle_t*>(&box->handle),
             [](uv_handle_t* h) { delete static_cast<handle_box*>(h->data); });
  }
};

}  // namespace detail

class timer {
 public:
  explicit timer(loop& l) : box_(new detail::handle_box<uv_timer_t>) {
    uv_timer_init(l.uv(), &box_->handle);
    box_->handle.data = box_;
  }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  ~timer() {
    uv_timer_stop(&box_->handle);
    detail::handle_box<uv_timer_t>::close(box_);
  }

  // Fires once after `timeout`, then every `repeat` if it is non-zero. Restarting replaces the callback.
  void start(std::chrono::milliseconds timeout, std::function<void()> cb,
             std::chrono::milliseconds repeat = std::chrono::milliseconds(0)) {
    box_->set_callback(std::move(cb));
    uv_timer_start(&box_->handle, [](uv_timer_t* h) { static_cast<detail::handle_box<uv_timer_t>*>(h->data)->fire(); },
                   static_cast<std::uint64_t>(timeout.count()), static_cast<std::uint64_t>(repeat.count()));
  }
  void stop() noexcept { uv_timer_stop(&box_->handle); }
  bool active() const noexcept { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&box_->handle)) != 0; }
  // An unreferenced timer does not keep the loop alive (heartbeats, watchdogs).
  void unref() noexcept { uv_unref(reinterpret_cast<uv_handle_t*>(&box_->handle)); }

 private:
  detail::handle_box<uv_timer_t>* box_;
};

class signal_watcher {
 public:
  signal_watcher(loop& l, int signum, std::function<void()> cb) : box_(new detail::handle_box<uv_signal_t>) {
    uv_signal_init(l.uv(), &box_->handle);
    box_->handle.data = box_;
    box_->set_callback(std::move(cb));
    uv_signal_start(&box_->handle, [](uv_signal_t* h, int) { static_cast<detail::handle_box<uv_signal_t>*>(h->data)->fire(); },
                    signum);
  }
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;
  ~signal_watcher() {
    uv_signal_stop(&box_->handle);
    detail::handle_box<uv_signal_t>::close(box_);
  }
  void unref() noexcept { uv_unref(reinterpret_cast<uv_handle_t*>(&box_->handle)); }

 private:
  detail::handle_box<uv_signal_t>* box_;
};

}  // namespace bcast::core
