#pragma once
// Pub/sub on a dedicated connection. The subscriber keeps the set of channels, shard channels and
// patterns it wants; a subscription counts as confirmed only when the server acknowledges it, and
// after a reconnect everything wanted is subscribed again. No command waits for an answer here, so
// no command timeout notices a dead peer or one that drips a reply that never ends: a periodic
// PING keeps a quiet connection talking, and one that receives nothing, not even the PING's
// answer, for read_idle_timeout is dropped and made again.
//
// On a Redis Cluster (options::cluster) it is one such subscriber per master, each with the
// shard channels whose slot that master serves, placed by a cluster_router's slot map (the
// command client's, so that a store keeps one map). When a subscription is lost (its node's
// connection failed, or the node said the slot moved with an sunsubscribe), on_lost says so,
// the map is asked again, and the channel is subscribed where its slot lives now.

#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/redis/cluster_router.hpp>
#include <bcast/redis/cluster_slots.hpp>
#include <bcast/redis/connection.hpp>
#include <bcast/redis/options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::redis {

enum class subscription_kind { channel, shard_channel, pattern };

struct subscriber_settings {
  std::chrono::milliseconds health_check_interval{15000};  // 0 disables PING
  // Longer than the interval plus a round trip; 0 disables.
  std::chrono::milliseconds read_idle_timeout{30000};
  std::size_t names_per_command = 512;
};

class subscriber {
 public:
  using message_handler = std::function<void(std::string_view channel, std::string_view payload)>;
  using pmessage_handler = std::function<void(std::string_view pattern, std::string_view channel,
                                              std::string_view payload)>;
  using confirm_handler = std::function<void(subscription_kind, std::string_view name)>;
  // A confirmed subscription that is not any more; it is made again on its own.
  using lost_handler = std::function<void(subscription_kind, std::string_view name)>;

  // On a cluster, `topology` is the router whose slot map places the channels (the command
  // client's); without one the subscriber makes its own.
  subscriber(core::loop& l, options o, subscriber_settings s = {},
             std::shared_ptr<cluster_router> topology = nullptr)
      : loop_(l), settings_(s), ping_timer_(l), idle_timer_(l) {
    if (o.cluster) {
      topology_ = topology ? std::move(topology) : cluster_router::create(l, o);
      node_options_ = std::move(o);
      topology_->on_map([this, alive = alive_.watch()] {
        if (!alive.expired()) place_all();
      });
      return;
    }
    conn_ = connection::create(l, std::move(o));
    // The connection is shared: it may call back after this subscriber is gone.
    conn_->set_push_handler([this, alive = alive_.watch()](reply&& r) {
      if (!alive.expired()) on_push(std::move(r));
    });
    conn_->observe([this, alive = alive_.watch()](connection_state s, const core::error&) {
      if (alive.expired()) return;
      if (s == connection_state::ready) {
        on_ready();
      } else {
        ping_timer_.stop();
        idle_timer_.stop();
        lose_all();
      }
    });
  }
  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;
  ~subscriber() {
    if (conn_) conn_->abandon();
  }

  void on_message(message_handler h) { on_message_ = std::move(h); }
  void on_pmessage(pmessage_handler h) { on_pmessage_ = std::move(h); }
  void on_confirmed(confirm_handler h) { on_confirmed_ = std::move(h); }
  void on_lost(lost_handler h) { on_lost_ = std::move(h); }
  // On a cluster: the state of the whole (cluster_router), and each node's own changes too.
  void observe(connection::state_observer o) {
    if (topology_) {
      observers_.push_back(o);
      for (auto& [name, node] : nodes_) node->observe(o);
      return;
    }
    conn_->observe(std::move(o));
  }

