#pragma once
// The daemons' main loop: run until SIGTERM or SIGINT, then let the owner drain (its `shutdown`
// calls `done` when finished) and return; SIGHUP calls `reload` when one is given. And the
// descriptor limit of a daemon that serves many connections. On Windows libuv emulates the
// signals from console events: Ctrl+C is SIGINT, Ctrl+Break SIGBREAK and closing the console
// SIGHUP, and all three stop (there is no SIGTERM, and no reload); there is no descriptor limit.

#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>

#ifndef _WIN32
#include <sys/resource.h>
#endif

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>

namespace bcast::core {

// `expose_stop`, when given, gets what stops it as a signal does (to be called on the loop's
// thread) at the start, and an empty function before this returns: a Windows service's stop
// request comes on the Service Control Manager's thread, which posts it to the loop.
inline void run_until_signalled(loop& l, std::function<void(std::function<void()> done)> shutdown,
                                std::function<void()> reload = {},
                                std::function<void(std::function<void()> stop)> expose_stop = {}) {
  bool stopping = false;
  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    log::notice("stopping: finishing work in flight");
    shutdown([&] { l.stop(); });
  };
  if (expose_stop) expose_stop(stop);
#ifdef _WIN32
  (void)reload;
  signal_watcher interrupt(l, SIGINT, stop);
  signal_watcher ctrl_break(l, SIGBREAK, stop);
  signal_watcher console_closed(l, SIGHUP, stop);
#else
  signal_watcher term(l, SIGTERM, stop);
  signal_watcher interrupt(l, SIGINT, stop);
  std::unique_ptr<signal_watcher> hangup;
  if (reload) hangup = std::make_unique<signal_watcher>(l, SIGHUP, reload);
#endif
  l.run();
  if (expose_stop) expose_stop(nullptr);
  log::notice("stopped");
}

#ifndef _WIN32
// Raises the soft RLIMIT_NOFILE towards the hard one and returns the soft limit now in force.
// The soft limit of 1024 is there for select(), which libuv does not use; each connection is a
// descriptor. At most `ceiling`: children inherit the limit, and some close every descriptor
// below it one by one.
inline std::size_t raise_descriptor_limit(rlim_t ceiling = 65536) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  const rlim_t wanted = std::min(r.rlim_max, ceiling);
  if (r.rlim_cur < wanted) {
    rlimit raised{wanted, r.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  return static_cast<std::size_t>(r.rlim_cur);
}
#endif

}  // namespace bcast::core
