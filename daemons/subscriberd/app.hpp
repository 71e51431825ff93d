#pragma once
// subscriberd: one per store. Catches up on what it missed, goes live, shows every message once
// through its sinks, and reports receipts and presence. Wiring only.

#include "config.hpp"

#include <bcast/broker/catchup.hpp>
#include <bcast/broker/display_pipeline.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/receipt_writer.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/systemd.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/sink_set.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace subscriberd {

namespace broker = bcast::broker;
namespace log = bcast::core::log;

class app {
 public:
  app(bcast::core::loop& l, config c, std::unique_ptr<bcast::sinks::sink_set> sinks)
      : loop_(l),
        config_(std::move(c)),
        redis_(l, redis_options(config_)),
        receipts_(l, redis_, config_.store),
        heartbeat_(
            l, redis_, broker::store_profile{config_.store, config_.groups, BCAST_VERSION},
            broker::presence_settings{
                std::chrono::duration_cast<std::chrono::milliseconds>(config_.heartbeat), 3}),
        receipt_recorder_(receipts_),
        pipeline_(
            broker::display_settings{config_.store, bcast::core::utf8_path(config_.state_dir)},
            bcast::trust::store_policy(config_.keys, config_.allow_unsigned,
                                       broker::store_targets(config_.store, config_.groups)),
            std::move(sinks), receipt_recorder_),
        reminder_timer_(l),
        status_timer_(l),
        log_flush_timer_(l),
        watchdog_(l),
        status_(l) {}

  bcast::core::result<void> start() {
    log_trust();
    auto opened = pipeline_.open_state();
    if (!opened) return opened.err();
    if (opened->position_problem)
      log::warning("position not restored, starting from now: " +
                   opened->position_problem.message());
    if (opened->journal_problem) {
      // Still showing every message beats not starting: only a kill can then repeat one.
      log::error("no display journal, a crash may show a message twice: " +
                 opened->journal_problem.message());
    }
    if (opened->reminders_problem) {
      log::error("must-read reminders not restored; those messages are not shown again: " +
                 opened->reminders_problem.message());
    } else if (pipeline_.reminders() > 0) {
      log::info(std::to_string(pipeline_.reminders()) +
                " must-read messages not acknowledged yet; reminding");
    }
    arm_reminders();
    auto targets = broker::store_targets(config_.store, config_.groups);
    driver_ = std::make_unique<broker::catchup_driver>(loop_, redis_, redis_options(config_),
                                                       targets, opened->position);
    driver_->on_message([this](const broker::entry&, const bcast::message::envelope& e) {
      pipeline_.on_message(e);
    });
    driver_->on_progress([this] { checkpoint(); });
    driver_->on_gap([this](const broker::gap_event& g) { pipeline_.on_gap(g); });
    pipeline_.on_change([this] { report_status(); });
    driver_->on_problem([](const bcast::core::error& e) { log::warning(e.message()); });
    driver_->on_live([this](std::string_view) {
      if (!driver_->live()) return;
      checkpoint();
      if (!announced_live_) {
        announced_live_ = true;
        log::info("store " + config_.store + " is live on " +
                  std::to_string(driver_->targets().size()) + " channels");
      }
    });
    redis_.observe([this](bcast::redis::connection_state s, const bcast::core::error& why) {
      on_redis_state(s, why);
    });
    redis_.connect();
    driver_->start();
    heartbeat_.start();
    std::string channels;
    for (const auto& t : targets) channels += (channels.empty() ? "" : ", ") + t;
    log::info("store " + config_.store + " subscribing to " + channels + " at " +
              redis_options(config_).describe() + "; sinks: " + pipeline_.sinks().name());
    status_timer_.start(
        std::chrono::minutes(10), [this] { log_status(); }, std::chrono::minutes(10));
    status_timer_.unref();
    // The count of rejections the log held back, once their minute is over.
    log_flush_timer_.start(
        std::chrono::seconds(10), [this] { pipeline_.flush_log(); }, std::chrono::seconds(10));
    log_flush_timer_.unref();
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
    reminder_timer_.stop();
    status_timer_.stop();
    log_flush_timer_.stop();
    pipeline_.finish_log();
    watchdog_.stop();
    status_.stop();
    heartbeat_.stop([this, done = std::move(done)](const bcast::core::result<void>&) {
      pipeline_.sinks().close([this, done] {
        driver_.reset();
        redis_.close();
        done();
      });
    });
  }

