#pragma once
// Presence. A store's heartbeat writes two keys of its own, and nothing else, so that its ACL user
// stays limited to its own keys and publishes nothing:
//   bcast:{store:S}:presence  id, groups, version, last_seen, interval_ms; PEXPIRE ttl
//                             (3 intervals by default): it exists while the store is online,
//                             judged by Redis's clock, not the store's
//   bcast:{store:S}:profile   the same without expiry, plus first_seen: every store ever seen
// publisherd finds the stores with SCAN MATCH bcast:{store:*}:profile (TYPE hash), which visits
// the whole keyspace in COUNT-sized steps: fine for thousands of stores, and a store needs no
// right to write anywhere shared. It reads each store's keys within bounds (store_data.hpp).
//
// Groups are self-declared: a store names its own groups (subscriberd --group), and its Redis
// user cannot read other groups' channels, but what it writes in its profile is believed for the
// counts and lists of the web UI (docs/ARCHITECTURE.md, "Trust").

#include <bcast/broker/keys.hpp>
#include <bcast/broker/store_data.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/utf8.hpp>
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
#include <tuple>
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
  explicit presence_directory(redis::client& c, std::size_t scan_count = 1000,
                              store_data_limits limits = {})
      : client_(c), scan_count_(std::to_string(scan_count)), limits_(limits) {}
  presence_directory(const presence_directory&) = delete;
  presence_directory& operator=(const presence_directory&) = delete;

  // Every store ever seen, sorted by id. On a cluster, each master SCANs its own keys.
  void list(callback cb) {
    auto st = std::make_shared<scan_state>();
    st->cb = std::move(cb);
    auto nodes = client_.nodes();
    if (nodes.empty() || !nodes.front()) {
      return client_.owner_loop().defer([st] {
        st->cb(core::error(core::errc::not_connected,
                           "listing stores: the Redis Cluster's slot map is not known yet"));
      });
    }
    st->nodes_left = nodes.size();
    for (auto& node : nodes) scan(st, std::move(node), "0");
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

  // Problems with what stores wrote, found since the start (store_data_problems).
  std::size_t problems() const noexcept { return problems_.count(); }

 private:
  struct scan_state {
    std::set<std::string> ids;
    callback cb;
    std::size_t rounds = 0;
    std::size_t nodes_left = 0;
    bool failed = false;
  };

  void scan(std::shared_ptr<scan_state> st, std::shared_ptr<redis::connection> node,
            const std::string& cursor) {
    auto alive = alive_.watch();
    node->send(
        {"SCAN", cursor, "MATCH", profile_scan_pattern(), "COUNT", scan_count_, "TYPE", "hash"},
        [this, alive, st, node](core::result<redis::reply> r) mutable {
          if (alive.expired() || st->failed) return;
          const auto answer = redis::checked(std::move(r));
          const auto page = answer ? answer->as_array(2) : answer.err();
          const auto next = page ? (*page)[0].as_string() : page.err();
          const auto keys = page ? (*page)[1].as_array() : page.err();
          if (!next || !keys) {
            st->failed = true;
            return st->cb(redis::failed("listing stores", next ? keys.err() : next.err()));
          }
          for (const auto& k : *keys) {
            if (auto id = store_of_profile_key(k.str)) st->ids.emplace(*id);
          }
          if (*next != "0" && ++st->rounds < 1000000)
            return scan(st, std::move(node), std::string(*next));
          if (--st->nodes_left == 0) fetch(*st);
        });
  }

  // One bounded read of the profile, with EXISTS of the presence key, per store, pipelined. A
  // store whose profile cannot be read is listed with what is known: its id.
  void fetch(scan_state& scanned) {
    std::vector<store_presence> out;
    for (const auto& id : scanned.ids) out.push_back(store_presence{id, {}, {}, false, {}, {}});
    if (out.empty()) return scanned.cb(std::vector<store_presence>{});
    const std::vector<bounded_field> fields{{"groups", limits_.max_groups_bytes},
                                            {"version", limits_.max_value_bytes},
                                            {"last_seen", limits_.max_value_bytes},
                                            {"first_seen", limits_.max_value_bytes}};
    redis::client::pipeline reads(client_, out.size());
    for (const auto& p : out) {
      add_bounded_store_read(reads, profile_key(p.id), presence_key(p.id), "exists", fields);
    }
    reads.send([this, alive = alive_.watch(), out = std::move(out),
                cb = std::move(scanned.cb)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return;
      if (!r) return cb(redis::failed("listing stores", r.err()));
      for (std::size_t i = 0; i < out.size(); ++i) {
        problems_.report("presence", out[i].id, read_store((*r)[i], out[i]));
      }
      cb(std::move(out));
    });
  }

  // Fills `p` with what of one store's answer is usable; returns what was not.
  std::vector<std::string> read_store(redis::reply& answer, store_presence& p) const {
    auto read = answer.is_error() ? core::result<bounded_store_read>(answer.checked().err())
                                  : parse_bounded_store_read(answer);
    if (!read) return {read.err().message()};
    auto& problems = read->problems;
    p.online = read->exists;
    auto& values = read->values;
    values.resize(4);
    if (values[0]) read_groups(*values[0], p.groups, problems);
    if (values[1]) {
      if (message::is_valid_utf8(*values[1]) && !message::has_control_chars(*values[1])) {
        p.version = std::move(*values[1]);
      } else {
        problems.push_back("version is not printable text");
      }
    }
    for (auto [value, into, name] : {std::tuple{&values[2], &p.last_seen, "last_seen"},
                                     std::tuple{&values[3], &p.first_seen, "first_seen"}}) {
      if (!*value) continue;
      if (message::parse_time(**value)) {
        *into = std::move(**value);
      } else {
        problems.push_back(std::string(name) + " is not a time");
      }
    }
    return std::move(problems);
  }

  // A JSON array of groups ("kind:name"), at most max_groups of them.
  void read_groups(std::string_view json, std::vector<std::string>& groups,
                   std::vector<std::string>& problems) const {
    const auto parsed = nlohmann::json::parse(json, nullptr, false);
    if (!parsed.is_array()) {
      problems.push_back("groups is not a JSON array");
      return;
    }
    std::size_t invalid = 0;
    for (const auto& g : parsed) {
      if (!g.is_string() || !message::parse_group(g.get_ref<const std::string&>())) {
        ++invalid;
      } else if (groups.size() < limits_.max_groups) {
        groups.push_back(g.get<std::string>());
      }
    }
    if (invalid > 0) problems.push_back(std::to_string(invalid) + " groups that are not groups");
    if (parsed.size() - invalid > limits_.max_groups) {
      problems.push_back(std::to_string(parsed.size() - invalid) + " groups, only the first " +
                         std::to_string(limits_.max_groups) + " read");
    }
  }

  redis::client& client_;
  std::string scan_count_;
  store_data_limits limits_;
  store_data_problems problems_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
