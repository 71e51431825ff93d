#pragma once
// Taking a sent message back: a recall, and a correction that recalls the message it replaces.
//
// A recall of X publishes a recall notice (message/lifecycle.hpp) to X's targets through the
// publisher, like a message but without a message-log record, and then remembers the recall in
// bcast:recall:<X> (keys.hpp), SET NX: the first recall stands, and a later one answers its
// record and publishes nothing. The record is written after the notice reached every target, so
// a recall answered as done is one that every target's history has. Two recalls at once may
// both publish a notice; stores take a message down once whatever the notices, and the record
// of the first to be written stands.
//
// A correction Y ("supersedes": X) first recalls X, with superseded_by: Y (unless X was recalled
// already), and then publishes Y. Y carries "supersedes" too, so a store that meets Y without the
// notice still takes X down.

#include <bcast/broker/idempotency.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/schedule.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/lifecycle.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

struct recall_record {
  std::string id;                            // of the recall notice
  std::string at;                            // message::format_time()
  std::string by;                            // the user who recalled it, or who sent the correction
  std::optional<std::string> superseded_by;  // the correction, when one recalled it

  friend bool operator==(const recall_record&, const recall_record&) = default;
};

// {"id","at","by","superseded_by"}: what bcast:recall:<X> holds, and what the API shows.
inline nlohmann::json to_json(const recall_record& r) {
  return {{"id", r.id},
          {"at", r.at},
          {"by", r.by},
          {"superseded_by",
           r.superseded_by ? nlohmann::json(*r.superseded_by) : nlohmann::json(nullptr)}};
}

namespace detail {

inline core::result<recall_record> decode_recall(std::string_view message_id,
                                                 std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  const auto text_of = [&j](const char* name) -> const std::string* {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
  };
  const auto *id = j.is_object() ? text_of("id") : nullptr, *at = id ? text_of("at") : nullptr,
             *by = at ? text_of("by") : nullptr;
  if (!by)
    return core::error(core::errc::protocol_error,
                       "recall record of " + std::string(message_id) + ": unreadable");
  recall_record r{*id, *at, *by, std::nullopt};
  if (const auto* y = text_of("superseded_by")) r.superseded_by = *y;
  return r;
}

}  // namespace detail

// bcast:recall:<id> records. A page of them is read with one GET per id, pipelined: MGET would
// need every key on one slot of a Redis Cluster.
class recall_records {
 public:
  using one_callback = std::function<void(core::result<std::optional<recall_record>>)>;
  using many_callback =
      std::function<void(core::result<std::map<std::string, recall_record, std::less<>>>)>;
  using saved_callback = std::function<void(core::result<recall_record>)>;

  // Must not outlive the client.
  explicit recall_records(redis::client& c) : client_(c) {}
  recall_records(const recall_records&) = delete;
  recall_records& operator=(const recall_records&) = delete;

  // Files `r` as the recall of `message_id` unless one is filed already, for `ttl`. Answers the
  // record that stands: `r`, or the one filed first.
  void save(std::string_view message_id, recall_record r, std::chrono::milliseconds ttl,
            saved_callback cb) {
    const auto text = to_json(r).dump();
    const auto px = std::to_string(std::max<long long>(1, ttl.count()));
    client_.command({"SET", recall_key(message_id), text, "NX", "GET", "PX", px},
                    [id = std::string(message_id), r = std::move(r),
                     cb = std::move(cb)](core::result<redis::reply> answer) mutable {
                      auto got = redis::checked(std::move(answer));
                      if (!got) return cb(redis::failed("recording the recall", got.err()));
                      if (got->is_nil()) return cb(std::move(r));
                      auto first = detail::decode_recall(id, got->str);
                      if (!first) return cb(redis::failed("recording the recall", first.err()));
                      cb(std::move(first).value());
                    });
  }

  void get(std::string_view message_id, one_callback cb) {
    client_.command(
        {"GET", recall_key(message_id)},
        [id = std::string(message_id), cb = std::move(cb)](core::result<redis::reply> answer) {
          auto got = redis::checked(std::move(answer));
          if (!got) return cb(redis::failed("reading the recall", got.err()));
          cb(read_one(id, *got));
        });
  }

  // The records of those of `message_ids` that were recalled, by message id.
  void get_many(std::span<const std::string> message_ids, many_callback cb) {
    redis::client::pipeline gets(client_, message_ids.size());
    for (const auto& id : message_ids) gets.command({"GET", recall_key(id)});
    gets.send([ids = std::vector<std::string>(message_ids.begin(), message_ids.end()),
               cb = std::move(cb)](core::result<redis::replies> r) {
      if (!r) return cb(redis::failed("reading the recalls", r.err()));
      std::map<std::string, recall_record, std::less<>> out;
      for (std::size_t i = 0; i < ids.size() && i < r->size(); ++i) {
        if ((*r)[i].is_error())
          return cb(redis::failed("reading the recalls", (*r)[i].checked().err()));
        if (auto rec = read_one(ids[i], (*r)[i])) out.emplace(ids[i], std::move(*rec));
      }
      cb(std::move(out));
    });
  }

