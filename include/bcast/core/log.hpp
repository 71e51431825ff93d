#pragma once
// Logging to stderr (or a file: settings::output). Under systemd (JOURNAL_STREAM set) lines carry
// sd-daemon priority prefixes and no timestamp, since the journal adds its own; elsewhere an ISO
// time and the level lead. One message is one line: control characters in it (a newline in a
// submitted user name, a terminal escape) are written as \xHH, so that text from outside cannot
// forge a line.

#include <bcast/core/text.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::core::log {

enum class level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

struct settings {
  level threshold = level::info;
  bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::FILE* output = nullptr;  // stderr when null; a Windows service, which has none, names a file
};

inline settings& config() {
  static settings s;
  return s;
}

inline const char* name(level l) {
  switch (l) {
    case level::error:
      return "error";
    case level::warning:
      return "warning";
    case level::notice:
      return "notice";
    case level::info:
      return "info";
    case level::debug:
      return "debug";
  }
  return "?";
}

// "error", "warning", "notice", "info" or "debug".
inline std::optional<level> parse_level(std::string_view text) {
  for (level l : {level::error, level::warning, level::notice, level::info, level::debug}) {
    if (text == name(l)) return l;
  }
  return std::nullopt;
}

// `text` with every ASCII control character (and DEL) as \xHH.
inline void append_escaped(std::string& line, std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7F) {
      line += c;
    } else {
      line += "\\x";
      append_hex(line, byte, hex_case::upper);
    }
  }
}

inline void write(level l, std::string_view text) {
  if (static_cast<int>(l) > static_cast<int>(config().threshold)) return;
  std::string line;
  if (config().journal) {
    line = "<" + std::to_string(static_cast<int>(l)) + ">";
  } else {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
#ifdef _WIN32
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    line = stamp;
    line += name(l);
    line += ": ";
  }
  append_escaped(line, text);
  line += '\n';
  std::FILE* out = config().output ? config().output : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  if (out != stderr) std::fflush(out);
}

// Sends the log to `file` (appended; its directory made) rather than stderr, for a program that
// has none (a Windows service). A file already past `rotate_at` bytes is first kept as FILE.1,
// replacing an older one. False when it cannot be opened (the log stays where it was).
inline bool to_file(const std::filesystem::path& file, std::uintmax_t rotate_at) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (const auto size = std::filesystem::file_size(file, ec); !ec && size > rotate_at) {
    auto kept = file;
    kept += ".1";
    std::filesystem::rename(file, kept, ec);
  }
#ifdef _WIN32
  std::FILE* out = _wfopen(file.c_str(), L"ab");
#else
  std::FILE* out = std::fopen(file.c_str(), "ab");
#endif
  if (!out) return false;
  if (config().output) std::fclose(config().output);
  config().output = out;
  return true;
}

inline void error(std::string_view text) {
  write(level::error, text);
}
inline void warning(std::string_view text) {
  write(level::warning, text);
}
inline void notice(std::string_view text) {
  write(level::notice, text);
}
inline void info(std::string_view text) {
  write(level::info, text);
}
inline void debug(std::string_view text) {
  write(level::debug, text);
}

}  // namespace bcast::core::log
