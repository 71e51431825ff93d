#pragma once
// `terminal`: prints each message to stdout (terminal_fd) as a short block:
//
//   == 2026-11-26 17:00:00 +0700 | HIGH | Price info ==
//   Title
//     body line
//     body line
//
// Priority and category labels are in the store's language (words.hpp). An urgent message starts
// with a banner line, "!!!!!!!! URGENT !!!!!!!!", in reverse video when in colour.
// Colour (priority in the header, bold title) only when the fd is a tty, NO_COLOR is unset and
// TERM is not "dumb", or when asked for. Control characters from the message are blanked so that
// a message cannot drive the terminal.
//
// The loop never blocks on a slow reader: the block is written in chunks of at most 1 KiB, each
// only when poll() says the fd takes output (a write of at most PIPE_BUF bytes to a writable pipe
// or socket does not block), and retried every 20 ms otherwise. A block not written within
// command_timeout is `failed`; the queue (one block at a time, max_queued waiting) bounds memory.
// The fd's flags are left alone: making a shared stdout non-blocking would break other writers.
// A recalled message gets one line, "== <time> | RECALLED | <title> ==" (in the store's language).
// A must-read reminder is the message's block again, titled "Reminder N: <title>".

#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/time.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/words.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#ifdef _WIN32
#include <io.h>
#else
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#endif

namespace bcast::sinks {

namespace detail {

inline std::string local_time_text(const std::string& sent_at) {
  const auto tp = message::parse_time(sent_at);
  if (!tp) return text::without_controls(sent_at, false);
  const std::time_t t = std::chrono::system_clock::to_time_t(*tp);
  std::tm local{};
  char buf[64];
#ifdef _WIN32
  if (localtime_s(&local, &t) != 0) return sent_at;
  // The C runtime's %z is the zone's name ("SE Asia Standard Time"): the offset is what the local
  // time says beyond UTC.
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local) == 0) return sent_at;
  const long long minutes = static_cast<long long>(_mkgmtime(&local) - t) / 60;
  const long long magnitude = minutes < 0 ? -minutes : minutes;
  char zone[16];
  std::snprintf(zone, sizeof zone, " %c%02lld%02lld", minutes < 0 ? '-' : '+', magnitude / 60,
                magnitude % 60);
  return std::string(buf) + zone;
#else
  if (!localtime_r(&t, &local)) return sent_at;
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &local) == 0) return sent_at;
  return buf;
#endif
}

#ifndef _WIN32
// A reader that went away must give EPIPE, not kill the daemon with SIGPIPE.
inline long write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set, old_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  const auto n = ::write(fd, data, size);
  const int saved = errno;
  if (n < 0 && saved == EPIPE && !was_pending) {
    const timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved;
  return static_cast<long>(n);
}
#endif

inline bool use_colour(colour_mode mode, int fd) {
  if (mode != colour_mode::automatic) return mode == colour_mode::always;
#ifdef _WIN32
  (void)fd;
  return false;
#else
  if (::isatty(fd) != 1) return false;
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour && *no_colour) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::string_view(term) == "dumb");
#endif
}

}  // namespace detail

inline constexpr std::size_t terminal_max_body_bytes = 16 * 1024;

