#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/core/timer.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <uv.h>

using namespace bcast;

namespace {

int probes_alive = 0;
std::vector<std::size_t> holds_at_close;  // holds() seen by each close callback

// Owns two timer handles, as a stream owns its handle and a connect attempt its requests.
class probe final : public core::held_by_uv<probe> {
 public:
  static std::shared_ptr<probe> open(core::loop& l) {
    auto p = std::shared_ptr<probe>(new probe);
    for (auto& t : p->timers_) {
      uv_timer_init(l.uv(), &t);
      t.data = p.get();
      p->hold();
    }
    return p;
  }
  ~probe() { --probes_alive; }

  // Fires once after 1 ms; `then` runs inside the libuv callback.
  template <class Fn>
  void on_first(Fn then) {
    then_ = std::move(then);
    uv_timer_start(
        &timers_[0], [](uv_timer_t* h) { static_cast<probe*>(h->data)->fired(); }, 1, 0);
  }

  void close() {
    for (auto& t : timers_) {
      if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&t))) continue;
      uv_close(reinterpret_cast<uv_handle_t*>(&t), [](uv_handle_t* h) {
        auto* p = static_cast<probe*>(h->data);
        holds_at_close.push_back(p->holds());
        p->release();
      });
    }
  }

  int touched_after_callback = 0;

 private:
  probe() { ++probes_alive; }

  void fired() {
    then_(*this);
    ++touched_after_callback;  // the object is still there, whatever `then_` dropped
  }

  uv_timer_t timers_[2]{};
  std::function<void(probe&)> then_;
};

struct owner_with_token {
  core::liveness_token alive;
};

}  // namespace

TEST_CASE(
    "held_by_uv: dropped by its owner, the object lives until libuv has closed every handle") {
  probes_alive = 0;
  {
    core::loop l;
    auto p = probe::open(l);
    std::weak_ptr<probe> seen = p;
    p->close();
    p.reset();
    CHECK_FALSE(seen.expired());  // both close callbacks are still to come
    l.run_once();
    CHECK(seen.expired());
  }
  CHECK(probes_alive == 0);
}

TEST_CASE("held_by_uv: the last close callback frees the object, not an earlier one") {
  probes_alive = 0;
  holds_at_close.clear();
  core::loop l;
  auto p = probe::open(l);
  std::weak_ptr<probe> seen = p;
  p->close();
  p.reset();
  l.run();
  CHECK(holds_at_close == std::vector<std::size_t>{2, 1});
  CHECK(seen.expired());
  CHECK(probes_alive == 0);
}

TEST_CASE(
    "held_by_uv: an object closed and dropped inside its own callback survives that callback") {
  probes_alive = 0;
  holds_at_close.clear();
  core::loop l;
  auto p = probe::open(l);
  std::weak_ptr<probe> seen = p;
  bool alive_after_drop = false;
  std::size_t closes_inside = 99;
  p->on_first([&](probe& self) {
    self.close();
    p.reset();  // the only reference outside libuv
    alive_after_drop = !seen.expired();
    closes_inside = holds_at_close.size();
  });
  l.run();
  CHECK(alive_after_drop);
  CHECK(closes_inside == 0);  // no close callback ran inside the timer callback
  CHECK(holds_at_close.size() == 2);
  CHECK(seen.expired());
  CHECK(probes_alive == 0);  // and the ASan build would see a leak or a use after free
}

TEST_CASE("core::timer: destroying the owner with its callback pending never runs the callback") {
  core::loop l;
  int fired = 0;
  {
    core::timer t(l);
    t.start(std::chrono::milliseconds(1), [&] { ++fired; });
  }
  l.run();
  CHECK(fired == 0);
}

TEST_CASE("liveness: a watch expires with its owner, and a deferred callback then does nothing") {
  core::loop l;
  auto owner = std::make_unique<owner_with_token>();
  int ran = 0, skipped = 0;
  auto* raw = owner.get();
  for (int i = 0; i < 2; ++i) {
    l.defer([raw, alive = owner->alive.watch(), &ran, &skipped] {
      if (alive.expired()) {
        ++skipped;
        return;
      }
      ++ran;
      (void)raw->alive.watch();  // touches the owner: only safe while the watch stands
    });
  }
  owner.reset();
  l.run();
  CHECK(ran == 0);
  CHECK(skipped == 2);
}

