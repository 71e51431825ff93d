#pragma once
// The daemons' side of systemd: readiness, watchdog and stopping notifications, and sockets passed
// by socket activation. libsystemd is optional (meson feature `systemd`); without it notify()
// does nothing and no sockets are passed.

#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>

#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#ifdef BCAST_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace bcast::core::systemd {

// "READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...". True if the service manager was told.
inline bool notify(const std::string& state) {
#ifdef BCAST_HAVE_SYSTEMD
  return sd_notify(0, state.c_str()) > 0;
#else
  (void)state;
  return false;
#endif
}

// Half of WATCHDOG_USEC when the watchdog is on for this process, else zero.
inline std::chrono::milliseconds watchdog_ping_interval() {
#ifdef BCAST_HAVE_SYSTEMD
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::milliseconds(usec / 2000);
#endif
  return std::chrono::milliseconds(0);
}

// WATCHDOG=1 from a loop timer at half of WATCHDOG_USEC: a wedged loop stops the pings and
// systemd restarts the daemon. Does nothing when the unit has no WatchdogSec=.
class watchdog {
 public:
  explicit watchdog(loop& l) : timer_(l) {}

  void start() {
    const auto every = watchdog_ping_interval();
    if (every.count() <= 0) return;
    timer_.start(every, [] { notify("WATCHDOG=1"); }, every);
    timer_.unref();
  }
  void stop() { timer_.stop(); }

 private:
  timer timer_;
};

// STATUS=, sent at most once per `interval` (the latest text wins), so that a daemon can report
// every change without a datagram per message.
class status_reporter {
 public:
  explicit status_reporter(loop& l, std::chrono::milliseconds interval = std::chrono::seconds(1))
      : timer_(l), interval_(interval) {}

  void set(std::string text) {
    if (text == sent_) return;
    pending_ = std::move(text);
    if (timer_.active()) return;
    flush();
    // Changes within the interval wait for its end.
    timer_.start(interval_, [this] {
      if (pending_ != sent_) flush();
    });
    timer_.unref();
  }
  void stop() { timer_.stop(); }

 private:
  void flush() {
    sent_ = pending_;
    notify("STATUS=" + sent_);
  }

  timer timer_;
  std::chrono::milliseconds interval_;
  std::string pending_;
  std::string sent_;
};

struct passed_socket {
  int fd;
  std::string name;  // FileDescriptorName= of the socket unit, "unknown" when unnamed
};

// Sockets passed by the service manager (LISTEN_FDS, LISTEN_FDNAMES), taken once.
inline std::vector<passed_socket> passed_sockets() {
  std::vector<passed_socket> out;
#ifdef BCAST_HAVE_SYSTEMD
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  for (int i = 0; i < n; ++i) {
    out.push_back({SD_LISTEN_FDS_START + i, names && names[i] ? names[i] : "unknown"});
    if (names) std::free(names[i]);
  }
  std::free(names);
#endif
  return out;
}

}  // namespace bcast::core::systemd
