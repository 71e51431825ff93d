#pragma once
// Timers and signal watchers. The uv handle lives in a box that libuv holds until the close
// callback (core::held_by_uv), so destroying the owner from inside its own callback is safe.

#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

namespace bcast::core {

namespace detail {

template <class Handle>
class handle_box final : public held_by_uv<handle_box<Handle>> {
 public:
  // `init` is uv_timer_init or uv_signal_init.
  template <class Init>
  static std::shared_ptr<handle_box> open(loop& l, Init init) {
    auto box = std::make_shared<handle_box>();
    init(l.uv(), &box->handle);
    box->handle.data = box.get();
    box->hold();
    return box;
  }

  void close() {
    // The loop's teardown closes every handle still open; an owner that outlives it into that
    // teardown must not close its handle a second time (libuv asserts), and is released after it.
    if (uv_is_closing(base())) {
      loop::from(handle.loop).after_teardown([box = this->shared_from_this()] { box->release(); });
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&handle),
             [](uv_handle_t* h) { static_cast<handle_box*>(h->data)->release(); });
  }

  static handle_box& of(Handle* h) noexcept { return *static_cast<handle_box*>(h->data); }

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

  uv_handle_t* base() noexcept { return reinterpret_cast<uv_handle_t*>(&handle); }

  Handle handle{};
  std::function<void()> callback;
  std::function<void()> replacement;  // set while the callback runs, swapped in afterwards
  bool running = false;
  bool has_replacement = false;
};

}  // namespace detail

class timer {
 public:
  explicit timer(loop& l) : box_(detail::handle_box<uv_timer_t>::open(l, uv_timer_init)) {}
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  ~timer() {
    uv_timer_stop(&box_->handle);
    box_->close();
  }

  // Fires once after `timeout`, then every `repeat` if it is non-zero. Restarting replaces the
  // callback.
  void start(std::chrono::milliseconds timeout, std::function<void()> cb,
             std::chrono::milliseconds repeat = std::chrono::milliseconds(0)) {
    box_->set_callback(std::move(cb));
    uv_timer_start(
        &box_->handle, [](uv_timer_t* h) { detail::handle_box<uv_timer_t>::of(h).fire(); },
        static_cast<std::uint64_t>(timeout.count()), static_cast<std::uint64_t>(repeat.count()));
  }
  void stop() noexcept { uv_timer_stop(&box_->handle); }
  bool active() const noexcept { return uv_is_active(box_->base()) != 0; }
  // An unreferenced timer does not keep the loop alive (heartbeats, watchdogs).
  void unref() noexcept { uv_unref(box_->base()); }

 private:
  std::shared_ptr<detail::handle_box<uv_timer_t>> box_;
};

class signal_watcher {
 public:
  signal_watcher(loop& l, int signum, std::function<void()> cb)
      : box_(detail::handle_box<uv_signal_t>::open(l, uv_signal_init)) {
    box_->set_callback(std::move(cb));
    uv_signal_start(
        &box_->handle, [](uv_signal_t* h, int) { detail::handle_box<uv_signal_t>::of(h).fire(); },
        signum);
  }
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;
  ~signal_watcher() {
    uv_signal_stop(&box_->handle);
    box_->close();
  }
  void unref() noexcept { uv_unref(box_->base()); }

 private:
  std::shared_ptr<detail::handle_box<uv_signal_t>> box_;
};

}  // namespace bcast::core
