#pragma once
// Receipts: what each store did with each message, written by the store under its own keys only,
// and summed up by publisherd for one message.
//
// Every state a store reaches is a field of its own, "<message-id>:<state>" -> time, written with
// HSETNX: a state is recorded once, with the time it was first reached, and nothing is ever
// overwritten. The store's state for a message is the most advanced one present, so states only
// move forward whatever order the writes land in (a retried `delivered` after `acknowledged`
// changes nothing). This needs no Lua, so a store's ACL user gets no EVAL, which would let it run
// arbitrary scripts on the shared Redis.
//
// A gap (history trimmed past the store's position) names seqs, not messages: the store cannot
// know the ids it never saw. It is a list entry "<target> <from> <to> <time>"; publisherd knows
// each message's seq per target (messages.hpp) and so which stores lost which message.
//
// Storage is bounded: the writer trims its messages older than max_age or beyond max_messages
// (oldest first) through an index sorted by the ULID's time, and keeps the newest max_gaps gaps.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/text.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcast::broker {

enum class receipt_state { delivered, displayed, acknowledged, expired, failed, gap };

inline constexpr std::array<receipt_state, 6> all_receipt_states = {
    receipt_state::delivered, receipt_state::displayed, receipt_state::acknowledged,
    receipt_state::expired,   receipt_state::failed,    receipt_state::gap};

inline std::string_view to_string(receipt_state s) noexcept {
  switch (s) {
    case receipt_state::delivered:
      return "delivered";
    case receipt_state::displayed:
      return "displayed";
    case receipt_state::acknowledged:
      return "acknowledged";
    case receipt_state::expired:
      return "expired";
    case receipt_state::failed:
      return "failed";
    case receipt_state::gap:
      return "gap";
  }
  return "delivered";
}

