#pragma once
// The bcast side: stores receive the way subscriberd does (a redis::subscriber on its own
// connection per store, subscribed to the live channels of all, its store and its group, each
// payload decoded as a broker frame), and the publisher goes through the library
// (broker::publisher, as publisherd uses it) or through publisherd's HTTP API. With --sign the
// publisher signs every envelope with a key made for the run, and the stores' display pipelines
// trust only that key (trust::store_policy). On a Redis Cluster (redis-cluster://) the publisher
// SPUBLISHes and the stores SSUBSCRIBE, each channel on its slot's master; the stores of one
// thread share one slot map (one client's, as a subscriberd's subscriber shares its client's).

#include "phase.hpp"

#include <bcast/broker/catchup.hpp>
#include <bcast/broker/display_pipeline.hpp>
#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/http/client.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/lifecycle.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/net/connect.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/redis/options.hpp>
#include <bcast/redis/subscriber.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/trust/signature.hpp>
#include <bcast/trust/store_policy.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fanout {

// The live channels store i listens to, as subscriberd computes them.
inline std::vector<std::string> store_channels(const plan& p, std::uint32_t i) {
  const std::vector<std::string> groups{p.group_of(i)};
  std::vector<std::string> channels;
  for (const auto& t : bcast::broker::store_targets(plan::store_id(i), groups)) {
    channels.push_back(bcast::broker::live_channel(t));
  }
  return channels;
}

// What a store's display pipeline shows to in --receive full: the delivery is counted when the
// message reaches the sink, and with --recall a recall when the pipeline takes the message down
// through the sink (whatever closing a popup costs a real sink is not measured). It reports no
// outcome, as a dialog nobody closed: receipts are not measured.
class tally_sink final : public bcast::sinks::sink {
 public:
  using counter = std::function<void(std::string_view title)>;
  explicit tally_sink(counter delivered, counter recalled = {})
      : delivered_(std::move(delivered)), recalled_(std::move(recalled)) {}
  const std::string& name() const noexcept override { return name_; }
  void show(const bcast::message::envelope& e, bcast::sinks::reporter) override {
    delivered_(e.title);
  }
  void close(std::function<void()>) override {}
  std::size_t pending() const noexcept override { return 0; }
  // The notice carries the recalled message's title, and so its stamp.
  void recall(const bcast::message::envelope& by, std::string_view) override {
    if (recalled_) recalled_(by.title);
  }

 private:
  std::string name_ = "bcast-bench";
  counter delivered_;
  counter recalled_;
};

class bcast_store_worker : public store_worker {
 public:
  bcast_store_worker(const plan& p, tally& t, unsigned index, std::uint32_t first,
                     std::uint32_t last, std::function<void()> on_complete,
                     bcast::redis::options options, bool full_receive,
                     std::optional<bcast::trust::keyring> trusted = std::nullopt,
                     tally* recalls = nullptr, bool time_pipeline = false)
      : store_worker(p, t, index, first, last, std::move(on_complete), recalls),
        options_(std::move(options)),
        full_receive_(full_receive),
        time_pipeline_(time_pipeline),
        trusted_(std::move(trusted)) {
    // Set-up problems are counted once; the subscriber keeps retrying meanwhile.
    options_.backoff.initial = std::chrono::milliseconds(500);
  }

  void run() override {
    // The history reads of every store on this thread share one connection (per master), and on
    // a cluster its slot map places every store's shard channels.
    if (full_receive_ || options_.cluster)
      reader_ = std::make_unique<bcast::redis::client>(loop_, options_);
    start_first_wave();
    loop_.run();
  }

  void request_stop() override {
    loop_.post([this] {
      stores_.clear();
      reader_.reset();  // the last handles: the loop's run() returns
    });
  }

 private:
  struct store {
    std::unique_ptr<bcast::redis::subscriber> subscriber;
    std::unique_ptr<bcast::broker::display_pipeline> pipeline;
    std::unique_ptr<bcast::broker::catchup_driver> driver;
    bool counted = false;
  };

