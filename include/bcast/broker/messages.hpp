#pragma once
// publisherd's record of every message it sent, for the history API: newest first with
// limit/before, and one message by id with the seq it got in each target (receipt_aggregator.hpp
// needs the seqs to tell which stores lost it in a history gap).

#include <bcast/broker/keys.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

struct message_record {
  message::envelope envelope;
  std::string json;                                        // the envelope as published
  std::map<std::string, std::uint64_t, std::less<>> seqs;  // target -> seq in its history
  std::optional<std::uint64_t> expected_at_send;           // stores expected when it was sent
};

struct record_settings {
  std::size_t max_messages = 100000;
  std::chrono::seconds max_age{std::chrono::hours(24 * 90)};
  // The log is trimmed after every this many records, not after each: two commands less per
  // message on the publish path. It may hold up to trim_every - 1 records over max_messages.
  std::size_t trim_every = 64;
};

// A record is one member of the message log (keys.hpp), a sorted set whose scores are all 0:
//   "<id>\n<expected, or ->\n<seqs: {"target":seq,...}>\n<envelope json>"
// The id comes first, so members sort by it: ULIDs sort by the time they were made, so BYLEX REV
// lists newest first, "before" pages back, and a message is found by the range of its id. One
// ZADD records a message: a hash per message plus an index took three commands (HSET, EXPIRE,
// ZADD), and on a closed loop with one store their cost was most of what bcast-bench measured
// above the bare publish script (docs/PERFORMANCE.md). JSON escapes newlines, so no field but the
// last could hold one, and the envelope is kept byte for byte as it was published.
namespace detail {

// `seqs`: (target, seq) pairs.
template <class Seqs>
std::string encode_record(std::string_view id, std::optional<std::uint64_t> expected,
                          const Seqs& seqs, std::string_view envelope_json) {
  std::string out;
  out.reserve(id.size() + envelope_json.size() + 64);
  out += id;
  out += '\n';
  out += expected ? std::to_string(*expected) : std::string("-");
  out += "\n{";
  bool first = true;
  for (const auto& [target, seq] : seqs) {
    if (!first) out += ',';
    first = false;
    message::append_json_string(out, target);
    out += ':';
    out += std::to_string(seq);
  }
  out += "}\n";
  out += envelope_json;
  return out;
}

inline core::result<message_record> decode_record(std::string_view member) {
  const auto id = member.substr(0, member.find('\n'));
  const auto bad = [&](const std::string& why) {
    return core::error(core::errc::protocol_error,
                       "message record " + std::string(id) + ": " + why);
  };
  std::array<std::string_view, 4> field;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto nl = member.find('\n');
    if (nl == std::string_view::npos) return bad("not a record");
    field[i] = member.substr(0, nl);
    member.remove_prefix(nl + 1);
  }
  field[3] = member;
  message_record rec;
  auto e = message::decode(field[3]);
  if (!e) return bad(e.err().detail());
  rec.envelope = std::move(e).value();
  if (rec.envelope.id != field[0]) return bad("filed under another id");
  rec.json = std::string(field[3]);
  if (field[1] != "-") {
    std::uint64_t n = 0;
    if (!core::parse_int(field[1], n)) return bad("unreadable expected count");
    rec.expected_at_send = n;
  }
  try {
    const auto j = nlohmann::json::parse(field[2]);
    for (auto it = j.begin(); it != j.end(); ++it) {
      rec.seqs.emplace(it.key(), it.value().get<std::uint64_t>());
    }
  } catch (const nlohmann::json::exception&) {
    return bad("unreadable seqs");
  }
  return rec;
}

// BYLEX bounds of every member filed under `id`: "<id>\n" up to, not including, "<id>\x0b".
inline std::string record_floor(std::string_view id) {
  return "[" + std::string(id) + "\n";
}
inline std::string record_ceiling(std::string_view id) {
  return "(" + std::string(id) + "\x0b";
}

// How much of a list one request reads for a reader who sees only part of it (a limited user):
// pages of `limit`, doubling up to `max_page`, until `limit` are found or `budget` were read.
struct scan_bounds {
  scan_bounds(std::size_t wanted, std::size_t most, std::size_t scan_budget)
      : limit(std::clamp<std::size_t>(wanted, 1, most)),
        page(limit),
        budget(std::max(scan_budget, limit)),
        max_page(most) {}

