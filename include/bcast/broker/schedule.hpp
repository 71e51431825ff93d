#pragma once
// Messages to be sent later (a send request's send_at). The schedule lives in Redis, so that it
// survives a publisherd restart and so that several publisherd on one Redis send each message
// once: whoever claims a due message sends it, and a claim is one atomic script.
//
// A claim does not remove the message: it moves its due time to the end of a lease and counts the
// attempt. The claimer signs and publishes it, then removes it (done). A claimer that dies or
// fails leaves it to come due again when the lease ends, and the next claimer publishes it as a
// retry (publish_options::retry), which finds what the first one appended instead of appending
// it twice. So a message goes out at least once per due time and is appended once.
//
// Keys (keys.hpp): bcast:{schedule}:due, a sorted set of ids by due time in ms, and
// bcast:{schedule}:items, a hash of id -> item. Both carry the tag {schedule}, so every script
// touches one cluster slot. An item is
//   {"attempts":N,"send_at":T,"created_at":T,"created_by":U,"envelope":{...}}
// with "attempts" first, so that the claim script counts an attempt with a string operation
// instead of decoding and encoding the envelope (cjson would rewrite its text).

#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/log_limit.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/send_request.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/trust/signature.hpp>

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

struct scheduled_message {
  // Unsigned: it is signed when it goes out, with the key publisherd has then. Its id is made at
  // send_at, so that it sorts in history where it goes out; sent_at is the planned time until the
  // sender sets the real one.
  message::envelope envelope;
  message::time_point send_at;
  message::time_point created_at;
  std::string created_by;
  std::uint64_t attempts = 0;  // claims so far: above 0, it is being sent

  bool sending() const noexcept { return attempts > 0; }
};

// A message to send at `send_at`, made from a validated draft (message::validate_request).
[[nodiscard]] inline core::result<scheduled_message> make_scheduled(message::envelope draft,
                                                                    std::string sender,
                                                                    message::time_point send_at,
                                                                    message::time_point now) {
  // A generator of its own each time: a generator only counts forward, and messages are not
  // scheduled in the order of their send_at. The random part alone keeps these ids apart.
  message::ulid_generator ids;
  auto e = message::make_envelope(std::move(draft), ids, sender, send_at);
  if (!e) return e.err();
  scheduled_message m;
  m.envelope = std::move(e).value();
  m.send_at = send_at;
  m.created_at = now;
  m.created_by = std::move(sender);
  return m;
}

// The seal: publisherd signs a message when it is scheduled, and checks that signature before it
// sends it, so that whoever can write to Redis cannot have publisherd sign words of theirs by
// adding or editing a schedule item. It is made with a context of its own: a sealed draft copied
// into a channel is no message a store would show, and a cancelled message cannot be sent by
// publishing its draft.
inline constexpr std::string_view schedule_signing_context = "bcast-schedule-v1\n";

[[nodiscard]] inline core::result<void> seal(const trust::signing_key& key, scheduled_message& m) {
  return trust::sign(key, m.envelope, schedule_signing_context);
}

// Why `m` must not be sent, nothing when it may: it must carry a seal made by one of `own_keys`
// (the keys this publisherd has signed with since it started). `unsealed_ok`: publisherd runs
// without a key (allow_unsigned), and nothing it schedules is sealed.
inline std::optional<std::string> check_seal(const trust::keyring& own_keys, bool unsealed_ok,
                                             const scheduled_message& m) {
  if (unsealed_ok && m.envelope.sig.empty()) return std::nullopt;
  auto sealed = own_keys.verify(m.envelope, schedule_signing_context);
  if (sealed) return std::nullopt;
  switch (sealed.err()) {
    case trust::signature_problem::unsigned_message:
      return std::string("it carries no seal: it was not scheduled by a publisherd with a key");
    case trust::signature_problem::unknown_key:
      return "it was sealed by key " + m.envelope.sig.substr(0, m.envelope.sig.find('.')) +
             ", which this publisherd does not hold (a key changed by a restart: schedule it "
             "again)";
    default:
      return std::string("its seal does not match it: it was altered in Redis");
  }
}

