#pragma once
// The display sink interface: what subscriberd hands each message to, and the outcomes it gets
// back.

#include <bcast/message/envelope.hpp>
#include <bcast/sinks/words.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::sinks {

// What happened to one message in one sink. A message may get several: `displayed`, and later
// `acknowledged` when a person confirmed it. `acknowledged` always comes after a `displayed`.
// `failed` may follow a `displayed` when a popup that looked up turned out to have failed (for
// example zenity that could not open its display after the settle time); nothing follows it.
enum class outcome { displayed, acknowledged, failed };

inline std::string_view to_string(outcome o) noexcept {
  switch (o) {
    case outcome::displayed:
      return "displayed";
    case outcome::acknowledged:
      return "acknowledged";
    case outcome::failed:
      return "failed";
  }
  return "failed";
}

struct outcome_event {
  outcome kind = outcome::failed;
  std::string sink;    // name() of the sink that reported it
  std::string reason;  // for `failed`: why, one line for the log; empty otherwise
};

// Called on the loop's thread, never from inside the show() that queued the message. It must not
// throw: it runs inside libuv callbacks.
using reporter = std::function<void(const outcome_event&)>;

enum class colour_mode { automatic, always, never };

struct sink_options {
  // The popup queue of each sink: at most `max_running` children (dialogs, exec commands) at once,
  // so that a dialog nobody closes does not hold back the next messages, and at most `max_queued`
  // messages waiting behind them. Past that a message is reported `failed` ("queue full").
  // terminal runs one message at a time so that blocks stay whole and in order.
  std::size_t max_running = 3;
  std::size_t max_queued = 256;

  // An unattended dialog closes itself after `dialog_timeout` (zenity --timeout, notify-send's
  // expire time with require_ack, WM_CLOSE for win32) and then counts as displayed only. A dialog
  // child still there `dialog_kill_grace` later is killed.
  std::chrono::seconds dialog_timeout{3600};
  std::chrono::seconds dialog_kill_grace{30};
  // A dialog child still running after this long counts as displayed: it got its window up.
  // One that exits earlier is judged by its exit status (zenity without a display, notify-send
  // without a notification server: failed).
  std::chrono::milliseconds display_settle{1000};
  // exec commands, notify-send without require_ack and terminal writes: past this, failed.
  std::chrono::milliseconds command_timeout{60000};

  // The store's language: the words of every sink (words.hpp).
  sinks::language language = sinks::language::en;
  std::string app_name = "bcast";  // notify-send -a

  // "NAME=value" added to every child's environment, for example DISPLAY or
  // DBUS_SESSION_BUS_ADDRESS when subscriberd runs outside the desktop session.
  std::vector<std::string> child_env;
  std::string zenity_program = "zenity";
  // Keep an urgent zenity dialog above other windows (zenity.hpp).
  std::string xdotool_program = "xdotool";
  std::string wmctrl_program = "wmctrl";
  std::string notify_send_program = "notify-send";
  // Closes a recalled notification that notify-send no longer waits on (notify_send.hpp).
  std::string gdbus_program = "gdbus";
  // What runs an exec command: `sh -c CMD`, on Windows `cmd.exe /d /s /c "CMD"` (exec.hpp).
#ifdef _WIN32
  std::string shell = "cmd.exe";
#else
  std::string shell = "/bin/sh";
#endif
  // Windows: the win32 sink shows its box through this command (the program itself, quoted, and
  // --popup) in the logged-on user's session, as a service must (win32_session.hpp). Empty: in
  // this process, on its own desktop.
  std::string popup_command;
  // make_sink refuses a dialog sink whose program is not on PATH, so a typo shows at start-up.
  bool check_programs = true;

  int terminal_fd = 1;
  colour_mode terminal_colour = colour_mode::automatic;
};

class sink {
 public:
  sink() = default;
  sink(const sink&) = delete;
  sink& operator=(const sink&) = delete;
  // Destroying a sink is close() without a callback. The loop must outlive the sink and must run
  // until the children it killed are gone (close()'s callback says when).
  virtual ~sink() = default;

  // For logs: "zenity", "exec:CMD", "jsonl:PATH", ...
  virtual const std::string& name() const noexcept = 0;

  // Queues the message. Outcomes arrive later through `report`.
  virtual void show(const message::envelope& e, reporter report) = 0;

  // Shuts the sink: waiting messages are dropped, running children are killed (an open dialog
  // disappears), and no outcome is reported any more. `done` runs on a later loop iteration once
  // nothing of this sink runs. show() after close() is ignored.
  virtual void close(std::function<void()> done) = 0;

  // Messages running or waiting.
  virtual std::size_t pending() const noexcept = 0;

  // After a crash that fell while this sink took `e`: whether it has it already. Only a sink that
  // keeps what it showed can tell (jsonl reads its file); the others answer no and show it again.
  virtual bool has_shown(const message::envelope&) const { return false; }

  // Whether a person can acknowledge a message here (a dialog's button, an exec command that
  // prints `acknowledged`). Only such sinks show must-read reminders, unless no sink can.
  virtual bool acknowledges() const noexcept { return false; }

  // Nobody acknowledged `e` yet: show it again, as reminder number `count` (1 for the first).
  // A sink that still shows or queues `e` does nothing, so one message never has two popups.
  // Outcomes come as for show(). A sink that records events (jsonl, terminal) records it, when it
  // is asked: the display pipeline asks those only when no sink acknowledges.
  virtual void remind(const message::envelope& e, unsigned count, reporter report) {
    (void)e;
    (void)count;
    (void)report;
  }

  // Head office took message `id` back: `by` is the recall notice (it carries the message's
  // title) or the correction that replaces it (message/lifecycle.hpp). A sink drops `id` if it
  // is still waiting, closes what of it is still open, and reports nothing more for it: a popup
  // a recall closed was neither acknowledged nor failed. A sink that has not seen `id` does
  // nothing, except one that records every event (jsonl, terminal), which says it was recalled.
  // The default is for a sink that keeps nothing open.
  virtual void recall(const message::envelope& by, std::string_view id) {
    (void)by;
    (void)id;
  }
};

}  // namespace bcast::sinks
