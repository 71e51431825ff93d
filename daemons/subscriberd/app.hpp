#pragma once
// subscriberd: one per store. Catches up on what it missed, goes live, shows every message once
// through its sinks, and reports receipts and presence. Wiring only.

#include "config.hpp"

#include <bcast/broker/catchup.hpp>
#include <bcast/broker/display_journal.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/receipt_writer.hpp>
#include <bcast/broker/store_state.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/systemd.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/sink_set.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace subscriberd {

namespace broker = bcast::broker;
namespace log = bcast::core::log;

struct counters {
  std::uint64_t received = 0;
  std::uint64_t shown = 0;
  std::uint64_t expired = 0;
  std::uint64_t failed = 0;
  std::uint64_t gaps = 0;
};

class app {
 public:
  app(bcast::core::loop& l, config c, std::unique_ptr<bcast::sinks::sink_set> sinks)
      : loop_(l),
        config_(std::move(c)),
        redis_(l, redis_options(config_)),
        receipts_(l, redis_, config_.store),
        heartbeat_(l, redis_, broker::store_profile{config_.store, config_.groups, BCAST_VERSION},
                   broker::presence_settings{std::chrono::duration_cast<std::chrono::milliseconds>(config_.heartbeat), 3}),
        sinks_(std::move(sinks)),
        status_timer_(l),
        watchdog_(l),
        status_(l) {}

  bcast::core::result<void> start() {
    std::error_code ec;
    std::filesystem::create_directories(config_.state_dir, ec);
    if (ec) return bcast::core::error(ec, "state dir " + config_.state_dir);
    auto loaded = broker::load_store_state_or_fresh(config_.state_dir);
    if (loaded.problem) log::warning("position not restored, starting from now: " + loaded.problem.message());
    auto journal = broker::display_journal::open(config_.state_dir);
    if (journal) {
      journal_ = std::move(journal).value();
    } else {
      // Still showing every message beats not starting: only a kill can then repeat one.
      log::error("no display journal, a crash may show a message twice: " + journal.err().message());
    }
    auto targets = broker::store_targets(config_.store, config_.groups);
    driver_ = std::make_unique<broker::catchup_driver>(loop_, redis_, redis_options(config_), targets, loaded.state);
    driver_->on_message([this](const broker::entry&, const bcast::message::envelope& e) { on_message(e); });
    driver_->on_progress([this] { checkpoint(); });
    driver_->on_gap([this](const broker::gap_event& g) { on_gap(g); });
    driver_->on_problem([](const bcast::core::error& e) { log::warning(e.message()); });
    driver_->on_live([this](std::string_view) {
      if (!driver_->live()) return;
      checkpoint();
      if (!announced_live_) {
        announced_live_ = true;
        log::info("store " + config_.store + " is live on " + std::to_string(driver_->targets().size()) + " channels");
      }
    });
    redis_.observe([this](bcast::redis::connection_state s, const bcast::core::error& why) { on_redis_state(s, why); });
    redis_.connect();
    driver_->start();
    heartbeat_.start();
    std::string channels;
    for (const auto& t : targets) channels += (channels.empty() ? "" : ", ") + t;
    log::info("store " + config_.store + " subscribing to " + channels + "; sinks: " + sinks_->name());
    status_timer_.start(std::chrono::minutes(10), [this] { log_status(); }, std::chrono::minutes(10));
    status_timer_.unref();
    watchdog_.start();
    // Ready once started, not once live: a store that cannot reach Redis at boot is still up,
    // catching up as soon as it can.
    bcast::core::systemd::notify("READY=1");
    report_status();
    return {};
  }

  // SIGTERM: save the position, say goodbye (offline at once), close popups, then done().
  void shutdown(std::function<void()> done) {
    bcast::core::systemd::notify("STOPPING=1");
    checkpoint();
    status_timer_.stop();
    watchdog_.stop();
    status_.stop();
    heartbeat_.stop([this, done = std::move(done)](const bcast::core::result<void>&) {
      sinks_->close([this, done] {
        driver_.reset();
        redis_.close();
        done();
      });
    });
  }

  const counters& stats() const noexcept { return counters_; }

 private:
  static bcast::redis::options redis_options(const config& c) {
    auto o = bcast::redis::parse_url(c.redis_url).value();
    o.tls_options = c.redis_tls;
    if (o.tls_options.server_name.empty()) o.tls_options.server_name = o.endpoint.host;
    o.client_name = "subscriberd:" + c.store;
    o.backoff.initial = std::chrono::milliseconds(200);
    o.backoff.max = std::chrono::seconds(30);
    return o;
  }

  void on_redis_state(bcast::redis::connection_state s, const bcast::core::error& why) {
    using st = bcast::redis::connection_state;
    if (s == st::ready && broker_down_) {
      broker_down_ = false;
      log::notice("broker reachable again; catching up");
    } else if (s == st::waiting_to_reconnect && !broker_down_) {
      broker_down_ = true;
      announced_live_ = false;
      log::error("broker unreachable, retrying with backoff: " + why.message());
    }
    report_status();
  }

