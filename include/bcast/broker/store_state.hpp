#pragma once
// A store's position, kept in its state dir so that a restart neither repeats nor skips a
// message: the last seq and stream id handled per channel, and the ids of the messages handled
// last (a message can still arrive through a second channel after a restart).
//
//   <state-dir>/position.json
//   {"version":1,"store":"s1","channels":{"all":{"seq":12,"stream_id":"1764151200123-0"}},
//    "recent_ids":["01JD..."]}
//
// Saved atomically (temp file, fsync, rename, fsync dir). A file that cannot be read is moved
// aside to position.json.corrupt and the store starts fresh ("now"), with the reason to log.

#include <bcast/broker/frame.hpp>
#include <bcast/broker/tracker.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/ulid.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace bcast::broker {

inline constexpr std::string_view state_file_name = "position.json";
inline constexpr std::size_t state_file_max_bytes = 16u << 20;
inline constexpr int state_file_version = 1;

struct store_state {
  std::string store_id;
  std::map<std::string, position> channels;
  std::vector<std::string> recent_ids;  // oldest first

  friend bool operator==(const store_state&, const store_state&) = default;
};

inline std::filesystem::path state_file_path(const std::filesystem::path& dir) {
  return dir / std::string(state_file_name);
}

inline std::string encode_store_state(const store_state& s) {
  nlohmann::ordered_json j;
  j["version"] = state_file_version;
  j["store"] = s.store_id;
  nlohmann::ordered_json channels = nlohmann::ordered_json::object();
  for (const auto& [t, p] : s.channels) {
    nlohmann::ordered_json c;
    c["seq"] = p.seq;
    c["stream_id"] = p.stream_id;
    channels[t] = std::move(c);
  }
  j["channels"] = std::move(channels);
  j["recent_ids"] = s.recent_ids;
  return j.dump() + "\n";
}

inline core::result<store_state> decode_store_state(std::string_view text) {
  const auto bad = [](const std::string& why) {
    return core::error(core::errc::protocol_error, "store position: " + why);
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return bad("not valid JSON");
  }
  if (!j.is_object()) return bad("not a JSON object");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() ||
      version->get<int>() != state_file_version) {
    return bad("unknown version");
  }
  store_state s;
  if (const auto store = j.find("store"); store != j.end()) {
    if (!store->is_string()) return bad("\"store\" must be a string");
    s.store_id = store->get<std::string>();
  }
  const auto channels = j.find("channels");
  if (channels == j.end() || !channels->is_object()) return bad("\"channels\" must be an object");
  for (auto it = channels->begin(); it != channels->end(); ++it) {
    if (!message::is_valid_target(it.key())) return bad("invalid channel \"" + it.key() + "\"");
    const auto& c = it.value();
    const auto seq = c.is_object() ? c.find("seq") : c.end();
    const auto sid = c.is_object() ? c.find("stream_id") : c.end();
    if (seq == c.end() || !seq->is_number_unsigned() || sid == c.end() || !sid->is_string() ||
        !stream_id::parse(sid->get<std::string>())) {
      return bad("channel \"" + it.key() + "\" needs a seq and a stream_id");
    }
    s.channels.emplace(it.key(), position{seq->get<std::uint64_t>(), sid->get<std::string>()});
  }
  if (const auto ids = j.find("recent_ids"); ids != j.end()) {
    if (!ids->is_array()) return bad("\"recent_ids\" must be an array");
    for (const auto& id : *ids) {
      if (!id.is_string() || !message::is_valid_ulid(id.get<std::string>())) {
        return bad("\"recent_ids\" holds something that is not a message id");
      }
      s.recent_ids.push_back(id.get<std::string>());
    }
  }
  return s;
}

// Creates the directory when missing.
inline core::result<void> save_store_state(const std::filesystem::path& dir, const store_state& s) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::error(ec, "cannot create the state dir " + core::path_utf8(dir));
  return core::write_file_atomic(core::path_utf8(state_file_path(dir)), encode_store_state(s),
                                 0600);
}

// Nothing when there is no file yet.
inline core::result<std::optional<store_state>> load_store_state(const std::filesystem::path& dir) {
  const auto path = core::path_utf8(state_file_path(dir));
  auto text = core::read_file_bounded(path, state_file_max_bytes);
  if (!text) {
    if (text.err().code() == std::errc::no_such_file_or_directory) {
      return std::optional<store_state>{};
    }
    return text.err();
  }
  auto s = decode_store_state(*text);
  if (!s) return core::error(s.err().code(), path + ": " + s.err().detail());
  return std::optional<store_state>(std::move(s).value());
}

struct loaded_store_state {
  store_state state;    // empty (start from now) when the file was missing or unusable
  core::error problem;  // why the file was not used; empty when it was, or did not exist
};

// Never fails: an unreadable file is reported, moved aside, and replaced by a fresh state.
inline loaded_store_state load_store_state_or_fresh(const std::filesystem::path& dir) {
  loaded_store_state out;
  auto loaded = load_store_state(dir);
  if (loaded) {
    if (*loaded) out.state = std::move(**loaded);
    return out;
  }
  out.problem = loaded.err();
  const auto path = state_file_path(dir);
  std::error_code ec;
  const bool unusable =
      out.problem == core::errc::protocol_error || out.problem == core::errc::limit_exceeded;
  if (unusable && std::filesystem::is_regular_file(path, ec)) {
    auto aside = path;
    aside += ".corrupt";
    std::filesystem::rename(path, aside, ec);
    out.problem =
        core::error(out.problem.code(),
                    out.problem.detail() + (ec ? "" : "; moved to " + core::path_utf8(aside)));
  }
  out.problem =
      core::error(out.problem.code(), out.problem.detail() + "; starting from the newest messages");
  return out;
}

// ---- tracker <-> state -----------------------------------------------------------------------

inline store_state snapshot(const tracker& t, std::string store_id, std::size_t max_ids = 1000) {
  store_state s;
  s.store_id = std::move(store_id);
  s.channels = t.positions();
  s.recent_ids = t.recent(max_ids);
  return s;
}

// Adds `targets` to the tracker, each from its saved position if the state has one. Positions of
// channels the store no longer listens to are dropped.
inline void restore(tracker& t, const std::vector<std::string>& targets, const store_state& s) {
  for (const auto& target : targets) {
    auto it = s.channels.find(target);
    t.add_channel(target,
                  it == s.channels.end() ? std::nullopt : std::optional<position>(it->second));
  }
  for (const auto& id : s.recent_ids) t.remember(id);
}

}  // namespace bcast::broker