inline std::optional<receipt_state> parse_receipt_state(std::string_view s) noexcept {
  for (auto st : all_receipt_states) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

// How far along a state is. expired and failed come after delivered (the store had it) and
// before displayed: with several sinks, one that displayed beats one that failed.
inline int rank(receipt_state s) noexcept {
  switch (s) {
    case receipt_state::gap:
      return 1;
    case receipt_state::delivered:
      return 2;
    case receipt_state::failed:
      return 3;
    case receipt_state::expired:
      return 4;
    case receipt_state::displayed:
      return 5;
    case receipt_state::acknowledged:
      return 6;
  }
  return 0;
}

inline std::string receipt_field(std::string_view message_id, receipt_state s) {
  std::string f(message_id);
  f += ':';
  f += to_string(s);
  return f;
}

struct receipt_settings {
  std::chrono::hours max_age{24 * 30};
  std::size_t max_messages = 10000;
  std::size_t max_gaps = 1000;
  std::size_t max_queued = 10000;  // receipts held while Redis is unreachable; oldest dropped
  std::chrono::milliseconds retry_interval{2000};
  std::size_t trim_every = 100;  // writes between trims
};

// Store side.
class receipt_writer {
 public:
  using done_handler = std::function<void(core::result<void>)>;

  // Must not outlive the client.
  receipt_writer(core::loop& l, redis::client& c, std::string store_id, receipt_settings s = {})
      : loop_(l),
        client_(c),
        store_id_(std::move(store_id)),
        settings_(s),
        receipts_(receipts_key(store_id_)),
        index_(receipts_index_key(store_id_)),
        gaps_(gaps_key(store_id_)),
        retry_timer_(l) {}
  receipt_writer(const receipt_writer&) = delete;
  receipt_writer& operator=(const receipt_writer&) = delete;

  // `done` runs once the receipt is stored, or with the error when Redis refused it or it was
  // dropped from a full queue. Failures to reach Redis are retried in the background.
  void record(std::string_view message_id, receipt_state s,
              message::time_point at = std::chrono::system_clock::now(), done_handler done = {}) {
    if (!message::is_valid_ulid(message_id)) {
      fail_later(std::move(done),
                 core::error(core::errc::invalid_argument, "receipt: not a message id"));
      return;
    }
    op o;
    o.is_gap = false;
    o.message_id = message_id;
    o.state = s;
    o.at = message::format_time(at);
    o.done = std::move(done);
    send(std::move(o));
    if (++writes_since_trim_ >= settings_.trim_every) {
      writes_since_trim_ = 0;
      trim();
    }
  }

  void record_gap(std::string_view target, std::uint64_t from, std::uint64_t to,
                  message::time_point at = std::chrono::system_clock::now(),
                  done_handler done = {}) {
    if (!message::is_valid_target(target) || from == 0 || to < from) {
      fail_later(std::move(done),
                 core::error(core::errc::invalid_argument, "gap receipt: bad range"));
      return;
    }
    op o;
    o.is_gap = true;
    o.target = target;
    o.from = from;
    o.to = to;
    o.at = message::format_time(at);
    o.done = std::move(done);
    send(std::move(o));
  }

  // Drops receipts past max_age and max_messages now (also done every trim_every writes).
  void trim(done_handler done = {}) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto cutoff =
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(settings_.max_age).count();
    struct state {
      std::optional<core::result<redis::reply>> old, total;
      done_handler done;
    };
    auto st = std::make_shared<state>();
    st->done = std::move(done);
    std::weak_ptr<void> alive = alive_;
    auto next = [this, alive, st] {
      if (!st->old || !st->total) return;
      if (alive.expired()) return;
      auto& old = *st->old;
      auto& total = *st->total;
      if (!old || !total || !old->is_integer() || !total->is_integer()) {
        if (st->done) st->done(core::error(core::errc::server_error, "receipt trim: cannot count"));
        return;
      }
      const auto over =
          std::max<long long>(0, total->integer - static_cast<long long>(settings_.max_messages));
      const auto n = std::min<long long>(std::max(old->integer, over), 1000);
      if (n <= 0) {
        if (st->done) st->done(core::result<void>());
        return;
      }
      drop_oldest(static_cast<std::size_t>(n), std::move(st->done));
    };
    client_.command({"ZCOUNT", index_, "-inf", "(" + std::to_string(cutoff)},
                    [st, next](core::result<redis::reply> r) {
                      st->old.emplace(std::move(r));
                      next();
                    });
    client_.command({"ZCARD", index_}, [st, next](core::result<redis::reply> r) {
      st->total.emplace(std::move(r));
      next();
    });
  }

  std::size_t queued() const noexcept { return queue_.size(); }
  std::size_t dropped() const noexcept { return dropped_; }
  const std::string& store_id() const noexcept { return store_id_; }

 private:
  struct op {
    bool is_gap = false;
    std::string message_id;
    receipt_state state = receipt_state::delivered;
    std::string target;
    std::uint64_t from = 0, to = 0;
    std::string at;
    done_handler done;
  };

  void fail_later(done_handler done, core::error e) {
    if (done) loop_.defer([done = std::move(done), e = std::move(e)] { done(e); });
  }

  void send(op o) {
    struct state {
      op o;
      int remaining = 2;
      core::error transport, refused;
    };
    auto st = std::make_shared<state>();
    st->o = std::move(o);
    std::weak_ptr<void> alive = alive_;
    auto step = [this, alive, st](core::result<redis::reply> r) {
      if (!r) {
        if (!st->transport) st->transport = r.err();
      } else if (r->is_error()) {
        if (!st->refused)
          st->refused = core::error(core::errc::server_error, "receipt: Redis: " + r->str);
      }
      if (--st->remaining > 0) return;
      if (st->refused) {
        if (st->o.done) st->o.done(st->refused);
        return;
      }
      if (st->transport) {
        if (alive.expired()) {
          if (st->o.done) st->o.done(st->transport);
          return;
        }
        requeue(std::move(st->o));
        return;
      }
      if (st->o.done) st->o.done(core::result<void>());
    };
    const auto& w = st->o;
    if (w.is_gap) {
      std::string item =
          w.target + " " + std::to_string(w.from) + " " + std::to_string(w.to) + " " + w.at;
      client_.command({"LPUSH", gaps_, item}, step);
      client_.command({"LTRIM", gaps_, "0", std::to_string(settings_.max_gaps - 1)}, step);
    } else {
      const auto ms = message::ulid_time_ms(w.message_id).value_or(0);
      client_.command({"HSETNX", receipts_, receipt_field(w.message_id, w.state), w.at}, step);
      client_.command({"ZADD", index_, "NX", std::to_string(ms), w.message_id}, step);
    }
  }

  void requeue(op o) {
    if (queue_.size() >= settings_.max_queued) {
      auto oldest = std::move(queue_.front());
      queue_.pop_front();
      ++dropped_;
      if (oldest.done)
        oldest.done(
            core::error(core::errc::queue_full, "receipt dropped: Redis unreachable too long"));
    }
    queue_.push_back(std::move(o));
    if (!retry_timer_.active()) {
      retry_timer_.start(settings_.retry_interval, [this] {
        auto due = std::move(queue_);
        queue_.clear();
        for (auto& item : due) send(std::move(item));
      });
    }
  }

  void drop_oldest(std::size_t n, done_handler done) {
    std::weak_ptr<void> alive = alive_;
    client_.command({"ZRANGE", index_, "0", std::to_string(n - 1)},
                    [this, alive, done = std::move(done)](core::result<redis::reply> r) mutable {
                      if (alive.expired()) return;
                      if (!r || !r->is_array()) {
                        if (done)
                          done(core::error(core::errc::server_error, "receipt trim: cannot list"));
                        return;
                      }
                      std::vector<std::string> hdel{"HDEL", receipts_};
                      std::vector<std::string> zrem{"ZREM", index_};
                      for (const auto& m : r->elements) {
                        for (auto s : all_receipt_states) hdel.push_back(receipt_field(m.str, s));
                        zrem.push_back(m.str);
                      }
                      if (zrem.size() == 2) {
                        if (done) done(core::result<void>());
                        return;
                      }
                      client_.command(hdel, [](core::result<redis::reply>) {});
                      client_.command(zrem, [done = std::move(done)](core::result<redis::reply> z) {
                        if (!done) return;
                        if (!z || z->is_error()) {
                          done(core::error(core::errc::server_error, "receipt trim failed"));
                        } else {
                          done(core::result<void>());
                        }
                      });
                    });
  }

  core::loop& loop_;
  redis::client& client_;
  std::string store_id_;
  receipt_settings settings_;
  std::string receipts_, index_, gaps_;
  core::timer retry_timer_;
  std::deque<op> queue_;
  std::size_t dropped_ = 0;
  std::size_t writes_since_trim_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// ---- publisherd side -------------------------------------------------------------------------

struct known_store {
  std::string id;
  std::vector<std::string> groups;
};

struct store_receipt {
  std::string store;
  std::string state;  // a receipt_state, or "pending"
  std::string at;     // empty when pending
};

struct receipt_summary {
  std::size_t expected = 0;
  std::size_t delivered = 0;  // got it, whatever happened next
  std::size_t displayed = 0;  // displayed or acknowledged
  std::size_t acknowledged = 0;
  std::vector<store_receipt> stores;  // sorted by store id
};

inline nlohmann::json to_json(const receipt_summary& s) {
  nlohmann::json stores = nlohmann::json::array();
  for (const auto& r : s.stores) {
    stores.push_back({{"store", r.store},
                      {"state", r.state},
                      {"at", r.at.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.at)}});
  }
  return {{"expected", s.expected},
          {"delivered", s.delivered},
          {"displayed", s.displayed},
          {"acknowledged", s.acknowledged},
          {"stores", std::move(stores)}};
}