  void start_store(std::uint32_t i) override {
    if (full_receive_) return start_driver(i);
    auto& s = stores_.emplace_back();
    s.subscriber = std::make_unique<bcast::redis::subscriber>(
        loop_, options_, bcast::redis::subscriber_settings{},
        reader_ ? reader_->topology() : nullptr);
    auto* sub = s.subscriber.get();
    const auto slot = stores_.size() - 1;
    sub->on_message([this, i](std::string_view channel, std::string_view payload) {
      if (!bcast::broker::target_of_live_channel(channel)) return;
      auto frame = bcast::broker::decode_frame(payload);
      if (!frame) return store_failed(std::string(channel) + ": " + frame.err().detail());
      received(i, frame->envelope_json);
    });
    sub->on_confirmed([this, sub, slot](bcast::redis::subscription_kind, std::string_view) {
      if (!sub->all_confirmed() || stores_[slot].counted) return;
      stores_[slot].counted = true;
      store_subscribed();
    });
    sub->observe([this](bcast::redis::connection_state st, const bcast::core::error& why) {
      if (st == bcast::redis::connection_state::waiting_to_reconnect) store_failed(why.message());
    });
    sub->subscribe(store_channels(plan_, i), options_.cluster
                                                 ? bcast::redis::subscription_kind::shard_channel
                                                 : bcast::redis::subscription_kind::channel);
  }

  // As subscriberd: the catch-up driver feeds the display pipeline, which shows through a sink
  // that counts the delivery. The pipeline keeps no state dir (no journal, no saved position):
  // bench_broker's display_checkpoint measures what those cost a store.
  void start_driver(std::uint32_t i) {
    auto& s = stores_.emplace_back();
    const std::vector<std::string> groups{plan_.group_of(i)};
    auto sinks = std::make_unique<bcast::sinks::sink_set>(loop_);
    sinks->add(
        std::make_unique<tally_sink>([this, i](std::string_view title) { received(i, title); },
                                     [this, i](std::string_view title) { recalled(i, title); }));
    auto targets = bcast::broker::store_targets(plan::store_id(i), groups);
    // With trusted keys (--sign), only what they signed is shown; without, unsigned messages are
    // shown unverified (only the target check runs).
    auto policy = trusted_ ? bcast::trust::store_policy(*trusted_, false, targets)
                           : bcast::trust::store_policy({}, true, targets);
    s.pipeline = std::make_unique<bcast::broker::display_pipeline>(
        bcast::broker::display_settings{plan::store_id(i), {}}, std::move(policy), std::move(sinks),
        receipts_);
    bcast::broker::catchup_settings catchup;
    catchup.sharded_pubsub = options_.cluster;
    s.driver = std::make_unique<bcast::broker::catchup_driver>(
        loop_, *reader_, options_, std::move(targets), bcast::broker::store_state{}, catchup);
    auto* driver = s.driver.get();
    auto* pipeline = s.pipeline.get();
    const auto slot = stores_.size() - 1;
    driver->on_message(
        [this, pipeline](const bcast::broker::entry&, const bcast::message::envelope& e) {
          if (!time_pipeline_) return pipeline->on_message(e);
          const auto before = now_ns();
          pipeline->on_message(e);
          tally_.in_pipeline(index_, now_ns() - before);
        });
    driver->on_gap([pipeline](const bcast::broker::gap_event& g) { pipeline->on_gap(g); });
    // Without a state dir a checkpoint cannot fail.
    driver->on_progress([pipeline, driver] { (void)pipeline->checkpoint(driver->tracker()); });
    driver->on_problem([this](const bcast::core::error& e) { store_failed(e.message()); });
    driver->on_live([this, driver, pipeline, slot](std::string_view) {
      if (!driver->live()) return;
      (void)pipeline->checkpoint(driver->tracker());
      if (stores_[slot].counted) return;
      stores_[slot].counted = true;
      store_subscribed();
    });
    driver->subscriber().observe(
        [this](bcast::redis::connection_state st, const bcast::core::error& why) {
          if (st == bcast::redis::connection_state::waiting_to_reconnect)
            store_failed(why.message());
        });
    driver->start();
  }

