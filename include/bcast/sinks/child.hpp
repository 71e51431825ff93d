#pragma once
// Running one message's child process (a dialog, notify-send, an exec command) as a job: spawn
// through core::process, a settle timer for "the dialog is up", a timeout that kills, and the
// cancel that close() uses.

#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/text.hpp>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#ifndef _WIN32
#include <signal.h>
#include <sys/types.h>
#endif

namespace bcast::sinks {

struct child_plan {
  core::process_options process;  // its own timeout is not used: `timeout` below is
  std::chrono::milliseconds timeout{0};
  // > 0: the child still running after this long is reported displayed.
  std::chrono::milliseconds settle{0};
  // Runs the child through `setsid -w` so that the timeout and close() kill its whole process
  // group. A shell's children (`sh -c 'sleep 99; x'`) otherwise outlive the kill, keep the output
  // pipes open, and the job would not end before they do.
  bool own_process_group = false;
  // What close() and a recall send first (SIGKILL follows 5 s later). notify-send closes its
  // notification on SIGINT, and on SIGTERM dies leaving it on the screen.
  int cancel_signal = SIGTERM;
  // Judges the finished child; not called for a child that close() killed. `timed_out`: killed
  // by `timeout` while still running.
  std::function<void(job&, const core::process_result&, bool timed_out)> on_exit;
  // Runs once the child is started, with its pid (for a helper that looks for its window).
  std::function<void(job&, int pid)> on_started;
};

// "exited with status 3: <stderr's first line>", "killed by signal 9", ...
inline std::string describe_exit(const std::string& program, const core::process_result& r) {
  std::string why = program;
  if (r.term_signal != 0) {
    why += " was killed by signal " + std::to_string(r.term_signal);
  } else {
    why += " exited with status " + std::to_string(r.exit_status);
  }
  if (auto line = text::first_line(r.stderr_data); !line.empty()) why += ": " + line;
  return why;
}

namespace detail {

struct child_run {
  // The process holds this run (in its exit handler) until it calls that handler, once its child
  // has exited: the cycle ends there.
  std::shared_ptr<core::process> process;
  std::unique_ptr<core::timer> settle;
  std::unique_ptr<core::timer> deadline;
  int pid = 0;
  bool group = false;
  bool cancelled = false;
  bool timed_out = false;

  void kill(int signum) {
#ifndef _WIN32
    // The group id is the setsid'd child's pid; it stays reserved while any member lives.
    if (group && pid > 0) {
      ::kill(-pid, signum);
      return;
    }
#endif
    if (process) process->kill(signum);
  }
};

}  // namespace detail

inline void run_child(const std::shared_ptr<job>& j, child_plan plan) {
  auto run = std::make_shared<detail::child_run>();
#ifndef _WIN32
  run->group = plan.own_process_group;
#endif
  if (run->group) {
    auto& args = plan.process.args;
    args.insert(args.begin(), plan.process.file);
    args.insert(args.begin(), "-w");
    plan.process.file = "setsid";
  }
  plan.process.timeout = std::chrono::milliseconds(0);
  const std::string program = plan.process.file;

  auto on_started = std::move(plan.on_started);
  auto on_exit = [j, run, judge = std::move(plan.on_exit)](const core::process_result& r) {
    run->settle.reset();
    run->deadline.reset();
    if (!run->cancelled && judge) judge(*j, r, run->timed_out);
    j->finish();
  };
  auto spawned = core::process::spawn(j->loop(), std::move(plan.process), std::move(on_exit));
  if (!spawned) {
    j->failed("cannot start " + program + ": " + spawned.err().code().message());
    j->finish();
    return;
  }
  run->process = *spawned;
  run->pid = (*spawned)->pid();
  if (on_started) on_started(*j, run->pid);

  if (plan.settle.count() > 0) {
    run->settle = std::make_unique<core::timer>(j->loop());
    run->settle->start(plan.settle, [j] { j->displayed(); });
  }
  if (plan.timeout.count() > 0) {
    run->deadline = std::make_unique<core::timer>(j->loop());
    // The run owns its timers, so their callbacks never outlive it: a plain pointer will do (a
    // shared one would make a cycle).
    run->deadline->start(plan.timeout, [r = run.get()] {
      // Also after the child itself exited: what it left behind holds the output pipes.
      if (r->process->running()) r->timed_out = true;
      r->kill(SIGKILL);
    });
  }
  j->set_cancel([run, &l = j->loop(), signum = plan.cancel_signal] {
    run->cancelled = true;
    run->kill(signum);
    // A child that ignores SIGTERM must not hold up close() for ever.
    if (!run->deadline) run->deadline = std::make_unique<core::timer>(l);
    run->deadline->start(std::chrono::seconds(5), [r = run.get()] { r->kill(SIGKILL); });
  });
}

}  // namespace bcast::sinks
