#pragma once
// Whole-file reads and crash-safe file replacement, shared by the users file (auth/) and the
// store position (broker/), and a file kept open for appending (the display journal). POSIX
// here; the same functions for Windows are in core/files_win32.hpp. Paths are UTF-8.

#include <bcast/core/error.hpp>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace bcast::core {

inline error io_error(int err, std::string detail) {
  return {std::error_code(err, std::system_category()), std::move(detail)};
}

// A UTF-8 path as a std::filesystem::path, and back. On POSIX a path is its bytes; on Windows
// libstdc++ reads a narrow string in the ANSI code page, so UTF-8 goes through char8_t there.
inline std::filesystem::path utf8_path(std::string_view utf8) {
#ifdef _WIN32
  return std::filesystem::path(std::u8string(utf8.begin(), utf8.end()));
#else
  return std::filesystem::path(utf8);
#endif
}

inline std::string path_utf8(const std::filesystem::path& p) {
#ifdef _WIN32
  const auto u8 = p.u8string();
  return std::string(u8.begin(), u8.end());
#else
  return p.string();
#endif
}

}  // namespace bcast::core

#ifdef _WIN32
#include <bcast/core/files_win32.hpp>
#else

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bcast::core {

// fsync of a directory, so that a rename in it survives a power cut.
inline result<void> sync_directory(const std::filesystem::path& dir) {
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return io_error(errno, "cannot open directory " + dir.string());
  const int sync_rc = ::fsync(dir_fd);
  const int sync_err = errno;
  ::close(dir_fd);
  if (sync_rc != 0) return io_error(sync_err, "cannot fsync directory " + dir.string());
  return {};
}

// Writes `data` to `path` so that readers see either the old file or the new one, never a torn
// one, even across a crash: a temp file in the target's directory (the file a symlink points to,
// whose owner it keeps when it can), fsync, rename, fsync the directory.
inline result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path target(path);
  // Replace the file a symlink points to, not the symlink.
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    fs::path resolved = fs::canonical(target, ec);
    if (ec) return io_error(ec.value(), "cannot resolve " + path);
    target = resolved;
  }
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();

  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return io_error(errno, "cannot create a temporary file in " + dir.string());
  auto fail = [&](int err, std::string what) -> error {
    ::close(fd);
    ::unlink(temp.c_str());
    return io_error(err, std::move(what));
  };
  if (::fchmod(fd, mode) != 0) return fail(errno, "cannot set the mode of " + temp);
  // Keep the owner of the file being replaced (root editing a file the daemon's user reads).
  // Best effort: without privileges the new file simply belongs to us.
  struct stat old {};
  if (::stat(target.c_str(), &old) == 0 &&
      (old.st_uid != ::geteuid() || old.st_gid != ::getegid())) {
    [[maybe_unused]] const int ignored = ::fchown(fd, old.st_uid, old.st_gid);
  }
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "cannot write " + temp);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(errno, "cannot fsync " + temp);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_error(err, "cannot close " + temp);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_error(err, "cannot rename " + temp + " to " + target.string());
  }
  return sync_directory(dir);
}

// The whole file, refusing anything but a regular file and anything above `max_bytes`. A missing
// file fails with std::errc::no_such_file_or_directory.
inline result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(errno, "cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error(err, "cannot stat " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(errc::invalid_argument, path + ": not a regular file");
  }
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return io_error(err, "cannot read " + path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      return error(errc::limit_exceeded,
                   path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// A file kept open for appending (created with `mode` when missing): each append() is one
// write(2) with O_APPEND, which a killed process does not tear.
class append_file {
 public:
  static result<append_file> open(const std::string& path, mode_t mode) {
    append_file f;
    f.fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, mode);
    if (f.fd_ < 0) return io_error(errno, "cannot open " + path);
    f.path_ = path;
    return f;
  }

  append_file() = default;
  append_file(append_file&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
  append_file& operator=(append_file&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(path_, o.path_);
    return *this;
  }
  ~append_file() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool is_open() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }

  result<void> append(std::string_view data) {
    if (fd_ < 0) return {};
    ssize_t n;
    do {
      n = ::write(fd_, data.data(), data.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return io_error(errno, "cannot write " + path_);
    if (static_cast<std::size_t>(n) != data.size()) return io_error(EIO, "short write to " + path_);
    return {};
  }

  result<void> truncate() {
    if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) return io_error(errno, "cannot empty " + path_);
    return {};
  }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace bcast::core

#endif  // _WIN32
