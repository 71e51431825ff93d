#pragma once
// publisherd's side of receipts (receipts.hpp): one message's receipts from every known store,
// summed up for the API.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/core/error.hpp>
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

struct receipt_summary {
  std::size_t expected = 0;
  std::size_t delivered = 0;  // got it, whatever happened next
  std::size_t displayed = 0;  // displayed or acknowledged
  std::size_t acknowledged = 0;
  // Refused it (bad or missing signature, not addressed to it): not among `delivered`, since
  // what such a store got is not known to be this message.
  std::size_t rejected = 0;
  std::vector<store_receipt> stores;  // sorted by store id
};

inline nlohmann::json to_json(const receipt_summary& s) {
  nlohmann::json stores = nlohmann::json::array();
  for (const auto& r : s.stores) {
    stores.push_back({{"store", r.store},
                      {"state", r.state},
                      {"at", r.at.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.at)}});
  }
  return {{"expected", s.expected},   {"delivered", s.delivered},
          {"displayed", s.displayed}, {"acknowledged", s.acknowledged},
          {"rejected", s.rejected},   {"stores", std::move(stores)}};
}

// What Redis holds for one store and one message.
struct store_receipt_data {
  std::array<std::optional<std::string>, all_receipt_states.size()> at;  // by all_receipt_states
  std::vector<std::string> gaps;                                         // gap list items
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
// reported a receipt (its groups changed since) other than `rejected`. Counts are cumulative.
inline receipt_summary summarize_receipts(const message_record& m,
                                          std::span<const known_store> stores,
                                          std::span<const store_receipt_data> data) {
  receipt_summary out;
  for (std::size_t i = 0; i < stores.size() && i < data.size(); ++i) {
    const bool addressed = store_matches_message(stores[i], m.envelope);
    auto r = effective_receipt(stores[i], addressed, m, data[i]);
    if (!r) continue;
    const auto st = parse_receipt_state(r->state);
    // A store the message was not for, that refused a copy of it (replayed into a channel it
    // reads): listed, so head office sees it, but never expected.
    if (addressed || st != receipt_state::rejected) ++out.expected;
    if (st == receipt_state::rejected) ++out.rejected;
    if (st && *st != receipt_state::gap && *st != receipt_state::rejected) ++out.delivered;
    if (st == receipt_state::displayed || st == receipt_state::acknowledged) ++out.displayed;
    if (st == receipt_state::acknowledged) ++out.acknowledged;
    out.stores.push_back(std::move(*r));
  }
  std::sort(out.stores.begin(), out.stores.end(),
            [](const store_receipt& a, const store_receipt& b) { return a.store < b.store; });
  return out;
}

// One HMGET per store (and an LRANGE of its gaps when it was expected), all pipelined; each
// touches one store's slot.
class receipt_aggregator {
 public:
  using callback = std::function<void(core::result<receipt_summary>)>;

  // Must not outlive the client.
  explicit receipt_aggregator(redis::client& c) : client_(c) {}
  receipt_aggregator(const receipt_aggregator&) = delete;
  receipt_aggregator& operator=(const receipt_aggregator&) = delete;

  void summarize(message_record m, std::vector<known_store> stores, callback cb) {
    if (stores.empty()) {
      client_.raw().owner_loop().defer([cb = std::move(cb)] { cb(receipt_summary{}); });
      return;
    }
    std::vector<std::string> hmget{"HMGET", ""};
    for (auto s : all_receipt_states) hmget.push_back(receipt_field(m.envelope.id, s));
    std::vector<bool> expected(stores.size());
    redis::client::pipeline reads(client_, 2 * stores.size());
    for (std::size_t i = 0; i < stores.size(); ++i) {
      expected[i] = store_matches_message(stores[i], m.envelope);
      hmget[1] = receipts_key(stores[i].id);
      reads.command(hmget);
      if (expected[i]) reads.command({"LRANGE", gaps_key(stores[i].id), "0", "-1"});
    }
    reads.send([m = std::move(m), stores = std::move(stores), expected = std::move(expected),
                cb = std::move(cb)](core::result<redis::replies> r) {
      if (!r) return cb(redis::failed("reading receipts", r.err()));
      std::vector<store_receipt_data> data(stores.size());
      auto answer = r->begin();
      for (std::size_t i = 0; i < stores.size(); ++i) {
        auto fields = (answer++)->as_array(all_receipt_states.size());
        if (!fields) return cb(redis::failed("reading receipts", fields.err()));
        for (std::size_t k = 0; k < all_receipt_states.size(); ++k) {
          if ((*fields)[k].is_string()) data[i].at[k] = std::move((*fields)[k].str);
        }
        if (!expected[i]) continue;
        auto gaps = (answer++)->as_array();
        if (!gaps) return cb(redis::failed("reading receipts", gaps.err()));
        for (auto& g : *gaps) data[i].gaps.push_back(std::move(g.str));
      }
      cb(summarize_receipts(m, stores, data));
    });
  }

 private:
  redis::client& client_;
};

}  // namespace bcast::broker
