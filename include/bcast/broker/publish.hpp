#pragma once
// Publishing: per target, one atomic step appends the message to the target's history and
// publishes it live, so that every live frame comes with exactly one history entry, in the same
// order, and offsets have no gaps. A first attempt is a transaction, MULTI { XADD, PUBLISH }, with
// a counted frame: Redis runs it in a fraction of a script's time, and the stores count its seq
// (live_numbering.hpp). A retry of the same envelope (same id, publish_options::retry) runs the
// publish script, which first looks for the id and appends only when it is not there, and
// publishes a numbered frame. All targets go out pipelined; the publish succeeds only when every
// target has the message and it is recorded for the history API. With a signing key, the envelope
// is signed once, as it is published (its final id set), and every target, the record and the
// answer carry the same signed JSON.

#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/core/work.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/trust/signature.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
  // A client's own id (Idempotency-Key, idempotency.hpp) is made within this of now. Entries
  // appended after the message may then be up to twice this older than it, so a retry's search
  // reaches that far back (plus clock_skew).
  std::chrono::milliseconds retry_window{std::chrono::minutes(5)};
  // And reads at most this many entries per target: past them, it appends (stores drop a second
  // copy by id). The window alone bounds the time, not how much was sent in it.
  std::size_t retry_search_max = 2000;
  bool sharded_pubsub = false;  // SPUBLISH (Redis Cluster) instead of PUBLISH
  // Durability across a failover: a publish succeeds only once every target's history entry has
  // reached this many replicas (WAIT, at most replica_wait), and its live frame goes out only
  // then. Otherwise the entries it appended are deleted again and it fails, so that a message
  // answered "not sent" never shows later. 0: append and publish at once.
  unsigned min_replicas = 0;
  std::chrono::milliseconds replica_wait{750};
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
  // Recorded in the message log for the history API. A recall notice is not: it is no message of
  // its own, and the log lists what was sent, not how it was taken back (recalls.hpp).
  bool record = true;
};

// The offset is the stream id: entries are added as "0-*", so Redis numbers them 1, 2, 3... in
// the id itself, gap-free, with no counter key to read and write (and a failed XADD uses up
// nothing). The newest entry is never trimmed, so the stream always shows its last offset
// (catchup.hpp reads it). Entries are "id <ulid> env <json>", id first, which the scripts rely
// on: ULIDs sort by the time they were made, so a string comparison with a floor id tells older
// from newer.

// A retry: the search that makes it idempotent, then XADD and PUBLISH with a numbered frame. Also
// a target's first message from a publisher (no search), see publisher::known_good.
// KEYS: history.
// ARGV: message id, envelope json, live channel, maxlen, exact (0/1), sharded (0/1; '-': append
//       only, the live frame is sent later, publisher_settings::min_replicas),
//       retry floor (the smallest id the search reaches back to; "": no search), and the most
//       entries the search reads.
// Answers {appended (1/0), seq, stream id, receivers}.
namespace detail {

// Lua: the id of the entry of message ARGV[1] among the newest of KEYS[1], newest first, down to
// the first entry older than `floor` and at most `budget` entries; nil when it is not there.
inline constexpr std::string_view find_since_lua = R"lua(
local function find_since(floor, budget)
  local upper = '+'
  while budget > 0 do
    local count = math.min(100, budget)
    local page = redis.call('XREVRANGE', KEYS[1], upper, '-', 'COUNT', count)
    for _, e in ipairs(page) do
      local id = e[2][2]
      if id == ARGV[1] then return e[1] end
      if id < floor then return nil end
    end
    if #page < count then return nil end
    budget = budget - count
    upper = '(' .. page[#page][1]
  end
  return nil
end
)lua";

}  // namespace detail

