#pragma once
// Child processes through uv_spawn: stdin fed from a string, stdout and stderr captured up to a
// bound, the exit status, and a kill when the child outlives its timeout. The loop never waits.

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>

#include <uv.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef _WIN32
#include <signal.h>
#include <sys/types.h>

extern char** environ;
#endif

namespace bcast::core {

struct process_options {
  std::string file;               // looked up on PATH when it has no slash
  std::vector<std::string> args;  // argv[1..]
  // "NAME=value", added to (or replacing in) the inherited environment
  std::vector<std::string> extra_env;
  bool inherit_env = true;
  std::optional<std::string> stdin_data;     // closed immediately when absent
  std::chrono::milliseconds timeout{0};      // 0: no limit
  std::size_t max_output_bytes = 64 * 1024;  // per stream; the rest is discarded
  std::string cwd;
  // The child leads a session (and process group) of its own, and the timeout kills that whole
  // group, also after the child itself exited: a shell's background children would otherwise
  // outlive the kill and hold the output pipes open, and the exit would never be reported.
  bool own_process_group = false;
  // Windows: args go to the child's command line as they are, not quoted for the C runtime's
  // parser (cmd.exe /s /c "..." has rules of its own). Ignored elsewhere.
  bool verbatim_arguments = false;
};

struct process_result {
  std::int64_t exit_status = -1;
  int term_signal = 0;
  bool timed_out = false;
  std::string stdout_data;
  std::string stderr_data;
  bool exited_ok() const noexcept { return exit_status == 0 && term_signal == 0 && !timed_out; }
};

// Holds itself (held_by_uv) until its four handles (the process and three pipes) have closed.
class process final : public held_by_uv<process> {
 public:
  using exit_handler = std::function<void(const process_result&)>;

  // Starts the child. A spawn failure (no such file, ...) is returned here; otherwise on_exit runs
  // later, once the child has exited and its output pipes are drained.
  static result<std::shared_ptr<process>> spawn(loop& l, process_options options,
                                                exit_handler on_exit) {
    auto self = std::shared_ptr<process>(new process(l, std::move(options), std::move(on_exit)));
    if (auto err = self->start(); err) return err;
    return self;
  }

  int pid() const noexcept { return pid_; }
  bool running() const noexcept { return !exited_; }
  void kill(int signum = SIGTERM) noexcept {
    if (!exited_) uv_process_kill(&process_, signum);
  }
  // The child's process group (own_process_group), or the child alone. The group id stays
  // reserved while any member lives, and this object outlives every member that holds a pipe.
  void kill_group(int signum) noexcept {
#ifndef _WIN32
    if (options_.own_process_group && pid_ > 0) {
      ::kill(-pid_, signum);
      return;
    }
#endif
    kill(signum);
  }

 private:
  process(loop& l, process_options options, exit_handler on_exit)
      : loop_(l), options_(std::move(options)), on_exit_(std::move(on_exit)), timeout_timer_(l) {}

  error start() {
#ifndef _WIN32
    // A child that exits without reading all its stdin turns our write into EPIPE, and the
    // default SIGPIPE would kill the whole daemon. Ignored once, process-wide, as servers do.
    static const bool sigpipe_ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
    (void)sigpipe_ignored;
#endif
    std::vector<std::string> env_storage;
    if (options_.inherit_env) {
      for (const auto& inherited : inherited_environment()) {
        std::string_view entry(inherited);
        auto name = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& extra : options_.extra_env) {
          if (extra.size() > name.size() &&
              same_variable(std::string_view(extra).substr(0, name.size()), name) &&
              extra[name.size()] == '=') {
            overridden = true;
            break;
          }
        }
        if (!overridden) env_storage.emplace_back(entry);
      }
    }
    for (const auto& extra : options_.extra_env) env_storage.push_back(extra);

    std::vector<char*> argv;
    argv.push_back(options_.file.data());
    for (auto& a : options_.args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);

    for (auto* p : {&stdin_, &stdout_, &stderr_}) {
      uv_pipe_init(loop_.uv(), p, 0);
      p->data = this;
      hold();
    }
    uv_stdio_container_t stdio[3];
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&stdin_);
    stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&stdout_);
    stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&stderr_);

    uv_process_options_t uv_options{};
    uv_options.file = options_.file.c_str();
    uv_options.args = argv.data();
    uv_options.env = envp.data();
    uv_options.cwd = options_.cwd.empty() ? nullptr : options_.cwd.c_str();
    uv_options.stdio_count = 3;
    uv_options.stdio = stdio;
    if (options_.own_process_group) uv_options.flags |= UV_PROCESS_DETACHED;  // setsid()
#ifdef _WIN32
    // No console window flashing up for each child of a service.
    uv_options.flags |= UV_PROCESS_WINDOWS_HIDE;
    if (options_.verbatim_arguments) uv_options.flags |= UV_PROCESS_WINDOWS_VERBATIM_ARGUMENTS;
