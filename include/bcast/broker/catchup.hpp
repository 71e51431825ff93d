#pragma once
// The store's receiving side: a tracker (tracker.hpp) driven by Redis. Live frames come from a
// subscriber; when a channel's subscription is confirmed (at start and after every reconnect) the
// driver reads the channel's history with the command client, pipelining a read of the newest
// entry (its id "0-<seq>" is the last seq, publish.hpp) before the XRANGE/XREVRANGE, so that the
// head read is never newer than the entries read. A read that fails is retried after a delay;
// live messages wait in the tracker meanwhile. Counted frames get their seqs from a
// live_numbering, which may ask for one lookup of a message id in history per subscription.

#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/live_numbering.hpp>
#include <bcast/broker/store_state.hpp>
#include <bcast/broker/tracker.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/redis/subscriber.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bcast::broker {

struct catchup_settings {
  tracker_settings tracker;
  std::chrono::milliseconds retry_delay{1000};  // after a failed history read
  bool sharded_pubsub = false;                  // SSUBSCRIBE, to match publisher_settings
  redis::subscriber_settings subscriber;
};

namespace detail {

// The id of one XRANGE element, [id, [field, value, ...]]; empty when it has none.
inline std::string_view entry_id_of(const redis::reply& r) {
  const auto parts = r.as_array();
  if (!parts || parts->empty()) return {};
  const auto id = (*parts)[0].as_string();
  return id ? *id : std::string_view{};
}

// One XRANGE element. Nothing when even the seq is unusable; an entry with an empty message id
// when only the id or envelope is.
inline std::optional<entry> read_stream_entry(std::string_view target, const redis::reply& r) {
  const auto parts = r.as_array(2);
  const auto id = parts ? (*parts)[0].as_string() : parts.err();
  const auto fields = parts ? (*parts)[1].as_array() : parts.err();
  if (!id || !fields) return std::nullopt;
  const auto seq = seq_of_entry_id(*id);
  if (!seq) return std::nullopt;
  entry e;
  e.target = target;
  e.stream_id = *id;
  e.seq = *seq;
  for (std::size_t i = 0; i + 1 < fields->size(); i += 2) {
    const auto& name = (*fields)[i].str;
    const auto& value = (*fields)[i + 1].str;
    if (name == "id") {
      e.message_id = value;
    } else if (name == "env") {
      e.envelope_json = value;
    }
  }
  if (!message::is_valid_ulid(e.message_id) || e.envelope_json.empty()) {
    e.message_id.clear();
    e.envelope_json.clear();
  }
  return e;
}

}  // namespace detail

class catchup_driver {
 public:
  using message_handler = std::function<void(const entry&, const message::envelope&)>;
  using gap_handler = std::function<void(const gap_event&)>;
  using problem_handler = std::function<void(const core::error&)>;
  using live_handler = std::function<void(std::string_view target)>;
  using progress_handler = std::function<void()>;

  // `client` reads history and must outlive the driver; `subscriber_options` open the driver's
  // own pub/sub connection. `targets` come from store_targets(); `restored` from the state dir.
  catchup_driver(core::loop& l, redis::client& client, redis::options subscriber_options,
                 std::vector<std::string> targets, const store_state& restored = {},
                 catchup_settings s = {})
      : client_(client),
        settings_(with_cluster(s, client)),
        tracker_(s.tracker),
        subscriber_(l, std::move(subscriber_options), s.subscriber, client.topology()),
        retry_timer_(l),
        targets_(std::move(targets)) {
    restore(tracker_, targets_, restored);
    subscriber_.on_message(
        [this](std::string_view channel, std::string_view payload) { on_frame(channel, payload); });
    subscriber_.on_confirmed([this](redis::subscription_kind, std::string_view channel) {
      if (auto target = target_of_live_channel(channel)) {
        tracker_.start(*target, events_);
        process();
      }
    });
    // A channel's subscription lost (its connection, or on a cluster its node's): it catches up
    // again once confirmed again, wherever its slot lives then.
    subscriber_.on_lost([this](redis::subscription_kind, std::string_view channel) {
      if (auto target = target_of_live_channel(channel)) {
        tracker_.disconnected(*target);
        numbering_.reset(*target);
      }
    });
  }
  catchup_driver(const catchup_driver&) = delete;
  catchup_driver& operator=(const catchup_driver&) = delete;

