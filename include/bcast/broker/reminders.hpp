#pragma once
// Must-read messages at a store (SPEC "Urgency and escalation"): a message with repeat_every_s and
// require_ack is shown again every repeat_every_s seconds until a person acknowledges it, it
// expires, or head office recalls it. The book of such messages is kept in
// <state-dir>/reminders.json, replaced whole on each change, so that the reminders go on across a
// restart. A store that was off through several intervals shows the message once when it is back,
// not once per interval it missed.
//
// The book only keeps the times. The display pipeline shows what is due (display_pipeline.hpp),
// and the sinks see to it that one message never has two popups open at once (sinks/queue.hpp).

#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/time.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

inline constexpr std::string_view reminders_file_name = "reminders.json";

struct reminder {
  message::envelope envelope;
  message::time_point due;
  unsigned count = 0;  // reminders shown so far; the first showing is not one
};

// Whether `e` is shown again until acknowledged.
inline bool repeats(const message::envelope& e) noexcept {
  return e.require_ack && e.repeat_every_s.has_value() && !e.recalls;
}

// The interval of a repeating message; a store holds a shorter one than a send may ask for to
// the minimum, whoever signed it.
inline std::chrono::seconds repeat_interval(const message::envelope& e) noexcept {
  return std::chrono::seconds(std::max(e.repeat_every_s.value_or(0), message::min_repeat_every_s));
}

class reminder_book {
 public:
  // More than any store holds: a bigger file is refused rather than read.
  static constexpr std::size_t max_file_bytes = 64 * 1024 * 1024;

  // Kept in memory only (bcast-bench, a store without a state dir).
  reminder_book() = default;

  // Reads <dir>/reminders.json, if there is one. A file that cannot be read is an error, and the
  // book is then empty: the messages in it are not shown again, which the log must say.
  static core::result<reminder_book> open(const std::filesystem::path& dir) {
    reminder_book book;
    if (dir.empty()) return book;
    book.path_ = core::path_utf8(dir / std::string(reminders_file_name));
    std::error_code ec;
    if (!std::filesystem::exists(core::utf8_path(book.path_), ec)) return book;
    auto text = core::read_file_bounded(book.path_, max_file_bytes);
    if (!text) return text.err();
    if (auto loaded = book.load(*text); !loaded) return loaded.err();
    return book;
  }

  // The message was shown for the first time at `now`: it comes again after its interval.
  [[nodiscard]] core::result<void> add(const message::envelope& e, message::time_point now) {
    if (!repeats(e) || contains(e.id)) return {};
    entries_.push_back(reminder{e, now + repeat_interval(e), 0});
    return save();
  }

  // Acknowledged or recalled: no more reminders.
  [[nodiscard]] core::result<void> forget(std::string_view id) {
    const auto before = entries_.size();
    std::erase_if(entries_, [id](const reminder& r) { return r.envelope.id == id; });
    return entries_.size() == before ? core::result<void>{} : save();
  }

  // What is due at `now`, each with its count raised, and next due one interval from `now`.
  // Expired messages leave the book instead. `saved` says whether the book could be saved.
  std::vector<reminder> take_due(message::time_point now, core::result<void>& saved) {
    std::vector<reminder> due;
    bool changed = false;
    std::erase_if(entries_, [&](const reminder& r) {
      const bool expired = message::is_expired(r.envelope, now);
      changed = changed || expired;
      return expired;
    });
    for (auto& r : entries_) {
      if (r.due > now) continue;
      ++r.count;
      r.due = now + repeat_interval(r.envelope);
      due.push_back(r);
      changed = true;
    }
    saved = changed ? save() : core::result<void>{};
    return due;
  }

  std::optional<message::time_point> next_due() const {
    std::optional<message::time_point> next;
    for (const auto& r : entries_) {
      if (!next || r.due < *next) next = r.due;
    }
    return next;
  }

  bool contains(std::string_view id) const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [id](const reminder& r) { return r.envelope.id == id; });
  }
  std::size_t size() const noexcept { return entries_.size(); }
  const std::string& path() const noexcept { return path_; }

 private:
  static std::int64_t to_ms(message::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }

  core::result<void> load(std::string_view text) {
    const auto bad = [this](const std::string& why) {
      entries_.clear();
      return core::error(core::errc::invalid_argument, path_ + ": " + why);
    };
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object() || !doc.contains("reminders") || !doc["reminders"].is_array())
      return bad("not a reminders file");
    for (const auto& item : doc["reminders"]) {
      if (!item.is_object() || !item.contains("envelope") || !item["envelope"].is_object() ||
          !item.contains("due_ms") || !item["due_ms"].is_number_integer() ||
          !item.contains("count") || !item["count"].is_number_unsigned())
        return bad("a reminder is malformed");
      auto e = message::decode(item["envelope"].dump());
      if (!e) return bad("a reminder's message: " + e.err().message());
      if (!repeats(*e)) return bad("message " + e->id + " does not repeat");
      entries_.push_back(reminder{
          std::move(e).value(),
          message::time_point(std::chrono::milliseconds(item["due_ms"].get<std::int64_t>())),
          item["count"].get<unsigned>()});
    }
    return {};
  }

  core::result<void> save() const {
    if (path_.empty()) return {};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : entries_) {
      list.push_back({{"envelope", nlohmann::json::parse(message::encode(r.envelope))},
                      {"due_ms", to_ms(r.due)},
                      {"count", r.count}});
    }
    return core::write_file_atomic(path_, nlohmann::json{{"reminders", std::move(list)}}.dump(),
                                   0600);
  }

  std::string path_;  // empty: not saved
  std::vector<reminder> entries_;
};

}  // namespace bcast::broker
