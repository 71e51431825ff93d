#pragma once
// Fixtures for the sink tests: envelopes, an outcome recorder, and the desktop a store PC has,
// made for each test: Xvfb (with openbox when a test needs a window manager), a private D-Bus
// session bus, notification-daemon, dbus-monitor, with
// xdotool, ImageMagick and tesseract to look at what is on the screen.

#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/sink.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern char** environ;

namespace bcast::test {

// Closes `s` and runs `l` until the sink says it has closed (its children ended, its queue empty).
inline void close_and_drain(core::loop& l, sinks::sink& s) {
  bool closed = false;
  s.close([&] { closed = true; });
  REQUIRE(run_until(l, [&] { return closed; }));
}

inline message::envelope make_envelope(std::string title, std::string body,
                                       message::priority p = message::priority::normal,
                                       bool require_ack = false) {
  static int counter = 0;
  message::envelope e;
  std::string n = std::to_string(++counter);
  e.id = "01JD" + std::string(22 - n.size(), '0') + n;
  e.targets = {"all", "region:jateng"};
  e.category = "price_info";
  e.title = std::move(title);
  e.body = std::move(body);
  e.priority = p;
  e.sent_at = "2026-11-26T10:00:00.123Z";
  e.sender = "admin";
  e.require_ack = require_ack;
  return e;
}

// Head office's recall notice for `e`: its title, an empty body, sent a few minutes after it.
inline message::envelope recall_notice_for(const message::envelope& e) {
  auto notice = make_envelope(e.title, "");
  notice.recalls = e.id;
  notice.sent_at = "2026-11-26T10:05:00.000Z";
  return notice;
}

// Collects the outcomes of one message.
struct recorder {
  std::vector<sinks::outcome_event> events;

  sinks::reporter reporter() {
    return [this](const sinks::outcome_event& e) { events.push_back(e); };
  }
  std::size_t count(sinks::outcome kind) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [&](const auto& e) { return e.kind == kind; }));
  }
  bool has(sinks::outcome kind) const { return count(kind) > 0; }
  std::vector<sinks::outcome> kinds() const {
    std::vector<sinks::outcome> out;
    for (const auto& e : events) out.push_back(e.kind);
    return out;
  }
  std::string reason() const {
    for (const auto& e : events) {
      if (e.kind == sinks::outcome::failed) return e.reason;
    }
    return {};
  }
};

// run_until for a condition outside the loop (a file a child writes): a 10 ms tick wakes the loop
// to look again, where run_until alone would sleep in epoll until the watchdog.
inline bool run_until_polled(core::loop& l, const std::function<bool()>& done,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  core::timer tick(l);
  tick.start(
      std::chrono::milliseconds(10), [] {}, std::chrono::milliseconds(10));
  return run_until(l, done, timeout);
}

// A helper program run for the length of a test, its stdout read through a pipe. It gets SIGTERM
// when the test process dies, and when the object goes.
class background {
 public:
  explicit background(std::vector<std::string> argv, const std::vector<std::string>& env = {}) {
    std::vector<std::string> env_storage;
    for (char** e = environ; e && *e; ++e) {
      std::string_view entry(*e);
      const auto name = entry.substr(0, entry.find('=') + 1);
      bool replaced = false;
      for (const auto& extra : env)
        replaced = replaced || std::string_view(extra).starts_with(name);
      if (!replaced) env_storage.emplace_back(entry);
    }
    env_storage.insert(env_storage.end(), env.begin(), env.end());
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(out[1], 1);
      if (!std::getenv("BCAST_TEST_VERBOSE")) {
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 2);
      }
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
    name_ = argv[0];
  }
  background(const background&) = delete;
  background& operator=(const background&) = delete;
  ~background() { stop(); }

  // Reads stdout until `needle` shows up; throws when the program exits or time runs out.
  const std::string& read_until(std::string_view needle,
                                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      // A child of the loop's exiting (SIGCHLD) interrupts the wait, which is not the end of it.
      const int ready = left.count() <= 0 ? 0 : ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) {
        throw std::runtime_error(name_ + ": no \"" + std::string(needle) + "\" in time; output:\n" +
                                 output_);
      }
      char buf[4096];
      const auto n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error(name_ + " exited; output:\n" + output_);
      output_.append(buf, static_cast<std::size_t>(n));
    }
    return output_;
  }
  const std::string& output() const { return output_; }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string name_;
  std::string output_;
};

inline bool have_program(const std::string& name) {
  return std::system(("command -v '" + name + "' >/dev/null 2>&1").c_str()) == 0;
}

// An X server of the test's own; Xvfb picks a free display number and says which.
class xvfb {
 public:
  xvfb()
      : server_({"Xvfb", "-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"}) {
    const auto& out = server_.read_until("\n");
    display_ = ":" + out.substr(0, out.find('\n'));
  }
  const std::string& display() const { return display_; }

  // Runs a command with DISPLAY set to this server.
  std::string run(const std::string& cmd) const {
    return shell("export DISPLAY=" + display_ + "; " + cmd);
  }