// What the API shows of a scheduled message: the envelope's members without the seal, "state"
// ("scheduled" or "sending"), "send_at" and "created_at".
inline nlohmann::json to_json(const scheduled_message& m) {
  nlohmann::json j = m.envelope;
  j.erase("sig");
  j["state"] = m.sending() ? "sending" : "scheduled";
  j["send_at"] = message::format_time(m.send_at);
  j["created_at"] = message::format_time(m.created_at);
  return j;
}

namespace detail {

inline std::uint64_t schedule_ms(message::time_point t) {
  return message::unix_ms(t);
}

inline std::string encode_scheduled(const scheduled_message& m) {
  std::string out = "{\"attempts\":" + std::to_string(m.attempts) + ",\"send_at\":";
  message::append_json_string(out, message::format_time(m.send_at));
  out += ",\"created_at\":";
  message::append_json_string(out, message::format_time(m.created_at));
  out += ",\"created_by\":";
  message::append_json_string(out, m.created_by);
  out += ",\"envelope\":";
  out += message::encode(m.envelope);
  out += '}';
  return out;
}

inline core::result<scheduled_message> decode_scheduled(std::string_view id,
                                                        std::string_view item) {
  const auto bad = [&](const std::string& why) {
    return core::error(core::errc::protocol_error,
                       "scheduled message " + std::string(id) + ": " + why);
  };
  auto parsed = nlohmann::json::parse(item, nullptr, false);
  if (!parsed.is_object()) return bad("not a schedule item");
  scheduled_message m;
  const auto* attempts = parsed.contains("attempts") ? &parsed["attempts"] : nullptr;
  if (!attempts || !attempts->is_number_unsigned()) return bad("no attempts count");
  m.attempts = attempts->get<std::uint64_t>();
  const auto time_of = [&](const char* name) -> std::optional<message::time_point> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || !it->is_string()) return std::nullopt;
    return message::parse_time(it->get_ref<const std::string&>());
  };
  const auto send_at = time_of("send_at"), created_at = time_of("created_at");
  if (!send_at || !created_at) return bad("unreadable times");
  m.send_at = *send_at;
  m.created_at = *created_at;
  if (const auto by = parsed.find("created_by"); by != parsed.end() && by->is_string())
    m.created_by = by->get<std::string>();
  const auto e = parsed.find("envelope");
  if (e == parsed.end() || !e->is_object()) return bad("no envelope");
  auto envelope = message::decode(e->dump());
  if (!envelope) return bad(envelope.err().detail());
  if (envelope->id != id) return bad("filed under another id");
  m.envelope = std::move(envelope).value();
  return m;
}

}  // namespace detail