#endif
    uv_options.exit_cb = [](uv_process_t* h, std::int64_t status, int signal) {
      static_cast<process*>(h->data)->on_process_exit(status, signal);
    };
    process_.data = this;
    hold();  // libuv requires the process handle to be closed even when spawning fails
    if (int rc = uv_spawn(loop_.uv(), &process_, &uv_options); rc != 0) {
      close_handle(reinterpret_cast<uv_handle_t*>(&process_));
      for (auto* p : {&stdin_, &stdout_, &stderr_}) close_handle(reinterpret_cast<uv_handle_t*>(p));
      exited_ = true;
      on_exit_ = nullptr;
      return error(uv_error(rc), "cannot start " + options_.file);
    }
    pid_ = process_.pid;
    // A child still running when the loop is torn down: its handles close, nobody is told.
    teardown_ticket_ = loop_.enlist_for_teardown([this] {
      on_exit_ = nullptr;
      for (auto* h :
           {reinterpret_cast<uv_handle_t*>(&process_), reinterpret_cast<uv_handle_t*>(&stdin_),
            reinterpret_cast<uv_handle_t*>(&stdout_), reinterpret_cast<uv_handle_t*>(&stderr_)}) {
        close_handle(h);
      }
    });

    start_capture(stdout_);
    start_capture(stderr_);
    feed_stdin();
    if (options_.timeout.count() > 0) {
      timeout_timer_.start(options_.timeout, [this] {
        if (!exited_) result_.timed_out = true;
        kill_group(SIGKILL);
      });
    }
    return {};
  }

  // Windows' variable names are case-insensitive (Path is PATH); elsewhere they are bytes.
  static bool same_variable(std::string_view a, std::string_view b) noexcept {
#ifdef _WIN32
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
#else
    return a == b;
#endif
  }

  // "NAME=value" for each variable of our own environment, in UTF-8 (libuv's uv_os_environ on
  // Windows reads the UTF-16 block; the C runtime's environ there is in the ANSI code page).
  static std::vector<std::string> inherited_environment() {
    std::vector<std::string> out;
#ifdef _WIN32
    uv_env_item_t* items = nullptr;
    int count = 0;
    if (uv_os_environ(&items, &count) != 0) return out;
    for (int i = 0; i < count; ++i)
      out.push_back(std::string(items[i].name) + "=" + items[i].value);
    uv_os_free_environ(items, count);
#else
    for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
#endif
    return out;
  }

  void start_capture(uv_pipe_t& pipe) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&pipe),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          *buf = static_cast<process*>(h->data)->loop_.read_buffer();
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<process*>(s->data);
          auto& out = s == reinterpret_cast<uv_stream_t*>(&self->stdout_)
                          ? self->result_.stdout_data
                          : self->result_.stderr_data;
          if (n > 0) {
            std::size_t room = self->options_.max_output_bytes -
                               std::min(out.size(), self->options_.max_output_bytes);
            out.append(buf->base, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
          } else if (n < 0) {
            self->close_handle(reinterpret_cast<uv_handle_t*>(s));
          }
        });
  }

  void feed_stdin() {
    if (!options_.stdin_data || options_.stdin_data->empty()) {
      close_handle(reinterpret_cast<uv_handle_t*>(&stdin_));
      return;
    }
    write_req_.data = this;
    uv_buf_t buf = uv_buf_init(options_.stdin_data->data(),
                               static_cast<unsigned>(options_.stdin_data->size()));
    int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&stdin_), &buf, 1,
                      [](uv_write_t* req, int) {
                        // A child that does not read its stdin (EPIPE) is not an error of ours.
                        auto* self = static_cast<process*>(req->data);
                        self->close_handle(reinterpret_cast<uv_handle_t*>(&self->stdin_));
                      });
    if (rc != 0) close_handle(reinterpret_cast<uv_handle_t*>(&stdin_));
  }

  void on_process_exit(std::int64_t status, int signal) {
    exited_ = true;
    result_.exit_status = status;
    result_.term_signal = signal;
    // A group's leftovers may still hold the pipes: the timeout ends them.
    if (!options_.own_process_group) timeout_timer_.stop();
    close_handle(reinterpret_cast<uv_handle_t*>(&process_));
  }

  void close_handle(uv_handle_t* h) {
    if (uv_is_closing(h)) return;
    uv_close(h,
             [](uv_handle_t* closed) { static_cast<process*>(closed->data)->on_handle_closed(); });
  }

  void on_handle_closed() {
    if (holds() == 1 && teardown_ticket_) loop_.leave_teardown(teardown_ticket_);
    if (holds() == 1) timeout_timer_.stop();
    if (holds() == 1 && on_exit_) {
      auto handler = std::move(on_exit_);
      handler(result_);
    }
    release();
  }

  loop& loop_;
  process_options options_;
  exit_handler on_exit_;
  timer timeout_timer_;
  uv_process_t process_{};
  uv_pipe_t stdin_{}, stdout_{}, stderr_{};
  uv_write_t write_req_{};
  process_result result_;
  int pid_ = 0;
  bool exited_ = false;
  std::uint64_t teardown_ticket_ = 0;
};

}  // namespace bcast::core