  // The first visible window whose name matches `regex`, waited for by xdotool itself.
  std::string find_window(const std::string& regex, const std::string& how = "--name") const {
    auto out = run("timeout 30 xdotool search --sync --onlyvisible " + how + " '" + regex +
                   "' 2>/dev/null");
    return out.substr(0, out.find('\n'));
  }
  std::string window_title(const std::string& window) const {
    // _NET_WM_NAME(UTF8_STRING) = "..."
    auto out = run("xprop -id " + window + " _NET_WM_NAME");
    const auto first = out.find('"');
    const auto last = out.rfind('"');
    return first == std::string::npos || last <= first ? out
                                                       : out.substr(first + 1, last - first - 1);
  }
  // What tesseract reads in the window, enlarged three times (GTK's default font is small).
  // Raised first: without a window manager dialogs stack in the middle of the screen, and an
  // obscured part of a window has no pixels to grab.
  std::string read_window(const std::string& window, const std::string& format = "txt") const {
    return run("xdotool windowraise " + window + " && import -window " + window +
               " png:- | convert png:- -resize 300% png:- | tesseract stdin stdout " +
               (format == "tsv" ? "tsv " : "") + "2>/dev/null");
  }
  // The window may be mapped a moment before GTK has drawn it: read until `expected` is there.
  std::string read_window_until(const std::string& window,
                                const std::vector<std::string>& expected) const {
    std::string text;
    for (int attempt = 0; attempt < 20; ++attempt) {
      text = read_window(window);
      bool all = true;
      for (const auto& e : expected) all = all && contains(text, e);
      if (all) break;
    }
    return text;
  }
  void press(const std::string& window, const std::string& key) const {
    // A real key press (XTEST) to the focused window: GTK ignores synthetic events (key --window).
    run("timeout 20 xdotool windowfocus --sync " + window + " && xdotool key " + key);
  }
  // Clicks the middle of the word `word` as tesseract finds it in the window.
  bool click_word(const std::string& window, const std::string& word) const {
    for (int attempt = 0; attempt < 20; ++attempt) {
      const auto tsv = read_window(window, "tsv");
      // level page block par line word left top width height conf text
      std::size_t pos = 0;
      while (pos < tsv.size()) {
        auto end = tsv.find('\n', pos);
        if (end == std::string::npos) end = tsv.size();
        std::vector<std::string> cols;
        std::string line = tsv.substr(pos, end - pos);
        std::size_t c = 0;
        while (true) {
          auto tab = line.find('\t', c);
          cols.push_back(line.substr(c, tab == std::string::npos ? std::string::npos : tab - c));
          if (tab == std::string::npos) break;
          c = tab + 1;
        }
        if (cols.size() == 12 && contains(cols[11], word)) {
          const int x = (std::stoi(cols[6]) + std::stoi(cols[8]) / 2) / 3;
          const int y = (std::stoi(cols[7]) + std::stoi(cols[9]) / 2) / 3;
          run("xdotool mousemove --window " + window + " " + std::to_string(x) + " " +
              std::to_string(y) + " click 1 2>/dev/null");
          return true;
        }
        pos = end + 1;
      }
    }
    return false;
  }

 private:
  background server_;
  std::string display_;
};

// openbox on that X server: a window manager that acts on _NET_WM_STATE requests, as a store's
// desktop does. Ready (it has claimed the root window's _NET_SUPPORTING_WM_CHECK) once constructed.
class window_manager {
 public:
  explicit window_manager(const xvfb& x)
      : wm_({"openbox", "--sm-disable"}, {"DISPLAY=" + x.display()}) {
    x.run(
        "for i in $(seq 400); do xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q "
        "'window id' && break; sleep 0.05; done");
  }

 private:
  background wm_;
};

// A private session bus, so the test's notifications reach nobody's desktop.
class session_bus {
 public:
  session_bus() : daemon_({"dbus-daemon", "--session", "--nofork", "--print-address=1"}) {
    const auto& out = daemon_.read_until("\n");
    address_ = out.substr(0, out.find('\n'));
  }
  const std::string& address() const { return address_; }

 private:
  background daemon_;
  std::string address_;
};

// Debian's notification-daemon on that bus and X server, registered before the constructor returns.
class notification_server {
 public:
  notification_server(const xvfb& x, const session_bus& bus)
      : daemon_({"/usr/lib/notification-daemon/notification-daemon"},
                {"DISPLAY=" + x.display(), "DBUS_SESSION_BUS_ADDRESS=" + bus.address(),
                 "NO_AT_BRIDGE=1"}) {
    shell("gdbus wait --address '" + bus.address() +
          "' --timeout 20 org.freedesktop.Notifications");
  }

 private:
  background daemon_;
};

// dbus-monitor watching Notify calls; attached (it has printed its NameLost) when constructed.
class notify_monitor {
 public:
  explicit notify_monitor(const session_bus& bus)
      : monitor_({"dbus-monitor", "--address", bus.address(),
                  "interface='org.freedesktop.Notifications',member='Notify'"}) {
    monitor_.read_until("member=NameLost");
  }
  const std::string& read_until(std::string_view needle) { return monitor_.read_until(needle); }

 private:
  background monitor_;
};

}  // namespace bcast::test
