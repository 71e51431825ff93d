#pragma once
// `jsonl:PATH`: appends the envelope as one JSON line. Each message opens PATH with O_APPEND
// (created 0644 when missing, so log rotation just works), writes the line in one write(2) and
// closes it, right inside show(): a plain local write is microseconds, and writing at once means
// the line is out before subscriberd puts its new position in place, so a crash cannot lose a
// queue of lines. A written line is `displayed`; an error is `failed` with the
// errno text. Outcomes are reported on a later loop iteration, as for every sink. A recall
// appends {"event":"recalled","id":"<id>"}.
// PATH must be a regular file (or missing): a symbolic link is refused, so that whoever may write
// in its directory cannot point the sink at another file, and so is a FIFO, which would hold the
// loop in open() or write(). On Windows the same through core/files_win32.hpp: one WriteFile with
// FILE_APPEND_DATA, and a reparse point (a symbolic link or junction) or a non-disk file refused.

#include <bcast/core/files.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/sinks/sink.hpp>

#include <nlohmann/json.hpp>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::sinks {

namespace detail {

#ifndef _WIN32
// The file at `path` for `flags`, or -1 with `why` set.
inline int open_regular_file(const std::string& path, int flags, std::string& why) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  struct stat st {};
  if (fd < 0) {
    const int error = errno;
    const bool link = error == ELOOP && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
    why = "cannot open " + path + ": " +
          (link             ? std::string("it is a symbolic link, which the jsonl sink refuses")
           : error == ENXIO ? std::string("not a regular file")  // a FIFO nobody reads
                            : std::string(std::strerror(error)));
    return -1;
  }
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    why = "cannot open " + path + ": not a regular file";
    return -1;
  }
  return fd;
}
#endif

// Empty on success, otherwise why the line was not written.
inline std::string append_line(const std::string& path, std::string_view line) {
#ifdef _WIN32
  auto why = core::win32::append_to_regular_file(path, line);
  if (why.ends_with("it is a symbolic link")) why += ", which the jsonl sink refuses";
  return why;
#else
  std::string why;
  const int fd = open_regular_file(path, O_WRONLY | O_APPEND | O_CREAT, why);
  if (fd < 0) return why;
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  int write_errno = errno;
  bool closed = ::close(fd) == 0;
  if (n < 0) return "cannot write " + path + ": " + std::strerror(write_errno);
  if (static_cast<std::size_t>(n) != line.size())
    return "cannot write " + path + ": short write (" + std::to_string(n) + " of " +
           std::to_string(line.size()) + " bytes)";
  if (!closed) return "cannot write " + path + ": " + std::strerror(errno);
  return {};
#endif
}

// Whether the last `window` bytes of the file at `path` hold `needle`.
inline bool tail_contains(const std::string& path, std::string_view needle, off_t window) {
#ifdef _WIN32
  const auto tail = core::win32::read_tail(path, static_cast<std::size_t>(window));
  return tail && tail->find(needle) != std::string::npos;
#else
  std::string why;
  const int fd = open_regular_file(path, O_RDONLY, why);
  if (fd < 0) return false;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  const off_t from = size > window ? size - window : 0;
  std::string tail(static_cast<std::size_t>(size > from ? size - from : 0), '\0');
  const ssize_t n = ::pread(fd, tail.data(), tail.size(), from);
  ::close(fd);
  return n > 0 && std::string_view(tail.data(), static_cast<std::size_t>(n)).find(needle) !=
                      std::string_view::npos;
#endif
}

}  // namespace detail

class jsonl_sink final : public sink {
 public:
  jsonl_sink(core::loop& l, std::string path)
      : loop_(l),
        path_(std::move(path)),
        name_("jsonl:" + path_),
        state_(std::make_shared<state>()) {}
  ~jsonl_sink() override { state_->closed = true; }

  const std::string& name() const noexcept override { return name_; }

  void show(const message::envelope& e, reporter report) override {
    if (state_->closed) return;
    std::string error = detail::append_line(path_, message::encode(e) + "\n");
    ++state_->pending;
    loop_.defer([st = state_, name = name_, error = std::move(error), report = std::move(report)] {
      --st->pending;
      if (st->closed || !report) return;
      report(outcome_event{error.empty() ? outcome::displayed : outcome::failed, name, error});
    });
  }

  void close(std::function<void()> done) override {
    state_->closed = true;
    if (done) loop_.defer(std::move(done));  // after every outcome already deferred
  }

  std::size_t pending() const noexcept override { return state_->pending; }

  // The line in flight at a crash is the last one written, so the tail of the file tells.
  bool has_shown(const message::envelope& e) const override {
    return detail::tail_contains(path_, "\"id\":\"" + e.id + "\"", tail_window);
  }

  // A reader of the file learns of the recall in the file's own order, after the message. There
  // is no outcome to report it by, so a failed write goes to the log.
  void recall(const message::envelope&, std::string_view id) override {
    append_event({{"event", "recalled"}, {"id", std::string(id)}},
                 "recall of message " + std::string(id));
  }

  // Asked only when no sink of the store can take an acknowledgement (sink_set::remind).
  void remind(const message::envelope& e, unsigned count, reporter) override {
    append_event({{"event", "reminder"}, {"id", e.id}, {"count", count}},
                 "reminder " + std::to_string(count) + " of message " + e.id);
  }

 private:
  struct state {
    bool closed = false;
    std::size_t pending = 0;
  };

  static constexpr off_t tail_window = 1 << 20;

  void append_event(const nlohmann::json& event, const std::string& what) {
    if (state_->closed) return;
    if (auto why = detail::append_line(path_, event.dump() + "\n"); !why.empty()) {
      core::log::warning("sink " + name_ + ": " + what + ": " + why);
    }
  }

  core::loop& loop_;
  std::string path_;
  std::string name_;
  std::shared_ptr<state> state_;
};

}  // namespace bcast::sinks
