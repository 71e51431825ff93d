#pragma once
// publisherd's side of receipts (receipts.hpp): one message's receipts from every known store,
// summed up for the API.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/broker/store_data.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/core/csv.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/message/time.hpp>
#include <bcast/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace bcast::broker {

struct store_receipt {
  std::string store;
  std::string state;  // a receipt_state, or "pending"
  std::string at;     // empty when pending
};

// Counts are cumulative: a store that displayed the message and later had it recalled is among
// `displayed` and among `recalled`, while its state says `recalled`.
struct receipt_summary {
  std::size_t expected = 0;
  std::size_t delivered = 0;  // got it, whatever happened next
  std::size_t displayed = 0;  // displayed or acknowledged
  std::size_t acknowledged = 0;
  // Refused it (bad or missing signature, not addressed to it): not among `delivered`, since
  // what such a store got is not known to be this message.
  std::size_t rejected = 0;
  // Took it down on head office's recall or correction, or never showed it because of one.
  std::size_t recalled = 0;
  std::vector<store_receipt> stores;  // sorted by store id
};

inline nlohmann::json to_json(const receipt_summary& s) {
  nlohmann::json stores = nlohmann::json::array();
  for (const auto& r : s.stores) {
    stores.push_back({{"store", r.store},
                      {"state", r.state},
                      {"at", r.at.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.at)}});
  }
  return {{"expected", s.expected},         {"delivered", s.delivered}, {"displayed", s.displayed},
          {"acknowledged", s.acknowledged}, {"rejected", s.rejected},   {"recalled", s.recalled},
          {"stores", std::move(stores)}};
}

// One row per expected store (store, state, at: empty while pending), after a header row, as
// GET /api/v1/messages/{id}/receipts.csv answers.
inline std::string to_csv(const receipt_summary& s) {
  std::string out;
  out.reserve(16 + s.stores.size() * 48);
  core::append_csv_record(out, {"store", "state", "at"});
  for (const auto& r : s.stores) core::append_csv_record(out, {r.store, r.state, r.at});
  return out;
}

// What Redis holds for one store and one message.
struct store_receipt_data {
  std::array<std::optional<std::string>, all_receipt_states.size()> at;  // by all_receipt_states
  std::vector<std::string> gaps;                                         // gap list items

  bool has(receipt_state s) const noexcept {
    for (std::size_t i = 0; i < all_receipt_states.size(); ++i) {
      if (all_receipt_states[i] == s) return at[i].has_value();
    }
    return false;
  }
};

// One store's state for the message, or nothing when it neither was expected nor reported.
inline std::optional<store_receipt> effective_receipt(const known_store& s, bool expected,
                                                      const message_record& m,
                                                      const store_receipt_data& d) {
  std::optional<receipt_state> best;
  std::string at;
  for (std::size_t i = 0; i < all_receipt_states.size(); ++i) {
    if (!d.at[i]) continue;
    const auto st = all_receipt_states[i];
    if (!best || rank(st) > rank(*best)) {
      best = st;
      at = *d.at[i];
    }
  }
  if (!best) {
    for (const auto& item : d.gaps) {
      const auto g = parse_gap_record(item);
      if (!g) continue;
      const auto seq = m.seqs.find(g->target);
      if (seq != m.seqs.end() && seq->second >= g->from && seq->second <= g->to) {
        best = receipt_state::gap;
        at = g->at;
        break;
      }
    }
  }
  if (!best && !expected) return std::nullopt;
  if (!best) return store_receipt{s.id, "pending", ""};
  return store_receipt{s.id, std::string(to_string(*best)), at};
}

