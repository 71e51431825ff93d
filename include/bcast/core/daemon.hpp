#pragma once
// The daemons' main loop: run until SIGTERM or SIGINT, then let the owner drain (its `shutdown`
// calls `done` when finished) and return; SIGHUP calls `reload` when one is given.

#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>

#include <csignal>
#include <functional>
#include <memory>

namespace bcast::core {

inline void run_until_signalled(loop& l, std::function<void(std::function<void()> done)> shutdown,
                                std::function<void()> reload = {}) {
  bool stopping = false;
  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    log::notice("stopping: finishing work in flight");
    shutdown([&] { l.stop(); });
  };
  signal_watcher term(l, SIGTERM, stop);
  signal_watcher interrupt(l, SIGINT, stop);
  std::unique_ptr<signal_watcher> hangup;
  if (reload) hangup = std::make_unique<signal_watcher>(l, SIGHUP, reload);
  l.run();
  log::notice("stopped");
}

}  // namespace bcast::core
