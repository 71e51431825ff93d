#pragma once
// Commands to a Redis Cluster: one connection (connection.hpp) per master, opened when the slot
// map names it, and every command sent to the master of its key's slot. The map comes from
// CLUSTER SLOTS, asked of a node we reach (the seeds first), and is asked again:
//  - on MOVED (after the command was resent where the redirect says);
//  - when a master's connection fails (every second until all masters are back, which is how a
//    promoted replica is found);
//  - periodically.
// ASK sends ASKING and the command to the node named, once, without changing the map. Redirects
// are bounded. A command whose node fails gets that error: it may have run, so it is not resent.
// Commands issued before the first map wait, bounded and with the command timeout.

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/redis/cluster_slots.hpp>
#include <bcast/redis/connection.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/redis/reply.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace bcast::redis {

struct cluster_settings {
  std::chrono::milliseconds refresh_interval{30000};
  // While a master is unreachable: how often the map is asked again, to find who took over.
  std::chrono::milliseconds failover_refresh_interval{1000};
  unsigned max_redirects = 5;
};

class cluster_router : public std::enable_shared_from_this<cluster_router> {
 public:
  static std::shared_ptr<cluster_router> create(core::loop& l, options o, cluster_settings s = {}) {
    return std::shared_ptr<cluster_router>(new cluster_router(l, std::move(o), s));
  }
  cluster_router(const cluster_router&) = delete;
  cluster_router& operator=(const cluster_router&) = delete;

  void start() {
    if (state_ != connection_state::disconnected) return;
    set_state(connection_state::connecting, {});
    refresh();
  }

  // `slot`: the command's key slot; nullopt for a command without a key (any master).
  void send(std::optional<std::uint16_t> slot, std::string resp, reply_handler cb,
            std::uint32_t answers_before = 0) {
    if (state_ == connection_state::closed) {
      fail_later(std::move(cb), core::error(core::errc::cancelled, "Redis connection closed"));
      return;
    }
    auto call = std::make_shared<routed_call>(
        routed_call{slot, std::move(resp), std::move(cb), answers_before, 0});
    if (!map_) {
      if (waiting_.size() >= options_.max_queued_commands) {
        fail_later(std::move(call->cb),
                   core::error(core::errc::queue_full, "too many commands waiting for Redis"));
        return;
      }
      waiting_.push_back({std::move(call), loop_.now_ms() + static_cast<std::uint64_t>(
                                                                options_.command_timeout.count())});
      start();
      arm_sweep();
      return;
    }
    route(std::move(call));
  }

