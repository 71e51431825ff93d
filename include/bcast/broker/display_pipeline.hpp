#pragma once
// A store's exactly-once display on at-least-once delivery: what happens to each message the
// catch-up driver (catchup.hpp) delivers, in subscriberd and in bcast-bench --receive full.
//
// While any channel is still catching up, messages are only collected: nothing is shown and
// nothing saved, so a crash just repeats the catch-up. Once every channel is live, what was
// collected is shown in the order it was sent (ids are time-sortable), across channels, and then
// the position that covers it is saved (store_state.hpp). The display journal
// (display_journal.hpp) keeps a kill in between from showing a message twice after the restart.
// The sinks' outcomes become receipts, through a receipt_recorder.
//
// Before anything else each message passes the store's trust policy (trust/store_policy.hpp):
// signed by a key the store trusts, and addressed to it. The catch-up delivers each message id
// once, so a message is verified once however many of the store's channels carry it, live or
// in catch-up alike. A message the policy refuses is never shown: its receipt is `rejected`,
// the log says why (rate-limited: whoever writes to Redis could otherwise flood it), and the
// position moves past it like past any other, so it is not read again.
//
// Head office takes a message X back with a recall notice or a correction (message/lifecycle.hpp:
// taken_down_by), which passes the same policy, so only head office can take down a message
// and only at the stores it was for. If X is still collected it is dropped, never shown;
// otherwise the sinks close what of it is still open. Either way X's receipt becomes `recalled`
// and X is remembered (a bounded set, and the journal until the next saved position), so a copy
// that comes later, through another channel or after a restart, is not shown. Catch-up meets the
// notice after X (it was published after X to X's own targets), but across channels it may come
// first, which the remembered set covers. The notice itself is not shown and gets no receipt.
//
// A must-read message (repeat_every_s with require_ack) goes into the reminder book
// (reminders.hpp) when it is first shown, and leaves it when a sink reports it acknowledged, when
// it is recalled, or when it expires. The daemon calls remind_due() when next_reminder() comes;
// the sinks show the message again unless it is still open there (sink::remind).

#include <bcast/broker/display_journal.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/broker/reminders.hpp>
#include <bcast/broker/store_state.hpp>
#include <bcast/broker/tracker.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/log_limit.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/lifecycle.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/trust/store_policy.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace bcast::broker {

struct display_counters {
  std::uint64_t received = 0;  // delivered by the catch-up (once each)
  std::uint64_t shown = 0;     // handed to the sinks for the first time
  std::uint64_t expired = 0;   // expired before they arrived: recorded, not shown
  std::uint64_t failed = 0;    // `failed` outcomes, one per sink and message
  std::uint64_t gaps = 0;      // stretches of history lost to this store
  std::uint64_t rejected = 0;  // refused by the trust policy: never shown
  std::uint64_t recalled = 0;  // taken down, or never shown, on head office's recall
  std::uint64_t reminded = 0;  // must-read messages shown again, nobody having acknowledged them
};

struct display_settings {
  std::string store_id;  // named in the saved position
  // Holds the saved position and the journal. Empty: neither is kept, so a restart starts from
  // the newest messages (bcast-bench).
  std::filesystem::path state_dir;
  // Recalled message ids remembered, so that a later copy is not shown. A copy comes at most a
  // catch-up later, so this only needs to cover the recalls of one catch-up.
  std::size_t recalled_ids = 4096;
};

struct opened_state {
  store_state position;           // where the catch-up resumes; empty: from the newest messages
  core::error position_problem;   // why the saved position was not used; empty when it was
  core::error journal_problem;    // why there is no journal: a kill may then show a message twice
  core::error reminders_problem;  // why the reminders were not restored
};

class display_pipeline {
 public:
  using change_handler = std::function<void()>;

  // The pipeline shows through `sinks` what `policy` allows, and owns the sinks; `receipts` must
  // outlive it.
  display_pipeline(display_settings s, trust::store_policy policy,
                   std::unique_ptr<sinks::sink_set> sinks, receipt_recorder& receipts)
      : settings_(std::move(s)),
        policy_(std::move(policy)),
        rejections_(core::log::rate_limit{}, rejections_what),
        receipts_(receipts),
        recalled_(settings_.recalled_ids),
        sinks_(std::move(sinks)) {}
  display_pipeline(const display_pipeline&) = delete;
  display_pipeline& operator=(const display_pipeline&) = delete;

