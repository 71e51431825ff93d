#pragma once
// publisherd's record of every message it sent, for the history API: newest first with
// limit/before, and one message by id with the seq it got in each target (receipt_aggregator.hpp
// needs the seqs to tell which stores lost it in a history gap).

#include <bcast/broker/keys.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/error.hpp>
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

// The smallest ULID made at `ms`: every id older than that sorts below it.
inline std::string ulid_floor(std::uint64_t ms) {
  return message::make_ulid(ms, {});
}

}  // namespace detail

// Files a record made by detail::encode_record. `replace`: first drops what an earlier attempt
// filed under the same id (a retry may know a different expected count). `done` sees its writes.
inline void save_record(redis::client& client, std::string_view id, std::string record,
                        bool replace, std::function<void(core::result<void>)> done) {
  const std::string log = message_log_key();
  if (replace) {
    client.command({"ZREMRANGEBYLEX", log, detail::record_floor(id), detail::record_ceiling(id)},
                   [](core::result<redis::reply>) {});
  }
  client.command({"ZADD", log, "0", std::move(record)},
                 [done = std::move(done)](core::result<redis::reply> r) {
                   if (auto saved = redis::checked(std::move(r)); !saved)
                     return done(redis::failed("recording the message", saved.err()));
                   done(core::result<void>());
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

class message_log {
 public:
  using list_callback = std::function<void(core::result<std::vector<message_record>>)>;
  using get_callback = std::function<void(core::result<std::optional<message_record>>)>;

  static constexpr std::size_t max_limit = 1000;

  // Must not outlive the client.
  explicit message_log(redis::client& c) : client_(c) {}
  message_log(const message_log&) = delete;
  message_log& operator=(const message_log&) = delete;

  // Newest first; `before` (a message id, or empty) pages back. `limit` is clamped to 1..1000.
  void list(std::size_t limit, std::string_view before, list_callback cb) {
    if (!before.empty() && !message::is_valid_ulid(before)) {
      client_.raw().owner_loop().defer([cb = std::move(cb)] {
        cb(core::error(core::errc::invalid_argument, "before: not a message id"));
      });
      return;
    }
    limit = std::clamp<std::size_t>(limit, 1, max_limit);
    // "(<before>" leaves out before's own members: they continue past its id, so sort above it.
    const std::string max = before.empty() ? std::string("+") : "(" + std::string(before);
    read({"ZRANGE", message_log_key(), max, "-", "BYLEX", "REV", "LIMIT", "0",
          std::to_string(limit)},
         std::move(cb));
  }

  void get(std::string_view id, get_callback cb) {
    if (!message::is_valid_ulid(id)) {
      client_.raw().owner_loop().defer(
          [cb = std::move(cb)] { cb(std::optional<message_record>{}); });
      return;
    }
    read({"ZRANGE", message_log_key(), detail::record_ceiling(id), detail::record_floor(id),
          "BYLEX", "REV", "LIMIT", "0", "1"},
         [cb = std::move(cb)](core::result<std::vector<message_record>> r) {
           if (!r) return cb(r.err());
           if (r->empty()) return cb(std::optional<message_record>{});
           cb(std::optional<message_record>(std::move(r->front())));
         });
  }

 private:
  // A member that does not decode is left out (and logged), not allowed to hide the others.
  void read(std::vector<std::string> zrange, list_callback cb) {
    auto alive = alive_.watch();
    client_.command(zrange, [alive, cb = std::move(cb)](core::result<redis::reply> r) {
      if (alive.expired()) return;
      const auto answer = redis::checked(std::move(r));
      const auto members = answer ? answer->as_array() : answer.err();
      if (!members) return cb(redis::failed("reading the message log", members.err()));
      std::vector<message_record> out;
      for (const auto& member : *members) {
        auto rec = detail::decode_record(member.str);
        if (!rec) {
          core::log::warning(rec.err().message());
          continue;
        }
        // Two first attempts with one id file two records; the newer-sorting one stands.
        if (!out.empty() && out.back().envelope.id == rec->envelope.id) continue;
        out.push_back(std::move(rec).value());
      }
      cb(std::move(out));
    });
  }

  redis::client& client_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
