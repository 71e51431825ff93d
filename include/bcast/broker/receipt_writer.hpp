#pragma once
// The store's side of receipts (receipts.hpp): every state it reaches for a message, and every gap,
// written under its own keys only. Failures to reach Redis are retried in the background from a
// bounded queue.
//
// Storage is bounded: the writer trims its messages older than max_age or beyond max_messages
// (oldest first) through an index sorted by the ULID's time, and keeps the newest max_gaps gaps.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

struct receipt_settings {
  std::chrono::hours max_age{24 * 30};
  std::size_t max_messages = 10000;
  std::size_t max_gaps = 1000;
  std::size_t max_queued = 10000;  // receipts held while Redis is unreachable; oldest dropped
  std::chrono::milliseconds retry_interval{2000};
  std::size_t trim_every = 100;  // writes between trims
};

class receipt_writer {
 public:
  using done_handler = std::function<void(core::result<void>)>;

  // Must not outlive the client.
  receipt_writer(core::loop& l, redis::client& c, std::string store_id, receipt_settings s = {})
      : loop_(l),
        client_(c),
        store_id_(std::move(store_id)),
        settings_(s),
        receipts_(receipts_key(store_id_)),
        index_(receipts_index_key(store_id_)),
        gaps_(gaps_key(store_id_)),
        retry_timer_(l) {}
  receipt_writer(const receipt_writer&) = delete;
  receipt_writer& operator=(const receipt_writer&) = delete;

  // `done` runs once the receipt is stored, or with the error when Redis refused it or it was
  // dropped from a full queue. Failures to reach Redis are retried in the background.
  void record(std::string_view message_id, receipt_state s,
              message::time_point at = std::chrono::system_clock::now(), done_handler done = {}) {
    if (!message::is_valid_ulid(message_id)) {
      fail_later(std::move(done),
                 core::error(core::errc::invalid_argument, "receipt: not a message id"));
      return;
    }
    op o;
    o.is_gap = false;
    o.message_id = message_id;
    o.state = s;
    o.at = message::format_time(at);
    o.done = std::move(done);
    send(std::move(o));
    if (++writes_since_trim_ >= settings_.trim_every) {
      writes_since_trim_ = 0;
      trim();
    }
  }

  void record_gap(std::string_view target, std::uint64_t from, std::uint64_t to,
                  message::time_point at = std::chrono::system_clock::now(),
                  done_handler done = {}) {
    if (!message::is_valid_target(target) || from == 0 || to < from) {
      fail_later(std::move(done),
                 core::error(core::errc::invalid_argument, "gap receipt: bad range"));
      return;
    }
    op o;
    o.is_gap = true;
    o.target = target;
    o.from = from;
    o.to = to;
    o.at = message::format_time(at);
    o.done = std::move(done);
    send(std::move(o));
  }

