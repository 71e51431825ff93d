#pragma once
// Command-line parsing for the daemons and bcastctl: `--name value`, `--name=value`, repeatable
// options, switches, and positional arguments. A usage error is a value, so callers can print it
// with their usage text and exit 2.

#include <bcast/core/error.hpp>

#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::core::cli {

struct spec {
  std::set<std::string> options;   // take a value: "--redis URL"
  std::set<std::string> switches;  // take none: "--check-config"
};

class arguments {
 public:
  bool has(std::string_view name) const { return switches_.count(std::string(name)) || values_.count(std::string(name)); }
  // The last value given (flags override in order).
  std::optional<std::string> value(std::string_view name) const {
    auto it = values_.find(std::string(name));
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> values(std::string_view name) const {
    auto it = values_.find(std::string(name));
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend result<arguments> parse(int argc, const char* const* argv, const spec& s, int first);
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> switches_;
  std::vector<std::string> positional_;
};

// Parses argv[first..]. Everything after "--" is positional.
inline result<arguments> parse(int argc, const char* const* argv, const spec& s, int first = 1) {
  arguments out;
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (only_positional || arg.size() < 3 || arg.substr(0, 2) != "--") {
      if (arg == "--") {
        only_positional = true;
        continue;
      }
      out.positional_.emplace_back(arg);
      continue;
    }
    std::string name(arg.substr(2));
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (s.switches.count(name)) {
      if (inline_value) return error(errc::invalid_argument, "--" + name + " takes no value");
      out.switches_.insert(name);
    } else if (s.options.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) return error(errc::invalid_argument, "--" + name + " needs a value");
        inline_value = argv[++i];
      }
      out.values_[name].push_back(*inline_value);
    } else {
      return error(errc::invalid_argument, "unknown option --" + name);
    }
  }
  return out;
}

// What every daemon does first: parse, answer --help and --version, refuse stray arguments.
// Returns the arguments to go on with, or the exit status (0 after help/version, 2 on a usage
// error, with the reason and the usage text on stderr).
struct daemon_start {
  std::optional<arguments> args;
  int exit_status = 0;
};

inline daemon_start parse_daemon_command_line(int argc, const char* const* argv, const spec& s, std::string_view name,
                                               std::string_view version, std::string_view usage) {
  auto parsed = parse(argc, argv, s);
  if (!parsed) {
    std::cerr << name << ": " << parsed.err().detail() << "\n" << usage;
    return {std::nullopt, 2};
  }
  if (parsed->has("help")) {
    std::cout << usage;
    return {std::nullopt, 0};
  }
  if (parsed->has("version")) {
    std::cout << name << " " << version << "\n";
    return {std::nullopt, 0};
  }
  if (!parsed->positional().empty()) {
    std::cerr << name << ": unexpected argument '" << parsed->positional()[0] << "'\n" << usage;
    return {std::nullopt, 2};
  }
  return {std::move(parsed).value(), 0};
}

}  // namespace bcast::core::cli
