#pragma once
// `notify-send` (libnotify-bin 0.8): a desktop notification through the session bus's
// notification server. Summary = title (plain text), body = body (escaped for body-markup, which
// notification-daemon, GNOME, KDE, xfce4-notifyd and dunst all render). Urgent messages are
// --urgency=critical, which servers keep on screen until closed; the rest are normal.
//
// Without require_ack notify-send returns as soon as the server took the notification: exit 0 is
// `displayed`, anything else `failed` (no server on the bus, no bus at all), and command_timeout
// bounds it. With require_ack it adds --action=ack=<the acknowledge word, words.hpp>, which makes
// notify-send wait: the person clicking the button prints "ack" (`acknowledged`); a notification
// closed or expired
// otherwise prints nothing (`displayed` only). Since core::process gives the output only at exit,
// `displayed` comes after display_settle while it waits, as for dialogs. The server is asked to
// expire it after dialog_timeout, and notify-send is killed dialog_kill_grace later.
//
// A recall closes the notification. One that notify-send still waits on (require_ack) is closed
// by notify-send itself on SIGINT ("Wait cancelled, closing notification"; SIGTERM would kill it
// and leave the notification up). notify-send has no option to close one it has left behind, so
// without require_ack it prints the server's id (--print-id) and the recall calls the server's
// CloseNotification through `gdbus call` (libglib2.0-bin) with that id; the newest
// notification_ids_kept ids are remembered. Either way the server drops the notification and
// says NotificationClosed; a server that follows the specification takes it off the screen, but
// Debian's notification-daemon 3.20 leaves a bubble that is already up until the bubble's own
// timeout (a FIXME in its nd-queue.c) and only keeps a queued one from coming up.

#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/child.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/words.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::sinks {

inline std::vector<std::string> notify_send_args(const message::envelope& e,
                                                 const sink_options& o, unsigned reminder = 0) {
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
    args.push_back("--action=ack=" + std::string(words_for(o.language).acknowledge));
  } else {
    args.emplace_back("--print-id");
  }
  args.emplace_back("--");  // a title that starts with '-' is not an option
  args.push_back(
      reminder_title(words_for(o.language), text::without_controls(e.title, false), reminder));
  args.push_back(text::escape_markup_argument(text::without_controls(e.body, true)));
  return args;
}

inline constexpr std::size_t notification_ids_kept = 256;

// gdbus's arguments that close notification `id` on the session bus.
inline std::vector<std::string> close_notification_args(std::string_view id) {
  return {"call",
          "--session",
          "--dest=org.freedesktop.Notifications",
          "--object-path=/org/freedesktop/Notifications",
          "--method=org.freedesktop.Notifications.CloseNotification",
          std::string(id)};
}

namespace detail {

// The server's ids of the notifications that notify-send left up, by message id.
class notification_ids {
 public:
  void remember(const std::string& message_id, std::string server_id) {
    if (ids_.size() >= notification_ids_kept) ids_.pop_front();
    ids_.emplace_back(message_id, std::move(server_id));
  }
  std::optional<std::string> take(std::string_view message_id) {
    const auto it = std::find_if(ids_.begin(), ids_.end(),
                                 [&](const auto& entry) { return entry.first == message_id; });
    if (it == ids_.end()) return std::nullopt;
    auto id = std::move(it->second);
    ids_.erase(it);
    return id;
  }