  bcast::core::loop loop_;
  bcast::redis::options options_;
  bool full_receive_;
  bool time_pipeline_;  // --sign: each message's time in the display pipeline goes in the tally
  std::optional<bcast::trust::keyring> trusted_;
  std::unique_ptr<bcast::redis::client> reader_;
  bcast::broker::discarded_receipts receipts_;
  std::deque<store> stores_;  // a deque: subscribers stay where their callbacks expect them
};

// The envelope publisherd would make for message k, with the stamp as its title.
class envelope_maker {
 public:
  envelope_maker(const plan& p, std::size_t payload)
      : plan_(p), body_(std::max<std::size_t>(1, payload), 'x') {}

  bcast::core::result<bcast::message::envelope> make(std::uint32_t k, std::int64_t now,
                                                     std::string target) {
    const auto wall = std::chrono::system_clock::now();
    auto id = ids_.next(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count()));
    if (!id) return id.err();
    bcast::message::envelope e;
    e.id = std::move(id).value();
    e.targets = {std::move(target)};
    e.category = "announcement";
    e.title = format_stamp(k, now);
    e.body = body_;
    e.sent_at = bcast::message::format_time(wall);
    e.sender = "bcast-bench";
    return e;
  }
  // As publisherd recalls: a notice with an id of now, to the message's targets, with its title.
  bcast::core::result<bcast::message::envelope> recall_notice(
      const bcast::message::envelope& message) {
    return bcast::message::make_recall_notice(message, ids_, "bcast-bench",
                                              std::chrono::system_clock::now());
  }
  const plan& target_plan() const { return plan_; }
  const std::string& body() const { return body_; }

 private:
  const plan& plan_;
  std::string body_;
  bcast::message::ulid_generator ids_;
};

using signing_key_ptr = std::shared_ptr<const bcast::trust::signing_key>;

// The size of the (counted) frame a store receives for a message of this plan, signed with `key`
// if there is one, so that the baseline publishes payloads of the same size.
inline std::size_t frame_size(const plan& p, std::size_t payload, const signing_key_ptr& key) {
  envelope_maker maker(p, payload);
  auto e = maker.make(p.messages(), now_ns(), p.target_of(0)).value();
  if (key) (void)bcast::trust::sign(*key, e);
  std::string frame;
  bcast::broker::append_counted_frame(frame, e.id, bcast::message::encode(e));
  return frame.size();
}

// Publishes through broker::publisher, as publisherd does: per target one transaction (history
// append + PUBLISH; the script for a target's first message), then the message record. With
// `through_publisher` false it sends the same frame with a plain PUBLISH through the same client
// instead (--via frame): the library's I/O path without the history append, to tell the two costs
// apart. With a `key` the publisher signs every envelope (set_signing_key). With `recalls` it keeps
// each message it published, to make its recall notice from.
class library_publisher : public publisher {
 public:
  library_publisher(bcast::core::loop& l, const plan& p, std::size_t payload,
                    bcast::redis::options options, bool through_publisher = true,
                    signing_key_ptr key = nullptr, bool recalls = false)
      : client_(l, options),
        publisher_(client_, settings_for(options)),
        publish_command_(options.cluster ? "SPUBLISH" : "PUBLISH"),
        maker_(p, payload),
        through_publisher_(through_publisher),
        published_(recalls ? p.messages() : 0) {
    publisher_.set_signing_key(std::move(key));
  }

  void prepare(prepared done) override {
    publish_envelope(maker_.make(0, now_ns(), "store:warm-up"), std::move(done));
  }

