#pragma once
// Publishing: one atomic script per target appends the message to the target's history and
// publishes it live with its offset, so that history and live delivery agree and offsets have no
// gaps. The scripts for all targets go out pipelined; the publish succeeds only when every target
// has the message and it is recorded for the history API. A retry of the same envelope (same id,
// publish_options::retry) is safe: a target that already has it answers with its existing offset
// and appends nothing.

#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/core/error.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

struct publisher_settings {
  std::size_t history_max_len = 10000;           // per target, XADD MAXLEN ~ (at least 1)
  bool exact_trim = false;                       // MAXLEN = instead of ~ (tests, tiny histories)
  std::chrono::milliseconds history_max_age{0};  // entries made longer ago go; 0: count only
  // A retry looks for its message among the entries made since the message was, starting this
  // much earlier: publishers' clocks may disagree by up to this.
  std::chrono::milliseconds clock_skew{std::chrono::minutes(1)};
  bool sharded_pubsub = false;  // SPUBLISH (Redis Cluster) instead of PUBLISH
  record_settings records;
};

struct target_outcome {
  std::string target;
  std::uint64_t seq = 0;
  std::string stream_id;
  bool duplicate = false;   // appended by an earlier attempt with the same id
  long long receivers = 0;  // live subscribers that got it (0 for a duplicate)
};

struct publish_outcome {
  std::string message_id;
  std::vector<target_outcome> targets;  // in the envelope's target order
  std::string envelope_json;            // message::encode() of what was published
};

struct publish_options {
  std::optional<std::uint64_t> expected_stores;  // recorded with the message when known
  // The envelope may have been published before (a client's retry): each target first looks for
  // it among the entries made since the message was, and appends it only if it is not there.
  bool retry = false;
};