  std::size_t limit, page, budget, max_page;

  std::size_t next_page() const noexcept { return std::min(page, budget); }
  // A page of `n` came back.
  void read(std::size_t n) noexcept {
    budget -= std::min(budget, n);
    page = std::min(2 * page, max_page);
  }
};

// The smallest ULID made at `ms`: every id older than that sorts below it.
inline std::string ulid_floor(std::uint64_t ms) {
  return message::make_ulid(ms, {});
}

}  // namespace detail

// KEYS: the message log. ARGV: record_floor(id), record_ceiling(id), the record. Answers the member
// already filed under the id, or files the record and answers nil.
inline const redis::script& file_record_once_script() {
  static const redis::script s(R"lua(
local found = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[1], 'BYLEX', 'REV', 'LIMIT', 0, 1)[1]
if found then return found end
redis.call('ZADD', KEYS[1], 0, ARGV[3])
return false
)lua");
  return s;
}

// Files a record made by detail::encode_record. A retry (`retry`) files it only when no record has
// its id yet, in one step: the first record stands as it was, and when another sender filed it,
// the save fails with errc::conflict. `done` sees its writes.
inline void save_record(redis::client& client, std::string_view id, std::string record, bool retry,
                        std::function<void(core::result<void>)> done) {
  const std::string log = message_log_key();
  if (!retry) {
    client.command({"ZADD", log, "0", std::move(record)},
                   [done = std::move(done)](core::result<redis::reply> r) {
                     if (auto saved = redis::checked(std::move(r)); !saved)
                       return done(redis::failed("recording the message", saved.err()));
                     done(core::result<void>());
                   });
    return;
  }
  const std::string floor = detail::record_floor(id), ceiling = detail::record_ceiling(id);
  const std::array<std::string_view, 1> keys{log};
  const std::array<std::string_view, 3> args{floor, ceiling, record};
  client.eval(
      file_record_once_script(), keys, args,
      [id = std::string(id), record, done = std::move(done)](core::result<redis::reply> r) {
        auto answer = redis::checked(std::move(r));
        if (!answer) return done(redis::failed("recording the message", answer.err()));
        if (answer->is_nil()) return done(core::result<void>());
        if (!answer->is_string())
          return done(
              core::error(core::errc::protocol_error,
                          "recording the message: unexpected answer " + answer->describe()));
        auto filed = detail::decode_record(answer->str);
        auto ours = detail::decode_record(record);
        if (filed && ours && filed->envelope.sender == ours->envelope.sender)
          return done(core::result<void>());
        done(core::error(core::errc::conflict,
                         "message " + id + " was recorded for another sender; it stays as it was"));
      });
}

// Trims the message log by age and count in the background.
inline void trim_records(redis::client& client, const record_settings& settings) {
  const std::string log = message_log_key();
  const auto now_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const auto age_ms = static_cast<std::uint64_t>(settings.max_age.count()) * 1000;
  if (now_ms > age_ms) {
    const std::string floor = "(" + detail::ulid_floor(now_ms - age_ms);
    client.command({"ZREMRANGEBYLEX", log, "-", floor}, [](core::result<redis::reply>) {});
  }
  // Every rank but the newest max_messages; nothing when there are fewer.
  const auto keep = static_cast<long long>(std::max<std::size_t>(1, settings.max_messages));
  client.command({"ZREMRANGEBYRANK", log, "0", std::to_string(-keep - 1)},
                 [](core::result<redis::reply>) {});
}

// A page of the message log for one reader.
struct message_page {
  std::vector<message_record> messages;  // newest first
  // Set when the scan stopped at its bound with fewer than `limit` messages: pass it as `before`
  // to read on. Empty when the log has nothing older, or the page is full.
  std::string next_before;
};

class message_log {
 public:
  using list_callback = std::function<void(core::result<std::vector<message_record>>)>;
  using page_callback = std::function<void(core::result<message_page>)>;
  using get_callback = std::function<void(core::result<std::optional<message_record>>)>;
  // Which messages the reader may see; an empty function sees all.
  using visibility = std::function<bool(const message::envelope&)>;

  static constexpr std::size_t max_limit = 1000;
  // A reader who sees few messages makes the log be read further for each page: at most this many
  // records per request (pages of up to max_limit, the largest answer any list gives).
  static constexpr std::size_t default_scan_budget = 5000;

