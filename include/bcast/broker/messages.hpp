#pragma once
// publisherd's record of every message it sent, for the history API: newest first with
// limit/before, and one message by id with the seq it got in each target (receipts.hpp needs the
// seqs to tell which stores lost it in a history gap).

#include <bcast/broker/keys.hpp>
#include <bcast/core/error.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
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
  // The index is trimmed after every this many records, not after each: two commands less per
  // message on the publish path. It may hold up to trim_every - 1 records over max_messages.
  std::size_t trim_every = 64;
};

namespace detail {

inline core::error redis_refused(std::string_view what, const redis::reply& r) {
  return {core::errc::server_error, std::string(what) + ": " + r.str};
}

inline std::string seqs_json(const std::map<std::string, std::uint64_t, std::less<>>& seqs) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [t, s] : seqs) j[t] = s;
  return j.dump();
}

inline core::result<message_record> decode_record(std::string_view id, const redis::reply& env,
                                                  const redis::reply& seqs,
                                                  const redis::reply& expected) {
  const auto bad = [&](const std::string& why) {
    return core::error(core::errc::protocol_error,
                       "message record " + std::string(id) + ": " + why);
  };
  if (!env.is_string()) return bad("no envelope");
  message_record rec;
  auto e = message::decode(env.str);
  if (!e) return bad(e.err().detail());
  rec.envelope = std::move(e).value();
  rec.json = env.str;
  if (seqs.is_string()) {
    try {
      const auto j = nlohmann::json::parse(seqs.str);
      for (auto it = j.begin(); it != j.end(); ++it) {
        rec.seqs.emplace(it.key(), it.value().get<std::uint64_t>());
      }
    } catch (const nlohmann::json::exception&) {
      return bad("unreadable seqs");
    }
  }
  if (expected.is_string()) {
    std::uint64_t n = 0;
    if (redis::detail::parse_int(expected.str, n)) rec.expected_at_send = n;
  }
  return rec;
}

// The smallest ULID made at `ms`: every id older than that sorts below it.
inline std::string ulid_floor(std::uint64_t ms) {
  return message::make_ulid(ms, {});
}

}  // namespace detail

// Writes the record (idempotent: a retry rewrites the same values). `done` sees its writes.
inline void save_record(redis::client& client, const message_record& rec,
                        const record_settings& settings,
                        std::function<void(core::result<void>)> done) {
  const auto& id = rec.envelope.id;
  const std::string key = message_key(id);
  std::vector<std::string> hset{"HSET",   key,    "envelope",
                                rec.json, "seqs", detail::seqs_json(rec.seqs)};
  if (rec.expected_at_send) {
    hset.push_back("expected");
    hset.push_back(std::to_string(*rec.expected_at_send));
  }
  struct state {
    int remaining = 3;
    core::error failure;
    std::function<void(core::result<void>)> done;
  };
  auto st = std::make_shared<state>();
  st->done = std::move(done);
  auto step = [st](core::result<redis::reply> r, const char* what) {
    if (!st->failure) {
      if (!r) {
        st->failure = core::error(r.err().code(), std::string(what) + ": " + r.err().message());
      } else if (r->is_error()) {
        st->failure = detail::redis_refused(what, *r);
      }
    }
    if (--st->remaining == 0 && st->done) {
      auto d = std::move(st->done);
      if (st->failure) {
        d(st->failure);
      } else {
        d(core::result<void>());
      }
    }
  };
  client.command(
      hset, [step](core::result<redis::reply> r) { step(std::move(r), "recording the message"); });
  const std::string ttl = std::to_string(settings.max_age.count());
  client.command({"EXPIRE", key, ttl}, [step](core::result<redis::reply> r) {
    step(std::move(r), "setting the record's expiry");
  });
  const std::string index = messages_index_key();
  client.command({"ZADD", index, "0", id}, [step](core::result<redis::reply> r) {
    step(std::move(r), "indexing the message");
  });
}