inline const redis::script& publish_script() {
  static const redis::script s(std::string(detail::find_since_lua) + R"lua(
if ARGV[7] ~= '' then
  local found = find_since(ARGV[7], tonumber(ARGV[8]))
  if found then return {0, tonumber(string.sub(found, 3)), found, 0} end
end
local trim = '~'
if ARGV[5] == '1' then trim = '=' end
local sid = redis.call('XADD', KEYS[1], 'MAXLEN', trim, ARGV[4], '0-*', 'id', ARGV[1], 'env', ARGV[2])
local seq = string.sub(sid, 3)
if ARGV[6] == '-' then return {1, tonumber(seq), sid, 0} end
local cmd = 'PUBLISH'
if ARGV[6] == '1' then cmd = 'SPUBLISH' end
local receivers = redis.call(cmd, ARGV[3], seq .. ':' .. sid .. ':' .. ARGV[1] .. ':' .. ARGV[2])
return {1, tonumber(seq), sid, receivers}
)lua");
  return s;
}

// Takes back a message's entry that is not safe (publisher_settings::min_replicas), found by its
// id as a retry finds it. KEYS: history. ARGV: message id, (unused), retry floor, most entries
// read. Answers 1 when it deleted one, 0 when there was none.
inline const redis::script& withdraw_script() {
  static const redis::script s(std::string(detail::find_since_lua) + R"lua(
local found = find_since(ARGV[3], tonumber(ARGV[4]))
if not found then return 0 end
return redis.call('XDEL', KEYS[1], found)
)lua");
  return s;
}

// The age limit: entries older than the floor go, from the oldest up to the first that is not,
// but never the newest. Not on a message's way to the stores: it runs after the publish answered.
// KEYS: history. ARGV: age floor (the smallest id made at now - max age). Answers how many went.
inline const redis::script& age_trim_script() {
  static const redis::script s(R"lua(
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if not oldest or oldest[2][2] >= ARGV[1] then return 0 end
local lower = '-'
while true do
  local page = redis.call('XRANGE', KEYS[1], lower, '+', 'COUNT', 100)
  for _, e in ipairs(page) do
    if e[2][2] >= ARGV[1] then return redis.call('XTRIM', KEYS[1], 'MINID', e[1]) end
  end
  if #page < 100 then break end
  lower = '(' .. page[#page][1]
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1][1]
return redis.call('XTRIM', KEYS[1], 'MINID', newest)
)lua");
  return s;
}

// Everything a message's publish needs, built once: the envelope is encoded once, a first
// attempt's counted frame is the same for every target, and every target's command is views into
// this plan.
class publish_plan {
 public:
  struct target_keys {
    std::string target;
    std::string history;
    std::string channel;
    bool by_script = false;  // sent by publish_script(), else as a transaction
  };

  publish_plan(const message::envelope& e, const publisher_settings& s)
      : message_id_(e.id),
        json_(message::encode(e)),
        maxlen_(std::to_string(std::max<std::size_t>(1, s.history_max_len))),  // never empty
        exact_(s.exact_trim ? "1" : "0"),
        sharded_(s.sharded_pubsub ? "1" : "0"),
        trim_(s.exact_trim ? "=" : "~"),
        publish_command_(s.sharded_pubsub ? "SPUBLISH" : "PUBLISH"),
        search_max_(std::to_string(s.retry_search_max)),
        search_back_(s.clock_skew + 2 * s.retry_window) {
    append_counted_frame(counted_frame_, message_id_, json_);
    targets_.reserve(e.targets.size());
    for (const auto& t : e.targets) targets_.push_back({t, history_key(t), live_channel(t), false});
  }

  std::size_t size() const noexcept { return targets_.size(); }
  const target_keys& target(std::size_t i) const { return targets_[i]; }
  void send_by_script(std::size_t i) { targets_[i].by_script = true; }
  const std::string& message_id() const noexcept { return message_id_; }
  const std::string& json() const noexcept { return json_; }