  // Handlers run on the loop; a handler may destroy the driver.
  void on_message(message_handler h) { on_message_ = std::move(h); }
  void on_gap(gap_handler h) { on_gap_ = std::move(h); }
  void on_problem(problem_handler h) { on_problem_ = std::move(h); }
  void on_live(live_handler h) { on_live_ = std::move(h); }
  // After a batch of work that moved a position: a good moment to save the state.
  void on_progress(progress_handler h) { on_progress_ = std::move(h); }

  void start() {
    std::vector<std::string> channels;
    for (const auto& t : targets_) channels.push_back(live_channel(t));
    subscriber_.subscribe(std::move(channels), settings_.sharded_pubsub
                                                   ? redis::subscription_kind::shard_channel
                                                   : redis::subscription_kind::channel);
  }

  // Every channel caught up and live.
  bool live() const { return tracker_.all_live(); }
  const broker::tracker& tracker() const noexcept { return tracker_; }
  const std::vector<std::string>& targets() const noexcept { return targets_; }
  store_state snapshot(std::string store_id, std::size_t max_ids = 1000) const {
    return broker::snapshot(tracker_, std::move(store_id), max_ids);
  }
  redis::subscriber& subscriber() noexcept { return subscriber_; }

 private:
  // On a cluster, always sharded pub/sub, as the publisher there.
  static catchup_settings with_cluster(catchup_settings s, const redis::client& client) {
    if (client.cluster()) s.sharded_pubsub = true;
    return s;
  }

  void problem(core::error e) {
    if (on_problem_) on_problem_(e);
  }
  void problem(const core::error& e, const std::string& doing) {
    const auto failed = redis::failed(doing, e);
    problem(core::error(failed.code(), failed.detail() + "; retrying"));
  }

  void on_frame(std::string_view channel, std::string_view payload) {
    auto target = target_of_live_channel(channel);
    if (!target || !tracker_.has_channel(*target)) return;
    std::optional<frame> f;
    if (auto decoded = decode_frame(payload)) {
      f = *decoded;
    } else {
      // It still used up a seq: the tracker sees a hole at the next frame and reads history.
      problem(
          core::error(decoded.err().code(), std::string(channel) + ": " + decoded.err().detail()));
    }
    std::vector<lookup_request> ask;
    numbering_.on_frame(*target, f, numbered_, ask);
    for (auto& req : ask) look_up(std::move(req), "+", 0);
    live(numbered_);  // last: a handler may destroy the driver
  }

  void live(std::vector<entry>& entries) {
    for (auto& e : entries) tracker_.on_live(std::move(e), events_);
    entries.clear();
    process();
  }

  // Newest first, a short page, then longer ones, as deep as one tracker page.
  void look_up(lookup_request req, std::string upper, std::size_t searched) {
    const std::size_t count = searched == 0 ? 16 : 100;
    auto alive = alive_.watch();
    const auto key = history_key(req.target);  // before req moves into the handler
    client_.command(
        {"XREVRANGE", key, upper, "-", "COUNT", std::to_string(count)},
        [this, alive, req = std::move(req), searched, count](core::result<redis::reply> r) mutable {
          if (alive.expired()) return;
          const auto answer = redis::checked(std::move(r));
          const auto entries = answer ? answer->as_array() : answer.err();
          if (!entries) {
            problem(entries.err(), "looking up a live message in the history of " + req.target);
            return retry_later(std::move(req));
          }
          for (const auto& item : *entries) {
            auto e = detail::read_stream_entry(req.target, item);
            if (e && e->message_id == req.message_id) return looked_up(req, e->seq);
          }
          searched += entries->size();
          if (entries->size() < count || searched >= settings_.tracker.page_size)
            return looked_up(req, std::nullopt);
          const auto oldest = detail::entry_id_of(entries->back());
          look_up(std::move(req), "(" + std::string(oldest.empty() ? "0-0" : oldest), searched);
        });
  }

  void looked_up(const lookup_request& req, std::optional<std::uint64_t> seq) {
    if (numbering_.on_lookup(req, seq, numbered_)) {
      problem(core::error(core::errc::protocol_error,
                          req.target + ": live message " + req.message_id +
                              " is not among the newest history entries; reading history"));
      tracker_.read_again(req.target, events_);
    }
    live(numbered_);
  }