  // Creates the state dir, reads the saved position and opens the journal. Fails only when the
  // state dir cannot be created; a position or journal that cannot be used is reported in the
  // result, and the store runs without it.
  [[nodiscard]] core::result<opened_state> open_state() {
    opened_state out;
    if (settings_.state_dir.empty()) return out;
    std::error_code ec;
    std::filesystem::create_directories(settings_.state_dir, ec);
    if (ec) return core::error(ec, "state dir " + core::path_utf8(settings_.state_dir));
    auto loaded = load_store_state_or_fresh(settings_.state_dir);
    out.position = std::move(loaded.state);
    out.position_problem = std::move(loaded.problem);
    if (auto journal = display_journal::open(settings_.state_dir)) {
      journal_ = std::move(journal).value();
    } else {
      out.journal_problem = journal.err();
    }
    if (auto book = reminder_book::open(settings_.state_dir)) {
      reminders_ = std::move(book).value();
    } else {
      out.reminders_problem = book.err();
    }
    return out;
  }

  // Each message the catch-up delivers, once, in the order of its channel.
  void on_message(const message::envelope& e) {
    ++counters_.received;
    if (auto why = policy_.check(e)) return reject(e, *why);
    if (const auto& x = message::taken_down_by(e)) take_down(*x, e);
    if (message::is_recall_notice(e)) return;
    if (is_recalled(e.id)) {
      recalled_.insert(e.id);  // the journal forgets it at the next saved position
      core::log::info("message " + e.id + " was recalled; not shown");
      return;
    }
    receipts_.record(e.id, receipt_state::delivered);
    if (message::is_expired(e, std::chrono::system_clock::now())) {
      ++counters_.expired;
      core::log::info("message " + e.id + " expired before it arrived; recorded, not shown");
      receipts_.record(e.id, receipt_state::expired);
      return;
    }
    to_show_.push_back(e);
  }

  void on_gap(const gap_event& g) {
    ++counters_.gaps;
    core::log::warning("history of " + g.target +
                       " was trimmed past this store's position: messages " +
                       std::to_string(g.from) + ".." + std::to_string(g.to) + " are lost to it");
    if (g.kind == gap_kind::trimmed) receipts_.record_gap(g.target, g.from, g.to);
    changed();
  }

  // After the catch-up made progress: once every channel of `t` is live, shows what was collected
  // and saves the position `t` has reached. An error says the position could not be saved; the
  // messages were shown all the same (not showing them would lose them for sure), and the journal
  // is kept so that they are not shown again after a restart. Its detail() is a whole sentence
  // for the log.
  [[nodiscard]] core::result<void> checkpoint(const tracker& t) {
    if (!t.all_live()) return {};
    // A live message comes alone: no sort, whose buffer would cost an allocation.
    if (to_show_.size() > 1) {
      std::stable_sort(
          to_show_.begin(), to_show_.end(),
          [](const message::envelope& a, const message::envelope& b) { return a.id < b.id; });
    }
    // Swapped, so that both vectors keep their buffers from batch to batch.
    batch_.swap(to_show_);
    for (const auto& e : batch_) show_once(e);
    batch_.clear();
    if (settings_.state_dir.empty()) return {};
    auto saved = save_store_state(settings_.state_dir, snapshot(t, settings_.store_id));
    if (!saved) {
      changed();
      return core::error(saved.err().code(), "cannot save the position in " +
                                                 core::path_utf8(settings_.state_dir) + ": " +
                                                 saved.err().message());
    }
    if (auto cleared = journal_.clear(); !cleared) core::log::warning(cleared.err().message());
    changed();
    return {};
  }

  // Shows again the must-read messages nobody acknowledged, as far as they are due at `now`.
  void remind_due(message::time_point now = std::chrono::system_clock::now()) {
    core::result<void> saved;
    auto due = reminders_.take_due(now, saved);
    if (!saved) keep_reminders_warning(saved);
    for (const auto& r : due) {
      ++counters_.reminded;
      core::log::info("message " + r.envelope.id + " not acknowledged yet: reminder " +
                      std::to_string(r.count));
      sinks_->remind(r.envelope, r.count, reminder_reporter(r.envelope.id));
    }
    if (!due.empty()) changed();
  }
  // When remind_due() has something to do next; none while no must-read message waits.
  std::optional<message::time_point> next_reminder() const { return reminders_.next_due(); }
  std::size_t reminders() const noexcept { return reminders_.size(); }

  const display_counters& counters() const noexcept { return counters_; }
  // Collected while catching up, not shown yet.
  std::size_t waiting() const noexcept { return to_show_.size(); }
  sinks::sink_set& sinks() noexcept { return *sinks_; }

  // After the counters changed in a way worth reporting: a checkpoint, a gap, a failed outcome,
  // a rejected or recalled message.
  void on_change(change_handler h) { on_change_ = std::move(h); }

  // The log line saying why a message was rejected: at most `limit.lines` a window, then a
  // count; written to `out` (the log by default).
  void limit_rejection_log(core::log::rate_limit limit, core::log::writer out = &core::log::write) {
    rejections_ = core::log::limited(limit, rejections_what, std::move(out));
  }

  // Writes the count of rejections the rate limit held back, once their window is over; the
  // daemon calls it now and then (and at the end), since no message may come to do it.
  void flush_log(core::log::limited::clock::time_point now = core::log::limited::clock::now()) {
    rejections_.flush(now);
  }
  // The same at once, when the store stops.
  void finish_log() { rejections_.finish(); }