  // A first attempt: client::transaction({xadd(i), publish(i)}).
  std::array<std::string_view, 10> xadd(std::size_t i) const {
    return {"XADD", targets_[i].history, "MAXLEN", trim_, maxlen_, "0-*",
            "id",   message_id_,         "env",    json_};
  }
  std::array<std::string_view, 3> publish(std::size_t i) const {
    return {publish_command_, targets_[i].channel, counted_frame_};
  }

  // A retry, or a target's first publish: publish_script().
  std::array<std::string_view, 1> keys(std::size_t i) const { return {targets_[i].history}; }
  // `retry_floor`: look for the message among the entries made since (a retry), or, when empty,
  // append it at once.
  // `live`: publish the live frame too; else append only.
  std::array<std::string_view, 8> args(std::size_t i, std::string_view retry_floor,
                                       bool live = true) const {
    return {message_id_, json_, targets_[i].channel,          maxlen_,
            exact_,      live ? std::string_view(sharded_) : "-", retry_floor, search_max_};
  }
  // The live frame of target i once its entry is known: a numbered one.
  std::array<std::string_view, 3> publish_numbered(std::size_t i, std::string_view frame) const {
    return {publish_command_, targets_[i].channel, frame};
  }
  // The smallest id made at the message's time - (clock skew + 2 retry windows). Only a retry
  // needs it.
  std::string retry_floor() const {
    const auto made = message::ulid_time_ms(message_id_).value_or(0);
    const auto back = static_cast<std::uint64_t>(std::max<long long>(0, search_back_.count()));
    return detail::ulid_floor(made > back ? made - back : 0);
  }

 private:
  std::string message_id_;
  std::string json_;
  std::string counted_frame_;
  std::string maxlen_, exact_, sharded_;
  std::string_view trim_, publish_command_;
  std::string search_max_;
  std::chrono::milliseconds search_back_;
  std::vector<target_keys> targets_;
};

namespace detail {

// A target's step failed: "<target>: <why>".
inline core::error target_failed(const std::string& target, const core::error& why) {
  auto failed = redis::failed(target, why);
  // XADD 0-* refuses a stream whose newest id is not "0-<seq>": one written before the offset
  // became the entry id (time-based ids). Say what to do rather than only what Redis said.
  if (why.detail().find("equal or smaller than the target stream top item") == std::string::npos)
    return failed;
  return core::error(failed.code(), failed.detail() + " (" + history_key(target) +
                                        " holds entries of an older bcast layout; delete the key "
                                        "to start this history afresh)");
}

// The publish script's answer: {appended (1/0), seq, stream id, receivers}.
inline core::result<target_outcome> read_script_reply(const std::string& target,
                                                      const redis::reply& r) {
  const auto e = r.as_array(4);
  if (!e) return target_failed(target, e.err());
  const auto appended = (*e)[0].as_integer();
  const auto seq = (*e)[1].as_integer();
  const auto id = (*e)[2].as_string();
  if (!appended || !seq || !id || *seq <= 0) {
    return core::error(core::errc::protocol_error,
                       target + ": unexpected answer to the publish script: " + r.describe());
  }
  target_outcome out;
  out.target = target;
  out.duplicate = *appended == 0;
  out.seq = static_cast<std::uint64_t>(*seq);
  out.stream_id = *id;
  out.receivers = (*e)[3].is_integer() ? (*e)[3].integer : 0;
  return out;
}

// EXEC's answer to { XADD, PUBLISH }: [stream id, receivers].
inline core::result<target_outcome> read_transaction_reply(const std::string& target,
                                                           const redis::reply& r) {
  const auto e = r.as_array(2);
  if (!e) return target_failed(target, e.err());
  const auto id = (*e)[0].as_string();
  if (!id && (*e)[0].is_error()) return target_failed(target, id.err());
  const auto seq = id ? seq_of_entry_id(*id) : std::nullopt;
  if (!seq) {
    return core::error(core::errc::protocol_error,
                       target + ": unexpected answer to the publish transaction: " + r.describe());
  }
  target_outcome out;
  out.target = target;
  out.seq = *seq;
  out.stream_id = *id;
  out.receivers = (*e)[1].is_integer() ? (*e)[1].integer : 0;
  return out;
}

}  // namespace detail

