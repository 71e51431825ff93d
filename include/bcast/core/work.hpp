#pragma once
// CPU-heavy work (password hashing) off the loop thread, on libuv's thread pool. The result comes
// back on the loop thread; the loop never waits.

#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace bcast::core {

// `work` runs on a pool thread and must not touch loop objects; `done` runs on the loop thread
// with its result. Returns false (and runs nothing) if the pool refused the job.
template <class Work, class Done>
bool run_in_pool(loop& l, Work work, Done done) {
  using result_type = decltype(work());
  class job final : public held_by_uv<job> {
   public:
    job(Work w, Done d) : work_(std::move(w)), done_(std::move(d)) {}

    bool queue(uv_loop_t* uv) {
      req_.data = this;
      this->hold();
      int rc = uv_queue_work(
          uv, &req_,
          [](uv_work_t* req) {
            auto* j = static_cast<job*>(req->data);
            j->result_.emplace(j->work_());
          },
          [](uv_work_t* req, int) {
            auto* j = static_cast<job*>(req->data);
            if (j->result_) j->done_(std::move(*j->result_));
            j->release();
          });
      if (rc != 0) this->release();
      return rc == 0;
    }

   private:
    uv_work_t req_{};
    Work work_;
    Done done_;
    std::optional<result_type> result_;
  };
  return std::make_shared<job>(std::move(work), std::move(done))->queue(l.uv());
}

}  // namespace bcast::core
