#pragma once
// From --sink SPEC to a sink: zenity, notify-send, win32, terminal, exec:CMD, jsonl:PATH.

#include <bcast/core/error.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/text.hpp>
#include <bcast/sinks/exec.hpp>
#include <bcast/sinks/jsonl.hpp>
#include <bcast/sinks/notify_send.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/sinks/terminal.hpp>
#include <bcast/sinks/win32.hpp>
#include <bcast/sinks/zenity.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#ifndef _WIN32
#include <unistd.h>
#endif

namespace bcast::sinks {

// True when `program` (a path, or a name looked up on PATH) is an executable file.
inline bool find_program(const std::string& program) {
#ifdef _WIN32
  (void)program;
  return true;
#else
  if (program.empty()) return false;
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    if (::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
#endif
}

inline core::result<std::unique_ptr<sink>> make_sink(core::loop& l, std::string_view spec,
                                                     const sink_options& options = {}) {
  const auto fail = [](std::string why) {
    return core::error(core::errc::invalid_argument, std::move(why));
  };
  const auto needs_program = [&](const std::string& program,
                                 const char* package) -> core::result<void> {
    if (!options.check_programs || find_program(program)) return {};
    return fail("sink " + std::string(spec) + ": " + program +
                " is not installed (Debian package " + package + ")");
  };
  const auto blank = [](std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
  };

#ifdef _WIN32
  if (spec == "zenity" || spec == "notify-send") {
    return fail("the " + std::string(spec) + " sink is not available on Windows; use win32");
  }
#endif
  if (spec == "zenity") {
    if (auto ok = needs_program(options.zenity_program, "zenity"); !ok) return ok.err();
    return std::unique_ptr<sink>(std::make_unique<zenity_sink>(l, options));
  }
  if (spec == "notify-send") {
    if (auto ok = needs_program(options.notify_send_program, "libnotify-bin"); !ok) return ok.err();
    return std::unique_ptr<sink>(std::make_unique<notify_send_sink>(l, options));
  }
  if (spec == "win32") {
#ifdef _WIN32
    return make_win32_sink(l, options);
#else
    return fail(
        "sink win32: the MessageBox sink exists only in Windows builds; use zenity or notify-send "
        "here");
#endif
  }
  if (spec == "terminal") return std::unique_ptr<sink>(std::make_unique<terminal_sink>(l, options));
  if (spec.starts_with("exec:")) {
    const auto command = spec.substr(5);
    if (blank(command))
      return fail("sink exec: needs a command, as in exec:/usr/local/bin/show-message");
    return std::unique_ptr<sink>(std::make_unique<exec_sink>(l, std::string(command), options));
  }
  if (spec.starts_with("jsonl:")) {
    const auto path = spec.substr(6);
    if (blank(path))
      return fail("sink jsonl: needs a file, as in jsonl:/var/lib/bcast/messages.jsonl");
    return std::unique_ptr<sink>(std::make_unique<jsonl_sink>(l, std::string(path)));
  }
  if (spec == "exec" || spec == "jsonl") {
    return fail("sink " + std::string(spec) + ": needs an argument, as in " + std::string(spec) +
                (spec == "exec" ? ":CMD" : ":PATH"));
  }
  for (std::string_view plain : {"zenity", "notify-send", "win32", "terminal"}) {
    if (spec.starts_with(plain) && spec.size() > plain.size() && spec[plain.size()] == ':') {
      return fail("sink " + std::string(plain) + " takes no argument: " + core::quoted(spec));
    }
  }
  if (spec.empty())
    return fail(
        "empty sink spec; expected zenity, notify-send, win32, terminal, exec:CMD or jsonl:PATH");
  return fail("unknown sink " + core::quoted(spec) +
              "; expected zenity, notify-send, win32, terminal, exec:CMD or jsonl:PATH");
}

// Every --sink flag; the first bad spec is the error.
inline core::result<std::unique_ptr<sink_set>> make_sinks(core::loop& l,
                                                          const std::vector<std::string>& specs,
                                                          const sink_options& options = {}) {
  auto set = std::make_unique<sink_set>(l);
  for (const auto& spec : specs) {
    auto s = make_sink(l, spec, options);
    if (!s) return s.err();
    set->add(std::move(s).value());
  }
  return set;
}

}  // namespace bcast::sinks
