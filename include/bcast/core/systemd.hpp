#pragma once
// The daemons' side of systemd: readiness, watchdog and stopping notifications, and sockets passed
// by socket activation. libsystemd is optional (meson feature `systemd`); without it notify()
// does nothing and no sockets are passed.

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