 private:
  // One that does not decode counts as none (logged): a page must not fail for it.
  static std::optional<recall_record> read_one(const std::string& id, const redis::reply& r) {
    if (!r.is_string()) return std::nullopt;
    auto rec = detail::decode_recall(id, r.str);
    if (!rec) {
      core::log::warning(rec.err().message());
      return std::nullopt;
    }
    return std::move(rec).value();
  }

  redis::client& client_;
};

struct recall_outcome {
  recall_record record;    // the one that stands
  bool published = false;  // this recall published the notice; false: an earlier one stands
};

// Why a recall or a correction was refused, with the request field to blame.
struct lifecycle_error {
  enum class kind {
    invalid,      // the request is wrong (400)
    not_found,    // no such message, or not one this user may touch (404)
    conflict,     // it is scheduled, not sent; or another sender's Idempotency-Key (409)
    unavailable,  // Redis failed; trying again is safe (503)
  };
  kind what = kind::unavailable;
  std::string field;
  std::string message;
};

template <class T>
using lifecycle_result = core::result<T, lifecycle_error>;

class recaller {
 public:
  // Which messages the user may recall or correct; an empty function: all.
  using visibility = message_log::visibility;
  using recall_callback = std::function<void(lifecycle_result<recall_outcome>)>;
  using correction_callback = std::function<void(lifecycle_result<publish_outcome>)>;

  // Each must outlive the recaller. `ids` makes the notices' ids (they go out now, like a message
  // sent now). Records live as long as the publisher's message-log records.
  recaller(redis::client& c, publisher& pub, message_log& log, schedule& sched,
           message::ulid_generator& ids)
      : client_(c), records_(c), publisher_(pub), log_(log), schedule_(sched), ids_(ids) {}
  recaller(const recaller&) = delete;
  recaller& operator=(const recaller&) = delete;

  recall_records& records() noexcept { return records_; }

  // Recalls message `id` as user `by`. A repeated recall answers the first one's record.
  void recall(std::string_view id, std::string by, visibility visible, recall_callback cb) {
    if (!message::is_valid_ulid(id)) {
      auto refusal =
          lifecycle_error{lifecycle_error::kind::invalid, "id", "id must be a message id (ULID)."};
      return publisher_loop().defer(
          [cb = std::move(cb), refusal = std::move(refusal)] { cb(refusal); });
    }
    find(id, "id", std::move(visible),
         [this, alive = alive_.watch(), by = std::move(by),
          cb = std::move(cb)](lifecycle_result<message_record> found) mutable {
           if (alive.expired()) return;
           if (!found) return cb(found.err());
           take_down(found->envelope, std::move(by), std::nullopt, std::move(cb));
         });
  }

  // Publishes `correction` (made by message::make_envelope, its "supersedes" set) in place of the
  // message it supersedes, which is recalled first. `keyed`: its id is a client's Idempotency-Key
  // (publish_with_key).
  void correct(message::envelope correction, visibility visible, publish_options options,
               bool keyed, correction_callback cb) {
    if (!keyed)
      return correct_now(std::move(correction), std::move(visible), options, false, std::move(cb));
    // A client's id that is recorded already went out, its original recalled before it: answer
    // it (or refuse another sender's id) before taking anything down.
    const std::string id = correction.id;
    log_.get(id,
             [this, alive = alive_.watch(), y = std::move(correction), visible = std::move(visible),
              options, cb = std::move(cb)](core::result<std::optional<message_record>> r) mutable {
               if (alive.expired()) return;
               if (!r) return cb(unavailable(r.err()));
               if (r->has_value())
                 return publish_correction(std::move(y), options, true, std::move(cb));
               correct_now(std::move(y), std::move(visible), options, true, std::move(cb));
             });
  }

