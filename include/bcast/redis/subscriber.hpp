#pragma once
// Pub/sub on a dedicated connection. The subscriber keeps the set of channels, shard channels and
// patterns it wants; a subscription counts as confirmed only when the server acknowledges it, and
// after a reconnect everything wanted is subscribed again. No command waits for an answer here, so
// no command timeout notices a dead peer or one that drips a reply that never ends: a periodic
// PING keeps a quiet connection talking, and one that receives nothing, not even the PING's
// answer, for read_idle_timeout is dropped and made again.

#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/redis/connection.hpp>
#include <bcast/redis/options.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
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

  subscriber(core::loop& l, options o, subscriber_settings s = {})
      : loop_(l),
        conn_(connection::create(l, std::move(o))),
        settings_(s),
        ping_timer_(l),
        idle_timer_(l) {
    // The connection is shared: it may call back after this subscriber is gone.
    conn_->set_push_handler([this, alive = alive_.watch()](reply&& r) {
      if (!alive.expired()) on_push(std::move(r));
    });
    conn_->observe([this, alive = alive_.watch()](connection_state s, const core::error&) {
      if (alive.expired()) return;
      if (s == connection_state::ready) {
        on_ready();
      } else {
        confirmed_[0].clear();
        confirmed_[1].clear();
        confirmed_[2].clear();
        ping_timer_.stop();
        idle_timer_.stop();
      }
    });
  }
  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;
  ~subscriber() { conn_->abandon(); }

  void on_message(message_handler h) { on_message_ = std::move(h); }
  void on_pmessage(pmessage_handler h) { on_pmessage_ = std::move(h); }
  void on_confirmed(confirm_handler h) { on_confirmed_ = std::move(h); }
  void observe(connection::state_observer o) { conn_->observe(std::move(o)); }

  void subscribe(std::vector<std::string> names,
                 subscription_kind kind = subscription_kind::channel) {
    std::vector<std::string> fresh;
    for (auto& n : names) {
      if (wanted_[index(kind)].insert(n).second) fresh.push_back(std::move(n));
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

  void close() { conn_->close(); }
  connection_state state() const noexcept { return conn_->state(); }
  const core::error& last_error() const noexcept { return conn_->last_error(); }

 private:
  static int index(subscription_kind k) noexcept { return static_cast<int>(k); }

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

  void send_subscribe(subscription_kind kind, const std::vector<std::string>& names,
                      bool subscribe) {
    static constexpr std::string_view sub[] = {"SUBSCRIBE", "SSUBSCRIBE", "PSUBSCRIBE"};
    static constexpr std::string_view unsub[] = {"UNSUBSCRIBE", "SUNSUBSCRIBE", "PUNSUBSCRIBE"};
    for (std::size_t i = 0; i < names.size(); i += settings_.names_per_command) {
      std::vector<std::string_view> args{subscribe ? sub[index(kind)] : unsub[index(kind)]};
      for (std::size_t j = i; j < std::min(names.size(), i + settings_.names_per_command); ++j)
        args.push_back(names[j]);
      conn_->send_push_command(args);
    }
  }

  void on_push(reply&& r) {
    last_heard_ms_ = loop_.now_ms();
    // PING answers +PONG outside subscribed mode, ["pong", ""] in it; either way it only counts as
    // something heard. An error (a SUBSCRIBE refused by ACL) leaves the name unconfirmed.
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
    }
  }

  core::loop& loop_;
  std::shared_ptr<connection> conn_;
  subscriber_settings settings_;
  core::timer ping_timer_;
  core::timer idle_timer_;
  std::uint64_t last_heard_ms_ = 0;
  std::set<std::string> wanted_[3];
  std::set<std::string> confirmed_[3];
  message_handler on_message_;
  pmessage_handler on_pmessage_;
  confirm_handler on_confirmed_;
  core::liveness_token alive_;
};

}  // namespace bcast::redis
