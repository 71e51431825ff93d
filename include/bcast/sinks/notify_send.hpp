#pragma once
// `notify-send` (libnotify-bin 0.8): a desktop notification through the session bus's
// notification server. Summary = title (plain text), body = body (escaped for body-markup, which
// notification-daemon, GNOME, KDE, xfce4-notifyd and dunst all render). Urgent messages are
// --urgency=critical, which servers keep on screen until closed; the rest are normal.
//
// Without require_ack notify-send returns as soon as the server took the notification: exit 0 is
// `displayed`, anything else `failed` (no server on the bus, no bus at all), and command_timeout
// bounds it. With require_ack it adds --action=ack=<ack_label>, which makes notify-send wait: the
// person clicking the button prints "ack" (`acknowledged`); a notification closed or expired
// otherwise prints nothing (`displayed` only). Since core::process gives the output only at exit,
// `displayed` comes after display_settle while it waits, as for dialogs. The server is asked to
// expire it after dialog_timeout, and notify-send is killed dialog_kill_grace later.

#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/child.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/text.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace bcast::sinks {

inline std::vector<std::string> notify_send_args(const message::envelope& e,
                                                 const sink_options& o) {
  std::vector<std::string> args;
  args.push_back("--app-name=" + text::without_controls(o.app_name, false));
  args.push_back(e.priority == message::priority::urgent ? "--urgency=critical"
                                                         : "--urgency=normal");
  switch (e.priority) {
    case message::priority::normal:
      args.emplace_back("--icon=dialog-information");
      break;
    case message::priority::high:
      args.emplace_back("--icon=dialog-warning");
      break;
    case message::priority::urgent:
      args.emplace_back("--icon=dialog-error");
      break;
  }
  if (e.require_ack) {
    if (o.dialog_timeout.count() > 0) {
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(o.dialog_timeout).count();
      args.push_back("--expire-time=" + std::to_string(std::min<long long>(ms, 2147483647LL)));
    }
    args.push_back("--action=ack=" + text::without_controls(o.ack_label, false));
  }
  args.emplace_back("--");  // a title that starts with '-' is not an option
  args.push_back(text::without_controls(e.title, false));
  args.push_back(text::escape_markup_argument(text::without_controls(e.body, true)));
  return args;
}

class notify_send_sink final : public queued_sink {
 public:
  notify_send_sink(core::loop& l, const sink_options& options)
      : queued_sink(l, "notify-send", options.max_running, options.max_queued,
                    [o = std::make_shared<const sink_options>(options)](
                        const std::shared_ptr<job>& j) { start(j, *o); }) {}

 private:
  static void start(const std::shared_ptr<job>& j, const sink_options& o) {
    child_plan plan;
    plan.process.file = o.notify_send_program;
    plan.process.args = notify_send_args(j->envelope(), o);
    plan.process.extra_env = o.child_env;
    const bool waits = j->envelope().require_ack;
    if (waits) {
      plan.settle = o.display_settle;
      if (o.dialog_timeout.count() > 0) plan.timeout = o.dialog_timeout + o.dialog_kill_grace;
    } else {
      plan.timeout = o.command_timeout;
    }
    const auto limit = plan.timeout;
    plan.on_exit = [waits, limit](job& jb, const core::process_result& r, bool timed_out) {
      if (timed_out) {
        if (!jb.is_displayed()) {
          jb.failed("notify-send did not finish; killed after " + std::to_string(limit.count()) +
                    " ms");
        }
        return;
      }
      if (r.term_signal == 0 && r.exit_status == 0) {
        jb.displayed();
        if (waits && text::has_line(r.stdout_data, "ack")) jb.acknowledged();
        return;
      }
      if (r.term_signal != 0 && jb.is_displayed()) return;
      jb.failed(describe_exit("notify-send", r));
    };
    run_child(j, std::move(plan));
  }
};

}  // namespace bcast::sinks
