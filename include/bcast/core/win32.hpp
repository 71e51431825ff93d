#pragma once
// The Windows side of core, in one place: <windows.h> included the one right way (Winsock 2
// first, without the min/max macros and the rarely used parts), and text crossing into Win32.
// bcast's strings are UTF-8; every Win32 call that takes or gives text (paths, the environment,
// the command line, MessageBox) goes through to_wide/to_utf8 here, the "W" functions, and never
// the ANSI code page. Invalid UTF-8 is an error where the text names something (a path), and
// U+FFFD only where it is shown to a person (to_wide_lossy).
//
// Standard library and Win32 only (no libuv, no other bcast header), so the win32 sink's dialog
// half (sinks/win32_dialog.hpp) can use it alone. Empty on other systems.

#ifdef _WIN32

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
// Winsock 2 before <windows.h>, and <windows.h> before the rest: not sorted.
// clang-format off
#include <winsock2.h>
#include <windows.h>
#include <shellapi.h>
#include <shlobj.h>
// clang-format on

#include <climits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::core::win32 {

static_assert(sizeof(wchar_t) == sizeof(char16_t), "Windows wchar_t is UTF-16");

// UTF-8 to UTF-16; nullopt for invalid UTF-8 (a stray continuation byte, an overlong form, an
// encoded surrogate, a truncated sequence) or text over 2 GiB. "" gives L"".
inline std::optional<std::wstring> to_wide(std::string_view utf8) {
  if (utf8.empty()) return std::wstring();
  if (utf8.size() > static_cast<std::size_t>(INT_MAX)) return std::nullopt;
  const int in = static_cast<int>(utf8.size());
  const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), in, nullptr, 0);
  if (n <= 0) return std::nullopt;
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), in, out.data(), n) != n)
    return std::nullopt;
  return out;
}

// For text a person reads: each invalid sequence becomes U+FFFD instead of failing.
inline std::wstring to_wide_lossy(std::string_view utf8) {
  if (utf8.empty() || utf8.size() > static_cast<std::size_t>(INT_MAX)) return std::wstring();
  const int in = static_cast<int>(utf8.size());
  const int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), in, nullptr, 0);
  if (n <= 0) return std::wstring();
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), in, out.data(), n);
  return out;
}

// UTF-16 to UTF-8; nullopt for an unpaired surrogate.
inline std::optional<std::string> to_utf8(std::wstring_view wide) {
  if (wide.empty()) return std::string();
  if (wide.size() > static_cast<std::size_t>(INT_MAX)) return std::nullopt;
  const int in = static_cast<int>(wide.size());
  const int n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, wide.data(), in, nullptr, 0,
                                    nullptr, nullptr);
  if (n <= 0) return std::nullopt;
  std::string out(static_cast<std::size_t>(n), '\0');
  if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, wide.data(), in, out.data(), n, nullptr,
                          nullptr) != n)
    return std::nullopt;
  return out;
}

// What Windows says about error `code` (GetLastError()), in English where it can, one line.
inline std::string error_text(DWORD code) {
  wchar_t* buffer = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, code, MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US),
      reinterpret_cast<LPWSTR>(&buffer), 0, nullptr);
  std::string text;
  if (n > 0 && buffer) text = to_utf8(std::wstring_view(buffer, n)).value_or(std::string());
  if (buffer) LocalFree(buffer);
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '.'))
    text.pop_back();
  if (text.empty()) text = "Windows error";
  return text + " (" + std::to_string(code) + ")";
}

// The program's arguments as UTF-8, from the UTF-16 command line: main()'s argv is in the ANSI
// code page, which cannot hold every name. An argument that is not valid UTF-16 is nullopt.
inline std::optional<std::vector<std::string>> utf8_arguments() {
  int count = 0;
  wchar_t** wide = CommandLineToArgvW(GetCommandLineW(), &count);
  if (!wide) return std::nullopt;
  std::vector<std::string> args;
  bool ok = true;
  for (int i = 0; i < count && ok; ++i) {
    auto a = to_utf8(wide[i]);
    ok = a.has_value();
    if (ok) args.push_back(std::move(*a));
  }
  LocalFree(wide);
  if (!ok) return std::nullopt;
  return args;
}

// An environment variable as UTF-8; nullopt when it is not set (or not valid UTF-16).
inline std::optional<std::string> environment_variable(std::string_view name) {
  const auto wide_name = to_wide(name);
  if (!wide_name) return std::nullopt;
  std::wstring value(256, L'\0');
  while (true) {
    SetLastError(ERROR_SUCCESS);
    const DWORD n =
        GetEnvironmentVariableW(wide_name->c_str(), value.data(), static_cast<DWORD>(value.size()));
    if (n == 0) {
      if (GetLastError() == ERROR_ENVVAR_NOT_FOUND) return std::nullopt;
      return std::string();
    }
    if (n < value.size()) {
      value.resize(n);
      return to_utf8(value);
    }
    value.resize(n);  // n counts the terminating NUL when the buffer was too small
  }
}

// One argument for a command line that CommandLineToArgvW (and the C runtime) reads back as
// it was: quoted when it has a blank or a quote or is empty, with backslashes doubled where
// they precede a quote.
inline std::string quoted_argument(std::string_view arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n\v\"") == std::string_view::npos)
    return std::string(arg);
  std::string out = "\"";
  std::size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    out.append(c == '"' ? backslashes * 2 + 1 : backslashes, '\\');
    backslashes = 0;
    out += c;
  }
  out.append(backslashes * 2, '\\');
  return out + "\"";
}

// This program's own path (GetModuleFileNameW), UTF-8.
inline std::optional<std::string> program_path() {
  std::wstring path(MAX_PATH, L'\0');
  while (true) {
    const DWORD n = GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
    if (n == 0) return std::nullopt;
    if (n < path.size()) {
      path.resize(n);
      return to_utf8(path);
    }
    path.resize(path.size() * 2);
  }
}

// This program, quoted, and `args` each quoted: a command line that starts it again so.
inline std::optional<std::string> this_program_command(const std::vector<std::string>& args) {
  auto command = program_path();
  if (!command) return std::nullopt;
  *command = quoted_argument(*command);
  for (const auto& a : args) {
    *command += ' ';  // (not " " + quoted: g++ 12 at -O3 warns of a memcpy overlap, -Wrestrict)
    *command += quoted_argument(a);
  }
  return command;
}

// %ProgramData% (C:\ProgramData), where a service's data lives: the known folder, or the
// environment variable when the shell cannot say.
inline std::optional<std::string> program_data_dir() {
  wchar_t* path = nullptr;
  std::optional<std::string> dir;
  if (SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &path) == S_OK && path)
    dir = to_utf8(path);
  CoTaskMemFree(path);
  if (dir && !dir->empty()) return dir;
  dir = environment_variable("ProgramData");
  if (dir && !dir->empty()) return dir;
  return std::nullopt;
}

}  // namespace bcast::core::win32

#endif  // _WIN32