  void publish(std::uint32_t k, std::int64_t now) override {
    auto e = maker_.make(k, now, maker_.target_plan().target_of(k));
    if (e && k < published_.size()) published_[k] = *e;
    publish_envelope(std::move(e), {});
  }

  // As publisherd publishes a notice: like a message, to each target's history and live channel,
  // signed with the same key, but not in the message log.
  void recall(std::uint32_t k, std::int64_t) override {
    if (k >= published_.size() || !published_[k])
      return failed("message " + std::to_string(k) + " was not published, nothing to recall");
    bcast::broker::publish_options notice;
    notice.record = false;
    publish_envelope(maker_.recall_notice(*published_[k]), {}, notice);
  }

 private:
  void publish_envelope(bcast::core::result<bcast::message::envelope> e, prepared done,
                        bcast::broker::publish_options opts = {}) {
    if (!e) {
      failed(e.err().message());
      if (done) done(e.err().message());
      return;
    }
    if (!through_publisher_) {
      std::string frame;
      bcast::broker::append_counted_frame(frame, e->id, bcast::message::encode(*e));
      client_.command({publish_command_, bcast::broker::live_channel(e->targets[0]), frame},
                      [this, done = std::move(done)](bcast::core::result<bcast::redis::reply> r) {
                        const auto problem = r ? std::string() : r.err().message();
                        if (!r) failed(problem);
                        if (done) done(problem);
                      });
      return;
    }
    publisher_.publish(
        *e,
        [this, done = std::move(done)](bcast::core::result<bcast::broker::publish_outcome> r) {
          const auto problem = r ? std::string() : r.err().message();
          if (!r) failed(problem);
          if (done) done(problem);
        },
        opts);
  }

  // On a cluster, SPUBLISH: the frame goes to its channel's slot's master (and its replica) only.
  static bcast::broker::publisher_settings settings_for(const bcast::redis::options& o) {
    bcast::broker::publisher_settings s;
    s.sharded_pubsub = o.cluster;
    return s;
  }

  bcast::redis::client client_;
  bcast::broker::publisher publisher_;
  std::string_view publish_command_;
  envelope_maker maker_;
  bool through_publisher_;
  std::vector<std::optional<bcast::message::envelope>> published_;  // by k, with recalls
};

// What signing and verifying one message of this run costs apart from the phases, measured in the
// bench process right after them: the median wall time of trust::sign (publisherd, once per
// message) and of the trust policy's check by a store that trusts the key (the display pipeline,
// once per message and store), over `n` envelopes like the run's, one after the other.
inline signing_costs measure_signing(const plan& p, std::size_t payload,
                                     const bcast::trust::signing_key& key, unsigned n) {
  envelope_maker maker(p, payload);
  const std::vector<std::string> groups{p.group_of(0)};
  // Store 0 is addressed by every message whose target is target_of(0).
  const bcast::trust::store_policy policy(bcast::trust::keyring({key.public_half()}), false,
                                          bcast::broker::store_targets(plan::store_id(0), groups));
  std::vector<double> sign_us, verify_us;
  const auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  for (unsigned k = 0; k < n; ++k) {
    auto e = maker.make(k, now_ns(), p.target_of(0));
    if (!e) continue;
    const auto before_sign = now_ns();
    const bool signed_ok = bcast::trust::sign(key, *e).ok();
    const auto before_check = now_ns();
    const bool shown = !policy.check(*e);
    const auto after = now_ns();
    if (!signed_ok || !shown) continue;
    sign_us.push_back(static_cast<double>(before_check - before_sign) / 1e3);
    verify_us.push_back(static_cast<double>(after - before_check) / 1e3);
  }
  return {static_cast<unsigned>(sign_us.size()), median(sign_us), median(verify_us)};
}

