#pragma once
// core/files.hpp on Windows: the same functions over CreateFileW, with UTF-8 paths converted at
// the call (core/win32.hpp). Crash-safe replacement is a temp file beside the target, written,
// FlushFileBuffers (fsync), then MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH),
// which replaces the target in one step and returns only once the move is on disk, so there is
// no directory to sync. Files are opened sharing read, write and delete, as POSIX files are: a
// reader, a log rotation or a rename is never refused because bcast has a file open.
// Included by core/files.hpp; empty on other systems.

#ifdef _WIN32

#include <bcast/core/error.hpp>
#include <bcast/core/win32.hpp>

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace bcast::core {

namespace win32 {

// A Win32 error as a portable one where there is one (a missing file compares equal to
// std::errc::no_such_file_or_directory, as on POSIX), with Windows' own words in the detail.
inline error windows_error(DWORD code, std::string detail) {
  int portable = 0;
  switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
      portable = ENOENT;
      break;
    case ERROR_ACCESS_DENIED:
      portable = EACCES;
      break;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
      portable = EEXIST;
      break;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
      portable = ENOSPC;
      break;
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
      portable = EBUSY;
      break;
    case ERROR_INVALID_NAME:
    case ERROR_DIRECTORY:
      portable = EINVAL;
      break;
    default:
      break;
  }
  detail += ": " + error_text(code);
  if (portable != 0) return {std::error_code(portable, std::generic_category()), std::move(detail)};
  return {std::error_code(static_cast<int>(code), std::system_category()), std::move(detail)};
}

inline error last_error(std::string detail) {
  return windows_error(GetLastError(), std::move(detail));
}

// A path for CreateFileW and friends; invalid UTF-8 is an error that names the path.
inline result<std::wstring> wide_path(const std::string& path) {
  auto wide = to_wide(path);
  if (!wide)
    return error(std::make_error_code(std::errc::invalid_argument), path + ": not valid UTF-8");
  return std::move(*wide);
}

// Owns a HANDLE; closes it once.
class handle {
 public:
  handle() = default;
  explicit handle(HANDLE h) noexcept : h_(h) {}
  handle(handle&& o) noexcept : h_(std::exchange(o.h_, INVALID_HANDLE_VALUE)) {}
  handle& operator=(handle&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  ~handle() { close(); }
  HANDLE get() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != INVALID_HANDLE_VALUE && h_ != nullptr; }
  bool close() noexcept {
    if (!*this) return true;
    const bool ok = CloseHandle(std::exchange(h_, INVALID_HANDLE_VALUE)) != 0;
    return ok;
  }

 private:
  HANDLE h_ = INVALID_HANDLE_VALUE;
};

constexpr DWORD share_all = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

// All of `data`, at the end of the file when `at_end` (whatever another writer appended meanwhile)
// or at the file pointer otherwise.
inline bool write_all(HANDLE h, std::string_view data, bool at_end) {
  while (!data.empty()) {
    const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(data.size(), 1u << 30));
    DWORD written = 0;
    OVERLAPPED end{};
    end.Offset = end.OffsetHigh = 0xFFFFFFFF;  // "write at the end of the file"
    if (!WriteFile(h, data.data(), chunk, &written, at_end ? &end : nullptr) || written == 0)
      return false;
    data.remove_prefix(written);
  }
  return true;
}

// A disk file (not a console, pipe or device), and no directory or reparse point (a symbolic link
// or junction, when the handle was opened with FILE_FLAG_OPEN_REPARSE_POINT).
inline std::optional<std::string> not_a_regular_file(HANDLE h) {
  if (GetFileType(h) != FILE_TYPE_DISK) return std::string("not a regular file");
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(h, &info)) return error_text(GetLastError());
  if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
    return std::string("it is a symbolic link");
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) return std::string("not a regular file");
  return std::nullopt;
}

// Appends `data` to the regular file at `path` (created when missing) in one write at its end,
// refusing a symbolic link and anything but a disk file. Empty on success, else why not.
inline std::string append_to_regular_file(const std::string& path, std::string_view data) {
  auto wide = wide_path(path);
  if (!wide) return "cannot open " + path + ": not valid UTF-8";
  handle h(CreateFileW(wide->c_str(), FILE_APPEND_DATA, share_all, nullptr, OPEN_ALWAYS,
                       FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr));
  if (!h) return "cannot open " + path + ": " + error_text(GetLastError());
  if (auto why = not_a_regular_file(h.get())) return "cannot open " + path + ": " + *why;
  if (!write_all(h.get(), data, false))
    return "cannot write " + path + ": " + error_text(GetLastError());
  if (!h.close()) return "cannot write " + path + ": " + error_text(GetLastError());
  return {};
}

// The last `window` bytes of the regular file at `path` (all of it when smaller); nullopt when it
// cannot be read.
inline std::optional<std::string> read_tail(const std::string& path, std::size_t window) {
  auto wide = wide_path(path);
  if (!wide) return std::nullopt;
  handle h(CreateFileW(wide->c_str(), GENERIC_READ, share_all, nullptr, OPEN_EXISTING,
                       FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr));
  if (!h || not_a_regular_file(h.get())) return std::nullopt;
  LARGE_INTEGER size{};
  if (!GetFileSizeEx(h.get(), &size) || size.QuadPart < 0) return std::nullopt;
  const auto total = static_cast<unsigned long long>(size.QuadPart);
  const auto from = total > window ? total - window : 0;
  std::string out(static_cast<std::size_t>(total - from), '\0');
  OVERLAPPED at{};
  at.Offset = static_cast<DWORD>(from & 0xFFFFFFFFu);
  at.OffsetHigh = static_cast<DWORD>(from >> 32);
  DWORD got = 0;
  if (!out.empty() && !ReadFile(h.get(), out.data(), static_cast<DWORD>(out.size()), &got, &at))
    return std::nullopt;
  out.resize(got);
  return out;
}

