#pragma once
// `exec:CMD`: runs `/bin/sh -c CMD` once per message, in its own process group; on Windows
// `cmd.exe /d /s /c "CMD"` (no AutoRun commands, CMD exactly as given, as Node.js runs a shell).
//
// Environment: BCAST_ID, BCAST_TITLE, BCAST_BODY, BCAST_CATEGORY, BCAST_PRIORITY, BCAST_TARGETS
// (comma-joined), BCAST_SENT_AT, BCAST_EXPIRES_AT (empty when none), BCAST_SENDER and
// BCAST_REQUIRE_ACK ("1" or "0"), as the README's sink table lists them, and BCAST_REMINDER (0 the
// first time, n for the n-th reminder of a must-read message). Standard input: the
// envelope JSON and a newline.
//
// Outcomes: exit status 0 is `displayed`. Acknowledgement convention: a command that exits 0 and
// printed a line that is exactly `acknowledged` on stdout (surrounding blanks and CR ignored) has
// also `acknowledged` the message; so a command that waits for a person prints that line when
// the person confirmed. A non-zero status or a signal is `failed`, with stderr's first line in
// the reason. A command still running after command_timeout is killed with its whole process
// group and is `failed`.

#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/sinks/child.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/text.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::sinks {

inline std::vector<std::string> exec_environment(const message::envelope& e) {
  // An environment string ends at NUL, which JSON ("\u0000") can carry.
  const auto var = [](std::string_view name, std::string_view value) {
    std::string entry(name);
    entry += '=';
    for (char c : value) entry += c == '\0' ? ' ' : c;
    return entry;
  };
  std::string targets;
  for (const auto& t : e.targets) {
    if (!targets.empty()) targets += ',';
    targets += t;
  }
  return {var("BCAST_ID", e.id),
          var("BCAST_TITLE", e.title),
          var("BCAST_BODY", e.body),
          var("BCAST_CATEGORY", e.category),
          var("BCAST_PRIORITY", message::to_string(e.priority)),
          var("BCAST_TARGETS", targets),
          var("BCAST_SENT_AT", e.sent_at),
          var("BCAST_EXPIRES_AT", e.expires_at.value_or("")),
          var("BCAST_SENDER", e.sender),
          var("BCAST_REQUIRE_ACK", e.require_ack ? "1" : "0")};
}

class exec_sink final : public queued_sink {
 public:
  exec_sink(core::loop& l, std::string command, const sink_options& options)
      : queued_sink(l, "exec:" + command, options.max_running, options.max_queued,
                    [o = std::make_shared<const sink_options>(options),
                     cmd = std::make_shared<const std::string>(command)](
                        const std::shared_ptr<job>& j) { start(j, *cmd, *o); }) {}

  // A command may print `acknowledged`.
  bool acknowledges() const noexcept override { return true; }

 private:
  static void start(const std::shared_ptr<job>& j, const std::string& command,
                    const sink_options& o) {
    child_plan plan;
    plan.process.file = o.shell;
#ifdef _WIN32
    plan.process.args = {"/d", "/s", "/c", "\"" + command + "\""};
    plan.process.verbatim_arguments = true;
#else
    plan.process.args = {"-c", command};
#endif
    plan.process.extra_env = o.child_env;
    for (auto& v : exec_environment(j->envelope())) plan.process.extra_env.push_back(std::move(v));
    plan.process.extra_env.push_back("BCAST_REMINDER=" + std::to_string(j->reminder()));
    plan.process.stdin_data = message::encode(j->envelope()) + "\n";
    plan.timeout = o.command_timeout;
    plan.own_process_group = true;
    const auto limit = plan.timeout;
    plan.on_exit = [limit](job& jb, const core::process_result& r, bool timed_out) {
      if (timed_out) {
        std::string why =
            "command timed out; killed after " + std::to_string(limit.count()) + " ms";
        if (auto line = text::first_line(r.stderr_data); !line.empty()) why += ": " + line;
        jb.failed(std::move(why));
        return;
      }
      if (r.term_signal == 0 && r.exit_status == 0) {
        jb.displayed();
        if (text::has_line(r.stdout_data, "acknowledged")) jb.acknowledged();
        return;
      }
      jb.failed(describe_exit("command", r));
    };
    run_child(j, std::move(plan));
  }
};

}  // namespace bcast::sinks