// What Redis holds for one store and one message.
struct store_receipt_data {
  std::array<std::optional<std::string>, all_receipt_states.size()> at;  // by all_receipt_states
  std::vector<std::string> gaps;                                         // gap list items
};

struct gap_record {
  std::string target;
  std::uint64_t from = 0, to = 0;
  std::string at;
};

inline std::optional<gap_record> parse_gap_record(std::string_view item) {
  gap_record g;
  std::array<std::string_view, 4> parts;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto sp = i + 1 < parts.size() ? item.find(' ') : item.size();
    if (sp == std::string_view::npos) return std::nullopt;
    parts[i] = item.substr(0, sp);
    item.remove_prefix(std::min(item.size(), sp + 1));
  }
  if (!core::parse_int(parts[1], g.from) || !core::parse_int(parts[2], g.to)) {
    return std::nullopt;
  }
  g.target = parts[0];
  g.at = parts[3];
  return g;
}

inline bool store_matches_message(const known_store& s, const message::envelope& e) {
  for (const auto& t : e.targets) {
    auto parsed = message::parse_target(t);
    if (parsed && message::store_matches(*parsed, s.id, s.groups)) return true;
  }
  return false;
}

// How many known stores a message reaches, found through an index by store id and by group
// rather than by testing every store against every target: publisherd counts it on every POST
// (the receipts' `expected`), and a fleet has thousands of stores. Same answer as counting the
// stores for which store_matches_message holds.
class store_reach {
 public:
  store_reach() = default;
  explicit store_reach(std::span<const known_store> stores) : stores_(stores.size()) {
    for (std::uint32_t i = 0; i < stores.size(); ++i) {
      by_id_.emplace(stores[i].id, i);
      for (const auto& g : stores[i].groups) by_group_[g].push_back(i);
    }
  }

