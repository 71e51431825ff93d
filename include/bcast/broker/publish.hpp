#pragma once
// Publishing: one atomic script per target appends the message to the target's history and
// publishes it live with its offset, so that history and live delivery agree and offsets have no
// gaps. The scripts for all targets go out pipelined; the publish succeeds only when every target
// has the message, and a retry with the same envelope (same id) is safe: a target that already has
// it answers with its existing offset and appends nothing.

#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/core/error.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/redis/client.hpp>

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
  std::size_t history_max_len = 10000;           // per target, XADD MAXLEN ~
  bool exact_trim = false;                       // MAXLEN = instead of ~ (tests, tiny histories)
  std::chrono::milliseconds history_max_age{0};  // also XTRIM MINID ~ now - age; 0: count only
  std::chrono::seconds idempotency_ttl{std::chrono::hours(24)};  // how long a retry is recognised
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
};

// Scripts are not rolled back when a command fails, so nothing is written before the XADD: a
// failed append leaves the seq counter as it was, and the retry gets the same seq (no false gap).
// Each redis.call costs about a microsecond of Lua and dispatch on top of the command, so the
// script makes as few as it can (one MGET for the marker and the counter; the age cutoff comes
// computed from the publisher, not from TIME).
// KEYS: history, seq, published marker.
// ARGV: message id, envelope json, live channel, maxlen, exact (0/1), oldest stream id to keep
//       in ms (0: no age limit), marker ttl s, sharded (0/1).
// Answers {appended (1/0), seq, stream id, receivers}.
inline const redis::script& publish_script() {
  static const redis::script s(R"lua(
local prior = redis.call('MGET', KEYS[3], KEYS[2])
local done = prior[1]
if done then
  local sp = string.find(done, ' ', 1, true)
  return {0, tonumber(string.sub(done, 1, sp - 1)), string.sub(done, sp + 1), 0}
end
local seq = tonumber(prior[2] or '0') + 1
local seq_text = string.format('%d', seq)
local trim = '~'
if ARGV[5] == '1' then trim = '=' end
local sid = redis.call('XADD', KEYS[1], 'MAXLEN', trim, ARGV[4], '*',
                       'seq', seq_text, 'id', ARGV[1], 'env', ARGV[2])
redis.call('SET', KEYS[2], seq_text)
if ARGV[6] ~= '0' then
  redis.call('XTRIM', KEYS[1], 'MINID', trim, ARGV[6])
end
redis.call('SET', KEYS[3], seq_text .. ' ' .. sid, 'EX', ARGV[7])
local cmd = 'PUBLISH'
if ARGV[8] == '1' then cmd = 'SPUBLISH' end
local receivers = redis.call(cmd, ARGV[3], seq_text .. ':' .. sid .. ':' .. ARGV[1] .. ':' .. ARGV[2])
return {1, seq, sid, receivers}
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
    std::string seq;
    std::string published;
    std::string channel;
  };

  publish_plan(const message::envelope& e, const publisher_settings& s)
      : message_id_(e.id),
        json_(message::encode(e)),
        maxlen_(std::to_string(s.history_max_len)),
        exact_(s.exact_trim ? "1" : "0"),
        oldest_kept_ms_(oldest_kept_ms(s.history_max_age)),
        ttl_(std::to_string(std::max<long long>(1, s.idempotency_ttl.count()))),
        sharded_(s.sharded_pubsub ? "1" : "0") {
    targets_.reserve(e.targets.size());
    for (const auto& t : e.targets) {
      targets_.push_back({t, history_key(t), seq_key(t), published_key(t, e.id), live_channel(t)});
    }
  }

  std::size_t size() const noexcept { return targets_.size(); }
  const target_keys& target(std::size_t i) const { return targets_[i]; }
  const std::string& message_id() const noexcept { return message_id_; }
  const std::string& json() const noexcept { return json_; }

  std::array<std::string_view, 3> keys(std::size_t i) const {
    const auto& t = targets_[i];
    return {t.history, t.seq, t.published};
  }
  std::array<std::string_view, 8> args(std::size_t i) const {
    return {message_id_, json_, targets_[i].channel, maxlen_, exact_, oldest_kept_ms_, ttl_, sharded_};
  }

 private:
  std::string message_id_;
  std::string json_;
  // Stream ids are milliseconds of the server's clock; a few seconds of skew against ours does
  // not matter for an age limit of days.
  static std::string oldest_kept_ms(std::chrono::milliseconds max_age) {
    if (max_age.count() <= 0) return "0";
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return std::to_string(std::max<long long>(1, (now - max_age).count()));
  }

  std::string maxlen_, exact_, oldest_kept_ms_, ttl_, sharded_;
  std::vector<target_keys> targets_;
};