  void process() {
    if (processing_) return;  // the outer call drains what was added
    processing_ = true;
    auto alive = alive_.watch();
    bool moved = false;
    while (!events_.empty()) {
      auto batch = std::move(events_);
      events_.clear();
      for (auto& ev : batch) {
        if (auto* d = std::get_if<deliver_event>(&ev)) {
          moved = true;
          deliver(d->e);
        } else if (std::get_if<duplicate_event>(&ev)) {
          moved = true;
        } else if (auto* g = std::get_if<gap_event>(&ev)) {
          moved = true;
          if (on_gap_) on_gap_(*g);
        } else if (auto* req = std::get_if<fetch_request>(&ev)) {
          fetch(std::move(*req));
        } else if (auto* l = std::get_if<live_event>(&ev)) {
          if (on_live_) on_live_(l->target);
        }
        if (alive.expired()) return;
      }
    }
    processing_ = false;
    if (moved && on_progress_) on_progress_();
  }

  void deliver(const entry& e) {
    if (e.message_id.empty()) {
      problem(core::error(
          core::errc::protocol_error,
          e.target + " seq " + std::to_string(e.seq) + ": history entry without a usable message"));
      return;
    }
    auto env = message::decode(e.envelope_json);
    if (!env) {
      problem(core::error(env.err().code(),
                          e.target + " seq " + std::to_string(e.seq) + ": " + env.err().detail()));
      return;
    }
    if (on_message_) on_message_(e, *env);
  }

  void fetch(fetch_request req) {
    const auto history = history_key(req.target);
    const std::string count = std::to_string(req.count);
    redis::client::pipeline reads(client_, 2);
    // A head read is one XREVRANGE: newest first, its answer's first entry is the head as well.
    if (req.kind == fetch_kind::head) {
      reads.command({"XREVRANGE", history, "+", "-", "COUNT", count});
    } else {
      reads.command({"XREVRANGE", history, "+", "-", "COUNT", "1"})
          .command({"XRANGE", history, "(" + req.after, "+", "COUNT", count});
    }
    auto alive = alive_.watch();
    reads.send([this, alive, req = std::move(req)](core::result<redis::replies>&& r) {
      if (alive.expired()) return;
      fetched(req, std::move(r));
    });
  }

  // The head read's answer first, the range's last (one answer for both when a head read).
  void fetched(const fetch_request& req, core::result<redis::replies>&& answers) {
    const auto fail = [&](const core::error& e) {
      problem(e, "reading the history of " + req.target);
      retry_later(req);
    };
    if (!answers) return fail(answers.err());
    const auto head = answers->front().as_array();
    const auto range = answers->back().as_array();
    if (!head) return fail(head.err());
    if (!range) return fail(range.err());
    history_reply reply;
    if (!head->empty()) {
      const auto newest = detail::read_stream_entry(req.target, head->front());
      if (!newest)
        return fail(core::error(core::errc::protocol_error,
                                "the newest history entry has no seq in its id"));
      reply.head_seq = newest->seq;
    }
    reply.returned = range->size();
    for (const auto& item : *range) {
      const auto id = detail::entry_id_of(item);
      if (const auto cur = stream_id::parse(id)) {
        const auto last = stream_id::parse(reply.last_id);
        if (!last || *cur > *last) reply.last_id = id;
      }
      if (auto e = detail::read_stream_entry(req.target, item)) {
        reply.entries.push_back(std::move(*e));
      } else {
        problem(core::error(core::errc::protocol_error,
                            req.target + ": unusable history entry skipped"));
      }
    }
    // XREVRANGE answers newest first; the head read wants only that newest one anyway.
    tracker_.on_history(req, std::move(reply), events_);
    process();
  }

  void retry_later(std::variant<fetch_request, lookup_request> req) {
    retries_.push_back(std::move(req));
    if (retry_timer_.active()) return;
    retry_timer_.start(settings_.retry_delay, [this] {
      auto due = std::move(retries_);
      retries_.clear();
      for (auto& r : due) {
        if (auto* f = std::get_if<fetch_request>(&r)) {
          if (tracker_.wants(*f)) fetch(std::move(*f));
        } else if (auto& l = std::get<lookup_request>(r); numbering_.wants(l)) {
          look_up(std::move(l), "+", 0);
        }
      }
    });
  }

  redis::client& client_;
  catchup_settings settings_;
  broker::tracker tracker_;
  redis::subscriber subscriber_;
  core::timer retry_timer_;
  std::vector<std::string> targets_;
  std::vector<tracker_event> events_;
  std::vector<std::variant<fetch_request, lookup_request>> retries_;
  live_numbering numbering_;
  std::vector<entry> numbered_;  // reused: frames whose seq became known, for the tracker
  bool processing_ = false;
  message_handler on_message_;
  gap_handler on_gap_;
  problem_handler on_problem_;
  live_handler on_live_;
  progress_handler on_progress_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
