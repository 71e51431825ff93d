#pragma once
// What publisherd reads of what a store wrote. A store's Redis user may write its own keys
// (acl.hpp) with anything: values of any size, lists of any length, even another type than
// bcast uses. So each store's keys are read through one script that gives back only what fits
// the bounds, and says what it left out; what is left out or does not parse is skipped, counted
// and logged (once per store while it stays the same), and never keeps the other stores' data
// from a page. One script call per store touches only that store's slot.

#include <bcast/broker/keys.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/text.hpp>
#include <bcast/redis/client.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::broker {

struct store_data_limits {
  std::size_t max_value_bytes = 64;          // a receipt's time, a profile's version or times
  std::size_t max_groups_bytes = 16 * 1024;  // a profile's groups, as JSON
  std::size_t max_groups = 64;
  std::size_t max_gaps = 1000;  // the newest gap items read; as many as receipt_writer keeps
  std::size_t max_gap_bytes = 256;
};

// KEYS: a hash, and a second key of the same store.
// ARGV: what to do with the second key ("list": read it, "exists": EXISTS, "": nothing), the
//       list's most items and most bytes per item, then (field, most bytes) pairs of the hash.
// Answers {values (nil when absent or too long), list items or EXISTS's answer, problems}.
inline const redis::script& bounded_store_read_script() {
  static const redis::script s(R"lua(
local problems = {}
local fields, most = {}, {}
for i = 4, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  most[#most + 1] = tonumber(ARGV[i + 1])
end
local values = redis.pcall('HMGET', KEYS[1], unpack(fields))
if values.err then
  problems[#problems + 1] = KEYS[1] .. ': ' .. values.err
  values = {}
  for i = 1, #fields do values[i] = false end
end
for i = 1, #fields do
  if values[i] and #values[i] > most[i] then
    problems[#problems + 1] = fields[i] .. ' is ' .. #values[i] .. ' bytes, more than ' .. most[i]
    values[i] = false
  end
end
local second = 0
if ARGV[1] == 'exists' then
  second = redis.call('EXISTS', KEYS[2])
elseif ARGV[1] == 'list' then
  second = {}
  local items, long = tonumber(ARGV[2]), tonumber(ARGV[3])
  local length = redis.pcall('LLEN', KEYS[2])
  if type(length) == 'table' then
    problems[#problems + 1] = KEYS[2] .. ': ' .. length.err
  else
    if length > items then
      problems[#problems + 1] = KEYS[2] .. ' holds ' .. length .. ' items, only the first ' .. items .. ' read'
    end
    local too_long = 0
    for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, items - 1)) do
      if #item <= long then second[#second + 1] = item else too_long = too_long + 1 end
    end
    if too_long > 0 then
      problems[#problems + 1] = too_long .. ' items of ' .. KEYS[2] .. ' longer than ' .. long .. ' bytes'
    end
  end
end
return {values, second, problems}
)lua");
  return s;
}

// One store's answer to bounded_store_read_script().
struct bounded_store_read {
  std::vector<std::optional<std::string>> values;  // by field
  std::vector<std::string> items;                  // "list"
  bool exists = false;                             // "exists"
  std::vector<std::string> problems;
};

// A field of the hash and the most bytes its value may have.
struct bounded_field {
  std::string_view name;
  std::size_t max_bytes;
};

// Adds one store's read to `p`. `mode`: "list", "exists" or "".
inline void add_bounded_store_read(redis::client::pipeline& p, std::string_view hash_key,
                                   std::string_view second_key, std::string_view mode,
                                   const std::vector<bounded_field>& fields,
                                   std::size_t max_items = 0, std::size_t max_item_bytes = 0) {
  std::vector<std::string> numbers{std::to_string(max_items), std::to_string(max_item_bytes)};
  for (const auto& f : fields) numbers.push_back(std::to_string(f.max_bytes));
  std::vector<std::string_view> args{mode, numbers[0], numbers[1]};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    args.push_back(fields[i].name);
    args.push_back(numbers[2 + i]);
  }
  const std::string_view keys[] = {hash_key, second_key};
  p.eval(bounded_store_read_script(), keys, args);
}

[[nodiscard]] inline core::result<bounded_store_read> parse_bounded_store_read(redis::reply& r) {
  auto parts = r.as_array(3);
  if (!parts) return parts.err();
  auto values = (*parts)[0].as_array();
  auto problems = (*parts)[2].as_array();
  if (!values || !problems) return values ? problems.err() : values.err();
  bounded_store_read out;
  for (auto& v : *values) {
    if (v.is_string()) {
      out.values.emplace_back(std::move(v.str));
    } else {
      out.values.emplace_back();
    }
  }
  for (auto& p : *problems) out.problems.push_back(std::move(p.str));
  auto& second = (*parts)[1];
  if (second.is_integer()) {
    out.exists = second.integer > 0;
  } else if (auto items = second.as_array()) {
    for (auto& item : *items) out.items.push_back(std::move(item.str));
  }
  return out;
}

// What was skipped of each store's data: logged when a store's problems first appear or change,
// not on every read (the store list is read every few seconds), and counted.
class store_data_problems {
 public:
  // `what`: "receipts", "presence". An empty `problems` means that store read clean.
  void report(std::string_view what, std::string_view store_id,
              const std::vector<std::string>& problems) {
    count_ += problems.size();
    const std::string key = std::string(what) + ' ' + std::string(store_id);
    if (problems.empty()) {
      last_.erase(key);
      return;
    }
    std::string text;
    for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
    auto [it, fresh] = last_.try_emplace(key, text);
    if (!fresh && it->second == text) return;
    it->second = text;
    core::log::warning("store " + core::printable(store_id) + " wrote " + std::string(what) +
                       " that publisherd skips: " + core::printable(text, 1024));
  }
  // Problems found since the start: each a value, or a kind of list item, skipped.
  std::size_t count() const noexcept { return count_; }

 private:
  std::map<std::string, std::string, std::less<>> last_;
  std::size_t count_ = 0;
};

}  // namespace bcast::broker