// Trims the message index by age and count in the background, dropping the trimmed records. The
// owner keeps `alive` for as long as the client lives.
inline void trim_records(redis::client& client, const record_settings& settings,
                         std::weak_ptr<void> alive) {
  const std::string index = messages_index_key();
  const auto now_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const auto age_ms = static_cast<std::uint64_t>(settings.max_age.count()) * 1000;
  if (now_ms > age_ms) {
    const std::string floor = "(" + detail::ulid_floor(now_ms - age_ms);
    client.command({"ZREMRANGEBYLEX", index, "-", floor}, [](core::result<redis::reply>) {});
  }
  const auto max = settings.max_messages;
  client.command({"ZCARD", index}, [&client, alive, index, max](core::result<redis::reply> r) {
    if (alive.expired() || !r || !r->is_integer() || r->integer <= 0 ||
        static_cast<std::uint64_t>(r->integer) <= max) {
      return;
    }
    const std::string excess = std::to_string(static_cast<std::uint64_t>(r->integer) - max);
    client.command({"ZPOPMIN", index, excess}, [&client, alive](core::result<redis::reply> popped) {
      if (alive.expired() || !popped || !popped->is_array()) return;
      std::vector<std::string> del{"DEL"};
      // ZPOPMIN answers member, score, member, score...
      for (std::size_t i = 0; i < popped->elements.size(); i += 2) {
        del.push_back(message_key(popped->elements[i].str));
      }
      if (del.size() > 1) client.command(del, [](core::result<redis::reply>) {});
    });
  });
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
  // Records that expired between the index read and the fetch are left out.
  void list(std::size_t limit, std::string_view before, list_callback cb) {
    if (!before.empty() && !message::is_valid_ulid(before)) {
      client_.raw().owner_loop().defer([cb = std::move(cb)] {
        cb(core::error(core::errc::invalid_argument, "before: not a message id"));
      });
      return;
    }
    limit = std::clamp<std::size_t>(limit, 1, max_limit);
    const std::string max = before.empty() ? std::string("+") : "(" + std::string(before);
    const std::string count = std::to_string(limit);
    std::weak_ptr<void> alive = alive_;
    client_.command({"ZRANGE", messages_index_key(), max, "-", "BYLEX", "REV", "LIMIT", "0", count},
                    [this, alive, cb = std::move(cb)](core::result<redis::reply> r) mutable {
                      if (alive.expired()) return;
                      if (!r) return cb(r.err());
                      if (r->is_error()) return cb(detail::redis_refused("listing messages", *r));
                      std::vector<std::string> ids;
                      for (const auto& e : r->elements) ids.push_back(e.str);
                      fetch(std::move(ids), std::move(cb));
                    });
  }

  void get(std::string_view id, get_callback cb) {
    if (!message::is_valid_ulid(id)) {
      client_.raw().owner_loop().defer(
          [cb = std::move(cb)] { cb(std::optional<message_record>{}); });
      return;
    }
    fetch({std::string(id)}, [cb = std::move(cb)](core::result<std::vector<message_record>> r) {
      if (!r) return cb(r.err());
      if (r->empty()) return cb(std::optional<message_record>{});
      cb(std::optional<message_record>(std::move(r->front())));
    });
  }

 private:
  void fetch(std::vector<std::string> ids, list_callback cb) {
    if (ids.empty()) {
      cb(std::vector<message_record>{});
      return;
    }
    struct state {
      std::vector<std::string> ids;
      std::vector<std::optional<message_record>> found;
      std::size_t remaining = 0;
      core::error failure;
      list_callback cb;
    };
    auto st = std::make_shared<state>();
    st->found.resize(ids.size());
    st->remaining = ids.size();
    st->ids = std::move(ids);
    st->cb = std::move(cb);
    for (std::size_t i = 0; i < st->ids.size(); ++i) {
      client_.command({"HMGET", message_key(st->ids[i]), "envelope", "seqs", "expected"},
                      [st, i](core::result<redis::reply> r) {
                        if (!r) {
                          if (!st->failure) st->failure = r.err();
                        } else if (r->is_error()) {
                          if (!st->failure)
                            st->failure = detail::redis_refused("reading a message", *r);
                        } else if (r->elements.size() == 3) {
                          auto rec = detail::decode_record(st->ids[i], r->elements[0],
                                                           r->elements[1], r->elements[2]);
                          if (rec) st->found[i] = std::move(rec).value();
                        }
                        if (--st->remaining > 0) return;
                        if (st->failure) return st->cb(st->failure);
                        std::vector<message_record> out;
                        for (auto& f : st->found) {
                          if (f) out.push_back(std::move(*f));
                        }
                        st->cb(std::move(out));
                      });
    }
  }

  redis::client& client_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace bcast::broker
