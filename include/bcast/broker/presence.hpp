#pragma once
// Presence. A store's heartbeat writes two keys of its own, and nothing else, so that its ACL user
// stays limited to its own keys and publishes nothing:
//   bcast:{store:S}:presence  id, groups, version, last_seen, interval_ms; PEXPIRE ttl
//                             (3 intervals by default): it exists while the store is online,
//                             judged by Redis's clock, not the store's
//   bcast:{store:S}:profile   the same without expiry, plus first_seen: every store ever seen
// publisherd finds the stores with SCAN MATCH bcast:{store:*}:profile (TYPE hash), which visits
// the whole keyspace in COUNT-sized steps: fine for thousands of stores, and a store needs no
// right to write anywhere shared.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/time.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

struct store_profile {
  std::string id;
  std::vector<std::string> groups;
  std::string version;
};

struct presence_settings {
  std::chrono::milliseconds interval{10000};
  unsigned ttl_intervals = 3;  // offline after this many missed heartbeats
};

// Store side.
class heartbeat {
 public:
  using done_handler = std::function<void(core::result<void>)>;

  // Must not outlive the client.
  heartbeat(core::loop& l, redis::client& c, store_profile p, presence_settings s = {})
      : client_(c),
        profile_(std::move(p)),
        settings_(s),
        timer_(l),
        groups_json_(nlohmann::json(profile_.groups).dump()) {}
  heartbeat(const heartbeat&) = delete;
  heartbeat& operator=(const heartbeat&) = delete;

  // Beats now and then every interval. Failures are reported to `on_error` and the next beat
  // tries again.
  void start(std::function<void(const core::error&)> on_error = {}) {
    on_error_ = std::move(on_error);
    beat();
    timer_.start(
        settings_.interval, [this] { beat(); }, settings_.interval);
    timer_.unref();
  }

  // Stops beating and marks the store offline at once (a clean shutdown).
  void stop(done_handler done = {}) {
    timer_.stop();
    client_.command(
        {"DEL", presence_key(profile_.id)}, [done = std::move(done)](core::result<redis::reply> r) {
          if (!done) return;
          if (!r) return done(r.err());
          if (r->is_error())
            return done(core::error(core::errc::server_error, "presence: Redis: " + r->str));
          done(core::result<void>());
        });
  }

  // One heartbeat now.
  void beat(done_handler done = {}) {
    const auto now = message::format_time(std::chrono::system_clock::now());
    const auto ttl =
        std::to_string(settings_.interval.count() * std::max(1u, settings_.ttl_intervals));
    const auto presence = presence_key(profile_.id);
    const auto profile = profile_key(profile_.id);
    const auto interval = std::to_string(settings_.interval.count());
    struct state {
      int remaining = 4;
      core::error failure;
      done_handler done;
    };
    auto st = std::make_shared<state>();
    st->done = std::move(done);
    std::weak_ptr<void> alive = alive_;
    auto step = [this, alive, st](core::result<redis::reply> r) {
      if (!st->failure) {
        if (!r) {
          st->failure = core::error(r.err().code(), "heartbeat: " + r.err().message());
        } else if (r->is_error()) {
          st->failure = core::error(core::errc::server_error, "heartbeat: Redis: " + r->str);
        }
      }
      if (--st->remaining > 0) return;
      if (st->failure && !alive.expired() && on_error_) on_error_(st->failure);
      if (st->done) {
        if (st->failure) {
          st->done(st->failure);
        } else {
          st->done(core::result<void>());
        }
      }
    };
    client_.command({"HSET", presence, "id", profile_.id, "groups", groups_json_, "version",
                     profile_.version, "last_seen", now, "interval_ms", interval},
                    step);
    client_.command({"PEXPIRE", presence, ttl}, step);
    client_.command({"HSET", profile, "id", profile_.id, "groups", groups_json_, "version",
                     profile_.version, "last_seen", now},
                    step);
    client_.command({"HSETNX", profile, "first_seen", now}, step);
  }

 private:
  redis::client& client_;
  store_profile profile_;
  presence_settings settings_;
  core::timer timer_;
  std::string groups_json_;
  std::function<void(const core::error&)> on_error_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// ---- publisherd side -------------------------------------------------------------------------

struct store_presence {
  std::string id;
  std::vector<std::string> groups;
  std::string version;
  bool online = false;
  std::string last_seen;  // the store's clock, format_time()
  std::string first_seen;
};

// The API's shape: {"id","groups","online","last_seen"} (+ version).
inline nlohmann::json to_json(const store_presence& p) {
  return {
      {"id", p.id},
      {"groups", p.groups},
      {"online", p.online},
      {"last_seen", p.last_seen.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.last_seen)},
      {"version", p.version}};
}