  // The connection to the master of `slot` (nullopt: the first master); null before the map.
  std::shared_ptr<connection> master_for(std::optional<std::uint16_t> slot) {
    if (!map_) return nullptr;
    auto ep = master_endpoint(slot);
    return ep ? node(*ep) : nullptr;
  }
  // One connection per master of the current map.
  std::vector<std::shared_ptr<connection>> masters() {
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& ep : master_endpoints()) out.push_back(node(ep));
    return out;
  }
  // The master of `slot` in the current map (nullopt: the first master).
  std::optional<net::endpoint> master_endpoint(std::optional<std::uint16_t> slot) const {
    if (!map_) return std::nullopt;
    if (!slot) {
      if (map_->shards().empty()) return std::nullopt;
      return map_->nodes()[map_->shards().front().master].endpoint;
    }
    auto master = map_->master_of(*slot);
    if (!master) return std::nullopt;
    return map_->nodes()[*master].endpoint;
  }
  std::vector<net::endpoint> master_endpoints() const {
    std::vector<net::endpoint> out;
    if (map_) {
      for (const auto& shard : map_->shards()) out.push_back(map_->nodes()[shard.master].endpoint);
    }
    return out;
  }
  bool has_map() const noexcept { return map_.has_value(); }
  // Runs after every new map (a subscriber moves its shard channels then).
  void on_map(std::function<void()> h) { map_observers_.push_back(std::move(h)); }
  // Asks for the map again now (a subscriber that was told a slot moved).
  void refresh_map() { refresh(); }

  // Ready while the map covers every slot and every master's connection is ready.
  connection_state state() const noexcept { return state_; }
  bool ready() const noexcept { return state_ == connection_state::ready; }
  const core::error& last_error() const noexcept { return last_error_; }
  void observe(connection::state_observer o) { observers_.push_back(std::move(o)); }
  core::loop& owner_loop() noexcept { return loop_; }
  const options& opts() const noexcept { return options_; }
  std::size_t in_flight() const noexcept {
    std::size_t n = 0;
    for (const auto& [name, c] : nodes_) n += c->in_flight();
    return n;
  }

  void close() {
    if (state_ == connection_state::closed) return;
    refresh_timer_.stop();
    sweep_timer_.stop();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& [name, c] : nodes_) c->close();
    set_state(connection_state::closed,
              core::error(core::errc::cancelled, "connection closed by its owner"));
    for (auto& w : waiting)
      fail_later(std::move(w.call->cb),
                 core::error(core::errc::cancelled, "Redis connection closed"));
  }

  // As connection::abandon: nothing registered runs again.
  void abandon() {
    observers_.clear();
    map_observers_.clear();
    alive_.renew();
    waiting_.clear();
    for (auto& [name, c] : nodes_) c->abandon();
    nodes_.clear();
    refresh_timer_.stop();
    sweep_timer_.stop();
    state_ = connection_state::closed;
  }

 private:
  struct routed_call {
    std::optional<std::uint16_t> slot;
    std::string resp;
    reply_handler cb;
    std::uint32_t answers_before;
    unsigned redirects;
  };
  struct waiting_call {
    std::shared_ptr<routed_call> call;
    std::uint64_t deadline_ms;
  };

  cluster_router(core::loop& l, options o, cluster_settings s)
      : loop_(l), options_(std::move(o)), settings_(s), refresh_timer_(l), sweep_timer_(l) {}

  void route(std::shared_ptr<routed_call> call) {
    auto ep = master_endpoint(call->slot);
    if (!ep) {
      refresh();
      fail_later(std::move(call->cb),
                 core::error(core::errc::not_connected,
                             "no Redis Cluster node serves slot " +
                                 (call->slot ? std::to_string(*call->slot) : std::string("any"))));
      return;
    }
    send_to(node(*ep), std::move(call), false);
  }

  void send_to(const std::shared_ptr<connection>& conn, std::shared_ptr<routed_call> call,
               bool asking) {
    std::string resp = asking ? asking_prefix() + call->resp : call->resp;
    const auto answers_before = call->answers_before + (asking ? 1 : 0);
    conn->send_formatted(
        std::move(resp),
        [this, alive = alive_.watch(), call = std::move(call),
         host = conn->opts().endpoint.host](core::result<reply> r) mutable {
          if (alive.expired()) return call->cb(std::move(r));
          answered(std::move(call), std::move(r), host);
        },
        answers_before);
  }

  void answered(std::shared_ptr<routed_call> call, core::result<reply> r, const std::string& host) {
    if (!r) {
      // The node failed or timed out: the command may have run there, so it is not resent.
      refresh();
      return call->cb(std::move(r));
    }
    if (!r->is_error()) return call->cb(std::move(r));
    auto redirect = parse_redirect(r->str, host);
    if (!redirect || call->redirects >= settings_.max_redirects) return call->cb(std::move(r));
    ++call->redirects;
    if (redirect->kind == redirect_kind::moved) {
      map_->update(redirect->slot, redirect->endpoint);
      refresh();
      send_to(node(redirect->endpoint), std::move(call), false);
    } else {
      send_to(node(redirect->endpoint), std::move(call), true);
    }
  }

  static const std::string& asking_prefix() {
    static const std::string asking = [] {
      std::string s;
      std::string_view args[] = {"ASKING"};
      append_command(s, args);
      return s;
    }();
    return asking;
  }

  // The connection to `ep`, opened now when there is none.
  std::shared_ptr<connection> node(const net::endpoint& ep) {
    auto name = ep.str();
    if (auto it = nodes_.find(name); it != nodes_.end()) return it->second;
    options o = options_;
    o.endpoint = ep;
    o.cluster = false;
    o.cluster_seeds.clear();
    auto conn = connection::create(loop_, std::move(o));
    conn->observe([this, alive = alive_.watch(), name](connection_state s, const core::error& why) {
      if (alive.expired()) return;
      if (s == connection_state::waiting_to_reconnect || s == connection_state::disconnected) {
        failed_nodes_.insert(name);
        refresh();
      } else if (s == connection_state::ready) {
        failed_nodes_.erase(name);
      }
      node_changed(name, why);
    });
    nodes_.emplace(name, conn);
    conn->start();
    return conn;
  }

  // Asks a node for the map: a master we have a ready connection to, else every node we know
  // and the seeds, one after the other.
  void refresh() {
    if (refreshing_ || state_ == connection_state::closed) return;
    refreshing_ = true;
    std::vector<net::endpoint> candidates;
    for (const auto& [name, c] : nodes_) {
      if (c->ready()) candidates.push_back(c->opts().endpoint);
    }
    for (const auto& ep : options_.cluster_seeds) candidates.push_back(ep);
    for (const auto& ep : master_endpoints()) candidates.push_back(ep);
    ask_for_map(std::move(candidates), 0, {});
  }

  void ask_for_map(std::vector<net::endpoint> candidates, std::size_t next, core::error last) {
    if (next >= candidates.size()) {
      refreshing_ = false;
      map_failed(last ? last
                      : core::error(core::errc::not_connected, "no Redis Cluster node to ask"));
      return;
    }
    const auto ep = candidates[next];
    std::string_view args[] = {"CLUSTER", "SLOTS"};
    std::string resp;
    append_command(resp, args);
    // A short-lived connection for a seed we have none to: it is kept, as any node's.
    node(ep)->send_formatted(
        std::move(resp), [this, alive = alive_.watch(), candidates = std::move(candidates), next,
                          ep](core::result<reply> r) mutable {
          if (alive.expired()) return;
          auto answer = checked(std::move(r));
          auto parsed = answer ? parse_cluster_slots(*answer, ep.host) : answer.err();
          if (!parsed) {
            return ask_for_map(std::move(candidates), next + 1,
                               core::error(parsed.err().code(), "CLUSTER SLOTS from " + ep.str() +
                                                                    ": " + parsed.err().detail()));
          }
          refreshing_ = false;
          map_loaded(std::move(parsed).value());
        });
  }

  void map_loaded(slot_map m) {
    const bool first = !map_;
    map_ = std::move(m);
    // Connections to nodes that serve no slot any more (a failed master, now replaced) go.
    const auto masters = master_endpoints();
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      bool master = false;
      for (const auto& ep : masters) master = master || ep.str() == it->first;
      if (!master) {
        auto conn = std::move(it->second);
        failed_nodes_.erase(it->first);
        it = nodes_.erase(it);
        conn->close();  // what waits there fails: it may have reached the node
      } else {
        ++it;
      }
    }
    for (const auto& ep : masters) node(ep);
    arm_refresh();
    node_changed({}, {});
    for (std::size_t i = 0; i < map_observers_.size(); ++i) map_observers_[i]();
    if (first) {
      auto waiting = std::move(waiting_);
      waiting_.clear();
      for (auto& w : waiting) route(std::move(w.call));
    }
  }

  void map_failed(const core::error& why) {
    if (!map_) set_state(connection_state::waiting_to_reconnect, why);
    last_error_ = why;
    arm_refresh(true);
  }

  // A refresh already due sooner stays as it is.
  void arm_refresh(bool soon = false) {
    bool all_up = map_ && map_->complete();
    for (const auto& [name, c] : nodes_) all_up = all_up && c->ready();
    auto delay = soon || !all_up ? settings_.failover_refresh_interval : settings_.refresh_interval;
    const auto due = loop_.now_ms() + static_cast<std::uint64_t>(delay.count());
    if (refresh_timer_.active() && refresh_due_ms_ <= due) return;
    refresh_due_ms_ = due;
    refresh_timer_.start(delay, [this] { refresh(); });
  }

  // The state of the whole: ready while the map is complete and no master's connection has
  // failed since it was last ready (one connecting for the first time queues its commands
  // meanwhile); else waiting_to_reconnect, with the failed master's error. A failed master's
  // reconnect attempts do not count as coming back.
  void node_changed(const std::string& name, const core::error& why) {
    if (!map_ || state_ == connection_state::closed) return;
    auto whole = connection_state::ready;
    core::error reason;
    if (!map_->complete()) {
      whole = connection_state::waiting_to_reconnect;
      reason = core::error(core::errc::not_connected, "the Redis Cluster does not serve every slot");
    }
    for (const auto& ep : master_endpoints()) {
      auto it = nodes_.find(ep.str());
      if (it == nodes_.end()) continue;
      if (!failed_nodes_.count(it->first)) continue;
      if (whole == connection_state::ready) {
        whole = connection_state::waiting_to_reconnect;
        reason = it->first == name && why ? why : it->second->last_error();
      }
    }
    if (whole != connection_state::ready) arm_refresh(true);
    set_state(whole, reason);
  }

  void set_state(connection_state s, const core::error& why) {
    if (why) last_error_ = why;
    if (s == state_) return;
    state_ = s;
    auto self = shared_from_this();
    for (std::size_t i = 0; i < observers_.size(); ++i) observers_[i](s, why);
  }

  void arm_sweep() {
    if (sweep_timer_.active()) return;
    const auto period = sweep_period(options_.command_timeout);
    sweep_timer_.start(
        period,
        [this] {
          const auto now = loop_.now_ms();
          while (!waiting_.empty() && waiting_.front().deadline_ms <= now) {
            auto cb = std::move(waiting_.front().call->cb);
            waiting_.pop_front();
            cb(core::error(core::errc::timeout,
                           "Redis Cluster at " + options_.describe() + " not reachable" +
                               (last_error_ ? " (" + last_error_.message() + ")" : "")));
          }
          if (waiting_.empty()) sweep_timer_.stop();
        },
        period);
  }

  void fail_later(reply_handler cb, core::error err) {
    loop_.defer([cb = std::move(cb), err = std::move(err)] { cb(err); });
  }

  core::loop& loop_;
  options options_;
  cluster_settings settings_;
  connection_state state_ = connection_state::disconnected;
  core::error last_error_;
  std::vector<connection::state_observer> observers_;
  std::optional<slot_map> map_;
  std::map<std::string, std::shared_ptr<connection>> nodes_;
  std::set<std::string> failed_nodes_;  // not ready since they failed
  std::deque<waiting_call> waiting_;
  bool refreshing_ = false;
  std::uint64_t refresh_due_ms_ = 0;
  std::vector<std::function<void()>> map_observers_;
  core::timer refresh_timer_;
  core::timer sweep_timer_;
  core::liveness_token alive_;
};

}  // namespace bcast::redis
