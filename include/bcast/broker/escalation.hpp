#pragma once
// Escalation of must-read messages (a send's escalate_after_s): when the time has passed,
// publisherd runs its escalation command once for the stores that have not acknowledged.
//
// Like the schedule (schedule.hpp), the pending escalations live in Redis, so that they survive a
// restart and so that of several publisherd on one Redis one runs each: whoever claims a due item
// runs it, and a claim is one atomic script (the schedule's own claim script: it moves the due time
// to the end of a lease and counts the attempt: detail::claim_leased). Unlike a scheduled message,
// an escalation is run at most once whatever its end: the claimer removes it after the run, failed
// or not. A claimer that dies mid-run leaves it to come due again when the lease ends; the claim
// after max_attempts drops it. So a command may run twice only when a publisherd died while it ran.
//
// Keys (keys.hpp), all under the tag {escalation}, so that every script touches one slot:
//   bcast:{escalation}:due        sorted set, message id -> due time in ms (or end of the lease)
//   bcast:{escalation}:items      hash, message id -> {"attempts":N,"due_at":T}
//   bcast:{escalation}:done:<id>  string {"due_at":T,"at":T,"result":R}, once it ran; expires
//                                 with the message log's max age. Its presence also keeps a
//                                 repeated add (a client's idempotent retry) from filing it again.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/receipt_aggregator.hpp>
#include <bcast/broker/schedule.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/log_limit.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/process.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

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

struct escalation_item {
  std::string message_id;
  message::time_point due_at;
  std::uint64_t attempts = 0;  // claims so far
};

// What GET /api/v1/messages/{id} shows: pending, or done with when and how it ended.
struct escalation_state {
  message::time_point due_at;
  bool done = false;
  std::string result;  // once done
  message::time_point at;
};

inline nlohmann::json to_json(const escalation_state& s) {
  return {{"due_at", message::format_time(s.due_at)},
          {"state", s.done ? "done" : "pending"},
          {"result", s.done ? nlohmann::json(s.result) : nlohmann::json(nullptr)},
          {"at", s.done ? nlohmann::json(message::format_time(s.at)) : nlohmann::json(nullptr)}};
}

// The escalation a sent message asks for (escalate_after_s after its sent_at), or nothing.
inline std::optional<escalation_item> escalation_of(const message::envelope& e) {
  if (!e.escalate_after_s) return std::nullopt;
  const auto sent = message::parse_time(e.sent_at);
  if (!sent) return std::nullopt;
  return escalation_item{e.id, *sent + std::chrono::seconds(*e.escalate_after_s), 0};
}

// The stores of `s` that have not acknowledged, sorted (the summary is).
inline std::vector<std::string> unacknowledged_stores(const receipt_summary& s) {
  std::vector<std::string> out;
  for (const auto& r : s.stores)
    if (r.state != "acknowledged") out.push_back(r.store);
  return out;
}

// The command's environment: BCAST_ID, BCAST_TITLE, BCAST_UNACKNOWLEDGED (space separated),
// BCAST_EXPECTED and BCAST_ACKNOWLEDGED (counts).
inline std::vector<std::string> escalation_env(const message::envelope& e,
                                               const receipt_summary& s) {
  std::string stores;
  for (const auto& id : unacknowledged_stores(s)) {
    if (!stores.empty()) stores += ' ';
    stores += id;
  }
  return {"BCAST_ID=" + e.id, "BCAST_TITLE=" + e.title, "BCAST_UNACKNOWLEDGED=" + stores,
          "BCAST_EXPECTED=" + std::to_string(s.expected),
          "BCAST_ACKNOWLEDGED=" + std::to_string(s.acknowledged)};
}

