#pragma once
// One piece of work made of parts that finish separately and in any order: the part that finishes
// last completes the whole, with every part's value in the parts' order, or with the error of the
// first part that failed. The one countdown of the library (redis::pipeline uses it).

#include <bcast/core/error.hpp>

#include <cstddef>
#include <utility>
#include <vector>

namespace bcast::core {

template <class T>
class join {
 public:
  explicit join(std::size_t parts) : values_(parts), remaining_(parts) {}

  // Part `i` finished with `r`. True when it was the last: then take() the outcome.
  [[nodiscard]] bool arrive(std::size_t i, result<T> r) {
    if (r) {
      values_[i] = std::move(r).value();
    } else if (!failure_) {
      failure_ = r.err();
    }
    return --remaining_ == 0;
  }

  std::size_t remaining() const noexcept { return remaining_; }

  // Every part's value, or the first failure. Once, after the last part arrived.
  [[nodiscard]] result<std::vector<T>> take() {
    if (failure_) return failure_;
    return std::move(values_);
  }

 private:
  std::vector<T> values_;
  std::size_t remaining_;
  error failure_;
};

}  // namespace bcast::core