  std::uint64_t count(const message::envelope& e) const {
    std::vector<std::uint32_t> reached;
    for (const auto& t : e.targets) {
      const auto parsed = message::parse_target(t);
      if (!parsed) continue;
      if (parsed->is_all()) return stores_;
      if (parsed->is_store()) {
        if (auto it = by_id_.find(parsed->name); it != by_id_.end()) reached.push_back(it->second);
      } else if (auto it = by_group_.find(parsed->str()); it != by_group_.end()) {
        reached.insert(reached.end(), it->second.begin(), it->second.end());
      }
    }
    // A store reached through several targets (its group and its id) counts once.
    std::sort(reached.begin(), reached.end());
    return static_cast<std::uint64_t>(std::unique(reached.begin(), reached.end()) -
                                      reached.begin());
  }

 private:
  std::uint64_t stores_ = 0;
  std::unordered_map<std::string, std::uint32_t> by_id_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> by_group_;
};

// One store's state for the message, or nothing when it neither was expected nor reported.
inline std::optional<store_receipt> effective_receipt(const known_store& s, bool expected,
                                                      const message_record& m,
                                                      const store_receipt_data& d) {
  std::optional<receipt_state> best;
  std::string at;
  for (std::size_t i = 0; i < all_receipt_states.size(); ++i) {
    if (!d.at[i]) continue;
    const auto st = all_receipt_states[i];
    if (!best || rank(st) > rank(*best)) {
      best = st;
      at = *d.at[i];
    }
  }
  if (!best) {
    for (const auto& item : d.gaps) {
      const auto g = parse_gap_record(item);
      if (!g) continue;
      const auto seq = m.seqs.find(g->target);
      if (seq != m.seqs.end() && seq->second >= g->from && seq->second <= g->to) {
        best = receipt_state::gap;
        at = g->at;
        break;
      }
    }
  }
  if (!best && !expected) return std::nullopt;
  if (!best) return store_receipt{s.id, "pending", ""};
  return store_receipt{s.id, std::string(to_string(*best)), at};
}