  // The tracker delivers each message once, in order; checkpoint() shows it and saves the position
  // that includes it.
  void on_message(const bcast::message::envelope& e) {
    ++counters_.received;
    receipts_.record(e.id, broker::receipt_state::delivered);
    if (bcast::message::is_expired(e, std::chrono::system_clock::now())) {
      ++counters_.expired;
      log::info("message " + e.id + " expired before it arrived; recorded, not shown");
      receipts_.record(e.id, broker::receipt_state::expired);
      return;
    }
    to_show_.push_back(e);
  }

  // While any channel is still catching up, messages are only collected: nothing is saved and
  // nothing shown, so a crash just repeats the catch-up. Once every channel is live, what was
  // missed is shown in the order it was sent (ids are time-sortable), across channels, and then
  // the position that covers it is saved. The display journal keeps a kill in between from
  // showing a message twice after the restart.
  void checkpoint() {
    if (!driver_ || !driver_->live()) return;
    std::stable_sort(to_show_.begin(), to_show_.end(),
                     [](const bcast::message::envelope& a, const bcast::message::envelope& b) { return a.id < b.id; });
    auto batch = std::move(to_show_);
    to_show_.clear();
    for (const auto& e : batch) show_once(e);
    auto saved = broker::save_store_state(config_.state_dir, driver_->snapshot(config_.store));
    if (!saved) {
      // Shown anyway: without a saved position it could be shown again after a crash, but not
      // showing it at all loses it for sure.
      log::error("cannot save the position in " + config_.state_dir + ": " + saved.err().message());
      return;
    }
    if (auto cleared = journal_.clear(); !cleared) log::warning(cleared.err().message());
    report_status();
  }

  void show_once(const bcast::message::envelope& e) {
    using mark = broker::display_journal::mark;
    switch (journal_.status(e.id)) {
      case mark::shown:
        receipts_.record(e.id, broker::receipt_state::displayed);
        return;
      case mark::started:
        log::notice("message " + e.id + " was being shown when subscriberd stopped; showing it where it is missing");
        if (sinks_->show_where_missing(e, outcome_reporter(e.id)) == 0) {
          receipts_.record(e.id, broker::receipt_state::displayed);
        }
        break;
      case mark::none:
        mark_in_journal(journal_.started(e.id));
        ++counters_.shown;
        sinks_->show(e, outcome_reporter(e.id));
        break;
    }
    mark_in_journal(journal_.shown(e.id));
  }

  // Without the journal a kill could repeat a message, which is better than not showing it.
  static void mark_in_journal(const bcast::core::result<void>& r) {
    if (!r) log::warning(r.err().message() + "; a crash now may show a message twice");
  }

  bcast::sinks::reporter outcome_reporter(std::string id) {
    return [this, id = std::move(id)](const bcast::sinks::outcome_event& o) {
      switch (o.kind) {
        case bcast::sinks::outcome::displayed:
          receipts_.record(id, broker::receipt_state::displayed);
          break;
        case bcast::sinks::outcome::acknowledged:
          receipts_.record(id, broker::receipt_state::acknowledged);
          break;
        case bcast::sinks::outcome::failed:
          ++counters_.failed;
          log::warning("sink " + o.sink + " failed for message " + id + ": " + o.reason);
          receipts_.record(id, broker::receipt_state::failed);
          report_status();
          break;
      }
    };
  }

  void on_gap(const broker::gap_event& g) {
    ++counters_.gaps;
    report_status();
    log::warning("history of " + g.target + " was trimmed past this store's position: messages " +
                 std::to_string(g.from) + ".." + std::to_string(g.to) + " are lost to it");
    if (g.kind == broker::gap_kind::trimmed) receipts_.record_gap(g.target, g.from, g.to);
  }

  std::string status_text() const {
    const std::string state = broker_down_ ? "broker unreachable, retrying"
                              : driver_ && driver_->live()
                                  ? "live on " + std::to_string(driver_->targets().size()) + " channels"
                                  : "catching up";
    return "store " + config_.store + " " + state + "; " + std::to_string(counters_.received) + " received, " +
           std::to_string(counters_.shown) + " shown, " + std::to_string(counters_.expired) + " expired, " +
           std::to_string(counters_.failed) + " sink failures, " + std::to_string(counters_.gaps) + " gaps";
  }

  // systemctl status shows it (sd_notify STATUS=); the log gets it every 10 minutes.
  void report_status() { status_.set(status_text()); }
  void log_status() { log::info(status_text()); }

  bcast::core::loop& loop_;
  config config_;
  bcast::redis::client redis_;
  broker::receipt_writer receipts_;
  broker::heartbeat heartbeat_;
  std::unique_ptr<bcast::sinks::sink_set> sinks_;
  std::unique_ptr<broker::catchup_driver> driver_;
  broker::display_journal journal_ = broker::display_journal::none();
  std::vector<bcast::message::envelope> to_show_;
  bcast::core::timer status_timer_;
  bcast::core::systemd::watchdog watchdog_;
  bcast::core::systemd::status_reporter status_;
  counters counters_;
  bool broker_down_ = false;
  bool announced_live_ = false;
};

}  // namespace subscriberd