// Creates `path` with `data`, refusing to replace a file that is there.
inline result<void> write_new_file(const std::string& path, std::string_view data) {
  auto wide = wide_path(path);
  if (!wide) return wide.err();
  handle h(CreateFileW(wide->c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW, FILE_ATTRIBUTE_NORMAL,
                       nullptr));
  if (!h) {
    const DWORD code = GetLastError();
    if (code == ERROR_FILE_EXISTS || code == ERROR_ALREADY_EXISTS)
      return error(std::make_error_code(std::errc::file_exists),
                   path + " exists; not replacing a key");
    return windows_error(code, "cannot create " + path);
  }
  if (!write_all(h.get(), data, false) || !FlushFileBuffers(h.get())) {
    const DWORD code = GetLastError();
    h.close();
    DeleteFileW(wide->c_str());
    return windows_error(code, "cannot write " + path);
  }
  if (!h.close()) return last_error("cannot write " + path);
  return {};
}

}  // namespace win32

// MoveFileExW(MOVEFILE_WRITE_THROUGH) has put the rename on disk already.
inline result<void> sync_directory(const std::filesystem::path&) {
  return {};
}

// Readers see the old file or the new one, never a torn one, also across a crash. `mode` is a
// POSIX notion: the new file gets its directory's inherited permissions (ACLs).
inline result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  (void)mode;
  auto target = win32::wide_path(path);
  if (!target) return target.err();
  // Beside the target, so that the move stays on one volume: ".NAME.tmp-PID-N".
  static std::atomic<unsigned> counter{0};
  const std::wstring::size_type slash = target->find_last_of(L"\\/");
  const std::wstring dir =
      slash == std::wstring::npos ? std::wstring() : target->substr(0, slash + 1);
  const std::wstring name = slash == std::wstring::npos ? *target : target->substr(slash + 1);
  const std::wstring temp = dir + L"." + name + L".tmp-" + std::to_wstring(GetCurrentProcessId()) +
                            L"-" + std::to_wstring(++counter);
  const std::string temp_text = win32::to_utf8(temp).value_or(path + ".tmp");
  win32::handle h(CreateFileW(temp.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                              FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!h) return win32::last_error("cannot create a temporary file for " + path);
  auto fail = [&](std::string what) -> error {
    const DWORD code = GetLastError();
    h.close();
    DeleteFileW(temp.c_str());
    return win32::windows_error(code, std::move(what));
  };
  if (!win32::write_all(h.get(), data, false)) return fail("cannot write " + temp_text);
  if (!FlushFileBuffers(h.get())) return fail("cannot flush " + temp_text);
  if (!h.close()) return fail("cannot close " + temp_text);
  if (!MoveFileExW(temp.c_str(), target->c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
    return fail("cannot rename " + temp_text + " to " + path);
  return {};
}

// The whole file, refusing anything but a regular file and anything above `max_bytes`. A missing
// file fails with std::errc::no_such_file_or_directory.
inline result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes) {
  auto wide = win32::wide_path(path);
  if (!wide) return wide.err();
  win32::handle h(CreateFileW(wide->c_str(), GENERIC_READ, win32::share_all, nullptr, OPEN_EXISTING,
                              FILE_ATTRIBUTE_NORMAL | FILE_FLAG_BACKUP_SEMANTICS, nullptr));
  if (!h) return win32::last_error("cannot open " + path);
  BY_HANDLE_FILE_INFORMATION info{};
  if (GetFileType(h.get()) != FILE_TYPE_DISK || !GetFileInformationByHandle(h.get(), &info) ||
      (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
    return error(errc::invalid_argument, path + ": not a regular file");
  std::string out;
  char buf[16384];
  while (true) {
    DWORD n = 0;
    if (!ReadFile(h.get(), buf, sizeof buf, &n, nullptr))
      return win32::last_error("cannot read " + path);
    if (n == 0) break;
    if (out.size() + n > max_bytes)
      return error(errc::limit_exceeded,
                   path + ": larger than " + std::to_string(max_bytes) + " bytes");
    out.append(buf, n);
  }
  return out;
}

// A file kept open for appending (created when missing): each append() is one write at its end.
class append_file {
 public:
  static result<append_file> open(const std::string& path, mode_t mode) {
    (void)mode;
    auto wide = win32::wide_path(path);
    if (!wide) return wide.err();
    append_file f;
    f.h_ = win32::handle(CreateFileW(wide->c_str(), GENERIC_READ | GENERIC_WRITE, win32::share_all,
                                     nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr));
    if (!f.h_) return win32::last_error("cannot open " + path);
    f.path_ = path;
    return f;
  }

  append_file() = default;
  bool is_open() const noexcept { return static_cast<bool>(h_); }
  const std::string& path() const noexcept { return path_; }

  result<void> append(std::string_view data) {
    if (!h_) return {};
    if (!win32::write_all(h_.get(), data, true)) return win32::last_error("cannot write " + path_);
    return {};
  }

  result<void> truncate() {
    if (!h_) return {};
    LARGE_INTEGER zero{};
    if (!SetFilePointerEx(h_.get(), zero, nullptr, FILE_BEGIN) || !SetEndOfFile(h_.get()))
      return win32::last_error("cannot empty " + path_);
    return {};
  }

 private:
  win32::handle h_;
  std::string path_;
};

}  // namespace bcast::core

#endif  // _WIN32