  // Drops receipts past max_age and max_messages now (also done every trim_every writes).
  void trim(done_handler done = {}) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto cutoff =
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(settings_.max_age).count();
    const std::string below = "(" + std::to_string(cutoff);
    redis::client::pipeline counts(client_, 2);
    counts.command({"ZCOUNT", index_, "-inf", below}).command({"ZCARD", index_});
    auto alive = alive_.watch();
    counts.send([this, alive, done = std::move(done)](core::result<redis::replies> r) mutable {
      if (alive.expired()) return;
      auto old = r ? (*r)[0].as_integer() : r.err();
      auto total = r ? (*r)[1].as_integer() : r.err();
      if (!old || !total) {
        if (done) done(redis::failed("receipt trim: counting", old ? total.err() : old.err()));
        return;
      }
      const auto over =
          std::max<long long>(0, *total - static_cast<long long>(settings_.max_messages));
      const auto n = std::min<long long>(std::max(*old, over), 1000);
      if (n <= 0) {
        if (done) done(core::result<void>());
        return;
      }
      drop_oldest(static_cast<std::size_t>(n), std::move(done));
    });
  }

  std::size_t queued() const noexcept { return queue_.size(); }
  std::size_t dropped() const noexcept { return dropped_; }
  const std::string& store_id() const noexcept { return store_id_; }

 private:
  struct op {
    bool is_gap = false;
    std::string message_id;
    receipt_state state = receipt_state::delivered;
    std::string target;
    std::uint64_t from = 0, to = 0;
    std::string at;
    done_handler done;
  };

  void fail_later(done_handler done, core::error e) {
    if (done) loop_.defer([done = std::move(done), e = std::move(e)] { done(e); });
  }

  void send(op o) {
    redis::client::pipeline p(client_, 2);
    if (o.is_gap) {
      p.command({"LPUSH", gaps_, format_gap_record(o.target, o.from, o.to, o.at)})
          .command({"LTRIM", gaps_, "0", std::to_string(settings_.max_gaps - 1)});
    } else {
      const auto ms = message::ulid_time_ms(o.message_id).value_or(0);
      p.command({"HSETNX", receipts_, receipt_field(o.message_id, o.state), o.at})
          .command({"ZADD", index_, "NX", std::to_string(ms), o.message_id});
    }
    auto alive = alive_.watch();
    p.send([this, alive, o = std::move(o)](core::result<redis::replies> r) mutable {
      if (!r) {
        // Not reached: kept for later, unless the writer is gone.
        if (!alive.expired()) return requeue(std::move(o));
        if (o.done) o.done(r.err());
        return;
      }
      auto refused = redis::first_error(*r);
      if (!o.done) return;
      if (!refused) return o.done(redis::failed("receipt", refused.err()));
      o.done(core::result<void>());
    });
  }

  void requeue(op o) {
    if (queue_.size() >= settings_.max_queued) {
      auto oldest = std::move(queue_.front());
      queue_.pop_front();
      ++dropped_;
      if (oldest.done)
        oldest.done(
            core::error(core::errc::queue_full, "receipt dropped: Redis unreachable too long"));
    }
    queue_.push_back(std::move(o));
    if (!retry_timer_.active()) {
      retry_timer_.start(settings_.retry_interval, [this] {
        auto due = std::move(queue_);
        queue_.clear();
        for (auto& item : due) send(std::move(item));
      });
    }
  }

  void drop_oldest(std::size_t n, done_handler done) {
    auto alive = alive_.watch();
    client_.command({"ZRANGE", index_, "0", std::to_string(n - 1)},
                    [this, alive, done = std::move(done)](core::result<redis::reply> r) mutable {
                      if (alive.expired()) return;
                      const auto oldest = redis::checked(std::move(r));
                      const auto ids = oldest ? oldest->as_array() : oldest.err();
                      if (!ids) {
                        if (done) done(redis::failed("receipt trim: listing", ids.err()));
                        return;
                      }
                      if (ids->empty()) {
                        if (done) done(core::result<void>());
                        return;
                      }
                      std::vector<std::string> hdel{"HDEL", receipts_};
                      std::vector<std::string> zrem{"ZREM", index_};
                      for (const auto& m : *ids) {
                        for (auto s : all_receipt_states) hdel.push_back(receipt_field(m.str, s));
                        zrem.push_back(m.str);
                      }
                      redis::client::pipeline drop(client_, 2);
                      drop.command(hdel).command(zrem);
                      drop.send([done = std::move(done)](core::result<redis::replies> d) {
                        if (!done) return;
                        auto dropped = d ? redis::first_error(*d) : core::result<void>(d.err());
                        if (!dropped) return done(redis::failed("receipt trim", dropped.err()));
                        done(core::result<void>());
                      });
                    });
  }

  core::loop& loop_;
  redis::client& client_;
  std::string store_id_;
  receipt_settings settings_;
  std::string receipts_, index_, gaps_;
  core::timer retry_timer_;
  std::deque<op> queue_;
  std::size_t dropped_ = 0;
  std::size_t writes_since_trim_ = 0;
  core::liveness_token alive_;
};

// A receipt_recorder that stores through a receipt_writer, now.
class receipt_writer_recorder final : public receipt_recorder {
 public:
  explicit receipt_writer_recorder(receipt_writer& w) : writer_(w) {}
  void record(std::string_view message_id, receipt_state s) override {
    writer_.record(message_id, s);
  }
  void record_gap(std::string_view target, std::uint64_t from, std::uint64_t to) override {
    writer_.record_gap(target, from, to);
  }

 private:
  receipt_writer& writer_;
};

}  // namespace bcast::broker