// expected: known stores whose id or groups match a target, plus any other known store that
// reported a receipt (its groups changed since). Counts are cumulative.
inline receipt_summary summarize_receipts(const message_record& m,
                                          std::span<const known_store> stores,
                                          std::span<const store_receipt_data> data) {
  receipt_summary out;
  for (std::size_t i = 0; i < stores.size() && i < data.size(); ++i) {
    auto r = effective_receipt(stores[i], store_matches_message(stores[i], m.envelope), m, data[i]);
    if (!r) continue;
    ++out.expected;
    const auto st = parse_receipt_state(r->state);
    if (st && *st != receipt_state::gap) ++out.delivered;
    if (st == receipt_state::displayed || st == receipt_state::acknowledged) ++out.displayed;
    if (st == receipt_state::acknowledged) ++out.acknowledged;
    out.stores.push_back(std::move(*r));
  }
  std::sort(out.stores.begin(), out.stores.end(),
            [](const store_receipt& a, const store_receipt& b) { return a.store < b.store; });
  return out;
}

// publisherd side: one HMGET per store (and an LRANGE of its gaps when it was expected), all
// pipelined; each touches one store's slot.
class receipt_aggregator {
 public:
  using callback = std::function<void(core::result<receipt_summary>)>;

  // Must not outlive the client.
  explicit receipt_aggregator(redis::client& c) : client_(c) {}
  receipt_aggregator(const receipt_aggregator&) = delete;
  receipt_aggregator& operator=(const receipt_aggregator&) = delete;

  void summarize(message_record m, std::vector<known_store> stores, callback cb) {
    struct state {
      message_record m;
      std::vector<known_store> stores;
      std::vector<store_receipt_data> data;
      std::size_t remaining = 0;
      core::error failure;
      callback cb;
    };
    auto st = std::make_shared<state>();
    st->m = std::move(m);
    st->stores = std::move(stores);
    st->data.resize(st->stores.size());
    st->cb = std::move(cb);
    if (st->stores.empty()) {
      client_.raw().owner_loop().defer([st] { st->cb(receipt_summary{}); });
      return;
    }
    auto finish = [st] {
      if (--st->remaining > 0) return;
      if (st->failure) return st->cb(st->failure);
      st->cb(summarize_receipts(st->m, st->stores, st->data));
    };
    auto note = [st](const core::result<redis::reply>& r) {
      if (st->failure) return false;
      if (!r) {
        st->failure = core::error(r.err().code(), "reading receipts: " + r.err().message());
        return false;
      }
      if (r->is_error()) {
        st->failure = core::error(core::errc::server_error, "reading receipts: Redis: " + r->str);
        return false;
      }
      return true;
    };
    std::vector<std::string> fields;
    for (auto s : all_receipt_states) fields.push_back(receipt_field(st->m.envelope.id, s));
    for (std::size_t i = 0; i < st->stores.size(); ++i) {
      const bool expected = store_matches_message(st->stores[i], st->m.envelope);
      st->remaining += expected ? 2 : 1;
      std::vector<std::string> hmget{"HMGET", receipts_key(st->stores[i].id)};
      hmget.insert(hmget.end(), fields.begin(), fields.end());
      client_.command(hmget, [st, i, note, finish](core::result<redis::reply> r) {
        if (note(r) && r->elements.size() == all_receipt_states.size()) {
          for (std::size_t k = 0; k < all_receipt_states.size(); ++k) {
            if (r->elements[k].is_string()) st->data[i].at[k] = std::move(r->elements[k].str);
          }
        }
        finish();
      });
      if (expected) {
        client_.command({"LRANGE", gaps_key(st->stores[i].id), "0", "-1"},
                        [st, i, note, finish](core::result<redis::reply> r) {
                          if (note(r)) {
                            for (auto& g : r->elements)
                              st->data[i].gaps.push_back(std::move(g.str));
                          }
                          finish();
                        });
      }
    }
  }

 private:
  redis::client& client_;
};

}  // namespace bcast::broker