// POST /api/v1/messages to a running publisherd over one keep-alive connection, pipelined.
class api_publisher : public publisher {
 public:
  api_publisher(bcast::core::loop& l, const plan& p, std::size_t payload, bcast::net::endpoint api,
                std::string token)
      : loop_(l),
        plan_(p),
        api_(std::move(api)),
        token_(std::move(token)),
        body_(std::max<std::size_t>(1, payload), 'x'),
        head_("POST /api/v1/messages HTTP/1.1\r\nHost: " + api_.str() +
              "\r\nAuthorization: Bearer " + token_ +
              "\r\nContent-Type: application/json\r\nContent-Length: ") {}
  ~api_publisher() override {
    if (attempt_) attempt_->cancel();
    if (!stream_) return;
    // abort() reports the close, and this publisher is no longer there to hear it
    stream_->on_close(nullptr);
    stream_->on_data(nullptr);
    stream_->abort();
  }

  void prepare(prepared done) override {
    attempt_ = bcast::net::connect(
        loop_, api_, {}, [this, done](bcast::core::result<std::shared_ptr<bcast::net::stream>> r) {
          attempt_.reset();
          if (!r)
            return done("connecting to publisherd at " + api_.str() + ": " + r.err().message());
          stream_ = std::move(r).value();
          stream_->on_data([this](std::string_view data) { on_data(data); });
          stream_->on_close([this](const bcast::core::error& e) {
            const auto why =
                "publisherd closed the connection" + (e ? ": " + e.message() : std::string());
            failed(why);
            stream_.reset();
            for (auto& waiting : std::exchange(waiting_, {})) {
              if (waiting) waiting(why);
            }
          });
          stream_->start_reading();
          post(0, now_ns(), "store:warm-up", done);
        });
  }

  void publish(std::uint32_t k, std::int64_t now) override { post(k, now, plan_.target_of(k), {}); }

 private:
  void post(std::uint32_t k, std::int64_t now, const std::string& target, prepared done) {
    if (!stream_) {
      failed("no connection to publisherd");
      if (done) done("no connection to publisherd");
      return;
    }
    // Targets, the stamp and the body of x's need no JSON escaping: the request is written as
    // text, as cheaply as the baseline's payload, so that the harness adds nothing to this side.
    const auto text = "{\"targets\":[\"" + target +
                      "\"],\"category\":\"announcement\",\"title\":\"" + format_stamp(k, now) +
                      "\",\"body\":\"" + body_ + "\"}";
    std::string request = head_ + std::to_string(text.size()) + "\r\n\r\n" + text;
    if (auto ec = stream_->write(request); ec) failed("writing to publisherd: " + ec.message());
    waiting_.push_back(std::move(done));
  }

  // Responses come in request order.
  void on_data(std::string_view data) {
    while (!data.empty()) {
      data.remove_prefix(responses_.feed(data));
      if (responses_.status() == bcast::http::response_parser::state::error) {
        const auto why = "publisherd: " + responses_.error();
        failed(why);
        for (auto& waiting : std::exchange(waiting_, {})) {
          if (waiting) waiting(why);
        }
        return;
      }
      if (responses_.status() != bcast::http::response_parser::state::message) return;
      const auto response = responses_.take();
      auto done = waiting_.empty() ? prepared() : std::move(waiting_.front());
      if (!waiting_.empty()) waiting_.pop_front();
      const auto problem = response.status == 201
                               ? std::string()
                               : "HTTP " + std::to_string(response.status) + " " + response.body;
      if (!problem.empty()) failed(problem);
      if (done) done(problem);
    }
  }

  bcast::core::loop& loop_;
  const plan& plan_;
  bcast::net::endpoint api_;
  std::string token_;
  std::string body_;
  std::string head_;  // the request up to the Content-Length value
  std::shared_ptr<bcast::net::connect_attempt> attempt_;
  std::shared_ptr<bcast::net::stream> stream_;
  bcast::http::response_parser responses_;
  std::deque<prepared> waiting_;
};

}  // namespace fanout