inline std::vector<known_store> known_stores(const std::vector<store_presence>& list) {
  std::vector<known_store> out;
  out.reserve(list.size());
  for (const auto& p : list) out.push_back({p.id, p.groups});
  return out;
}

class presence_directory {
 public:
  using callback = std::function<void(core::result<std::vector<store_presence>>)>;

  // Must not outlive the client.
  explicit presence_directory(redis::client& c, std::size_t scan_count = 1000)
      : client_(c), scan_count_(std::to_string(scan_count)) {}
  presence_directory(const presence_directory&) = delete;
  presence_directory& operator=(const presence_directory&) = delete;

  // Every store ever seen, sorted by id.
  void list(callback cb) {
    auto st = std::make_shared<scan_state>();
    st->cb = std::move(cb);
    scan(st, "0");
  }

  // Forgets a decommissioned store (it reappears if it beats again).
  void forget(std::string_view store_id, std::function<void(core::result<void>)> done) {
    client_.command({"DEL", profile_key(store_id), presence_key(store_id)},
                    [done = std::move(done)](core::result<redis::reply> r) {
                      if (!r) return done(r.err());
                      if (r->is_error()) return done(core::error(core::errc::server_error, r->str));
                      done(core::result<void>());
                    });
  }

 private:
  struct scan_state {
    std::set<std::string> ids;
    callback cb;
    std::size_t rounds = 0;
  };

  void scan(std::shared_ptr<scan_state> st, const std::string& cursor) {
    std::weak_ptr<void> alive = alive_;
    client_.command(
        {"SCAN", cursor, "MATCH", profile_scan_pattern(), "COUNT", scan_count_, "TYPE", "hash"},
        [this, alive, st](core::result<redis::reply> r) {
          if (alive.expired()) return;
          if (!r)
            return st->cb(core::error(r.err().code(), "listing stores: " + r.err().message()));
          if (r->is_error()) {
            return st->cb(
                core::error(core::errc::server_error, "listing stores: Redis: " + r->str));
          }
          if (!r->is_array() || r->elements.size() != 2) {
            return st->cb(
                core::error(core::errc::protocol_error, "listing stores: bad SCAN answer"));
          }
          for (const auto& k : r->elements[1].elements) {
            if (auto id = store_of_profile_key(k.str)) st->ids.emplace(*id);
          }
          const auto& next = r->elements[0].str;
          if (next != "0" && ++st->rounds < 1000000) return scan(st, next);
          fetch(st);
        });
  }

  void fetch(std::shared_ptr<scan_state> scanned) {
    struct state {
      std::vector<store_presence> out;
      std::size_t remaining = 0;
      core::error failure;
      callback cb;
    };
    auto st = std::make_shared<state>();
    st->cb = std::move(scanned->cb);
    for (const auto& id : scanned->ids)
      st->out.push_back(store_presence{id, {}, {}, false, {}, {}});
    if (st->out.empty()) return st->cb(std::vector<store_presence>{});
    st->remaining = st->out.size() * 2;
    auto finish = [st] {
      if (--st->remaining > 0) return;
      if (st->failure) return st->cb(st->failure);
      st->cb(std::move(st->out));
    };
    auto ok = [st](const core::result<redis::reply>& r) {
      if (st->failure) return false;
      if (!r) {
        st->failure = core::error(r.err().code(), "listing stores: " + r.err().message());
        return false;
      }
      if (r->is_error()) {
        st->failure = core::error(core::errc::server_error, "listing stores: Redis: " + r->str);
        return false;
      }
      return true;
    };
    for (std::size_t i = 0; i < st->out.size(); ++i) {
      const auto& id = st->out[i].id;
      client_.command({"HMGET", profile_key(id), "groups", "version", "last_seen", "first_seen"},
                      [st, i, ok, finish](core::result<redis::reply> r) {
                        if (ok(r) && r->elements.size() == 4) {
                          auto& p = st->out[i];
                          if (r->elements[0].is_string()) {
                            try {
                              auto groups = nlohmann::json::parse(r->elements[0].str);
                              for (const auto& g : groups) {
                                if (g.is_string()) p.groups.push_back(g.get<std::string>());
                              }
                            } catch (const nlohmann::json::exception&) {
                            }
                          }
                          p.version = r->elements[1].str;
                          p.last_seen = r->elements[2].str;
                          p.first_seen = r->elements[3].str;
                        }
                        finish();
                      });
      client_.command({"EXISTS", presence_key(id)},
                      [st, i, ok, finish](core::result<redis::reply> r) {
                        if (ok(r) && r->is_integer()) st->out[i].online = r->integer > 0;
                        finish();
                      });
    }
  }

  redis::client& client_;
  std::string scan_count_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace bcast::broker