class publisher {
 public:
  using callback = std::function<void(core::result<publish_outcome>)>;

  // Must not outlive the client.
  explicit publisher(redis::client& c, publisher_settings s = {}) : client_(c) {
    set_settings(std::move(s));
  }
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  const publisher_settings& settings() const noexcept { return settings_; }
  // For the next publish; one in flight keeps the settings it started with.
  // On a cluster, always sharded pub/sub: a PUBLISH would go to every node of the cluster.
  void set_settings(publisher_settings s) {
    settings_ = std::move(s);
    if (client_.cluster()) settings_.sharded_pubsub = true;
  }

  // Every publish from now on signs its envelope with `key` (trust/signature.hpp); nullptr:
  // unsigned, which stores refuse unless they allow unsigned messages.
  void set_signing_key(std::shared_ptr<const trust::signing_key> key) {
    signing_key_ = std::move(key);
  }
  const std::shared_ptr<const trust::signing_key>& signing_key() const noexcept {
    return signing_key_;
  }

  // Signs on a thread of its own whenever publishes come faster than one at a time: a second
  // publish in one loop iteration, or while that thread still has work. A lone publish signs on
  // the loop, since handing it over costs a thread wake-up (tens of µs on 2 CPUs) and gains
  // nothing. Publishes are still written to Redis in the order they were asked for. (Redis may
  // still run them in another order, as without this: a target's first publish is a script, and
  // when Redis answers its EVALSHA with NOSCRIPT the EVAL sent again comes after whatever was
  // written meanwhile.)
  // Messages signed on that thread so far.
  std::uint64_t signed_off_loop() const noexcept { return signed_off_loop_; }

  void sign_off_loop() {
    if (!signer_)
      signer_ = std::make_unique<core::worker_pool>(
          client_.owner_loop(), core::worker_pool_options{1, max_signing_queue});
  }

  // Appends `e` to every target, then records it for the history API with the seq each target
  // gave it. The record waits for every target's answer: written alongside, it would hold back
  // their live frames (Redis sends them only once it has run everything it read at once).
  // Success only when all of that worked; on an error some targets may have it already, and
  // publishing the same envelope again with `retry` completes the rest without duplicating
  // anything.
  void publish(const message::envelope& e, callback cb, publish_options opts = {}) {
    if (e.targets.empty() || !message::is_valid_ulid(e.id)) {
      return fail_soon(std::move(cb), core::error(core::errc::invalid_argument,
                                                  "publish: the envelope needs an id and targets"));
    }
    if (!signing_key_) return send_to_targets(e, std::move(cb), opts);
    if (sign_on_signer(e, cb, opts)) return;
    auto signed_copy = signed_envelope(*signing_key_, e);
    if (!signed_copy) return fail_soon(std::move(cb), signed_copy.err());
    send_to_targets(*signed_copy, std::move(cb), opts);
  }

 private:
  struct in_flight {
    publish_plan plan;
    std::optional<std::uint64_t> expected;
    bool retry = false;
    bool record = true;
    callback cb;
  };

  static constexpr std::size_t max_signing_queue = 4096;

  static core::result<message::envelope> signed_envelope(const trust::signing_key& key,
                                                         message::envelope e) {
    if (auto s = trust::sign(key, e); !s)
      return core::error(s.err().code(),
                         "message " + e.id + " not published: " + s.err().message());
    return e;
  }