// Runs `command` with /bin/sh -c in a process group of its own, killed whole after `timeout`.
// `done` gets nothing when it exited 0, else why not: "exit status 3: <stderr's first line>",
// "killed by signal 9", "timed out after 60 s", "cannot start /bin/sh: ...".
inline void run_escalation_command(core::loop& l, const std::string& command,
                                   std::vector<std::string> env, std::chrono::seconds timeout,
                                   std::function<void(std::optional<std::string>)> done) {
  core::process_options o;
  o.file = "/bin/sh";
  o.args = {"-c", command};
  o.extra_env = std::move(env);
  o.timeout = timeout;
  o.own_process_group = true;
  o.max_output_bytes = 4096;
  auto spawned =
      core::process::spawn(l, std::move(o), [timeout, done](const core::process_result& r) {
        if (r.exited_ok()) return done(std::nullopt);
        if (r.timed_out) return done("timed out after " + std::to_string(timeout.count()) + " s");
        std::string why = r.term_signal != 0 ? "killed by signal " + std::to_string(r.term_signal)
                                             : "exit status " + std::to_string(r.exit_status);
        const std::string_view err = r.stderr_data;
        if (const auto line = err.substr(0, std::min(err.find('\n'), std::size_t{200}));
            !line.empty())
          why += ": " + std::string(line);
        done(std::move(why));
      });
  if (!spawned) {
    const auto why = spawned.err().message();
    l.defer([done = std::move(done), why] { done(why); });
  }
}

namespace detail {

inline std::string encode_escalation(const escalation_item& item) {
  std::string out = "{\"attempts\":" + std::to_string(item.attempts) + ",\"due_at\":";
  message::append_json_string(out, message::format_time(item.due_at));
  out += '}';
  return out;
}

inline core::result<escalation_item> decode_escalation(std::string_view id, std::string_view item) {
  const auto bad = [&](const std::string& why) {
    return core::error(core::errc::protocol_error, "escalation " + std::string(id) + ": " + why);
  };
  const auto parsed = nlohmann::json::parse(item, nullptr, false);
  if (!parsed.is_object()) return bad("not an escalation item");
  const auto attempts = parsed.find("attempts");
  const auto due = parsed.find("due_at");
  if (attempts == parsed.end() || !attempts->is_number_unsigned()) return bad("no attempts count");
  if (due == parsed.end() || !due->is_string()) return bad("no due time");
  const auto due_at = message::parse_time(due->get_ref<const std::string&>());
  if (!due_at) return bad("unreadable due time");
  return escalation_item{std::string(id), *due_at, attempts->get<std::uint64_t>()};
}

inline std::string encode_escalation_done(const escalation_state& s) {
  std::string out = "{\"due_at\":";
  message::append_json_string(out, message::format_time(s.due_at));
  out += ",\"at\":";
  message::append_json_string(out, message::format_time(s.at));
  out += ",\"result\":";
  message::append_json_string(out, s.result);
  out += '}';
  return out;
}

inline std::optional<escalation_state> decode_escalation_done(std::string_view text) {
  const auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (!parsed.is_object()) return std::nullopt;
  const auto time_of = [&](const char* name) -> std::optional<message::time_point> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || !it->is_string()) return std::nullopt;
    return message::parse_time(it->get_ref<const std::string&>());
  };
  const auto result = parsed.find("result");
  const auto due_at = time_of("due_at"), at = time_of("at");
  if (!due_at || !at || result == parsed.end() || !result->is_string()) return std::nullopt;
  return escalation_state{*due_at, true, result->get<std::string>(), *at};
}

}  // namespace detail

// KEYS: due, items, done. ARGV: id, due (ms), item. Files the item unless it is filed or done
// already. Answers 1 when filed, 0 when not.
inline const redis::script& escalation_add_script() {
  static const redis::script s(R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
)lua");
  return s;
}

// KEYS: due, items, done. ARGV: id, the done record, its time to live (ms).
inline const redis::script& escalation_finish_script() {
  static const redis::script s(R"lua(
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return 1
)lua");
  return s;
}

// KEYS: items, done. ARGV: id. Answers {item or '', done record or ''}.
inline const redis::script& escalation_state_script() {
  static const redis::script s(R"lua(
return {redis.call('HGET', KEYS[1], ARGV[1]) or '', redis.call('GET', KEYS[2]) or ''}
)lua");
  return s;
}