  void subscribe(std::vector<std::string> names,
                 subscription_kind kind = subscription_kind::channel) {
    std::vector<std::string> fresh;
    for (auto& n : names) {
      if (wanted_[index(kind)].insert(n).second) fresh.push_back(std::move(n));
    }
    if (topology_) {
      for (auto& n : fresh) place(kind, n);
      topology_->start();
      return;
    }
    if (!fresh.empty() && conn_->ready()) send_subscribe(kind, fresh, true);
    conn_->start();
  }

  void unsubscribe(std::vector<std::string> names,
                   subscription_kind kind = subscription_kind::channel) {
    for (auto& n : names) {
      wanted_[index(kind)].erase(n);
      confirmed_[index(kind)].erase(n);
    }
    if (topology_) {
      for (auto& n : names) unplace(kind, n);
      return;
    }
    if (conn_->ready()) send_subscribe(kind, names, false);
  }

  bool is_confirmed(std::string_view name,
                    subscription_kind kind = subscription_kind::channel) const {
    return confirmed_[index(kind)].count(std::string(name)) != 0;
  }
  // Every wanted name of every kind is confirmed.
  bool all_confirmed() const {
    for (int i = 0; i < 3; ++i) {
      if (confirmed_[i].size() != wanted_[i].size()) return false;
    }
    return true;
  }
  std::size_t wanted_count() const {
    return wanted_[0].size() + wanted_[1].size() + wanted_[2].size();
  }

  void close() {
    if (!topology_) return conn_->close();
    for (auto& [name, node] : nodes_) node->close();
  }
  // On a cluster: ready when every node with a subscription is.
  connection_state state() const noexcept {
    if (!topology_) return conn_->state();
    if (!topology_->has_map()) return topology_->state();
    for (const auto& [name, node] : nodes_) {
      if (node->state() != connection_state::ready) return node->state();
    }
    return connection_state::ready;
  }
  const core::error& last_error() const noexcept {
    if (!topology_) return conn_->last_error();
    for (const auto& [name, node] : nodes_) {
      if (node->state() != connection_state::ready) return node->last_error();
    }
    return topology_->last_error();
  }

 private:
  static int index(subscription_kind k) noexcept { return static_cast<int>(k); }

  // ---- a cluster: a subscriber per node ----

  // The node `name` of `kind` belongs on: its slot's master for a shard channel, the first
  // master for the others (cluster pub/sub reaches every node). Nothing before the map.
  std::optional<net::endpoint> home_of(subscription_kind kind, std::string_view name) const {
    if (kind == subscription_kind::shard_channel) return topology_->master_endpoint(key_slot(name));
    return topology_->master_endpoint(std::nullopt);
  }

  void place(subscription_kind kind, const std::string& name) {
    auto home = home_of(kind, name);
    auto& where = placed_[index(kind)];
    auto it = where.find(name);
    if (it != where.end()) {
      if (home && it->second == home->str()) {
        // Where it belongs, but the node dropped it (an sunsubscribe before the map changed).
        auto& node = *nodes_.at(it->second);
        if (node.conn_->ready() && !node.is_confirmed(name, kind))
          node.send_subscribe(kind, {name}, true);
        return;
      }
      unplace(kind, name);
    }
    if (!home) return;  // placed when the map comes
    where[name] = home->str();
    node_for(*home).subscribe({name}, kind);
  }

  void unplace(subscription_kind kind, const std::string& name) {
    auto& where = placed_[index(kind)];
    auto it = where.find(name);
    if (it == where.end()) return;
    auto node = nodes_.find(it->second);
    where.erase(it);
    if (node == nodes_.end()) return;
    node->second->unsubscribe({name}, kind);
    if (confirmed_[index(kind)].erase(name) && on_lost_) on_lost_(kind, name);
    if (node->second->wanted_count() == 0) {
      // Destroyed later: this may run from one of that node's own callbacks.
      loop_.defer([gone = std::shared_ptr<subscriber>(std::move(node->second))] {});
      nodes_.erase(node);
    }
  }