  // True when `e` went to the signing thread, which then sends it; false: sign it here.
  bool sign_on_signer(const message::envelope& e, const callback& cb, const publish_options& opts) {
    if (!signer_) return false;
    const bool busy = publishes_this_turn_ > 0 || signer_->in_flight() > 0;
    if (publishes_this_turn_++ == 0)
      client_.owner_loop().at_end_of_tick([this, alive = alive_.watch()] {
        if (!alive.expired()) publishes_this_turn_ = 0;
      });
    if (!busy) return false;
    auto alive = alive_.watch();
    const bool handed_over =
        signer_->submit([key = signing_key_, e]() { return signed_envelope(*key, e); },
                        [this, alive, cb, opts](core::result<message::envelope> s) mutable {
                          if (alive.expired())
                            return cb(core::error(core::errc::cancelled, "publisher destroyed"));
                          if (!s) return cb(s.err());
                          send_to_targets(*s, std::move(cb), opts);
                        });
    if (handed_over) ++signed_off_loop_;
    return handed_over;
  }

  void send_to_targets(const message::envelope& e, callback cb, const publish_options& opts) {
    in_flight st{publish_plan(e, settings_), opts.expected_stores, opts.retry, opts.record,
                 std::move(cb)};
    if (settings_.min_replicas > 0) return append_safely(std::move(st));
    redis::client::pipeline targets(client_, st.plan.size());
    std::string retry_floor;  // made once, by the first target that searches
    for (std::size_t i = 0; i < st.plan.size(); ++i) {
      if (opts.retry || transactions_refused() || !known_good(st.plan.target(i).target)) {
        add_script(targets, st.plan, i, opts.retry, retry_floor);
      } else {
        targets.transaction({st.plan.xadd(i), st.plan.publish(i)});
      }
    }
    send(targets, std::move(st));
  }

  // A completion is never called from the call that started the work.
  void fail_soon(callback cb, core::error why) {
    client_.owner_loop().defer(
        [cb = std::move(cb), why = std::move(why)]() mutable { cb(std::move(why)); });
  }

  // `search`: a retry, which first looks for the message among the target's entries since
  // `retry_floor` (made when first needed).
  static void add_script(redis::client::pipeline& p, publish_plan& plan, std::size_t i, bool search,
                         std::string& retry_floor) {
    plan.send_by_script(i);
    if (search && retry_floor.empty()) retry_floor = plan.retry_floor();
    p.eval(publish_script(), plan.keys(i), plan.args(i, search ? retry_floor : ""));
  }

  void send(redis::client::pipeline& targets, in_flight st) {
    auto alive = alive_.watch();
    targets.send([this, alive, st = std::move(st)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return st.cb(core::error(core::errc::cancelled, "publisher destroyed"));
      answered(std::move(st), r);
    });
  }

  // Target i's outcome, from the answers of the pipeline that sent every target.
  static core::result<target_outcome> outcome_of(const publish_plan& plan, std::size_t i,
                                                 const core::result<redis::replies>& r) {
    const auto& t = plan.target(i);
    if (!r) return detail::target_failed(t.target, r.err());
    return t.by_script ? detail::read_script_reply(t.target, (*r)[i])
                       : detail::read_transaction_reply(t.target, (*r)[i]);
  }