// The script is on every message's path to the stores, and each redis.call costs about as much
// again as the command itself, so a first attempt makes two: XADD and PUBLISH. The offset is the
// stream id: entries are added as "0-*", so Redis numbers them 1, 2, 3... in the id itself, gap-
// free, with no counter key to read and write (and a failed XADD uses up nothing). The newest
// entry is never trimmed, so the stream always shows its last offset (catchup.hpp reads it).
// Only a retry pays for the search that makes it idempotent; only an age limit pays for a look at
// the oldest entry. Entries are "id <ulid> env <json>", id first, which both rely on: ULIDs sort
// by the time they were made, so a string comparison with a floor id tells older from newer.
// KEYS: history.
// ARGV: message id, envelope json, live channel, maxlen, exact (0/1), sharded (0/1),
//       age floor (the smallest id made at now - max age; "" for none),
//       retry floor (the smallest id made at the message's time - clock skew; "" on a first try).
// Answers {appended (1/0), seq, stream id, receivers}.
inline const redis::script& publish_script() {
  static const redis::script s(R"lua(
local function find_since(floor)
  local upper = '+'
  while true do
    local page = redis.call('XREVRANGE', KEYS[1], upper, '-', 'COUNT', 100)
    for _, e in ipairs(page) do
      local id = e[2][2]
      if id == ARGV[1] then return e[1] end
      if id < floor then return nil end
    end
    if #page < 100 then return nil end
    upper = '(' .. page[#page][1]
  end
end
if ARGV[8] ~= '' then
  local found = find_since(ARGV[8])
  if found then return {0, tonumber(string.sub(found, 3)), found, 0} end
end
local trim = '~'
if ARGV[5] == '1' then trim = '=' end
local sid = redis.call('XADD', KEYS[1], 'MAXLEN', trim, ARGV[4], '0-*', 'id', ARGV[1], 'env', ARGV[2])
local seq = string.sub(sid, 3)
local cmd = 'PUBLISH'
if ARGV[6] == '1' then cmd = 'SPUBLISH' end
local receivers = redis.call(cmd, ARGV[3], seq .. ':' .. sid .. ':' .. ARGV[1] .. ':' .. ARGV[2])
if ARGV[7] ~= '' and redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][2][2] < ARGV[7] then
  local keep = sid
  local lower = '-'
  while keep == sid do
    local page = redis.call('XRANGE', KEYS[1], lower, '+', 'COUNT', 100)
    for _, e in ipairs(page) do
      if e[2][2] >= ARGV[7] then keep = e[1] break end
    end
    if #page < 100 then break end
    lower = '(' .. page[#page][1]
  end
  redis.call('XTRIM', KEYS[1], 'MINID', keep)
end
return {1, tonumber(seq), sid, receivers}
)lua");
  return s;
}

// Everything the scripts need, built once per message: the envelope is encoded once and every
// target's arguments are views into this plan.
class publish_plan {
 public:
  struct target_keys {
    std::string target;
    std::string history;
    std::string channel;
  };

  publish_plan(const message::envelope& e, const publisher_settings& s, bool retry = false)
      : message_id_(e.id),
        json_(message::encode(e)),
        maxlen_(std::to_string(std::max<std::size_t>(1, s.history_max_len))),  // never empty
        exact_(s.exact_trim ? "1" : "0"),
        sharded_(s.sharded_pubsub ? "1" : "0"),
        age_floor_(age_floor(s.history_max_age)),
        retry_floor_(retry ? retry_floor(e.id, s.clock_skew) : std::string()) {
    targets_.reserve(e.targets.size());
    for (const auto& t : e.targets) targets_.push_back({t, history_key(t), live_channel(t)});
  }

  std::size_t size() const noexcept { return targets_.size(); }
  const target_keys& target(std::size_t i) const { return targets_[i]; }
  const std::string& message_id() const noexcept { return message_id_; }
  const std::string& json() const noexcept { return json_; }

  std::array<std::string_view, 1> keys(std::size_t i) const { return {targets_[i].history}; }
  std::array<std::string_view, 8> args(std::size_t i) const {
    return {message_id_, json_,    targets_[i].channel, maxlen_,
            exact_,      sharded_, age_floor_,          retry_floor_};
  }

 private:
  static std::string age_floor(std::chrono::milliseconds max_age) {
    if (max_age.count() <= 0) return {};
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return detail::ulid_floor(
        static_cast<std::uint64_t>(std::max<long long>(0, (now - max_age).count())));
  }
  static std::string retry_floor(std::string_view id, std::chrono::milliseconds skew) {
    const auto made = message::ulid_time_ms(id).value_or(0);
    const auto back = static_cast<std::uint64_t>(std::max<long long>(0, skew.count()));
    return detail::ulid_floor(made > back ? made - back : 0);
  }

  std::string message_id_;
  std::string json_;
  std::string maxlen_, exact_, sharded_, age_floor_, retry_floor_;
  std::vector<target_keys> targets_;
};

namespace detail {

inline core::result<target_outcome> read_script_reply(const std::string& target,
                                                      core::result<redis::reply> r) {
  if (!r) return core::error(r.err().code(), target + ": " + r.err().message());
  if (r->is_error()) {
    // XADD 0-* refuses a stream whose newest id is not "0-<seq>": one written before the offset
    // became the entry id (time-based ids). Say what to do rather than only what Redis said.
    const bool older_layout =
        r->str.find("equal or smaller than the target stream top item") != std::string::npos;
    return core::error(
        core::errc::server_error,
        target + ": Redis: " + r->str +
            (older_layout ? " (" + history_key(target) +
                                " holds entries of an older bcast layout; delete the key to start "
                                "this history afresh)"
                          : ""));
  }
  const auto& e = r->elements;
  if (!r->is_array() || e.size() != 4 || !e[0].is_integer() || !e[1].is_integer() ||
      !e[2].is_string() || e[1].integer <= 0) {
    return core::error(core::errc::protocol_error,
                       target + ": unexpected answer to the publish script: " + r->describe());
  }
  target_outcome out;
  out.target = target;
  out.duplicate = e[0].integer == 0;
  out.seq = static_cast<std::uint64_t>(e[1].integer);
  out.stream_id = e[2].str;
  out.receivers = e[3].is_integer() ? e[3].integer : 0;
  return out;
}

}  // namespace detail

class publisher {
 public:
  using callback = std::function<void(core::result<publish_outcome>)>;

  // Must not outlive the client.
  explicit publisher(redis::client& c, publisher_settings s = {})
      : client_(c), settings_(std::move(s)) {}
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  const publisher_settings& settings() const noexcept { return settings_; }
  // For the next publish; one in flight keeps the settings it started with.
  void set_settings(publisher_settings s) { settings_ = std::move(s); }

  // Appends `e` to every target, then records it for the history API with the seq each target
  // gave it. The record waits for the scripts' answers: written alongside them, it would hold
  // back their live frames (Redis sends them only once it has run everything it read at once).
  // Success only when all of that worked; on an error some targets may have it already, and
  // publishing the same envelope again with `retry` completes the rest without duplicating
  // anything.
  void publish(const message::envelope& e, callback cb, publish_options opts = {}) {
    if (e.targets.empty() || !message::is_valid_ulid(e.id)) {
      client_.raw().owner_loop().defer([cb = std::move(cb)] {
        cb(core::error(core::errc::invalid_argument,
                       "publish: the envelope needs an id and targets"));
      });
      return;
    }
    auto st = std::make_shared<in_flight>();
    st->plan = std::make_shared<const publish_plan>(e, settings_, opts.retry);
    st->results.resize(e.targets.size());
    st->remaining = e.targets.size();
    st->expected = opts.expected_stores;
    st->retry = opts.retry;
    st->cb = std::move(cb);
    std::weak_ptr<void> alive = alive_;
    for (std::size_t i = 0; i < st->plan->size(); ++i) {
      client_.eval(publish_script(), st->plan->keys(i), st->plan->args(i),
                   [this, alive, st, i](core::result<redis::reply> r) {
                     st->results[i] =
                         detail::read_script_reply(st->plan->target(i).target, std::move(r));
                     if (--st->remaining > 0) return;
                     if (alive.expired())
                       return st->cb(core::error(core::errc::cancelled, "publisher destroyed"));
                     published(std::move(*st));
                   });
    }
  }

 private:
  struct in_flight {
    std::shared_ptr<const publish_plan> plan;
    std::vector<std::optional<core::result<target_outcome>>> results;
    std::size_t remaining = 0;
    std::optional<std::uint64_t> expected;
    bool retry = false;
    callback cb;
  };

  void published(in_flight st) {
    const auto& plan = *st.plan;
    publish_outcome outcome;
    outcome.message_id = plan.message_id();
    outcome.envelope_json = plan.json();
    std::string failures;
    std::error_code first_code;
    std::size_t failed = 0;
    for (auto& r : st.results) {
      if (r->ok()) {
        outcome.targets.push_back(std::move(*r).value());
        continue;
      }
      ++failed;
      if (!first_code) first_code = r->err().code();
      failures += (failures.empty() ? "" : "; ") + r->err().detail();
    }
    if (failed > 0) {
      // Not recorded, so not listed as sent.
      return st.cb(core::error(first_code, "message " + plan.message_id() + " not published to " +
                                               std::to_string(failed) + " of " +
                                               std::to_string(st.results.size()) + " targets (" +
                                               failures +
                                               "); publishing it again with the same id is safe"));
    }
    std::vector<std::pair<std::string_view, std::uint64_t>> seqs;
    for (const auto& t : outcome.targets) seqs.emplace_back(t.target, t.seq);
    auto record = detail::encode_record(plan.message_id(), st.expected, seqs, plan.json());
    save_record(
        client_, plan.message_id(), std::move(record), st.retry,
        [cb = std::move(st.cb), outcome = std::move(outcome)](core::result<void> recorded) mutable {
          if (recorded) return cb(std::move(outcome));
          cb(core::error(
              recorded.err().code(),
              "message " + outcome.message_id + " reached every target but was not recorded (" +
                  recorded.err().message() + "); publishing it again with the same id is safe"));
        });
    // Pipelined after the record, so the trim counts this record too.
    if (++records_since_trim_ >= std::max<std::size_t>(1, settings_.records.trim_every)) {
      records_since_trim_ = 0;
      trim_records(client_, settings_.records);
    }
  }

  redis::client& client_;
  publisher_settings settings_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::size_t records_since_trim_ = 0;
};

}  // namespace bcast::broker