namespace detail {

// Priority labels are ASCII in every language: upper case is plain toupper.
inline std::string upper_case(std::string_view in) {
  std::string out(in);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace detail

inline std::string terminal_block(const message::envelope& e, bool colour,
                                  language lang = language::en) {
  const auto& w = words_for(lang);
  const char* reset = colour ? "\033[0m" : "";
  const char* bold = colour ? "\033[1m" : "";
  const char* level = "";
  std::string priority(priority_label(w, e.priority));
  switch (e.priority) {
    case message::priority::normal:
      level = colour ? "\033[36m" : "";
      break;
    case message::priority::high:
      level = colour ? "\033[1;33m" : "";
      priority = detail::upper_case(priority);
      break;
    case message::priority::urgent:
      level = colour ? "\033[1;31m" : "";
      priority = detail::upper_case(priority);
      break;
  }
  std::string out;
  if (e.priority == message::priority::urgent) {
    out += colour ? "\033[1;7;31m" : "";
    out += "!!!!!!!! " + priority + " !!!!!!!!";
    out += reset;
    out += '\n';
  }
  out += level;
  out += "== " + detail::local_time_text(e.sent_at) + " | " + priority + " | " +
         text::without_controls(category_label(lang, e.category), false) + " ==";
  out += reset;
  out += '\n';
  out += bold + text::without_controls(e.title, false) + reset + '\n';
  std::string_view body = e.body;
  bool cut = false;
  if (body.size() > terminal_max_body_bytes) {
    body = body.substr(0, terminal_max_body_bytes);
    while (!body.empty() && (static_cast<unsigned char>(body.back()) & 0xc0) == 0x80) {
      body.remove_suffix(1);
    }
    if (!body.empty()) body.remove_suffix(1);
    cut = true;
  }
  const auto clean = text::without_controls(body, true);
  std::size_t pos = 0;
  while (pos <= clean.size()) {
    auto end = clean.find('\n', pos);
    if (end == std::string::npos) end = clean.size();
    out += "  ";
    out.append(clean, pos, end - pos);
    out += '\n';
    pos = end + 1;
  }
  if (cut) out += "  [...]\n";
  if (e.require_ack) out += "  " + std::string(w.please_confirm) + "\n";
  out += '\n';
  return out;
}

// The line for a recalled message, dated when it was recalled. `notice` carries the message's
// title; made from a correction (it also names what it supersedes) it carries the correction's
// title instead, and the correction's block follows.
inline std::string terminal_recall_line(const message::envelope& notice, bool colour,
                                        language lang = language::en) {
  const auto& w = words_for(lang);
  std::string out = colour ? "\033[1;35m" : "";
  out += "== " + detail::local_time_text(notice.sent_at) + " | " + std::string(w.recalled) + " | ";
  const auto title = text::without_controls(notice.title, false);
  out += notice.supersedes ? std::string(w.replaced_by) + " \"" + title + "\"" : title;
  out += " ==";
  out += colour ? "\033[0m" : "";
  out += "\n\n";
  return out;
}

namespace detail {

class terminal_write : public std::enable_shared_from_this<terminal_write> {
 public:
  terminal_write(std::shared_ptr<job> j, int fd, std::string data, std::chrono::milliseconds limit)
      : job_(std::move(j)),
        fd_(fd),
        data_(std::move(data)),
        deadline_(job_->loop().now_ms() + static_cast<std::uint64_t>(limit.count())) {}

  void step() {
    constexpr std::size_t chunk = 1024;
    while (offset_ < data_.size()) {
      const std::size_t size = std::min(chunk, data_.size() - offset_);
#ifdef _WIN32
      const int n = ::_write(fd_, data_.data() + offset_, static_cast<unsigned>(size));
      if (n < 0) return fail(std::strerror(errno));
#else
      pollfd p{fd_, POLLOUT, 0};
      const int ready = ::poll(&p, 1, 0);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return fail(std::strerror(errno));
      if (ready == 0 || !(p.revents & POLLOUT)) {
        if (p.revents & (POLLERR | POLLNVAL)) return fail("stdout is closed");
        return wait();
      }
      const long n = write_without_sigpipe(fd_, data_.data() + offset_, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return wait();
      if (n < 0) return fail(std::strerror(errno));
#endif
      offset_ += static_cast<std::size_t>(n);
    }
    retry_.reset();
    job_->displayed();
    job_->finish();
  }

 private:
  void wait() {
    if (job_->loop().now_ms() >= deadline_) {
      return fail("stdout did not take the message (" + std::to_string(data_.size() - offset_) +
                  " bytes left)");
    }
    if (!retry_) retry_ = std::make_unique<core::timer>(job_->loop());
    // The timer is this writer's own, so it never fires after it; the writer is held by the job's
    // cancel, and by `keep` while step() may finish the job (which drops that cancel).
    retry_->start(std::chrono::milliseconds(20), [this] {
      auto keep = shared_from_this();
      step();
    });
    job_->set_cancel([self = shared_from_this()] {
      self->retry_.reset();
      self->job_->finish();
    });
  }

  void fail(std::string why) {
    retry_.reset();
    job_->failed("cannot write to stdout: " + std::move(why));
    job_->finish();
  }

  std::shared_ptr<job> job_;
  int fd_;
  std::string data_;
  std::size_t offset_ = 0;
  std::uint64_t deadline_;
  std::unique_ptr<core::timer> retry_;
};

}  // namespace detail

class terminal_sink final : public queued_sink {
 public:
  terminal_sink(core::loop& l, const sink_options& options)
      : queued_sink(l, "terminal", 1, options.max_queued,
                    [fd = options.terminal_fd,
                     colour = detail::use_colour(options.terminal_colour, options.terminal_fd),
                     limit = options.command_timeout,
                     lang = options.language](const std::shared_ptr<job>& j) {
                      message::envelope reminded;
                      if (j->reminder() > 0) {
                        reminded = j->envelope();
                        reminded.title = reminder_title(words_for(lang), std::move(reminded.title),
                                                        j->reminder());
                      }
                      const auto& e = j->reminder() > 0 ? reminded : j->envelope();
                      auto w = std::make_shared<detail::terminal_write>(
                          j, fd,
                          e.recalls ? terminal_recall_line(e, colour, lang)
                                    : terminal_block(e, colour, lang),
                          limit);
                      w->step();
                    }) {}

  // A message still waiting is dropped unprinted. After one printed, the line goes through the
  // queue: a block being written is finished first, since half a block would garble the line.
  void recall(const message::envelope& by, std::string_view id) override {
    if (drop_waiting(id)) return;
    auto notice = by;
    notice.recalls = std::string(id);
    show(notice, nullptr);
  }
};

}  // namespace bcast::sinks