  void answered(in_flight st, const core::result<redis::replies>& r) {
    std::vector<std::size_t> refused;  // transactions refused by the ACL
    for (std::size_t i = 0; r && i < st.plan.size(); ++i) {
      const auto& answer = (*r)[i];
      if (!st.plan.target(i).by_script && answer.is_error() &&
          answer.str.find("NOPERM") != std::string::npos) {
        refused.push_back(i);
      }
    }
    if (refused.empty()) {
      return published(std::move(st), [&r](const publish_plan& plan, std::size_t i) {
        return outcome_of(plan, i, r);
      });
    }
    // A Redis user set up before publishing used transactions. If MULTI itself was refused, XADD
    // and PUBLISH ran on their own: the script's search finds such an entry instead of appending
    // it again.
    transactions_refused_at_ = std::chrono::steady_clock::now();
    core::log::warning("Redis refuses this publisher MULTI/EXEC (" + (*r)[refused.front()].str +
                       "); publishing with the script instead, which costs delivery latency. Add "
                       "+multi +exec to the publisher's ACL user (bcastctl acl).");
    std::vector<core::result<target_outcome>> outcomes;
    for (std::size_t i = 0; i < st.plan.size(); ++i) outcomes.push_back(outcome_of(st.plan, i, r));
    redis::client::pipeline again(client_, refused.size());
    std::string retry_floor;
    for (auto i : refused) add_script(again, st.plan, i, true, retry_floor);
    auto alive = alive_.watch();
    again.send([this, alive, st = std::move(st), outcomes = std::move(outcomes),
                refused = std::move(refused)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return st.cb(core::error(core::errc::cancelled, "publisher destroyed"));
      for (std::size_t k = 0; k < refused.size(); ++k) {
        const auto& target = st.plan.target(refused[k]).target;
        outcomes[refused[k]] =
            r ? detail::read_script_reply(target, (*r)[k]) : detail::target_failed(target, r.err());
      }
      published(std::move(st),
                [&outcomes](const publish_plan&, std::size_t i) { return std::move(outcomes[i]); });
    });
  }

  // min_replicas: every target's entry is appended, and WAIT on its node says how many replicas
  // have it; the live frames go out once all are safe (publish_safe_entries), else the entries
  // are taken back (withdraw).
  void append_safely(in_flight st) {
    redis::client::pipeline appends(client_, 2 * st.plan.size());
    std::string retry_floor;
    if (st.retry) retry_floor = st.plan.retry_floor();
    const auto replicas = std::to_string(settings_.min_replicas);
    const auto wait_ms = std::to_string(settings_.replica_wait.count());
    for (std::size_t i = 0; i < st.plan.size(); ++i) {
      st.plan.send_by_script(i);
      appends.eval(publish_script(), st.plan.keys(i), st.plan.args(i, retry_floor, false));
      appends.command_at(st.plan.target(i).history, {"WAIT", replicas, wait_ms});
    }
    auto alive = alive_.watch();
    appends.send([this, alive, st = std::move(st)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return st.cb(core::error(core::errc::cancelled, "publisher destroyed"));
      appended_safely(std::move(st), r);
    });
  }

  void appended_safely(in_flight st, const core::result<redis::replies>& r) {
    std::vector<core::result<target_outcome>> outcomes;
    std::string unsafe;
    for (std::size_t i = 0; i < st.plan.size(); ++i) {
      const auto& target = st.plan.target(i).target;
      outcomes.push_back(r ? detail::read_script_reply(target, (*r)[2 * i])
                           : detail::target_failed(target, r.err()));
      if (!outcomes.back()) continue;
      const auto acks = (*r)[2 * i + 1].as_integer();
      if (acks && *acks >= static_cast<long long>(settings_.min_replicas)) continue;
      unsafe += (unsafe.empty() ? "" : "; ") + target + ": " +
                (acks ? "on " + std::to_string(*acks) + " of " +
                            std::to_string(settings_.min_replicas) + " replicas within " +
                            std::to_string(settings_.replica_wait.count()) + " ms"
                      : "WAIT failed: " + acks.err().detail());
    }
    bool failed = !unsafe.empty();
    for (const auto& o : outcomes) failed = failed || !o;
    if (failed) return withdraw(std::move(st), std::move(outcomes), std::move(unsafe));
    publish_safe_entries(std::move(st), std::move(outcomes));
  }

