#pragma once
// The daemons' JSON config files: comments allowed, one object, and no key the daemon does not
// know (a typo must not silently fall back to a default).

#include <bcast/core/error.hpp>
#include <bcast/core/log.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace bcast::core {

inline result<nlohmann::json> read_config_file(const std::string& path, const std::set<std::string>& known_keys) {
  const auto bad = [&](const std::string& what) { return error(errc::invalid_argument, path + ": " + what); };
  std::ifstream in(path);
  if (!in) return bad("cannot open");
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, false, /*ignore_comments=*/true);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (!known_keys.count(key)) return bad("unknown key '" + key + "'");
  }
  return doc;
}

// The `log_level` setting, checked.
inline result<log::level> log_level_setting(const std::string& text) {
  if (auto l = log::parse_level(text)) return *l;
  return error(errc::invalid_argument, "log_level: expected error, warning, notice, info or debug, got '" + text + "'");
}

}  // namespace bcast::core