// expected: known stores whose id or groups match a target, plus any other known store that
// reported a receipt (its groups changed since) other than `rejected`. Counts are cumulative:
// they go by the fields present, since `recalled` outranks what the store did before it.
inline receipt_summary summarize_receipts(const message_record& m,
                                          std::span<const known_store> stores,
                                          std::span<const store_receipt_data> data) {
  receipt_summary out;
  for (std::size_t i = 0; i < stores.size() && i < data.size(); ++i) {
    const bool addressed = store_matches_message(stores[i], m.envelope);
    const auto& d = data[i];
    auto r = effective_receipt(stores[i], addressed, m, d);
    if (!r) continue;
    const auto st = parse_receipt_state(r->state);
    // A store the message was not for, that refused a copy of it (replayed into a channel it
    // reads): listed, so head office sees it, but never expected.
    if (addressed || st != receipt_state::rejected) ++out.expected;
    if (st == receipt_state::rejected) ++out.rejected;
    const bool acknowledged = d.has(receipt_state::acknowledged);
    const bool displayed = acknowledged || d.has(receipt_state::displayed);
    // A store that only recalled it (the notice came, the message never did) did not get it.
    if (displayed || d.has(receipt_state::delivered) || d.has(receipt_state::failed) ||
        d.has(receipt_state::expired)) {
      ++out.delivered;
    }
    if (displayed) ++out.displayed;
    if (acknowledged) ++out.acknowledged;
    if (d.has(receipt_state::recalled)) ++out.recalled;
    out.stores.push_back(std::move(*r));
  }
  std::sort(out.stores.begin(), out.stores.end(),
            [](const store_receipt& a, const store_receipt& b) { return a.store < b.store; });
  return out;
}

// One bounded read per store (store_data.hpp: its receipt fields for the message, and its gaps
// when it was expected), all pipelined; each touches one store's slot. What a store wrote that
// is too long or does not parse is skipped, and that store counts as if it had not written it.
class receipt_aggregator {
 public:
  using callback = std::function<void(core::result<receipt_summary>)>;

  // Must not outlive the client.
  explicit receipt_aggregator(redis::client& c, store_data_limits limits = {})
      : client_(c), limits_(limits) {}
  receipt_aggregator(const receipt_aggregator&) = delete;
  receipt_aggregator& operator=(const receipt_aggregator&) = delete;

  void summarize(message_record m, std::vector<known_store> stores, callback cb) {
    if (stores.empty()) {
      client_.owner_loop().defer([cb = std::move(cb)] { cb(receipt_summary{}); });
      return;
    }
    std::vector<std::string> names;
    for (auto s : all_receipt_states) names.push_back(receipt_field(m.envelope.id, s));
    std::vector<bounded_field> fields;
    for (const auto& n : names) fields.push_back({n, limits_.max_value_bytes});
    std::vector<bool> expected(stores.size());
    redis::client::pipeline reads(client_, stores.size());
    for (std::size_t i = 0; i < stores.size(); ++i) {
      expected[i] = store_matches_message(stores[i], m.envelope);
      add_bounded_store_read(reads, receipts_key(stores[i].id), gaps_key(stores[i].id),
                             expected[i] ? "list" : "", fields, limits_.max_gaps,
                             limits_.max_gap_bytes);
    }
    reads.send([this, alive = alive_.watch(), m = std::move(m), stores = std::move(stores),
                cb = std::move(cb)](core::result<redis::replies> r) {
      if (alive.expired()) return;
      if (!r) return cb(redis::failed("reading receipts", r.err()));
      std::vector<store_receipt_data> data(stores.size());
      for (std::size_t i = 0; i < stores.size(); ++i) {
        problems_.report("receipts", stores[i].id, read_store(m, (*r)[i], data[i]));
      }
      cb(summarize_receipts(m, stores, data));
    });
  }

  // Problems with what stores wrote, found since the start (store_data_problems).
  std::size_t problems() const noexcept { return problems_.count(); }

 private:
  // Fills `out` with what of one store's answer is usable; returns what was not.
  static std::vector<std::string> read_store(const message_record& m, redis::reply& answer,
                                             store_receipt_data& out) {
    auto read = answer.is_error() ? core::result<bounded_store_read>(answer.checked().err())
                                  : parse_bounded_store_read(answer);
    if (!read) return {read.err().message()};
    for (std::size_t k = 0; k < all_receipt_states.size() && k < read->values.size(); ++k) {
      auto& at = read->values[k];
      if (!at) continue;
      if (message::parse_time(*at)) {
        out.at[k] = std::move(*at);
      } else {
        read->problems.push_back(receipt_field(m.envelope.id, all_receipt_states[k]) +
                                 " is not a time");
      }
    }
    std::size_t unreadable = 0;
    for (auto& item : read->items) {
      if (parse_gap_record(item)) {
        out.gaps.push_back(std::move(item));
      } else {
        ++unreadable;
      }
    }
    if (unreadable > 0)
      read->problems.push_back(std::to_string(unreadable) + " unreadable gap items");
    return std::move(read->problems);
  }

  redis::client& client_;
  store_data_limits limits_;
  store_data_problems problems_;
  core::liveness_token alive_;
};

}  // namespace bcast::broker