TEST_CASE("liveness: renew() expires the watches taken before it, not those taken after") {
  core::liveness_token token;
  auto before = token.watch();
  auto also_before = token.watch();
  CHECK_FALSE(before.expired());
  token.renew();
  CHECK(before.expired());
  CHECK(also_before.expired());
  auto after = token.watch();
  CHECK_FALSE(after.expired());
  token.renew();
  token.renew();  // renewing twice, or with no watch out, is harmless
  CHECK(after.expired());
  CHECK_FALSE(token.watch().expired());
  CHECK(core::liveness_watch().expired());
}

namespace {

// Keeps `timer` alive into `l`'s teardown, as a pending request keeps a connect attempt alive: a
// work request owns it and frees it from its callback, which the teardown runs only after it has
// closed every handle (the timer's among them, without a callback).
void free_from_teardown(core::loop& l, std::unique_ptr<core::timer> timer) {
  struct pending_work {
    uv_work_t req{};
    std::unique_ptr<core::timer> timer;
  };
  auto* work = new pending_work{{}, std::move(timer)};
  work->req.data = work;
  REQUIRE(uv_queue_work(
              l.uv(), &work->req, [](uv_work_t*) { uv_sleep(20); },
              [](uv_work_t* req, int) { delete static_cast<pending_work*>(req->data); }) == 0);
}

}  // namespace

TEST_CASE("a timer whose owner outlives into the loop's teardown is freed by it") {
  // As a connect attempt kept alive by a pending request: the teardown closes the timer's handle
  // first (without a callback), and only later does the request's callback destroy the owner.
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  {
    core::loop l;
    auto timer = std::make_unique<core::timer>(l);
    timer->start(std::chrono::hours(1), [captured = std::move(captured)] {});
    free_from_teardown(l, std::move(timer));
  }
  CHECK(watch.expired());  // the timer's box, and the callback it holds, are gone
}

TEST_CASE("a timer freed by the teardown may free another owner's timer, which is freed too") {
  // As a Redis connection whose last holder is a pending command's callback, held by a timer
  // that the teardown frees: the second timer asks for its release while the first's runs.
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  {
    core::loop l;
    auto second = std::make_shared<core::timer>(l);
    second->start(std::chrono::hours(1), [captured = std::move(captured)] {});
    auto first = std::make_unique<core::timer>(l);
    first->start(std::chrono::hours(1), [second = std::move(second)] {});
    free_from_teardown(l, std::move(first));
  }
  CHECK(watch.expired());  // the second timer's box, and the callback it holds, are gone
}

TEST_CASE(
    "work deferred but never run is dropped by the teardown, and the timers it owned are freed") {
  // As publisherd at SIGTERM: a closed Redis connection's failed commands wait in a deferred batch
  // that never runs, and the last holder of the connection (and of its timers) is among them.
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  bool ran = false;
  {
    core::loop l;
    auto timer = std::make_shared<core::timer>(l);
    timer->start(std::chrono::hours(1), [captured = std::move(captured)] {});
    l.defer([timer = std::move(timer), &ran] { ran = true; });
  }
  CHECK(watch.expired());
  CHECK_FALSE(ran);  // dropped, not run: what it would call may be gone
}

TEST_CASE("a child still running when the loop is torn down is freed by the teardown, unreported") {
  // Nobody holds a process but libuv: a helper started and left to finish on its own.
  std::weak_ptr<core::process> watch;
  bool reported = false;
  {
    core::loop l;
    core::process_options o;
    o.file = "sleep";
    o.args = {"5"};
    o.timeout = std::chrono::seconds(10);
    auto spawned =
        core::process::spawn(l, o, [&](const core::process_result&) { reported = true; });
    REQUIRE(spawned);
    watch = *spawned;
  }
  CHECK(watch.expired());
  CHECK_FALSE(reported);
}