  const broker::display_counters& stats() const noexcept { return pipeline_.counters(); }

 private:
  static bcast::redis::options redis_options(const config& c) {
    auto o = bcast::redis::parse_url(c.redis_url).value();
    o.tls_options = c.redis_tls;
    // A cluster's nodes are each checked against their own host.
    if (o.tls_options.server_name.empty() && !o.cluster)
      o.tls_options.server_name = o.endpoint.host;
    o.client_name = "subscriberd:" + c.store;
    o.backoff.initial = std::chrono::milliseconds(200);
    o.backoff.max = std::chrono::seconds(30);
    return o;
  }

  void log_trust() const {
    const auto& keys = pipeline_.policy().keys();
    if (!keys.empty()) {
      std::string ids;
      for (const auto& k : keys.keys()) ids += (ids.empty() ? "" : ", ") + k.id();
      log::info("showing messages signed by " + std::string(keys.size() == 1 ? "key " : "keys ") +
                ids);
    }
    if (config_.allow_unsigned) {
      log::warning(
          "allow_unsigned is on: this store also shows unsigned messages, which anyone who can "
          "write to Redis can make; turn it off once head office signs its messages");
    }
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

  // Shown anyway when the position cannot be saved: it could then be shown again after a crash,
  // but not showing it at all loses it for sure.
  void checkpoint() {
    if (!driver_) return;
    if (auto saved = pipeline_.checkpoint(driver_->tracker()); !saved)
      log::error(saved.err().detail());
    arm_reminders();
  }

  // For the next must-read reminder, if any. Re-armed at least hourly, in case the clock moved.
  void arm_reminders() {
    const auto next = pipeline_.next_reminder();
    if (!next) return reminder_timer_.stop();
    const auto wait = std::clamp(
        std::chrono::ceil<std::chrono::milliseconds>(*next - std::chrono::system_clock::now()),
        std::chrono::milliseconds(0), std::chrono::milliseconds(std::chrono::hours(1)));
    reminder_timer_.start(wait, [this] {
      pipeline_.remind_due();
      arm_reminders();
    });
  }

  std::string status_text() const {
    const std::string state =
        broker_down_ ? "broker unreachable, retrying"
        : driver_ && driver_->live()
            ? "live on " + std::to_string(driver_->targets().size()) + " channels"
            : "catching up";
    const auto& counts = pipeline_.counters();
    return "store " + config_.store + " " + state + "; " + std::to_string(counts.received) +
           " received, " + std::to_string(counts.shown) + " shown, " +
           std::to_string(counts.expired) + " expired, " + std::to_string(counts.failed) +
           " sink failures, " + std::to_string(counts.gaps) + " gaps, " +
           std::to_string(counts.rejected) + " rejected, " + std::to_string(counts.recalled) +
           " recalled, " + std::to_string(counts.reminded) + " reminders";
  }

  // systemctl status shows it (sd_notify STATUS=); the log gets it every 10 minutes.
  void report_status() { status_.set(status_text()); }
  void log_status() { log::info(status_text()); }

  bcast::core::loop& loop_;
  config config_;
  bcast::redis::client redis_;
  broker::receipt_writer receipts_;
  broker::heartbeat heartbeat_;
  broker::receipt_writer_recorder receipt_recorder_;
  broker::display_pipeline pipeline_;
  std::unique_ptr<broker::catchup_driver> driver_;
  bcast::core::timer reminder_timer_;
  bcast::core::timer status_timer_;
  bcast::core::timer log_flush_timer_;
  bcast::core::systemd::watchdog watchdog_;
  bcast::core::systemd::status_reporter status_;
  bool broker_down_ = false;
  bool announced_live_ = false;
};

}  // namespace subscriberd
