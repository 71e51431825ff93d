#pragma once
// The audit log: who did what, from where, when, to which message, and how it ended. Logins (also
// failed ones, with the name tried), sends, recalls, corrections, schedules, cancels, scheduled
// messages going out, bearer-token use, reloads and escalations.
//
// It lives in the stream bcast:audit (keys.hpp), one entry per event, with Redis's own ids
// ("<ms>-<seq>"), which are also the pager's cursors. Every entry is also one log line.
//
// Writing never holds up what is audited: record() pipelines one XADD on the connection it is
// given and answers nobody. A write that fails is logged (rate-limited), and the event is still in
// the log line. The stream is capped by length in the XADD itself (MAXLEN, approximate for large
// caps: Redis then drops whole nodes, which is cheap) and by age with an exact XTRIM MINID at most
// once a minute, after a write.
//
// An operational record, not a tamper-proof one: whoever can write to Redis can delete it.

#include <bcast/broker/keys.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/log_limit.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcast::broker {

// The actions an entry records.
namespace audit_action {
inline constexpr std::string_view login = "login";
inline constexpr std::string_view send = "send";
inline constexpr std::string_view recall = "recall";
inline constexpr std::string_view correction = "correction";
inline constexpr std::string_view schedule = "schedule";
inline constexpr std::string_view cancel = "cancel";
inline constexpr std::string_view scheduled_send = "scheduled_send";
inline constexpr std::string_view token_use = "token_use";
inline constexpr std::string_view users_reload = "users_reload";
inline constexpr std::string_view config_reload = "config_reload";
inline constexpr std::string_view escalation = "escalation";
}  // namespace audit_action

// The actor of what publisherd does on its own (a scheduled message going out is audited as the
// user who scheduled it; a reload or an escalation has no user).
inline constexpr std::string_view audit_system_actor = "publisherd";

struct audit_entry {
  std::string id;          // the stream entry id, the pager's cursor; set when read back
  std::string at;          // message::format_time(); record() sets it when empty
  std::string actor;       // a user name, "uid:<n>" for a Unix-socket peer, or publisherd
  std::string address;     // the client address; empty for what publisherd does on its own
  std::string action;      // one of audit_action
  std::string message_id;  // empty when the action concerns no message
  std::string result;      // "ok", or why not: the API's error code ("invalid_credentials", ...)
  std::string detail;      // free text, may be empty: "send_at ...", "5 users"

  friend bool operator==(const audit_entry&, const audit_entry&) = default;
};

// An entry of `action` by `actor` from `address`, to be completed with the message, the result
// and any detail.
inline audit_entry audit_event(std::string actor, std::string_view action,
                               std::string address = {}) {
  audit_entry e;
  e.actor = std::move(actor);
  e.action = std::string(action);
  e.address = std::move(address);
  return e;
}

// {"id","at","actor","address","action","message_id","result","detail"}; empty message_id,
// address and detail are null.
inline nlohmann::json to_json(const audit_entry& e) {
  const auto or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return {{"id", e.id},         {"at", e.at},
          {"actor", e.actor},   {"address", or_null(e.address)},
          {"action", e.action}, {"message_id", or_null(e.message_id)},
          {"result", e.result}, {"detail", or_null(e.detail)}};
}

// The log line of an entry: "audit: send by admin from 127.0.0.1, message 01J...: ok (...)".
inline std::string describe(const audit_entry& e) {
  std::string line = "audit: " + e.action + " by " + core::quoted(e.actor);
  if (!e.address.empty()) line += " from " + e.address;
  if (!e.message_id.empty()) line += ", message " + e.message_id;
  line += ": " + e.result;
  if (!e.detail.empty()) line += " (" + e.detail + ")";
  return line;
}

