#pragma once
// `zenity`: one GTK dialog per message. --info, --warning or --error by priority; the window title
// is "<message title> — <category label>", the text a line of labels (priority unless normal,
// category), the title in bold and the body (Pango markup, escaped, with backslashes doubled:
// zenity unescapes --text with g_strcompress). A long body (a message dialog does not scroll, so
// its OK button would end up below the screen) goes to a scrollable --text-info window instead,
// fed on stdin, with the acknowledge word (or OK) and Close. Every word is in the store's language
// (words.hpp). An urgent dialog is large, in large text, and kept above other windows
// (keep_above_args).
//
// Outcomes: `displayed` once the dialog has stayed up for display_settle (or closed normally
// before that); with require_ack the button reads the acknowledge word and OK (exit 0) is
// `acknowledged`.
// Escape, the window's close button and zenity's own --timeout (exit 1 or 5) leave it displayed
// only. Without require_ack OK just dismisses the dialog. Exit 1 with "cannot open display" on
// stderr, any other status, or a signal before the settle time is `failed`.
// The dialog closes itself after dialog_timeout (zenity --timeout); a zenity still running
// dialog_kill_grace later is killed, and counts as failed only if it never got up.

#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/child.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/words.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bcast::sinks {

struct zenity_invocation {
  std::vector<std::string> args;
  std::optional<std::string> stdin_text;  // --text-info reads the text here
};

inline constexpr std::size_t zenity_long_body_bytes = 1000;
inline constexpr std::size_t zenity_long_body_lines = 15;
// An urgent dialog is at least this large, so that it is noticed across the shop.
inline constexpr int zenity_urgent_min_width = 640;
inline constexpr int zenity_urgent_min_height = 320;

// "Penting · Info Harga": the priority (unless normal) and the category, in the store's language.
inline std::string zenity_labels(const message::envelope& e, language l) {
  const auto& w = words_for(l);
  std::string labels;
  if (e.priority != message::priority::normal) {
    labels = std::string(priority_label(w, e.priority)) + " \u00b7 ";
  }
  return labels + text::without_controls(category_label(l, e.category), false);
}

// `reminder`: 0 the first time, n for the n-th reminder of a must-read message.
inline zenity_invocation zenity_command(const message::envelope& e, const sink_options& o,
                                        unsigned reminder = 0) {
  zenity_invocation z;
  auto& args = z.args;
  const auto& w = words_for(o.language);
  const bool urgent = e.priority == message::priority::urgent;
  const auto title = reminder_title(w, text::without_controls(e.title, false), reminder);
  const auto body = text::without_controls(e.body, true);
  const auto labels = zenity_labels(e, o.language);
  const bool long_body = body.size() > zenity_long_body_bytes ||
                         static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n')) >=
                             zenity_long_body_lines;
  if (long_body) {
    args.emplace_back("--text-info");
    args.emplace_back(urgent ? "--width=900" : "--width=640");
    args.emplace_back(urgent ? "--height=600" : "--height=480");
    args.push_back("--cancel-label=" + std::string(w.close));
    z.stdin_text = labels + "\n\n" + title + "\n\n" + body;
  } else {
    switch (e.priority) {
      case message::priority::normal:
        args.emplace_back("--info");
        break;
      case message::priority::high:
        args.emplace_back("--warning");
        break;
      case message::priority::urgent:
        args.emplace_back("--error");
        break;
    }
    if (urgent) {
      args.push_back("--width=" + std::to_string(zenity_urgent_min_width));
      args.push_back("--height=" + std::to_string(zenity_urgent_min_height));
      args.push_back("--text=<span size=\"large\" weight=\"bold\">" +
                     text::escape_markup_argument(labels) + "</span>\n\n<span size=\"xx-large\">" +
                     "<b>" + text::escape_markup_argument(title) + "</b></span>\n\n" +
                     "<span size=\"x-large\">" + text::escape_markup_argument(body) + "</span>");
    } else {
      args.emplace_back("--width=420");
      args.push_back("--text=<small>" + text::escape_markup_argument(labels) + "</small>\n<b>" +
                     text::escape_markup_argument(title) + "</b>\n\n" +
                     text::escape_markup_argument(body));
    }
  }
  // "--name=value" in one argv entry: a value that starts with '-' stays a value. The message's
  // title first: a taskbar cuts a long window title short.
  args.push_back("--title=" + title + " \u2014 " +
                 text::without_controls(category_label(o.language, e.category), false));
  if (o.dialog_timeout.count() > 0) {
    args.push_back("--timeout=" + std::to_string(o.dialog_timeout.count()));
  }
  if (e.require_ack) {
    args.push_back("--ok-label=" + std::string(w.acknowledge));
  } else if (long_body) {
    args.push_back("--ok-label=" + std::string(w.ok));
  }
  return z;
}