 private:
  void correct_now(message::envelope correction, visibility visible, publish_options options,
                   bool keyed, correction_callback cb) {
    const std::string old = correction.supersedes.value_or("");
    find(old, "supersedes", std::move(visible),
         [this, alive = alive_.watch(), y = std::move(correction), options, keyed,
          cb = std::move(cb)](lifecycle_result<message_record> found) mutable {
           if (alive.expired()) return;
           if (!found) return cb(found.err());
           if (auto wrong = message::check_correction(y, found->envelope))
             return cb(lifecycle_error{lifecycle_error::kind::invalid, std::move(wrong->field),
                                       std::move(wrong->message)});
           const std::string by = y.sender, y_id = y.id;
           take_down(found->envelope, by, y_id,
                     [this, alive = alive_.watch(), y = std::move(y), options, keyed,
                      cb = std::move(cb)](lifecycle_result<recall_outcome> recalled) mutable {
                       if (alive.expired()) return;
                       if (!recalled) return cb(recalled.err());
                       publish_correction(std::move(y), options, keyed, std::move(cb));
                     });
         });
  }

  core::loop& publisher_loop() { return client_.owner_loop(); }

  static lifecycle_error unavailable(const core::error& why) {
    return {lifecycle_error::kind::unavailable, "", why.message()};
  }

  // The sent message `id`, if `visible` lets the user see it. One that is scheduled and not sent
  // yet is a conflict: it is cancelled, not recalled.
  void find(std::string_view id, std::string field, visibility visible,
            std::function<void(lifecycle_result<message_record>)> cb) {
    log_.get(id, [this, alive = alive_.watch(), id = std::string(id), field = std::move(field),
                  visible = std::move(visible),
                  cb = std::move(cb)](core::result<std::optional<message_record>> r) mutable {
      if (alive.expired()) return;
      if (!r) return cb(unavailable(r.err()));
      // Owns `visible`: the inner callback outlives this one.
      const auto sees = [visible = std::move(visible)](const message::envelope& e) {
        return !visible || visible(e);
      };
      const auto not_found =
          lifecycle_error{lifecycle_error::kind::not_found, field, "No message " + id + "."};
      if (r->has_value()) {
        if (!sees((*r)->envelope)) return cb(not_found);
        return cb(std::move(**r));
      }
      schedule_.get(id, [id, field, sees = std::move(sees), not_found,
                         cb = std::move(cb)](core::result<std::optional<scheduled_message>> s) {
        if (!s) return cb(unavailable(s.err()));
        if (!s->has_value() || !sees((*s)->envelope)) return cb(not_found);
        cb(lifecycle_error{lifecycle_error::kind::conflict, field,
                           "Message " + id + " is scheduled and not sent yet: cancel it instead."});
      });
    });
  }

  // Recalls `original` unless it was recalled already; answers the record that stands.
  void take_down(const message::envelope& original, std::string by,
                 std::optional<std::string> superseded_by, recall_callback cb) {
    records_.get(original.id, [this, alive = alive_.watch(), original, by = std::move(by),
                               superseded_by = std::move(superseded_by), cb = std::move(cb)](
                                  core::result<std::optional<recall_record>> earlier) mutable {
      if (alive.expired()) return;
      if (!earlier) return cb(unavailable(earlier.err()));
      if (earlier->has_value()) return cb(recall_outcome{std::move(**earlier), false});
      const auto now = std::chrono::system_clock::now();
      auto notice = message::make_recall_notice(original, ids_, by, now);
      if (!notice) return cb(unavailable(notice.err()));
      recall_record record{notice->id, notice->sent_at, std::move(by), std::move(superseded_by)};
      publish_options options;
      options.record = false;
      publisher_.publish(
          *notice,
          [this, alive, id = original.id, record = std::move(record),
           cb = std::move(cb)](core::result<publish_outcome> published) mutable {
            if (alive.expired()) return;
            if (!published) return cb(unavailable(published.err()));
            const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
                publisher_.settings().records.max_age);
            const auto notice = record.id;
            records_.save(id, std::move(record), ttl,
                          [alive, notice, cb = std::move(cb)](core::result<recall_record> saved) {
                            if (alive.expired()) return;
                            if (!saved) return cb(unavailable(saved.err()));
                            // Another recall at once may have filed its record first.
                            const bool ours = saved->id == notice;
                            cb(recall_outcome{std::move(saved).value(), ours});
                          });
          },
          options);
    });
  }

  void publish_correction(message::envelope y, publish_options options, bool keyed,
                          correction_callback cb) {
    auto answer = [cb = std::move(cb)](core::result<publish_outcome> r) {
      if (r) return cb(std::move(r).value());
      if (r.err() == core::errc::conflict)
        return cb(lifecycle_error{lifecycle_error::kind::conflict, "", r.err().detail()});
      cb(unavailable(r.err()));
    };
    if (keyed) return publish_with_key(publisher_, log_, std::move(y), options, std::move(answer));
    publisher_.publish(y, std::move(answer), options);
  }

  redis::client& client_;
  recall_records records_;
  publisher& publisher_;
  message_log& log_;
  schedule& schedule_;
  message::ulid_generator& ids_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
