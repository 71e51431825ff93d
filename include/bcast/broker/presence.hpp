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
#include <bcast/broker/store_reach.hpp>
#include <bcast/core/lifetime.hpp>
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
#include <span>
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
    client_.command({"DEL", presence_key(profile_.id)},
                    [done = std::move(done)](core::result<redis::reply> r) {
                      if (!done) return;
                      if (auto gone = redis::checked(std::move(r)); !gone)
                        return done(redis::failed("presence", gone.err()));
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
    redis::client::pipeline p(client_, 4);
    p.command({"HSET", presence, "id", profile_.id, "groups", groups_json_, "version",
               profile_.version, "last_seen", now, "interval_ms", interval})
        .command({"PEXPIRE", presence, ttl})
        .command({"HSET", profile, "id", profile_.id, "groups", groups_json_, "version",
                  profile_.version, "last_seen", now})
        .command({"HSETNX", profile, "first_seen", now});
    auto alive = alive_.watch();
    p.send([this, alive, done = std::move(done)](core::result<redis::replies> r) {
      auto written = redis::first_error(r);
      if (!written) {
        const auto e = redis::failed("heartbeat", written.err());
        if (!alive.expired() && on_error_) on_error_(e);
        if (done) done(e);
        return;
      }
      if (done) done(core::result<void>());
    });
  }

 private:
  redis::client& client_;
  store_profile profile_;
  presence_settings settings_;
  core::timer timer_;
  std::string groups_json_;
  std::function<void(const core::error&)> on_error_;
  core::liveness_token alive_;
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
                      if (auto gone = redis::checked(std::move(r)); !gone)
                        return done(redis::failed("forgetting a store", gone.err()));
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
    auto alive = alive_.watch();
    client_.command(
        {"SCAN", cursor, "MATCH", profile_scan_pattern(), "COUNT", scan_count_, "TYPE", "hash"},
        [this, alive, st](core::result<redis::reply> r) {
          if (alive.expired()) return;
          const auto answer = redis::checked(std::move(r));
          const auto page = answer ? answer->as_array(2) : answer.err();
          const auto next = page ? (*page)[0].as_string() : page.err();
          const auto keys = page ? (*page)[1].as_array() : page.err();
          if (!next || !keys)
            return st->cb(redis::failed("listing stores", next ? keys.err() : next.err()));
          for (const auto& k : *keys) {
            if (auto id = store_of_profile_key(k.str)) st->ids.emplace(*id);
          }
          if (*next != "0" && ++st->rounds < 1000000) return scan(st, std::string(*next));
          fetch(*st);
        });
  }

  // One HMGET and one EXISTS per store, pipelined.
  void fetch(scan_state& scanned) {
    std::vector<store_presence> out;
    for (const auto& id : scanned.ids) out.push_back(store_presence{id, {}, {}, false, {}, {}});
    if (out.empty()) return scanned.cb(std::vector<store_presence>{});
    redis::client::pipeline reads(client_, 2 * out.size());
    for (const auto& p : out) {
      reads.command({"HMGET", profile_key(p.id), "groups", "version", "last_seen", "first_seen"})
          .command({"EXISTS", presence_key(p.id)});
    }
    reads.send(
        [out = std::move(out), cb = std::move(scanned.cb)](core::result<redis::replies> r) mutable {
          if (!r) return cb(redis::failed("listing stores", r.err()));
          for (std::size_t i = 0; i < out.size(); ++i) {
            auto profile = (*r)[2 * i].as_array(4);
            const auto online = (*r)[2 * i + 1].as_integer();
            if (!profile || !online)
              return cb(redis::failed("listing stores", profile ? online.err() : profile.err()));
            read_profile(*profile, out[i]);
            out[i].online = *online > 0;
          }
          cb(std::move(out));
        });
  }

  // HMGET groups version last_seen first_seen.
  static void read_profile(std::span<redis::reply> fields, store_presence& p) {
    if (fields[0].is_string()) {
      try {
        for (const auto& g : nlohmann::json::parse(fields[0].str)) {
          if (g.is_string()) p.groups.push_back(g.get<std::string>());
        }
      } catch (const nlohmann::json::exception&) {
      }
    }
    p.version = std::move(fields[1].str);
    p.last_seen = std::move(fields[2].str);
    p.first_seen = std::move(fields[3].str);
  }

  redis::client& client_;
  std::string scan_count_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
