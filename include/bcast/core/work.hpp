#pragma once
// CPU-heavy work (password hashing) off the loop thread, on libuv's thread pool. The result comes
// back on the loop thread; the loop never waits.

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
  struct job {
    uv_work_t req{};
    Work work;
    Done done;
    std::optional<result_type> result;
  };
  auto* j = new job{{}, std::move(work), std::move(done), std::nullopt};
  j->req.data = j;
  int rc = uv_queue_work(
      l.uv(), &j->req, [](uv_work_t* req) {
        auto* jb = static_cast<job*>(req->data);
        jb->result.emplace(jb->work());
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<job> jb(static_cast<job*>(req->data));
        if (jb->result) jb->done(std::move(*jb->result));
      });
  if (rc != 0) {
    delete j;
    return false;
  }
  return true;
}

}  // namespace bcast::core