  void place_all() {
    for (auto kind : {subscription_kind::channel, subscription_kind::shard_channel,
                      subscription_kind::pattern}) {
      const std::vector<std::string> names(wanted_[index(kind)].begin(), wanted_[index(kind)].end());
      for (const auto& n : names) place(kind, n);
    }
  }

  subscriber& node_for(const net::endpoint& ep) {
    auto name = ep.str();
    if (auto it = nodes_.find(name); it != nodes_.end()) return *it->second;
    options o = node_options_;
    o.cluster = false;
    o.cluster_seeds.clear();
    o.endpoint = ep;
    auto node = std::make_unique<subscriber>(loop_, std::move(o), settings_);
    auto alive = alive_.watch();
    node->on_message([this, alive](std::string_view channel, std::string_view payload) {
      if (!alive.expired() && on_message_) on_message_(channel, payload);
    });
    node->on_pmessage([this, alive](std::string_view p, std::string_view c, std::string_view m) {
      if (!alive.expired() && on_pmessage_) on_pmessage_(p, c, m);
    });
    node->on_confirmed([this, alive](subscription_kind kind, std::string_view n) {
      if (alive.expired()) return;
      confirmed_[index(kind)].insert(std::string(n));
      if (on_confirmed_) on_confirmed_(kind, n);
    });
    node->on_lost([this, alive](subscription_kind kind, std::string_view n) {
      if (alive.expired()) return;
      confirmed_[index(kind)].erase(std::string(n));
      topology_->refresh_map();
      if (on_lost_) on_lost_(kind, n);
    });
    node->on_refused([this, alive] {
      if (!alive.expired()) topology_->refresh_map();
    });
    for (const auto& o : observers_) node->observe(o);
    return *nodes_.emplace(name, std::move(node)).first->second;
  }

  // ---- one connection ----

  // Every confirmed name is lost (the connection failed).
  void lose_all() {
    for (auto kind : {subscription_kind::channel, subscription_kind::shard_channel,
                      subscription_kind::pattern}) {
      auto lost = std::move(confirmed_[index(kind)]);
      confirmed_[index(kind)].clear();
      auto alive = alive_.watch();
      for (const auto& n : lost) {
        if (on_lost_) on_lost_(kind, n);
        if (alive.expired()) return;
      }
    }
  }

  // An error push: a SUBSCRIBE refused (by ACL, or MOVED on a cluster node that does not serve
  // the slot). The name stays unconfirmed; a cluster asks for its map again.
  void on_refused(std::function<void()> h) { on_refused_ = std::move(h); }

  void on_ready() {
    for (auto kind : {subscription_kind::channel, subscription_kind::shard_channel,
                      subscription_kind::pattern}) {
      const auto& wanted = wanted_[index(kind)];
      if (!wanted.empty())
        send_subscribe(kind, std::vector<std::string>(wanted.begin(), wanted.end()), true);
    }
    last_heard_ms_ = loop_.now_ms();
    if (settings_.health_check_interval.count() > 0) {
      ping_timer_.start(
          settings_.health_check_interval,
          [this] {
            std::string_view ping[] = {"PING"};
            conn_->send_push_command(ping);
          },
          settings_.health_check_interval);
    }
    if (settings_.read_idle_timeout.count() > 0)
      idle_timer_.start(settings_.read_idle_timeout, [this] { idle_check(); });
  }

  // Armed for the moment the bound would pass if nothing came since; every reply moves that on.
  void idle_check() {
    const auto bound = static_cast<std::uint64_t>(settings_.read_idle_timeout.count());
    const auto idle = loop_.now_ms() - last_heard_ms_;
    if (idle < bound) {
      idle_timer_.start(std::chrono::milliseconds(bound - idle), [this] { idle_check(); });
      return;
    }
    conn_->break_connection(core::error(
        core::errc::timeout, "nothing from Redis at " + conn_->opts().describe() + " for " +
                                 std::to_string(idle) + " ms, not even an answer to PING"));
  }

