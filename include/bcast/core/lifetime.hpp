#pragma once
// The library's two lifetime tools, used everywhere instead of one idiom per file:
//  - held_by_uv: the base of every object that hands libuv a handle or a request of its own.
//  - liveness_token / liveness_watch: how a callback learns that the object it would call into is
//    gone, or has moved on (a replaced connection), so that it does nothing.
// Plain C++ (no libuv types), so that any header can use it.

#include <cstddef>
#include <memory>

namespace bcast::core {

// libuv keeps raw pointers to handles and requests and calls back later: a close is asynchronous,
// and a write or a DNS lookup completes when it completes, also after the owner let go. So the
// object holds a reference to itself for each handle or request libuv has of it (hold()), and its
// close or completion callback gives it back (release(), as that callback's last step). The last
// release() frees the object as the callback returns, never while something still uses it.
template <class Derived>
class held_by_uv : public std::enable_shared_from_this<Derived> {
 public:
  held_by_uv(const held_by_uv&) = delete;
  held_by_uv& operator=(const held_by_uv&) = delete;

 protected:
  held_by_uv() = default;
  ~held_by_uv() = default;

  // Before (or as) a handle is initialised or a request started. The object must already be owned
  // by a shared_ptr.
  void hold() {
    if (holds_++ == 0) self_ = this->shared_from_this();
  }

  // From the callback that ends what hold() was taken for, after everything else it does.
  void release() noexcept {
    if (--holds_ == 0) {
      auto last =
          std::move(self_);  // may free *this when it goes out of scope: touch nothing after
    }
  }

  // Handles and requests libuv still has; 1 inside the callback that will release the last.
  std::size_t holds() const noexcept { return holds_; }

 private:
  std::shared_ptr<Derived> self_;
  std::size_t holds_ = 0;
};

class liveness_token;

// What a callback captures instead of a pointer that might dangle: it says whether the token it
// came from still stands. A default-constructed watch is expired.
class liveness_watch {
 public:
  liveness_watch() = default;
  bool expired() const noexcept { return cell_.expired(); }

 private:
  friend class liveness_token;
  explicit liveness_watch(const std::shared_ptr<const void>& cell) noexcept : cell_(cell) {}
  std::weak_ptr<const void> cell_;
};

// An owner holds one as a member (declared last, so that it expires first) and hands its callbacks
// watch()es. Destroying the owner expires them; renew() expires them too and starts a new epoch,
// for callbacks that belong to something the owner replaced (a dropped connection's stream). Loop
// thread only. Not copyable or movable: callbacks also capture the owner's address.
class liveness_token {
 public:
  liveness_token() = default;
  liveness_token(const liveness_token&) = delete;
  liveness_token& operator=(const liveness_token&) = delete;

  // The first watch of an epoch allocates once; the others share it.
  [[nodiscard]] liveness_watch watch() {
    if (!cell_) cell_ = std::make_shared<char>();
    return liveness_watch(cell_);
  }

  void renew() noexcept { cell_.reset(); }

 private:
  std::shared_ptr<const void> cell_;
};

}  // namespace bcast::core
