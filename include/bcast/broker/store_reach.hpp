#pragma once
// Which known stores a message reaches: publisherd counts them on every POST (the receipts'
// `expected`), and a fleet has thousands of stores.

#include <bcast/message/envelope.hpp>
#include <bcast/message/target.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace bcast::broker {

struct known_store {
  std::string id;
  std::vector<std::string> groups;
};

inline bool store_matches_message(const known_store& s, const message::envelope& e) {
  for (const auto& t : e.targets) {
    auto parsed = message::parse_target(t);
    if (parsed && message::store_matches(*parsed, s.id, s.groups)) return true;
  }
  return false;
}

// How many known stores a message reaches, found through an index by store id and by group
// rather than by testing every store against every target. Same answer as counting the
// stores for which store_matches_message holds.
class store_reach {
 public:
  store_reach() = default;
  explicit store_reach(std::span<const known_store> stores) : stores_(stores.size()) {
    for (std::uint32_t i = 0; i < stores.size(); ++i) {
      by_id_.emplace(stores[i].id, i);
      for (const auto& g : stores[i].groups) by_group_[g].push_back(i);
    }
  }

  std::uint64_t count(const message::envelope& e) const {
    std::vector<std::uint32_t> reached;
    for (const auto& t : e.targets) {
      const auto parsed = message::parse_target(t);
      if (!parsed) continue;
      if (parsed->is_all()) return stores_;
      if (parsed->is_store()) {
        if (auto it = by_id_.find(parsed->name); it != by_id_.end()) reached.push_back(it->second);
      } else if (auto it = by_group_.find(parsed->str()); it != by_group_.end()) {
        reached.insert(reached.end(), it->second.begin(), it->second.end());
      }
    }
    // A store reached through several targets (its group and its id) counts once.
    std::sort(reached.begin(), reached.end());
    return static_cast<std::uint64_t>(std::unique(reached.begin(), reached.end()) -
                                      reached.begin());
  }

 private:
  std::uint64_t stores_ = 0;
  std::unordered_map<std::string, std::uint32_t> by_id_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> by_group_;
};

}  // namespace bcast::broker