  void publish_safe_entries(in_flight st, std::vector<core::result<target_outcome>> outcomes) {
    redis::client::pipeline frames(client_, st.plan.size());
    std::vector<std::size_t> sent;
    for (std::size_t i = 0; i < st.plan.size(); ++i) {
      if (outcomes[i]->duplicate) continue;  // published by the attempt that appended it
      // The pipeline encodes the command at once: the frame need not outlive this turn.
      const auto frame = encode_frame(outcomes[i]->seq, outcomes[i]->stream_id,
                                      st.plan.message_id(), st.plan.json());
      frames.command(st.plan.publish_numbered(i, frame));
      sent.push_back(i);
    }
    auto alive = alive_.watch();
    frames.send([this, alive, st = std::move(st), outcomes = std::move(outcomes),
                 sent = std::move(sent)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return st.cb(core::error(core::errc::cancelled, "publisher destroyed"));
      // The entries are safe: a store that missed the frame finds them in history.
      for (std::size_t k = 0; r && k < sent.size(); ++k) {
        if ((*r)[k].is_integer()) outcomes[sent[k]]->receivers = (*r)[k].integer;
      }
      published(std::move(st),
                [&outcomes](const publish_plan&, std::size_t i) { return std::move(outcomes[i]); });
    });
  }

  // Fails the publish, and takes its entries back from every target (found by id: an append
  // whose answer was lost may have run). A store that read the history meanwhile (within
  // replica_wait) may have shown it; one that reads it later sees a hole it reports as a gap.
  // Deletes that cannot reach their node yet (a failover) are tried again for a while.
  void withdraw(in_flight st, std::vector<core::result<target_outcome>> outcomes,
                std::string unsafe) {
    std::string failures = std::move(unsafe);
    for (const auto& o : outcomes) {
      if (!o) failures += (failures.empty() ? "" : "; ") + o.err().detail();
    }
    withdrawal w{st.plan.message_id(), st.plan.retry_floor(), {}, 0};
    for (std::size_t i = 0; i < st.plan.size(); ++i) w.histories.push_back(st.plan.target(i).history);
    send_withdrawal(std::move(w));
    st.cb(core::error(core::errc::not_connected,
                      "message " + st.plan.message_id() + " not published: not safe on " +
                          std::to_string(settings_.min_replicas) + " replica(s) (" + failures +
                          "); publishing it again with the same id is safe"));
  }

  struct withdrawal {
    std::string message_id;
    std::string floor;
    std::vector<std::string> histories;  // those not known to be clean yet
    unsigned attempts;
  };

  static constexpr unsigned max_withdraw_attempts = 60;  // one a second

  void send_withdrawal(withdrawal w) {
    redis::client::pipeline deletes(client_, w.histories.size());
    const auto budget = std::to_string(settings_.retry_search_max);
    for (const auto& h : w.histories) {
      const std::array<std::string_view, 1> keys{h};
      const std::array<std::string_view, 4> args{w.message_id, "", w.floor, budget};
      deletes.eval(withdraw_script(), keys, args);
    }
    auto alive = alive_.watch();
    deletes.send([this, alive, w = std::move(w)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return;
      std::vector<std::string> left;
      for (std::size_t i = 0; i < w.histories.size(); ++i) {
        if (!r || (*r)[i].is_error()) left.push_back(std::move(w.histories[i]));
      }
      if (left.empty()) return;
      w.histories = std::move(left);
      if (++w.attempts >= max_withdraw_attempts) {
        std::string keys;
        for (const auto& h : w.histories) keys += (keys.empty() ? "" : ", ") + h;
        core::log::error("message " + w.message_id + ": could not take back its entries in " +
                         keys + "; stores may show it although its send failed");
        return;
      }
      withdrawals_.push_back(std::move(w));
      if (!withdraw_timer_) withdraw_timer_ = std::make_unique<core::timer>(client_.owner_loop());
      if (!withdraw_timer_->active()) {
        withdraw_timer_->start(std::chrono::seconds(1), [this] {
          auto due = std::move(withdrawals_);
          withdrawals_.clear();
          for (auto& d : due) send_withdrawal(std::move(d));
        });
      }
    });
  }