  const trust::store_policy& policy() const noexcept { return policy_; }

 private:
  static constexpr std::string_view rejections_what = "rejected messages";

  void reject(const message::envelope& e, const std::string& why) {
    ++counters_.rejected;
    rejections_.write(core::log::level::warning, "message " + e.id + " rejected: " + why);
    receipts_.record(e.id, receipt_state::rejected);
    changed();
  }

  bool is_recalled(const std::string& id) const {
    return recalled_.contains(id) || journal_.status(id) == display_journal::mark::recalled;
  }

  // `by` (accepted by the policy) takes down message `id`.
  void take_down(const std::string& id, const message::envelope& by) {
    // A correction after its own recall notice, or a notice read again after a restart.
    if (is_recalled(id)) return;
    recalled_.insert(id);
    ++counters_.recalled;
    if (auto r = journal_.recalled(id); !r) {
      core::log::warning(r.err().message() + "; a crash now may show recalled message " + id);
    }
    const auto waiting = std::find_if(to_show_.begin(), to_show_.end(),
                                      [&](const message::envelope& m) { return m.id == id; });
    if (waiting != to_show_.end()) {
      to_show_.erase(waiting);
      core::log::info("message " + id + " recalled by " + by.id + " before it was shown");
    } else {
      core::log::info("message " + id + " recalled by " + by.id + "; taking it down");
      sinks_->recall(by, id);
    }
    keep_reminders_warning(reminders_.forget(id));
    receipts_.record(id, receipt_state::recalled);
    changed();
  }

  void show_once(const message::envelope& e) {
    using mark = display_journal::mark;
    switch (journal_.status(e.id)) {
      case mark::recalled:  // on_message keeps these out of to_show_
        return;
      case mark::shown:
        receipts_.record(e.id, receipt_state::displayed);
        return;
      case mark::started:
        core::log::notice("message " + e.id +
                          " was being shown when the store last stopped; showing it where it is "
                          "missing");
        if (sinks_->show_where_missing(e, outcome_reporter(e.id)) == 0) {
          receipts_.record(e.id, receipt_state::displayed);
        }
        break;
      case mark::none:
        mark_in_journal(journal_.started(e.id));
        ++counters_.shown;
        sinks_->show(e, outcome_reporter(e.id));
        break;
    }
    if (repeats(e)) keep_reminders_warning(reminders_.add(e, std::chrono::system_clock::now()));
    mark_in_journal(journal_.shown(e.id));
  }

  static void keep_reminders_warning(const core::result<void>& r) {
    if (!r) core::log::warning(r.err().message() + "; a restart now forgets must-read reminders");
  }

  // Without the journal a kill could repeat a message, which is better than not showing it.
  static void mark_in_journal(const core::result<void>& r) {
    if (!r) core::log::warning(r.err().message() + "; a crash now may show a message twice");
  }

  sinks::reporter outcome_reporter(std::string id) {
    return [this, id = std::move(id)](const sinks::outcome_event& o) {
      switch (o.kind) {
        case sinks::outcome::displayed:
          receipts_.record(id, receipt_state::displayed);
          break;
        case sinks::outcome::acknowledged:
          receipts_.record(id, receipt_state::acknowledged);
          keep_reminders_warning(reminders_.forget(id));
          break;
        case sinks::outcome::failed:
          ++counters_.failed;
          core::log::warning("sink " + o.sink + " failed for message " + id + ": " + o.reason);
          receipts_.record(id, receipt_state::failed);
          changed();
          break;
      }
    };
  }

  // A reminder's showing is displayed already; only its acknowledgement and its failure count.
  sinks::reporter reminder_reporter(std::string id) {
    return [this, id = std::move(id)](const sinks::outcome_event& o) {
      if (o.kind == sinks::outcome::acknowledged) {
        receipts_.record(id, receipt_state::acknowledged);
        keep_reminders_warning(reminders_.forget(id));
      } else if (o.kind == sinks::outcome::failed) {
        ++counters_.failed;
        core::log::warning("sink " + o.sink + " failed to remind of message " + id + ": " +
                           o.reason);
        changed();
      }
    };
  }

  void changed() {
    if (on_change_) on_change_();
  }

  display_settings settings_;
  trust::store_policy policy_;
  core::log::limited rejections_;
  receipt_recorder& receipts_;
  display_journal journal_ = display_journal::none();
  std::vector<message::envelope> to_show_;
  std::vector<message::envelope> batch_;  // being shown
  recent_ids recalled_;
  reminder_book reminders_;
  display_counters counters_;
  change_handler on_change_;
  // Last, so destroyed first: a sink reports nothing once it is gone, and its reporters point
  // here.
  std::unique_ptr<sinks::sink_set> sinks_;
};

}  // namespace bcast::broker
