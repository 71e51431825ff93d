#pragma once
// Redis ACL rules (Redis 7) for bcast's users, least privilege:
//
// A store may: write its own receipt, gap, presence and profile keys (named one by one, so its
// own channel's history under the same tag stays read-only); read (%R~) the history of its
// channels; SUBSCRIBE/SSUBSCRIBE to their live channels. It may not PUBLISH anything, read
// or write any other key, run scripts (EVAL would let it run arbitrary Lua on the shared server),
// or run any administrative command.
//
// publisherd may use every bcast key and channel (~bcast:* &bcast:*): run the publish script,
// read and write the records, SCAN for stores; nothing dangerous (FLUSHALL, KEYS, CONFIG, ...).
//
// Passwords go in as SHA-256 (#<hex>), so that neither ACL SETUSER logs nor an ACL file hold them
// in clear.

#include <bcast/broker/keys.hpp>
#include <bcast/core/digest.hpp>
#include <bcast/core/text.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::broker {

inline std::string store_acl_user(std::string_view store_id) {
  std::string u = "bcast-store-";
  u += store_id;
  return u;
}

inline constexpr std::string_view publisher_acl_user = "bcast-publisher";

// "#<sha256 hex>", the ACL form of a password.
inline std::string acl_password_rule(std::string_view password) {
  return "#" + core::to_hex(core::sha256(password));
}

namespace detail {

// prefix + name, appended into one reserved string: `"%R~" + std::string` inlined at -O3 trips
// g++ 12's -Wrestrict (a false positive in operator+(const char*, string&&)).
inline std::string acl_rule(std::string_view prefix, std::string_view name) {
  std::string rule;
  rule.reserve(prefix.size() + name.size());
  rule.append(prefix).append(name);
  return rule;
}

inline std::string join_rules(std::string line, std::span<const std::string> rules) {
  for (const auto& r : rules) {
    line += ' ';
    line += r;
  }
  return line;
}

}  // namespace detail

// The rules after the user name, without password and without "on". `groups` as given to
// subscriberd (--group).
inline std::vector<std::string> store_acl_rules(std::string_view store_id,
                                                std::span<const std::string> groups) {
  std::vector<std::string> rules{"resetkeys", "resetchannels", "-@all"};
  for (const auto& k : {receipts_key(store_id), receipts_index_key(store_id), gaps_key(store_id),
                        presence_key(store_id), profile_key(store_id)}) {
    rules.push_back(detail::acl_rule("~", k));
  }
  const auto targets = store_targets(store_id, groups);
  for (const auto& t : targets) {
    rules.push_back(detail::acl_rule("%R~", history_key(t)));
  }
  for (const auto& t : targets) rules.push_back(detail::acl_rule("&", live_channel(t)));
  for (const char* c :
       {// connection; on a cluster, its slot map and the ASK redirect
        "+ping", "+select", "+client|setname", "+cluster|slots", "+asking",
        // live
        "+subscribe", "+ssubscribe", "+unsubscribe", "+sunsubscribe",
        // catch-up
        "+xrange", "+xrevrange", "+xread",
        // receipts, gaps
        "+hsetnx", "+hdel", "+zadd", "+zcount", "+zcard", "+zrange", "+zrem", "+lpush", "+ltrim",
        // presence
        "+hset", "+pexpire", "+del"}) {
    rules.emplace_back(c);
  }
  return rules;
}

inline std::vector<std::string> publisher_acl_rules() {
  return {"resetkeys",
          "resetchannels",
          detail::acl_rule("~", key_prefix) + '*',
          detail::acl_rule("&", key_prefix) + '*',
          "-@all",
          "+@read",
          "+@write",
          "+@pubsub",
          "+eval",
          "+evalsha",
          "+script|load",
          "+script|exists",
          "+multi",
          "+exec",
          "+ping",
          "+select",
          "+client|setname",
          "+scan",
          "-@dangerous",
          // a cluster: its slot map, the ASK redirect, and WAIT for min_replicas
          "+cluster|slots",
          "+asking",
          "+wait"};
}

// "ACL SETUSER <user> reset on #<sha256> <rules...>": each word is one argument (quote them for
// a shell; none holds a space).
inline std::string acl_setuser_command(std::string_view user, std::string_view password,
                                       std::span<const std::string> rules) {
  return detail::join_rules(
      "ACL SETUSER " + std::string(user) + " reset on " + acl_password_rule(password), rules);
}

// The same as a line of an ACL file (aclfile directive): "user <user> on #<sha256> <rules...>".
inline std::string acl_file_line(std::string_view user, std::string_view password,
                                 std::span<const std::string> rules) {
  return detail::join_rules("user " + std::string(user) + " on " + acl_password_rule(password),
                            rules);
}

// As argument vectors, for redis::client::command.
inline std::vector<std::string> acl_setuser_args(std::string_view user, std::string_view password,
                                                 std::span<const std::string> rules) {
  std::vector<std::string> args{"ACL",   "SETUSER", std::string(user),
                                "reset", "on",      acl_password_rule(password)};
  args.insert(args.end(), rules.begin(), rules.end());
  return args;
}

}  // namespace bcast::broker