namespace detail {

inline core::result<target_outcome> read_script_reply(const std::string& target,
                                                      core::result<redis::reply> r) {
  if (!r) return core::error(r.err().code(), target + ": " + r.err().message());
  if (r->is_error()) return core::error(core::errc::server_error, target + ": Redis: " + r->str);
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

  // Appends `e` to every target and records it for the history API, both in one pipelined
  // write: the record does not wait for the scripts' answers, which would cost a second round
  // trip per message. Success only when all of that worked; on an error some targets may have it
  // already, and publishing the same envelope again completes the rest without duplicating
  // anything. The seq each target gave it is added to the record afterwards (gap receipts use it).
  void publish(const message::envelope& e, callback cb, publish_options opts = {}) {
    if (e.targets.empty() || !message::is_valid_ulid(e.id)) {
      client_.raw().owner_loop().defer([cb = std::move(cb)] {
        cb(core::error(core::errc::invalid_argument,
                       "publish: the envelope needs an id and targets"));
      });
      return;
    }
    struct state {
      std::shared_ptr<const publish_plan> plan;
      std::vector<std::optional<core::result<target_outcome>>> results;
      core::result<void> recorded;
      std::size_t remaining = 0;
      callback cb;
    };
    auto st = std::make_shared<state>();
    st->plan = std::make_shared<const publish_plan>(e, settings_);
    st->results.resize(e.targets.size());
    st->remaining = e.targets.size() + 1;
    st->cb = std::move(cb);
    std::weak_ptr<void> alive = alive_;
    const auto one_done = [this, alive, st] {
      if (--st->remaining > 0) return;
      if (alive.expired()) return st->cb(core::error(core::errc::cancelled, "publisher destroyed"));
      all_done(*st->plan, std::move(st->results), st->recorded, std::move(st->cb));
    };
    for (std::size_t i = 0; i < st->plan->size(); ++i) {
      client_.eval(publish_script(), st->plan->keys(i), st->plan->args(i),
                   [st, i, one_done](core::result<redis::reply> r) {
                     st->results[i] = detail::read_script_reply(st->plan->target(i).target, std::move(r));
                     one_done();
                   });
    }
    message_record rec;
    rec.envelope = e;
    rec.json = st->plan->json();
    rec.expected_at_send = opts.expected_stores;
    save_record(client_, rec, settings_.records, [st, one_done](core::result<void> r) {
      st->recorded = std::move(r);
      one_done();
    });
    // Pipelined after the record's own writes, so the trim counts this record too.
    if (++records_since_trim_ >= std::max<std::size_t>(1, settings_.records.trim_every)) {
      records_since_trim_ = 0;
      trim_records(client_, settings_.records, alive_);
    }
  }

 private:
  void all_done(const publish_plan& plan, std::vector<std::optional<core::result<target_outcome>>> results,
                const core::result<void>& recorded, callback cb) {
    publish_outcome outcome;
    outcome.message_id = plan.message_id();
    outcome.envelope_json = plan.json();
    std::string failures;
    std::error_code first_code;
    std::size_t failed = 0;
    for (auto& r : results) {
      if (r->ok()) {
        outcome.targets.push_back(std::move(*r).value());
        continue;
      }
      ++failed;
      if (!first_code) first_code = r->err().code();
      failures += (failures.empty() ? "" : "; ") + r->err().detail();
    }
    if (failed > 0) {
      // Not listed as sent: the record written alongside the scripts goes again first.
      auto error = core::error(first_code, "message " + plan.message_id() + " not published to " +
                                               std::to_string(failed) + " of " +
                                               std::to_string(results.size()) + " targets (" +
                                               failures + "); publishing it again with the same id is safe");
      if (!recorded) return cb(error);  // Redis unreachable: nothing to take back, and no time to wait
      forget_record(client_, plan.message_id(), [cb = std::move(cb), error = std::move(error)] { cb(error); });
      return;
    }
    if (!recorded) {
      cb(core::error(recorded.err().code(), "message " + outcome.message_id +
                                                " reached every target but was not recorded (" +
                                                recorded.err().message() +
                                                "); publishing it again with the same id is safe"));
      return;
    }
    // Not waited for: without it only a gap report cannot name this message.
    std::map<std::string, std::uint64_t, std::less<>> seqs;
    for (const auto& t : outcome.targets) seqs.emplace(t.target, t.seq);
    save_record_seqs(client_, outcome.message_id, seqs);
    cb(std::move(outcome));
  }

  redis::client& client_;
  publisher_settings settings_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::size_t records_since_trim_ = 0;
};

}  // namespace bcast::broker