  // `outcome_of(plan, i)`: target i's core::result<target_outcome>.
  template <class OutcomeOf>
  void published(in_flight st, OutcomeOf&& outcome_of) {
    const auto& plan = st.plan;
    publish_outcome outcome;
    outcome.message_id = plan.message_id();
    outcome.envelope_json = plan.json();
    std::string failures;
    std::error_code first_code;
    std::size_t failed = 0;
    if (targets_.size() > max_known_targets) targets_.clear();  // costs one script per target
    outcome.targets.reserve(plan.size());
    for (std::size_t i = 0; i < plan.size(); ++i) {
      auto r = outcome_of(plan, i);
      targets_[plan.target(i).target].good = r.ok();
      if (r.ok()) {
        outcome.targets.push_back(std::move(r).value());
        continue;
      }
      ++failed;
      if (!first_code) first_code = r.err().code();
      failures += (failures.empty() ? "" : "; ") + r.err().detail();
    }
    if (failed > 0) {
      // Not recorded, so not listed as sent.
      return st.cb(core::error(first_code, "message " + plan.message_id() + " not published to " +
                                               std::to_string(failed) + " of " +
                                               std::to_string(plan.size()) + " targets (" +
                                               failures +
                                               "); publishing it again with the same id is safe"));
    }
    trim_by_age(plan);
    if (!st.record) return st.cb(std::move(outcome));
    std::vector<std::pair<std::string_view, std::uint64_t>> seqs;
    seqs.reserve(outcome.targets.size());
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

  // A counted frame must never go out without its history entry, or the stores would count one
  // too many. XADD fails only on a key that is not a bcast history (another type, an older
  // layout), and in a transaction PUBLISH would still run; the script stops instead. So a
  // target's first publish from this publisher, and its first after a failure, take the script.
  bool known_good(const std::string& target) const {
    auto it = targets_.find(target);
    return it != targets_.end() && it->second.good;
  }

  // Tried again after a minute: the ACL may have been mended meanwhile.
  bool transactions_refused() const {
    return transactions_refused_at_ &&
           std::chrono::steady_clock::now() - *transactions_refused_at_ < std::chrono::minutes(1);
  }

  // At most once per target per second (or per max age, when shorter), after the publish: the
  // script looks at the oldest entry, and that is work a message's way to the stores need not
  // wait for.
  void trim_by_age(const publish_plan& plan) {
    const auto max_age = settings_.history_max_age;
    if (max_age.count() <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    const auto every =
        std::min<std::chrono::steady_clock::duration>(max_age, std::chrono::seconds(1));
    std::string floor;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      auto& last = targets_[plan.target(i).target].age_trimmed;
      if (last && now - *last < every) continue;
      last = now;
      if (floor.empty()) floor = age_floor(max_age);
      const std::array<std::string_view, 1> keys{plan.target(i).history};
      const std::array<std::string_view, 1> args{floor};
      client_.eval(age_trim_script(), keys, args, [](core::result<redis::reply>) {});
    }
  }

  static std::string age_floor(std::chrono::milliseconds max_age) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return detail::ulid_floor(
        static_cast<std::uint64_t>(std::max<long long>(0, (now - max_age).count())));
  }

  struct target_state {
    bool good = false;  // the last publish to it worked
    std::optional<std::chrono::steady_clock::time_point> age_trimmed;
  };

  static constexpr std::size_t max_known_targets = 100000;

  redis::client& client_;
  publisher_settings settings_;
  std::shared_ptr<const trust::signing_key> signing_key_;
  std::unordered_map<std::string, target_state> targets_;
  std::optional<std::chrono::steady_clock::time_point> transactions_refused_at_;
  std::size_t records_since_trim_ = 0;
  std::size_t publishes_this_turn_ = 0;
  std::uint64_t signed_off_loop_ = 0;
  std::vector<withdrawal> withdrawals_;
  std::unique_ptr<core::timer> withdraw_timer_;
  std::unique_ptr<core::worker_pool> signer_;  // sign_off_loop(); gone before the client
  core::liveness_token alive_;
};

}  // namespace bcast::broker