 private:
  std::deque<std::pair<std::string, std::string>> ids_;
};

// notify-send --print-id's output: the first line, a number.
inline std::optional<std::string> printed_notification_id(std::string_view out) {
  const auto line = text::first_line(out);
  std::uint32_t n = 0;
  if (!core::parse_int(line, n)) return std::nullopt;
  return std::to_string(n);
}

// Nothing waits for it. A notification a person already closed makes gdbus fail with InvalidId,
// which is no news; anything else goes to the log.
inline void close_notification(core::loop& l, const sink_options& o, const std::string& server_id,
                               const std::string& message_id) {
  core::process_options p;
  p.file = o.gdbus_program;
  p.args = close_notification_args(server_id);
  p.extra_env = o.child_env;
  p.timeout = o.command_timeout;
  const auto what =
      "sink notify-send: cannot close the notification of recalled message " + message_id + ": ";
  auto spawned = core::process::spawn(l, std::move(p), [what](const core::process_result& r) {
    if (r.exited_ok() || r.stderr_data.find("InvalidId") != std::string::npos) return;
    core::log::warning(what + describe_exit("gdbus", r));
  });
  if (!spawned) {
    core::log::warning(what + "cannot start " + o.gdbus_program + ": " +
                       spawned.err().code().message());
  }
}

}  // namespace detail

class notify_send_sink final : public queued_sink {
 public:
  notify_send_sink(core::loop& l, const sink_options& options)
      : notify_send_sink(l, std::make_shared<const sink_options>(options),
                         std::make_shared<detail::notification_ids>()) {}

  bool acknowledges() const noexcept override { return true; }

  // A notify-send without require_ack is left to finish, since killing it could leave behind a
  // notification whose id it never printed; its end closes the notification (start()).
  void recall(const message::envelope&, std::string_view id) override {
    drop_waiting(id);
    for (const auto& j : running_jobs()) {
      if (j->envelope().id == id) j->recall(j->envelope().require_ack);
    }
    if (auto server_id = ids_->take(id)) {
      detail::close_notification(loop_, *options_, *server_id, std::string(id));
    }
  }

 private:
  notify_send_sink(core::loop& l, std::shared_ptr<const sink_options> o,
                   std::shared_ptr<detail::notification_ids> ids)
      : queued_sink(l, "notify-send", o->max_running, o->max_queued,
                    [o, ids](const std::shared_ptr<job>& j) { start(j, o, ids); }),
        loop_(l),
        options_(std::move(o)),
        ids_(std::move(ids)) {}

  static void start(const std::shared_ptr<job>& j, std::shared_ptr<const sink_options> o,
                    std::shared_ptr<detail::notification_ids> ids) {
    child_plan plan;
    plan.process.file = o->notify_send_program;
    plan.process.args = notify_send_args(j->envelope(), *o, j->reminder());
    plan.process.extra_env = o->child_env;
    plan.cancel_signal = SIGINT;
    const bool waits = j->envelope().require_ack;
    if (waits) {
      plan.settle = o->display_settle;
      if (o->dialog_timeout.count() > 0) plan.timeout = o->dialog_timeout + o->dialog_kill_grace;
    } else {
      plan.timeout = o->command_timeout;
    }
    const auto limit = plan.timeout;
    plan.on_exit = [waits, limit, o = std::move(o), ids = std::move(ids)](
                       job& jb, const core::process_result& r, bool timed_out) {
      if (timed_out) {
        if (!jb.is_displayed()) {
          jb.failed("notify-send did not finish; killed after " + std::to_string(limit.count()) +
                    " ms");
        }
        return;
      }
      if (r.term_signal == 0 && r.exit_status == 0) {
        if (!waits) {
          if (auto id = detail::printed_notification_id(r.stdout_data)) {
            if (jb.is_recalled()) {
              detail::close_notification(jb.loop(), *o, *id, jb.envelope().id);
            } else {
              ids->remember(jb.envelope().id, std::move(*id));
            }
          }
        }
        jb.displayed();
        if (waits && text::has_line(r.stdout_data, "ack")) jb.acknowledged();
        return;
      }
      if (r.term_signal != 0 && jb.is_displayed()) return;
      jb.failed(describe_exit("notify-send", r));
    };
    run_child(j, std::move(plan));
  }

  core::loop& loop_;
  std::shared_ptr<const sink_options> options_;
  std::shared_ptr<detail::notification_ids> ids_;
};

}  // namespace bcast::sinks