class escalations {
 public:
  using done_callback = std::function<void(core::result<void>)>;
  using state_callback = std::function<void(core::result<std::optional<escalation_state>>)>;
  struct claim {
    // Each claimed id with its item (attempts counted), or why it cannot be read.
    std::vector<std::pair<std::string, core::result<escalation_item>>> items;
  };
  using claim_callback = std::function<void(core::result<claim>)>;

  // Must not outlive the client. `keep_done`: how long a done record stays.
  explicit escalations(redis::client& c,
                       std::chrono::milliseconds keep_done = std::chrono::hours(24 * 90))
      : client_(c), keep_done_(keep_done) {}
  escalations(const escalations&) = delete;
  escalations& operator=(const escalations&) = delete;

  void set_keep_done(std::chrono::milliseconds keep) { keep_done_ = keep; }

  // Files `item` to be claimed from its due time on; nothing when it is filed or done already.
  void add(const escalation_item& item, done_callback cb) {
    const auto due = escalation_due_key(), items = escalation_items_key(),
               done = escalation_done_key(item.message_id);
    const auto at = std::to_string(message::unix_ms(item.due_at));
    const auto text = detail::encode_escalation(escalation_item{item.message_id, item.due_at, 0});
    const std::array<std::string_view, 3> keys{due, items, done};
    const std::array<std::string_view, 3> args{item.message_id, at, text};
    client_.eval(escalation_add_script(), keys, args,
                 [cb = std::move(cb)](core::result<redis::reply> r) {
                   auto answer = redis::checked(std::move(r));
                   if (!answer) return cb(redis::failed("filing the escalation", answer.err()));
                   cb(core::result<void>{});
                 });
  }

  // Claims at most `most` items due at `now`, each until now + `lease`.
  void claim_due(message::time_point now, std::chrono::milliseconds lease, std::size_t most,
                 claim_callback cb) {
    detail::claim_leased(client_, escalation_due_key(), escalation_items_key(), now, lease, most,
                         "claiming escalations",
                         [cb = std::move(cb)](core::result<detail::leased_claim> r) {
                           if (!r) return cb(r.err());
                           claim out;
                           for (auto& [id, item] : r->items)
                             out.items.emplace_back(id, detail::decode_escalation(id, item));
                           cb(std::move(out));
                         });
  }

  // Removes the item of `id` and records how it ended.
  void finish(std::string_view id, const escalation_state& record, done_callback cb = {}) {
    const auto due = escalation_due_key(), items = escalation_items_key(),
               done = escalation_done_key(id);
    const auto text = detail::encode_escalation_done(record);
    const auto px = std::to_string(std::max<long long>(1, keep_done_.count()));
    const std::array<std::string_view, 3> keys{due, items, done};
    const std::array<std::string_view, 3> args{id, text, px};
    client_.eval(escalation_finish_script(), keys, args,
                 [cb = std::move(cb)](core::result<redis::reply> r) {
                   auto answer = redis::checked(std::move(r));
                   core::result<void> out;
                   if (!answer) out = redis::failed("recording the escalation", answer.err());
                   if (cb) cb(std::move(out));
                 });
  }

  // The escalation of message `id`: pending, done, or nothing (none was filed, or its record
  // expired).
  void state(std::string_view id, state_callback cb) {
    const auto items = escalation_items_key(), done = escalation_done_key(id);
    const std::array<std::string_view, 2> keys{items, done};
    const std::array<std::string_view, 1> args{id};
    client_.eval(
        escalation_state_script(), keys, args,
        [id = std::string(id), cb = std::move(cb)](core::result<redis::reply> r) {
          auto answer = redis::checked(std::move(r));
          auto elements = answer ? answer->as_array() : answer.err();
          if (!elements || elements->size() != 2)
            return cb(redis::failed("reading the escalation",
                                    elements
                                        ? core::error(core::errc::protocol_error,
                                                      "unexpected answer " + answer->describe())
                                        : elements.err()));
          if (auto done = detail::decode_escalation_done((*elements)[1].str))
            return cb(std::optional<escalation_state>(std::move(*done)));
          auto item = detail::decode_escalation(id, (*elements)[0].str);
          if (!item) return cb(std::optional<escalation_state>{});
          cb(std::optional<escalation_state>(escalation_state{item->due_at, false, {}, {}}));
        });
  }

