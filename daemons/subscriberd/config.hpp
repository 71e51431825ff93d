#pragma once
// subscriberd's configuration: a JSON file (comments allowed), then command-line flags on top.

#include <bcast/core/cli.hpp>
#include <bcast/core/config_file.hpp>
#include <bcast/core/error.hpp>
#include <bcast/message/target.hpp>
#include <bcast/net/tls.hpp>
#include <bcast/net/tls_config.hpp>
#include <bcast/redis/options.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace subscriberd {

struct config {
  std::string redis_url = "redis://127.0.0.1:6379";
  bcast::net::tls_options redis_tls;
  std::string store;
  std::vector<std::string> groups;  // "region:jateng", "format:minimarket"
  std::vector<std::string> sinks{"terminal"};
  std::string state_dir;
  std::chrono::seconds heartbeat{10};
  std::chrono::seconds dialog_timeout{3600};
  std::vector<std::string> sink_env;  // "DISPLAY=:0" and the like, for popups
  std::string log_level = "info";
};

inline bcast::core::error config_error(const std::string& what) {
  return {bcast::core::errc::invalid_argument, what};
}

inline bcast::core::result<void> apply_file(config& c, const std::string& path) {
  using nlohmann::json;
  auto read = bcast::core::read_config_file(path, {"redis", "redis_tls", "store", "groups", "sinks", "state_dir",
                                                   "heartbeat_s", "dialog_timeout_s", "sink_env", "log_level"});
  if (!read) return read.err();
  const json doc = std::move(read).value();
  try {
    c.redis_url = doc.value("redis", c.redis_url);
    if (doc.contains("redis_tls")) {
      auto tls = bcast::net::tls_options_from_json(doc["redis_tls"], "redis_tls");
      if (!tls) return config_error(path + ": " + tls.err().detail());
      c.redis_tls = std::move(tls).value();
    }
    c.store = doc.value("store", c.store);
    c.groups = doc.value("groups", c.groups);
    c.sinks = doc.value("sinks", c.sinks);
    c.state_dir = doc.value("state_dir", c.state_dir);
    c.heartbeat = std::chrono::seconds(doc.value("heartbeat_s", static_cast<long>(c.heartbeat.count())));
    c.dialog_timeout = std::chrono::seconds(doc.value("dialog_timeout_s", static_cast<long>(c.dialog_timeout.count())));
    c.sink_env = doc.value("sink_env", c.sink_env);
    c.log_level = doc.value("log_level", c.log_level);
  } catch (const json::exception& e) {
    return config_error(path + ": " + e.what());
  }
  return {};
}

inline const bcast::core::cli::spec& cli_spec() {
  static const bcast::core::cli::spec s{{"config", "redis", "store", "group", "sink", "state-dir"},
                                        {"check-config", "version", "help"}};
  return s;
}

inline bcast::core::result<config> load(const bcast::core::cli::arguments& args) {
  config c;
  if (auto path = args.value("config")) {
    if (auto r = apply_file(c, *path); !r) return r.err();
  }
  if (auto r = args.value("redis")) c.redis_url = *r;
  if (auto s = args.value("store")) c.store = *s;
  if (auto g = args.values("group"); !g.empty()) c.groups = g;
  if (auto s = args.values("sink"); !s.empty()) c.sinks = s;
  if (auto d = args.value("state-dir")) c.state_dir = *d;
  if (c.store.empty()) return config_error("no store id: give --store ID");
  if (!bcast::message::is_valid_target_name(c.store))
    return config_error("store id '" + c.store + "' must match [a-z0-9][a-z0-9_.-]{0,63}");
  for (const auto& g : c.groups) {
    if (auto parsed = bcast::message::parse_group(g); !parsed) return config_error("--group " + g + ": " + parsed.err().detail());
  }
  if (c.state_dir.empty()) return config_error("no state dir: give --state-dir DIR (it keeps the store's position)");
  if (c.sinks.empty()) return config_error("no sink: give at least one --sink");
  if (auto r = bcast::redis::parse_url(c.redis_url); !r) return r.err();
  if (auto level = bcast::core::log_level_setting(c.log_level); !level) return level.err();
  return c;
}

}  // namespace subscriberd