// KEYS: due, items. ARGV: now (ms), the lease's end (ms), the most to claim.
// Answers {how many are scheduled, id, item, id, item, ...}: each item as it is after the claim.
// An id without an item is dropped; an item without a count is handed over as it is, leased like
// the others, for the claimer to drop.
inline const redis::script& claim_script() {
  static const redis::script s(R"lua(
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {0}
for _, id in ipairs(ids) do
  local item = redis.call('HGET', KEYS[2], id)
  if not item then
    redis.call('ZREM', KEYS[1], id)
  else
    local n = string.match(item, '^{"attempts":(%d+),')
    if n then
      item = '{"attempts":' .. (tonumber(n) + 1) .. string.sub(item, 13 + #n)
      redis.call('HSET', KEYS[2], id, item)
    end
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = item
  end
end
out[1] = redis.call('ZCARD', KEYS[1])
return out
)lua");
  return s;
}

namespace detail {

struct leased_claim {
  std::size_t due = 0;                                     // in the sorted set, these included
  std::vector<std::pair<std::string, std::string>> items;  // id, item after the claim
};

// Runs claim_script() on a due sorted set and its items hash: whatever keeps items in that shape
// (an item's text starts with {"attempts":N,). `doing` names it in an error.
inline void claim_leased(redis::client& c, std::string_view due, std::string_view items,
                         message::time_point now, std::chrono::milliseconds lease, std::size_t most,
                         std::string_view doing,
                         std::function<void(core::result<leased_claim>)> cb) {
  const auto now_ms = schedule_ms(now);
  const auto until = std::to_string(now_ms + static_cast<std::uint64_t>(lease.count()));
  const auto at = std::to_string(now_ms), count = std::to_string(std::max<std::size_t>(1, most));
  const std::array<std::string_view, 2> keys{due, items};
  const std::array<std::string_view, 3> args{at, until, count};
  c.eval(
      claim_script(), keys, args,
      [doing = std::string(doing), cb = std::move(cb)](core::result<redis::reply> r) {
        auto answer = redis::checked(std::move(r));
        auto elements = answer ? answer->as_array() : answer.err();
        if (!elements || elements->empty() || !(*elements)[0].is_integer() ||
            elements->size() % 2 == 0)
          return cb(
              redis::failed(doing, elements ? core::error(core::errc::protocol_error,
                                                          "unexpected answer " + answer->describe())
                                            : elements.err()));
        leased_claim out;
        out.due = static_cast<std::size_t>(std::max<long long>(0, (*elements)[0].integer));
        for (std::size_t i = 1; i + 1 < elements->size(); i += 2)
          out.items.emplace_back(std::move((*elements)[i].str), std::move((*elements)[i + 1].str));
        cb(std::move(out));
      });
}

}  // namespace detail

// KEYS: due, items. ARGV: id. Removes it only while no claim has been made on it: once one has,
// the message may have reached stores. Answers "cancelled", "sending" or "unknown".
inline const redis::script& cancel_script() {
  static const redis::script s(R"lua(
local item = redis.call('HGET', KEYS[2], ARGV[1])
if not item then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 'unknown'
end
if string.sub(item, 1, 14) ~= '{"attempts":0,' then return 'sending' end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 'cancelled'
)lua");
  return s;
}

// KEYS: due, items. ARGV: first rank, last rank. Answers {id, item, id, item, ...} soonest due
// first; an id without an item answers an empty item.
inline const redis::script& schedule_page_script() {
  static const redis::script s(R"lua(
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
)lua");
  return s;
}

class schedule {
 public:
  // Which messages a reader may see; an empty function sees all.
  using visibility = std::function<bool(const message::envelope&)>;
  using done_callback = std::function<void(core::result<void>)>;
  using get_callback = std::function<void(core::result<std::optional<scheduled_message>>)>;
  using list_callback = std::function<void(core::result<std::vector<scheduled_message>>)>;

  enum class cancel_outcome { cancelled, sending, unknown };
  using cancel_callback = std::function<void(core::result<cancel_outcome>)>;

  struct claim {
    std::size_t scheduled = 0;  // messages in the schedule, these included
    // Each claimed id with its message, or why it cannot be read (drop it: done()).
    std::vector<std::pair<std::string, core::result<scheduled_message>>> messages;
  };
  using claim_callback = std::function<void(core::result<claim>)>;

  static constexpr std::size_t max_limit = 1000;
  static constexpr std::size_t default_scan_budget = 5000;

  // Must not outlive the client.
  explicit schedule(redis::client& c) : client_(c) {}
  schedule(const schedule&) = delete;
  schedule& operator=(const schedule&) = delete;

  // Files `m` to be claimed from its send_at on; both keys in one transaction.
  void add(const scheduled_message& m, done_callback cb) {
    const auto items = schedule_items_key(), due = schedule_due_key();
    const auto item = detail::encode_scheduled(m);
    const auto at = std::to_string(detail::schedule_ms(m.send_at));
    const std::array<std::string_view, 4> hset{"HSET", items, m.envelope.id, item};
    const std::array<std::string_view, 4> zadd{"ZADD", due, at, m.envelope.id};
    client_.transaction({hset, zadd}, [cb = std::move(cb)](core::result<redis::reply> r) {
      cb(exec_outcome("scheduling the message", std::move(r)));
    });
  }

  void get(std::string_view id, get_callback cb) {
    if (!message::is_valid_ulid(id)) {
      client_.owner_loop().defer(
          [cb = std::move(cb)] { cb(std::optional<scheduled_message>{}); });
      return;
    }
    client_.command({"HGET", schedule_items_key(), id},
                    [id = std::string(id), cb = std::move(cb)](core::result<redis::reply> r) {
                      auto answer = redis::checked(std::move(r));
                      if (!answer) return cb(redis::failed("reading the schedule", answer.err()));
                      if (answer->is_nil()) return cb(std::optional<scheduled_message>{});
                      auto m = detail::decode_scheduled(id, answer->str);
                      if (!m) {
                        core::log::warning(m.err().message());
                        return cb(std::optional<scheduled_message>{});
                      }
                      cb(std::optional<scheduled_message>(std::move(m).value()));
                    });
  }

  // The `limit` (1..1000) soonest messages that `visible` lets through, in the order of their
  // send_at, read in growing pages until the list is full, the schedule ends, or `scan_budget`
  // were read.
  void list(std::size_t limit, visibility visible, list_callback cb,
            std::size_t scan_budget = default_scan_budget) {
    auto st = std::make_shared<scan>(
        scan{{limit, max_limit, scan_budget}, std::move(visible), std::move(cb), 0, {}});
    read_on(st);
  }

  void cancel(std::string_view id, cancel_callback cb) {
    const auto due = schedule_due_key(), items = schedule_items_key();
    const std::array<std::string_view, 2> keys{due, items};
    const std::array<std::string_view, 1> args{id};
    client_.eval(cancel_script(), keys, args, [cb = std::move(cb)](core::result<redis::reply> r) {
      auto answer = redis::checked(std::move(r));
      if (!answer) return cb(redis::failed("cancelling the message", answer.err()));
      if (answer->str == "cancelled") return cb(cancel_outcome::cancelled);
      if (answer->str == "sending") return cb(cancel_outcome::sending);
      if (answer->str == "unknown") return cb(cancel_outcome::unknown);
      cb(core::error(core::errc::protocol_error,
                     "cancelling the message: unexpected answer " + answer->describe()));
    });
  }

  // Claims at most `most` messages due at `now`, each until now + `lease`.
  void claim_due(message::time_point now, std::chrono::milliseconds lease, std::size_t most,
                 claim_callback cb) {
    detail::claim_leased(client_, schedule_due_key(), schedule_items_key(), now, lease, most,
                         "claiming scheduled messages",
                         [cb = std::move(cb)](core::result<detail::leased_claim> r) {
                           if (!r) return cb(r.err());
                           claim out;
                           out.scheduled = r->due;
                           for (auto& [id, item] : r->items)
                             out.messages.emplace_back(id, detail::decode_scheduled(id, item));
                           cb(std::move(out));
                         });
  }

  // Removes a message that went out (or that cannot be read).
  void done(std::string_view id, done_callback cb = {}) {
    const auto due = schedule_due_key(), items = schedule_items_key();
    const std::array<std::string_view, 3> zrem{"ZREM", due, id};
    const std::array<std::string_view, 3> hdel{"HDEL", items, id};
    client_.transaction({zrem, hdel}, [cb = std::move(cb)](core::result<redis::reply> r) {
      auto outcome = exec_outcome("removing a sent message from the schedule", std::move(r));
      if (cb) cb(std::move(outcome));
    });
  }

 private:
  struct scan {
    detail::scan_bounds bounds;
    visibility visible;
    list_callback cb;
    std::size_t next_rank = 0;
    std::vector<scheduled_message> out;
  };

  static core::result<void> exec_outcome(std::string_view doing, core::result<redis::reply> r) {
    auto answer = redis::checked(std::move(r));
    if (!answer) return redis::failed(doing, answer.err());
    const auto results = answer->as_array();
    if (!results) return redis::failed(doing, results.err());
    for (const auto& each : *results)
      if (each.is_error()) return redis::failed(doing, each.checked().err());
    return {};
  }

  // Claimed messages sort by the end of their lease; the list shows them by send_at.
  static void finish(scan& st) {
    std::stable_sort(st.out.begin(), st.out.end(),
                     [](const auto& a, const auto& b) { return a.send_at < b.send_at; });
    st.cb(std::move(st.out));
  }

  void read_on(std::shared_ptr<scan> st) {
    const auto count = st->bounds.next_page();
    const auto due = schedule_due_key(), items = schedule_items_key();
    const auto first = std::to_string(st->next_rank),
               last = std::to_string(st->next_rank + count - 1);
    const std::array<std::string_view, 2> keys{due, items};
    const std::array<std::string_view, 2> args{first, last};
    client_.eval(schedule_page_script(), keys, args,
                 [this, alive = alive_.watch(), st, count](core::result<redis::reply> r) {
                   if (alive.expired()) return;
                   const auto answer = redis::checked(std::move(r));
                   const auto elements = answer ? answer->as_array() : answer.err();
                   if (!elements)
                     return st->cb(redis::failed("reading the schedule", elements.err()));
                   const auto read = elements->size() / 2;
                   st->bounds.read(read);
                   st->next_rank += read;
                   for (std::size_t i = 0; i + 1 < elements->size(); i += 2) {
                     const auto& id = (*elements)[i].str;
                     if ((*elements)[i + 1].str.empty()) continue;  // sent or cancelled meanwhile
                     auto m = detail::decode_scheduled(id, (*elements)[i + 1].str);
                     if (!m) {
                       core::log::warning(m.err().message());
                       continue;
                     }
                     if (st->visible && !st->visible(m->envelope)) continue;
                     st->out.push_back(std::move(m).value());
                     if (st->out.size() == st->bounds.limit) return finish(*st);
                   }
                   if (read < count || st->bounds.budget == 0) return finish(*st);
                   read_on(st);
                 });
  }

  redis::client& client_;
  core::liveness_token alive_;
};

struct schedule_runner_settings {
  std::chrono::milliseconds poll_every{250};
  // How long a claimer has to send a message before another may claim it again: far beyond a
  // publish's timeout, so a slow publish is not sent twice.
  std::chrono::milliseconds lease{30'000};
  std::size_t batch = 100;  // the most claimed in one poll
};

// Polls the schedule and hands each claimed message to `send`, which signs and publishes it and
// then says whether it went out; one that did is removed from the schedule. Idle, a poll is one
// script call that runs one ZRANGEBYSCORE ... LIMIT and one ZCARD, whatever the schedule holds.
class schedule_runner {
 public:
  // `sent(true)` once every target has the message and it is recorded; `sent(false)` leaves it to
  // be claimed again when the lease ends.
  using sender = std::function<void(scheduled_message, std::function<void(bool sent)>)>;
  // After every poll that Redis answered: how many messages are scheduled.
  using observer = std::function<void(std::size_t scheduled)>;

  // Must not outlive the client or the schedule.
  schedule_runner(redis::client& c, schedule& s, sender send,
                  schedule_runner_settings settings = {})
      : client_(c),
        schedule_(s),
        send_(std::move(send)),
        settings_(settings),
        timer_(c.owner_loop()) {}
  schedule_runner(const schedule_runner&) = delete;
  schedule_runner& operator=(const schedule_runner&) = delete;

  void observe(observer o) { observer_ = std::move(o); }

  void start() {
    timer_.start(
        settings_.poll_every, [this] { poll(); }, settings_.poll_every);
    timer_.unref();
  }
  void stop() { timer_.stop(); }

  // Messages handed to `send` that have not said whether they went out.
  std::size_t sending() const noexcept { return sending_; }

 private:
  void poll() {
    // A claim in flight, or one that would only wait for a connection: the next tick tries again.
    if (claiming_ || !client_.ready()) return;
    claiming_ = true;
    schedule_.claim_due(std::chrono::system_clock::now(), settings_.lease, settings_.batch,
                        [this, alive = alive_.watch()](core::result<schedule::claim> r) {
                          if (alive.expired()) return;
                          claiming_ = false;
                          if (!r) {
                            failures_.write(core::log::level::warning, r.err().message());
                            return;
                          }
                          if (observer_) observer_(r->scheduled);
                          const bool more = r->messages.size() >= settings_.batch;
                          for (auto& [id, m] : r->messages) hand_over(id, std::move(m));
                          if (more) poll();
                        });
  }

  void hand_over(const std::string& id, core::result<scheduled_message> m) {
    if (!m) {
      core::log::error(m.err().message() + "; dropped from the schedule");
      return schedule_.done(id);
    }
    ++sending_;
    send_(std::move(m).value(), [this, alive = alive_.watch(), id](bool sent) {
      if (alive.expired()) return;
      --sending_;
      if (sent) schedule_.done(id);
    });
  }

  redis::client& client_;
  schedule& schedule_;
  sender send_;
  schedule_runner_settings settings_;
  observer observer_;
  core::timer timer_;
  bool claiming_ = false;
  std::size_t sending_ = 0;
  core::log::limited failures_{{1, std::chrono::seconds(60)},
                               "failed claims of scheduled messages not logged"};
  core::liveness_token alive_;
};

}  // namespace bcast::broker