 private:
  redis::client& client_;
  std::chrono::milliseconds keep_done_;
};

struct escalation_runner_settings {
  std::chrono::milliseconds poll_every{1000};
  // How long a claimer has to run an escalation before another may claim it again: beyond the
  // command's timeout, so that a slow command is not run twice.
  std::chrono::milliseconds lease{90'000};
  std::size_t batch = 10;          // the most claimed in one poll
  std::uint64_t max_attempts = 3;  // claims of one item, then it is dropped
};

// Polls the escalations and hands each claimed item to `escalate`, which says how it ended: a
// result ("ok", "failed", ...) to record, after which the item is removed, or nothing to leave
// it to be claimed again when the lease ends (Redis did not answer). Idle, a poll is one script
// call that runs one ZRANGEBYSCORE ... LIMIT and one ZCARD.
class escalation_runner {
 public:
  using outcome = std::function<void(std::optional<std::string> result)>;
  using handler = std::function<void(escalation_item, outcome)>;
  // An item dropped unrun: it cannot be read, or every attempt was used up.
  using drop_handler = std::function<void(const std::string& id, const std::string& why)>;

  // Must not outlive the client or the escalations.
  escalation_runner(redis::client& c, escalations& e, handler escalate, drop_handler dropped,
                    escalation_runner_settings settings = {})
      : client_(c),
        escalations_(e),
        escalate_(std::move(escalate)),
        dropped_(std::move(dropped)),
        settings_(settings),
        timer_(c.owner_loop()) {}
  escalation_runner(const escalation_runner&) = delete;
  escalation_runner& operator=(const escalation_runner&) = delete;

  void set_lease(std::chrono::milliseconds lease) { settings_.lease = lease; }

  void start() {
    timer_.start(
        settings_.poll_every, [this] { poll(); }, settings_.poll_every);
    timer_.unref();
  }
  void stop() { timer_.stop(); }

 private:
  void poll() {
    if (claiming_ || !client_.ready()) return;
    claiming_ = true;
    escalations_.claim_due(std::chrono::system_clock::now(), settings_.lease, settings_.batch,
                           [this, alive = alive_.watch()](core::result<escalations::claim> r) {
                             if (alive.expired()) return;
                             claiming_ = false;
                             if (!r) {
                               failures_.write(core::log::level::warning, r.err().message());
                               return;
                             }
                             const bool more = r->items.size() >= settings_.batch;
                             for (auto& [id, item] : r->items) hand_over(id, std::move(item));
                             if (more) poll();
                           });
  }

  void hand_over(const std::string& id, core::result<escalation_item> item) {
    const auto now = std::chrono::system_clock::now();
    if (!item) return drop(id, now, now, item.err().message());
    if (item->attempts > settings_.max_attempts)
      return drop(id, item->due_at, now,
                  "not run: " + std::to_string(settings_.max_attempts) +
                      " attempts were claimed and none finished");
    const auto due_at = item->due_at;
    escalate_(std::move(item).value(), [this, alive = alive_.watch(), id,
                                        due_at](std::optional<std::string> result) {
      if (alive.expired() || !result) return;
      escalations_.finish(id, {due_at, true, std::move(*result), std::chrono::system_clock::now()});
    });
  }

  void drop(const std::string& id, message::time_point due_at, message::time_point now,
            const std::string& why) {
    escalations_.finish(id, {due_at, true, "dropped", now});
    if (dropped_) dropped_(id, why);
  }

  redis::client& client_;
  escalations& escalations_;
  handler escalate_;
  drop_handler dropped_;
  escalation_runner_settings settings_;
  core::timer timer_;
  bool claiming_ = false;
  core::log::limited failures_{{1, std::chrono::seconds(60)},
                               "failed escalation claims not logged"};
  core::liveness_token alive_;
};

}  // namespace bcast::broker