// zenity has no always-on-top option, and a client may not set _NET_WM_STATE on a mapped window
// itself: it asks the window manager (EWMH _NET_WM_STATE client message, which wmctrl sends).
// xdotool finds the dialog's window by zenity's pid (_NET_WM_PID) once it is visible, that is once
// the window manager has taken it. Without a window manager nothing stacks windows anyway.
inline std::vector<std::string> keep_above_args(const sink_options& o, int zenity_pid) {
  return {"-c",
          "w=$(\"$0\" search --sync --onlyvisible --pid \"$2\" | head -n 1) && [ -n \"$w\" ] && "
          "\"$1\" -i -r \"$w\" -b add,above && \"$1\" -i -a \"$w\"",
          o.xdotool_program, o.wmctrl_program, std::to_string(zenity_pid)};
}

namespace detail {

// Nothing waits for it: the dialog is up either way, only not kept above the rest.
inline void keep_dialog_above(core::loop& l, const sink_options& o, int zenity_pid,
                              const std::string& message_id) {
  core::process_options p;
  p.file = o.shell;
  p.args = keep_above_args(o, zenity_pid);
  p.extra_env = o.child_env;
  p.timeout = std::chrono::seconds(30);
  const auto what = "sink zenity: cannot keep urgent message " + message_id + " on top: ";
  auto spawned = core::process::spawn(l, std::move(p), [what](const core::process_result& r) {
    if (!r.exited_ok()) core::log::warning(what + describe_exit("xdotool/wmctrl", r));
  });
  if (!spawned) core::log::warning(what + spawned.err().code().message());
}

}  // namespace detail

class zenity_sink final : public queued_sink {
 public:
  zenity_sink(core::loop& l, const sink_options& options)
      : queued_sink(l, "zenity", options.max_running, options.max_queued,
                    [o = std::make_shared<const sink_options>(options)](
                        const std::shared_ptr<job>& j) { start(j, *o); }) {}

  bool acknowledges() const noexcept override { return true; }

 private:
  static void start(const std::shared_ptr<job>& j, const sink_options& o) {
    child_plan plan;
    plan.process.file = o.zenity_program;
    auto command = zenity_command(j->envelope(), o, j->reminder());
    plan.process.args = std::move(command.args);
    plan.process.stdin_data = std::move(command.stdin_text);
    plan.process.extra_env = o.child_env;
    plan.settle = o.display_settle;
    if (j->envelope().priority == message::priority::urgent) {
      plan.on_started = [o](job& jb, int pid) {
        detail::keep_dialog_above(jb.loop(), o, pid, jb.envelope().id);
      };
    }
    if (o.dialog_timeout.count() > 0) plan.timeout = o.dialog_timeout + o.dialog_kill_grace;
    const bool require_ack = j->envelope().require_ack;
    const auto kill_after = plan.timeout;
    plan.on_exit = [require_ack, kill_after](job& jb, const core::process_result& r,
                                             bool timed_out) {
      if (timed_out) {
        if (!jb.is_displayed()) {
          jb.failed("zenity hung; killed after " + std::to_string(kill_after.count() / 1000) +
                    " s");
        }
        return;
      }
      const bool exited = r.term_signal == 0;
      if (exited && r.exit_status == 0) {
        jb.displayed();
        if (require_ack) jb.acknowledged();
        return;
      }
      if (exited && r.exit_status == 5) {  // its own --timeout
        jb.displayed();
        return;
      }
      if (exited && r.exit_status == 1 &&
          r.stderr_data.find("cannot open display") == std::string::npos) {
        jb.displayed();  // closed without OK
        return;
      }
      if (!exited && jb.is_displayed()) return;  // someone killed an open dialog
      jb.failed(describe_exit("zenity", r));
    };
    run_child(j, std::move(plan));
  }
};

}  // namespace bcast::sinks