// A cursor is a stream entry id as the pager answered it: "<ms>-<seq>", both decimal.
inline bool is_audit_cursor(std::string_view text) noexcept {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size() || dash > 20 ||
      text.size() - dash - 1 > 20)
    return false;
  return std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(dash),
                     [](char c) { return c >= '0' && c <= '9'; }) &&
         std::all_of(text.begin() + static_cast<std::ptrdiff_t>(dash) + 1, text.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

struct audit_settings {
  std::size_t max_entries = 100'000;
  std::chrono::seconds max_age = std::chrono::days(90);
  // Below this cap the length is trimmed exactly: approximate trimming drops whole stream nodes
  // (100 entries by default), which would let a small cap be overshot many times over.
  static constexpr std::size_t exact_trim_below = 1000;
};

struct audit_page {
  std::vector<audit_entry> entries;  // newest first
  std::string next;                  // the cursor of the next page, empty at the end
};

namespace detail {

inline void set_audit_field(audit_entry& e, std::string_view name, std::string value) {
  if (name == "at")
    e.at = std::move(value);
  else if (name == "actor")
    e.actor = std::move(value);
  else if (name == "address")
    e.address = std::move(value);
  else if (name == "action")
    e.action = std::move(value);
  else if (name == "message_id")
    e.message_id = std::move(value);
  else if (name == "result")
    e.result = std::move(value);
  else if (name == "detail")
    e.detail = std::move(value);
}

// One XRANGE/XREVRANGE element, [id, [field, value, ...]], or nothing when it is not one.
inline std::optional<audit_entry> read_audit_entry(const redis::reply& r) {
  if (!r.is_array() || r.elements.size() != 2 || !r.elements[0].is_string() ||
      !r.elements[1].is_array())
    return std::nullopt;
  audit_entry e;
  e.id = r.elements[0].str;
  const auto& fields = r.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
    if (fields[i].is_string() && fields[i + 1].is_string())
      set_audit_field(e, fields[i].str, fields[i + 1].str);
  return e;
}

}  // namespace detail

class audit_log {
 public:
  using page_callback = std::function<void(core::result<audit_page>)>;
  using clock = std::chrono::steady_clock;

  static constexpr std::size_t max_limit = 1000;
  static constexpr std::size_t default_limit = 100;

  // Must not outlive the client. Writes go on that connection, pipelined with whatever it sends.
  explicit audit_log(redis::client& c, audit_settings s = {}) : client_(c), settings_(s) {}
  audit_log(const audit_log&) = delete;
  audit_log& operator=(const audit_log&) = delete;

  void set_settings(audit_settings s) noexcept { settings_ = s; }
  const audit_settings& settings() const noexcept { return settings_; }

  // Logs `e` and appends it to the stream, without waiting for Redis.
  void record(audit_entry e) {
    if (e.at.empty()) e.at = message::format_time(std::chrono::system_clock::now());
    core::log::notice(describe(e));
    std::string max_len = std::to_string(std::max<std::size_t>(1, settings_.max_entries));
    const std::string_view how =
        settings_.max_entries < audit_settings::exact_trim_below ? "=" : "~";
    const auto key = audit_key();
    std::vector<std::string_view> args{"XADD",   key,      "MAXLEN", how,     max_len,
                                       "*",      "at",     e.at,     "actor", e.actor,
                                       "action", e.action, "result", e.result};
    if (!e.address.empty()) args.insert(args.end(), {"address", e.address});
    if (!e.message_id.empty()) args.insert(args.end(), {"message_id", e.message_id});
    if (!e.detail.empty()) args.insert(args.end(), {"detail", e.detail});
    client_.command(
        std::span<const std::string_view>(args), [this, alive = alive_.watch(), action = e.action,
                                                  id = e.message_id](core::result<redis::reply> r) {
          if (alive.expired()) return;
          if (auto ok = redis::checked(std::move(r)); !ok)
            failures_.write(core::log::level::warning,
                            "audit entry not stored (" + action + (id.empty() ? "" : " " + id) +
                                "), kept in the log " + "only: " + ok.err().message());
        });
    trim_by_age();
  }

  // An escalation of message `message_id` (publisherd ran its escalation command): `detail` says
  // what was run for whom, `result` how it ended ("ok" or why not).
  void record_escalation(std::string message_id, std::string result, std::string detail = {}) {
    auto e = audit_event(std::string(audit_system_actor), audit_action::escalation);
    e.message_id = std::move(message_id);
    e.result = std::move(result);
    e.detail = std::move(detail);
    record(std::move(e));
  }

  // The `limit` newest entries (1..max_limit) older than the cursor `before` (empty: from the
  // newest). The caller checks the cursor with is_audit_cursor.
  void page(std::size_t limit, std::string_view before, page_callback cb) {
    limit = std::clamp<std::size_t>(limit, 1, max_limit);
    const std::string from = before.empty() ? std::string("+") : "(" + std::string(before);
    const auto count = std::to_string(limit + 1);  // one more: is there a next page?
    client_.command({"XREVRANGE", audit_key(), from, "-", "COUNT", count},
                    [limit, cb = std::move(cb)](core::result<redis::reply> r) {
                      auto answer = redis::checked(std::move(r));
                      auto elements = answer ? answer->as_array() : answer.err();
                      if (!elements)
                        return cb(redis::failed("reading the audit log", elements.err()));
                      audit_page out;
                      for (const auto& each : *elements) {
                        if (out.entries.size() == limit) {
                          out.next = out.entries.back().id;
                          break;
                        }
                        if (auto e = detail::read_audit_entry(each))
                          out.entries.push_back(std::move(*e));
                      }
                      cb(std::move(out));
                    });
  }

 private:
  void trim_by_age() {
    const auto now = clock::now();
    if (trimmed_ && now - *trimmed_ < std::chrono::minutes(1)) return;
    trimmed_ = now;
    const auto oldest = std::chrono::system_clock::now() - settings_.max_age;
    const auto min_id = std::to_string(message::unix_ms(oldest)) + "-0";
    // Exact: once a minute, and "~" would keep a whole node of entries past their age.
    client_.command({"XTRIM", audit_key(), "MINID", "=", min_id},
                    [this, alive = alive_.watch()](core::result<redis::reply> r) {
                      if (alive.expired()) return;
                      if (auto ok = redis::checked(std::move(r)); !ok)
                        failures_.write(core::log::level::warning,
                                        "audit log not trimmed by age: " + ok.err().message());
                    });
  }

  redis::client& client_;
  audit_settings settings_;
  std::optional<clock::time_point> trimmed_;
  core::log::limited failures_{{5, std::chrono::seconds(60)}, "failed audit writes"};
  core::liveness_token alive_;
};

// At most one entry per key (a bearer token's user; a client address) per `interval`: for events
// that come in floods. A token's use: its requests are audited anyway as the actor of what they
// do, this says that the token is in use. Logins refused unhashed (throttled, busy): an attacker
// can make those as fast as the network carries them, and must not flood the log and the stream.
class audit_sampler {
 public:
  using clock = std::chrono::steady_clock;

  explicit audit_sampler(clock::duration interval = std::chrono::minutes(1))
      : interval_(interval) {}

  // Whether this event of `key` is to be recorded; counts it as recorded if so.
  bool due(std::string_view key, clock::time_point now = clock::now()) {
    auto it = last_.find(std::string(key));
    if (it != last_.end() && now - it->second < interval_) return false;
    if (it == last_.end()) {
      if (last_.size() >= max_tracked) forget_older_than(now - interval_);
      last_.emplace(std::string(key), now);
    } else {
      it->second = now;
    }
    return true;
  }

 private:
  // Past this many keys, those older than the interval are forgotten (or all, in a flood).
  static constexpr std::size_t max_tracked = 4096;

  void forget_older_than(clock::time_point t) {
    std::erase_if(last_, [t](const auto& each) { return each.second < t; });
    if (last_.size() >= max_tracked) last_.clear();
  }

  clock::duration interval_;
  std::unordered_map<std::string, clock::time_point> last_;
};

}  // namespace bcast::broker