  // Must not outlive the client.
  explicit message_log(redis::client& c) : client_(c) {}
  message_log(const message_log&) = delete;
  message_log& operator=(const message_log&) = delete;

  // Newest first; `before` (a message id, or empty) pages back. `limit` is clamped to 1..1000.
  void list(std::size_t limit, std::string_view before, list_callback cb) {
    list(limit, before, {}, [cb = std::move(cb)](core::result<message_page> r) {
      if (!r) return cb(r.err());
      cb(std::move(r->messages));
    });
  }

  // The newest `limit` messages older than `before` that `visible` lets through, read from the log
  // in growing pages until the page is full, the log ends, or `scan_budget` records were read.
  void list(std::size_t limit, std::string_view before, visibility visible, page_callback cb,
            std::size_t scan_budget = default_scan_budget) {
    if (!before.empty() && !message::is_valid_ulid(before)) {
      client_.owner_loop().defer([cb = std::move(cb)] {
        cb(core::error(core::errc::invalid_argument, "before: not a message id"));
      });
      return;
    }
    auto st = std::make_shared<scan>(
        scan{{limit, max_limit, scan_budget}, std::move(visible), std::move(cb), {}, {}, {}});
    // "(<before>" leaves out before's own members: they continue past its id, so sort above it.
    read_on(st, before.empty() ? std::string("+") : "(" + std::string(before));
  }

  void get(std::string_view id, get_callback cb) {
    if (!message::is_valid_ulid(id)) {
      client_.owner_loop().defer(
          [cb = std::move(cb)] { cb(std::optional<message_record>{}); });
      return;
    }
    client_.command({"ZRANGE", message_log_key(), detail::record_ceiling(id),
                     detail::record_floor(id), "BYLEX", "REV", "LIMIT", "0", "1"},
                    [alive = alive_.watch(), cb = std::move(cb)](core::result<redis::reply> r) {
                      if (alive.expired()) return;
                      const auto answer = redis::checked(std::move(r));
                      const auto members = answer ? answer->as_array() : answer.err();
                      if (!members)
                        return cb(redis::failed("reading the message log", members.err()));
                      for (const auto& member : *members) {
                        auto rec = detail::decode_record(member.str);
                        if (rec) return cb(std::optional<message_record>(std::move(rec).value()));
                        core::log::warning(rec.err().message());
                      }
                      cb(std::optional<message_record>{});
                    });
  }

 private:
  struct scan {
    detail::scan_bounds bounds;
    visibility visible;
    page_callback cb;
    message_page out;
    std::string last_id;     // of the member read last, decoded or not: where the next page starts
    std::string decoded_id;  // of the record decoded last
  };

  // One page below `max`. A member that does not decode is left out (and logged), not allowed to
  // hide the others. Two first attempts with one id file two records; the newer-sorting one
  // stands.
  void read_on(std::shared_ptr<scan> st, const std::string& max) {
    const auto count = st->bounds.next_page();
    client_.command({"ZRANGE", message_log_key(), max, "-", "BYLEX", "REV", "LIMIT", "0",
                     std::to_string(count)},
                    [this, alive = alive_.watch(), st, count](core::result<redis::reply> r) {
                      if (alive.expired()) return;
                      const auto answer = redis::checked(std::move(r));
                      const auto members = answer ? answer->as_array() : answer.err();
                      if (!members)
                        return st->cb(redis::failed("reading the message log", members.err()));
                      st->bounds.read(members->size());
                      for (const auto& member : *members) {
                        st->last_id = std::string_view(member.str).substr(0, member.str.find('\n'));
                        if (st->last_id == st->decoded_id) continue;
                        auto rec = detail::decode_record(member.str);
                        if (!rec) {
                          core::log::warning(rec.err().message());
                          continue;
                        }
                        st->decoded_id = st->last_id;
                        if (st->visible && !st->visible(rec->envelope)) continue;
                        st->out.messages.push_back(std::move(rec).value());
                        if (st->out.messages.size() == st->bounds.limit)
                          return st->cb(std::move(st->out));
                      }
                      if (members->size() < count)
                        return st->cb(std::move(st->out));  // the log ends here
                      if (st->bounds.budget == 0) {
                        if (message::is_valid_ulid(st->last_id)) st->out.next_before = st->last_id;
                        return st->cb(std::move(st->out));
                      }
                      read_on(st, "(" + st->last_id);
                    });
  }

  redis::client& client_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