  // Shard channels go one slot per command: a cluster node refuses a command across slots.
  void send_subscribe(subscription_kind kind, std::vector<std::string> names, bool subscribe) {
    static constexpr std::string_view sub[] = {"SUBSCRIBE", "SSUBSCRIBE", "PSUBSCRIBE"};
    static constexpr std::string_view unsub[] = {"UNSUBSCRIBE", "SUNSUBSCRIBE", "PUNSUBSCRIBE"};
    const bool by_slot = kind == subscription_kind::shard_channel;
    if (by_slot) {
      std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        return key_slot(a) < key_slot(b);
      });
    }
    std::vector<std::string_view> args;
    auto flush = [&] {
      if (args.size() > 1) conn_->send_push_command(args);
      args.assign({subscribe ? sub[index(kind)] : unsub[index(kind)]});
    };
    flush();
    for (std::size_t i = 0; i < names.size(); ++i) {
      const bool full = args.size() - 1 >= settings_.names_per_command;
      if (full || (by_slot && i > 0 && key_slot(names[i]) != key_slot(names[i - 1]))) flush();
      args.push_back(names[i]);
    }
    flush();
  }

  void on_push(reply&& r) {
    last_heard_ms_ = loop_.now_ms();
    // PING answers +PONG outside subscribed mode, ["pong", ""] in it; either way it only counts as
    // something heard. An error (a SUBSCRIBE refused by ACL) leaves the name unconfirmed.
    if (r.is_error() && on_refused_) return on_refused_();
    if (!r.is_array() || r.elements.empty()) return;
    const auto& e = r.elements;
    std::string_view type = e[0].str;
    if (type == "message" && e.size() >= 3) {
      if (on_message_) on_message_(e[1].str, e[2].str);
    } else if (type == "smessage" && e.size() >= 3) {
      if (on_message_) on_message_(e[1].str, e[2].str);
    } else if (type == "pmessage" && e.size() >= 4) {
      if (on_pmessage_) on_pmessage_(e[1].str, e[2].str, e[3].str);
    } else if (type == "subscribe" || type == "ssubscribe" || type == "psubscribe") {
      auto kind = type == "subscribe"    ? subscription_kind::channel
                  : type == "ssubscribe" ? subscription_kind::shard_channel
                                         : subscription_kind::pattern;
      if (e.size() >= 2 && wanted_[index(kind)].count(e[1].str)) {
        confirmed_[index(kind)].insert(e[1].str);
        if (on_confirmed_) on_confirmed_(kind, e[1].str);
      }
    } else if (type == "sunsubscribe" && e.size() >= 2 &&
               wanted_[index(subscription_kind::shard_channel)].count(e[1].str)) {
      // Not asked for: the node no longer serves the channel's slot (it moved, or the node is
      // a replica now).
      if (confirmed_[index(subscription_kind::shard_channel)].erase(e[1].str) && on_lost_)
        on_lost_(subscription_kind::shard_channel, e[1].str);
      if (on_refused_) on_refused_();
    }
  }

  core::loop& loop_;
  std::shared_ptr<connection> conn_;  // a single Redis, or one node of a cluster
  subscriber_settings settings_;
  core::timer ping_timer_;
  core::timer idle_timer_;
  std::uint64_t last_heard_ms_ = 0;
  std::set<std::string> wanted_[3];
  std::set<std::string> confirmed_[3];
  message_handler on_message_;
  pmessage_handler on_pmessage_;
  confirm_handler on_confirmed_;
  lost_handler on_lost_;
  std::function<void()> on_refused_;
  // A cluster:
  std::shared_ptr<cluster_router> topology_;
  options node_options_;
  std::map<std::string, std::unique_ptr<subscriber>> nodes_;  // by endpoint
  std::map<std::string, std::string> placed_[3];              // name -> node
  std::vector<connection::state_observer> observers_;
  core::liveness_token alive_;
};

}  // namespace bcast::redis
