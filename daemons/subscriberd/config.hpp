#pragma once
// subscriberd's configuration: a JSON file (comments allowed), then command-line flags on top.

#include <bcast/core/cli.hpp>
#include <bcast/core/config_file.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/message/target.hpp>
#include <bcast/net/tls.hpp>
#include <bcast/net/tls_config.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/sinks/words.hpp>
#include <bcast/trust/signature.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#ifdef _WIN32
#include <bcast/core/win32.hpp>
#endif

namespace subscriberd {

struct config {
  std::string redis_url = "redis://127.0.0.1:6379";
  bcast::net::tls_options redis_tls;
  bool allow_plaintext_redis = false;  // redis:// to a host that is not loopback
  std::string store;
  std::vector<std::string> groups;  // "region:jateng", "format:minimarket"
  std::vector<std::string> sinks{"terminal"};
  std::string state_dir;
  std::chrono::seconds heartbeat{10};
  std::chrono::seconds dialog_timeout{3600};
  std::vector<std::string> sink_env;  // "DISPLAY=:0" and the like, for popups
  std::string log_level = "info";
  // The words a store sees around a message: "en" or "id" (Bahasa Indonesia).
  std::string language = "en";
  bcast::sinks::language words = bcast::sinks::language::en;  // `language`, checked by load()
  // Head office's public keys (signing.pub): a message is shown only when one of them signed it.
  // Several during a key rotation.
  std::vector<std::string> trusted_keys;
  bool allow_unsigned = false;  // shows unsigned messages too: for a migration only
  bcast::trust::keyring keys;   // trusted_keys, loaded by load()
};

inline bcast::core::error config_error(const std::string& what) {
  return {bcast::core::errc::invalid_argument, what};
}

// Applies a config file's keys to `c`. Unknown keys are errors at every depth.
inline bcast::core::result<void> apply_file(config& c, const std::string& path) {
  return bcast::core::read_config_file(path, [&](bcast::core::config_section& file) {
    file.text("redis", c.redis_url);
    bcast::net::read_tls_section(file, "redis_tls", c.redis_tls);
    file.flag("allow_plaintext_redis", c.allow_plaintext_redis);
    file.text("store", c.store)
        .texts("groups", c.groups)
        .texts("sinks", c.sinks)
        .text("state_dir", c.state_dir);
    file.duration("heartbeat_s", c.heartbeat)
        .duration("dialog_timeout_s", c.dialog_timeout, 0);  // 0: no timeout
    file.texts("sink_env", c.sink_env).text("log_level", c.log_level).text("language", c.language);
    file.texts("trusted_keys", c.trusted_keys).flag("allow_unsigned", c.allow_unsigned);
  });
}

inline const bcast::core::cli::spec& cli_spec() {
  static const bcast::core::cli::spec s{
      {"config", "redis", "store", "group", "sink", "state-dir", "trusted-key", "language"},
      {
          "check-config", "version", "help", "allow-unsigned",
#ifdef _WIN32
          "install-service", "uninstall-service", "service",  // the Windows service (main.cpp)
#endif
      }};
  return s;
}

// Every trusted key, or the first that cannot be used, named. No key at all is refused unless
// unsigned messages are allowed: a store without keys would show whatever is written to Redis.
inline bcast::core::result<bcast::trust::keyring> load_trusted_keys(const config& c) {
  if (c.trusted_keys.empty() && !c.allow_unsigned) {
    return config_error(
        "no trusted key: a store shows only messages signed by head office. Copy head office's "
        "public key (signing.pub, made by `bcastctl key gen`) to this PC and give "
        "--trusted-key FILE (config \"trusted_keys\"); --allow-unsigned shows unsigned messages "
        "instead, for a migration only");
  }
  return bcast::trust::load_keyring(c.trusted_keys, "trusted key");
}

// Where a store keeps its config and its state when not told. On Linux the units say
// (--config /etc/bcast/subscriberd.json --state-dir /var/lib/bcast), and nothing is assumed. On
// Windows both live in %ProgramData%\bcast: subscriberd.json there is read when it exists, and
// the position is kept there.
struct default_locations {
  std::string config_file;
  std::string state_dir;
};

inline std::optional<default_locations> platform_defaults() {
#ifdef _WIN32
  if (auto program_data = bcast::core::win32::program_data_dir()) {
    const std::string dir = *program_data + "\\bcast";
    return default_locations{dir + "\\subscriberd.json", dir};
  }
#endif
  return std::nullopt;
}

inline bcast::core::result<config> load(const bcast::core::cli::arguments& args) {
  config c;
  const auto defaults = platform_defaults();
  if (auto path = args.value("config")) {
    if (auto r = apply_file(c, *path); !r) return r.err();
  } else if (defaults) {
    std::error_code ec;
    if (std::filesystem::exists(bcast::core::utf8_path(defaults->config_file), ec)) {
      if (auto r = apply_file(c, defaults->config_file); !r) return r.err();
    }
  }
  if (c.state_dir.empty() && defaults) c.state_dir = defaults->state_dir;
  if (auto r = args.value("redis")) c.redis_url = *r;
  if (auto s = args.value("store")) c.store = *s;
  if (auto g = args.values("group"); !g.empty()) c.groups = g;
  if (auto s = args.values("sink"); !s.empty()) c.sinks = s;
  if (auto d = args.value("state-dir")) c.state_dir = *d;
  if (auto k = args.values("trusted-key"); !k.empty()) c.trusted_keys = k;
  if (args.has("allow-unsigned")) c.allow_unsigned = true;
  if (auto l = args.value("language")) c.language = *l;
  if (c.store.empty()) return config_error("no store id: give --store ID");
  if (!bcast::message::is_valid_target_name(c.store))
    return config_error("store id '" + c.store + "' must match [a-z0-9][a-z0-9_.-]{0,63}");
  for (const auto& g : c.groups) {
    if (auto parsed = bcast::message::parse_group(g); !parsed)
      return config_error("--group " + g + ": " + parsed.err().detail());
  }
  if (c.state_dir.empty())
    return config_error("no state dir: give --state-dir DIR (it keeps the store's position)");
  if (c.sinks.empty()) return config_error("no sink: give at least one --sink");
  auto redis = bcast::redis::parse_url(c.redis_url);
  if (!redis) return redis.err();
  if (auto r = bcast::redis::check_transport_policy(*redis, c.allow_plaintext_redis); !r)
    return r.err();
  if (auto level = bcast::core::log_level_setting(c.log_level); !level) return level.err();
  if (auto words = bcast::sinks::parse_language(c.language)) {
    c.words = *words;
  } else {
    return config_error("language: expected en (English) or id (Bahasa Indonesia), got '" +
                        c.language + "'");
  }
  auto keys = load_trusted_keys(c);
  if (!keys) return keys.err();
  c.keys = std::move(keys).value();
  return c;
}

}  // namespace subscriberd
