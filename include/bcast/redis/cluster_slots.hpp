#pragma once
// What a Redis Cluster client needs to know before it sends a command: which of the 16384 slots
// a key hashes to (CRC16/XMODEM of the key or of its {hash tag}), which node is the master of
// each slot (the slot map, read from CLUSTER SLOTS), which key a command is routed by, and where
// a MOVED or ASK redirect points.

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/net/connect.hpp>
#include <bcast/redis/reply.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::redis {

inline constexpr std::size_t cluster_slot_count = 16384;

// Redis documents clusters of up to 1000 nodes. A CLUSTER SLOTS reply that names more is refused
// rather than parsed, which also keeps the map's linear node lookups cheap.
inline constexpr std::size_t max_cluster_nodes = 2000;

namespace detail {

// CRC16-CCITT as XMODEM computes it (polynomial 0x1021, initial value 0, no reflection): the
// variant the Redis Cluster specification names.
inline constexpr std::array<std::uint16_t, 256> crc16_xmodem_table = [] {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto crc = static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<std::uint16_t>(crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}();

}  // namespace detail

inline constexpr std::uint16_t crc16_xmodem(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (const char c : bytes) {
    const auto index = ((crc >> 8) ^ static_cast<unsigned char>(c)) & 0xFF;
    crc = static_cast<std::uint16_t>((crc << 8) ^ detail::crc16_xmodem_table[index]);
  }
  return crc;
}

// The part of `key` that is hashed: what lies between the first '{' and the first '}' after it,
// when that is not empty; otherwise the whole key.
inline constexpr std::string_view hashed_part(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open == std::string_view::npos) return key;
  const auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

inline constexpr std::uint16_t key_slot(std::string_view key) noexcept {
  return static_cast<std::uint16_t>(crc16_xmodem(hashed_part(key)) % cluster_slot_count);
}

// ---- redirects ----------------------------------------------------------------------------------

enum class redirect_kind {
  moved,  // the slot lives on another node now: update the map, send there from now on
  ask,    // the slot is being migrated: send this one command there, preceded by ASKING
};

struct redirect {
  redirect_kind kind = redirect_kind::moved;
  std::uint16_t slot = 0;
  net::endpoint endpoint;
};

namespace detail {

// "host:port" split at the last colon, because Redis writes an IPv6 address without brackets
// ("::1:7000"); a bracketed one ("[::1]:7000") is accepted as well. Port 1..65535.
inline std::optional<net::endpoint> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = text.substr(0, colon);
  std::uint16_t port = 0;
  if (!core::parse_int(text.substr(colon + 1), port) || port == 0) return std::nullopt;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return net::endpoint{std::string(host), port, {}};
}

inline std::optional<std::uint16_t> parse_slot(std::string_view text) {
  std::uint16_t slot = 0;
  if (!core::parse_int(text, slot) || slot >= cluster_slot_count) return std::nullopt;
  return slot;
}

}  // namespace detail

// Reads "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381" (an error reply's text);
// nullopt for any other error. A node that does not know its own address sends ":6381": the
// host is then `current_host`, the one the redirect came from.
inline std::optional<redirect> parse_redirect(std::string_view error,
                                              std::string_view current_host = {}) {
  redirect r;
  if (error.starts_with("MOVED ")) {
    r.kind = redirect_kind::moved;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    r.kind = redirect_kind::ask;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto slot = detail::parse_slot(error.substr(0, space));
  auto endpoint = detail::parse_host_port(error.substr(space + 1));
  if (!slot || !endpoint) return std::nullopt;
  if (endpoint->host.empty()) endpoint->host = std::string(current_host);
  if (endpoint->host.empty() || endpoint->host.find(' ') != std::string::npos) return std::nullopt;
  r.slot = *slot;
  r.endpoint = std::move(*endpoint);
  return r;
}

// ---- the slot map -------------------------------------------------------------------------------

struct cluster_node {
  net::endpoint endpoint;
  std::string id;  // the node's 40-character id; empty when only a redirect named the node
};

// For every slot, its master and the master's replicas, as node indexes into nodes(). A node is
// known by its endpoint, because that is what a connection goes to.
class slot_map {
 public:
  struct shard {
    std::size_t master = 0;
    std::vector<std::size_t> replicas;
  };

  slot_map() : shard_of_slot_(cluster_slot_count, no_shard) {}

  const std::vector<cluster_node>& nodes() const noexcept { return nodes_; }
  const std::vector<shard>& shards() const noexcept { return shards_; }

  std::optional<std::size_t> master_of(std::uint16_t slot) const noexcept {
    const shard* s = shard_of(slot);
    if (!s) return std::nullopt;
    return s->master;
  }
  std::span<const std::size_t> replicas_of(std::uint16_t slot) const noexcept {
    const shard* s = shard_of(slot);
    if (!s) return {};
    return s->replicas;
  }
  const shard* shard_of(std::uint16_t slot) const noexcept {
    if (slot >= cluster_slot_count || shard_of_slot_[slot] == no_shard) return nullptr;
    return &shards_[shard_of_slot_[slot]];
  }

  std::size_t covered_slots() const noexcept {
    return static_cast<std::size_t>(std::count_if(shard_of_slot_.begin(), shard_of_slot_.end(),
                                                  [](std::uint32_t s) { return s != no_shard; }));
  }
  // Every slot has a master: a command for any key can be routed.
  bool complete() const noexcept { return covered_slots() == cluster_slot_count; }

  // The index of the node at `endpoint`, added when it is new.
  std::size_t node_at(const net::endpoint& endpoint, std::string_view id = {}) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].endpoint.host == endpoint.host && nodes_[i].endpoint.port == endpoint.port) {
        if (nodes_[i].id.empty()) nodes_[i].id = std::string(id);
        return i;
      }
    }
    nodes_.push_back(cluster_node{endpoint, std::string(id)});
    return nodes_.size() - 1;
  }

  // Slots first..last belong to the master `master` (a node index) from now on, with these
  // replicas added to the ones the master is known to have.
  void assign(std::uint16_t first, std::uint16_t last, std::size_t master,
              std::span<const std::size_t> replicas = {}) {
    const std::uint32_t s = shard_led_by(master);
    for (const std::size_t r : replicas) {
      auto& known = shards_[s].replicas;
      if (r != master && std::find(known.begin(), known.end(), r) == known.end())
        known.push_back(r);
    }
    for (std::size_t slot = first; slot <= last && slot < cluster_slot_count; ++slot)
      shard_of_slot_[slot] = s;
  }

  // What a MOVED redirect says: `slot` is served by the master at `endpoint` now. Its replicas
  // are the ones known for that master (none when it was a replica until now, as after a
  // failover); the next CLUSTER SLOTS tells the rest.
  void update(std::uint16_t slot, const net::endpoint& endpoint) {
    if (slot >= cluster_slot_count) return;
    const std::size_t master = node_at(endpoint);
    shard_of_slot_[slot] = shard_led_by(master);
  }

 private:
  static constexpr std::uint32_t no_shard = std::numeric_limits<std::uint32_t>::max();

  std::uint32_t shard_led_by(std::size_t master) {
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      if (shards_[i].master == master) return static_cast<std::uint32_t>(i);
    }
    shards_.push_back(shard{master, {}});
    return static_cast<std::uint32_t>(shards_.size() - 1);
  }

  std::vector<cluster_node> nodes_;
  std::vector<shard> shards_;  // one per master
  std::vector<std::uint32_t> shard_of_slot_;
};

namespace detail {

// One node of a CLUSTER SLOTS range: [ip, port, id, {hostname...}]; the id and what follows it
// are absent before Redis 4. An empty (or nil) ip means "the address you reached me at". "?"
// means the node's preferred endpoint is unknown (it announces hostnames and has none): nullopt.
inline core::result<std::optional<cluster_node>> parse_slots_node(const reply& r,
                                                                  std::string_view fallback_host) {
  auto fields = r.as_array();
  if (!fields) return fields.err();
  if (fields->size() < 2) return core::error(core::errc::protocol_error, "a node without a port");
  const reply& ip = (*fields)[0];
  const reply& port = (*fields)[1];
  if (!ip.is_nil() && !ip.is_string())
    return core::error(core::errc::protocol_error, "a node's address is " + ip.describe());
  if (!port.is_integer() || port.integer <= 0 || port.integer > 65535)
    return core::error(core::errc::protocol_error, "a node's port is " + port.describe());
  cluster_node node;
  if (fields->size() >= 3) {
    const reply& id = (*fields)[2];
    if (!id.is_string())
      return core::error(core::errc::protocol_error, "a node's id is " + id.describe());
    node.id = id.str;
  }
  if (ip.str == "?") return std::optional<cluster_node>();
  node.endpoint.host = ip.str.empty() ? std::string(fallback_host) : ip.str;
  node.endpoint.port = static_cast<std::uint16_t>(port.integer);
  if (node.endpoint.host.empty())
    return core::error(core::errc::protocol_error, "a node without an address, and no fallback");
  return std::optional<cluster_node>(std::move(node));
}

inline core::result<std::uint16_t> parse_slots_bound(const reply& r) {
  if (!r.is_integer() || r.integer < 0 || r.integer >= static_cast<long long>(cluster_slot_count))
    return core::error(core::errc::protocol_error, "a slot is " + r.describe());
  return static_cast<std::uint16_t>(r.integer);
}

}  // namespace detail

// The slot map from the reply to CLUSTER SLOTS: an array of [start, end, master, replicas...].
// `fallback_host` is the host the command went to, for nodes that do not know their own address.
// A replica whose address is unknown ("?") is left out; a master whose address is unknown, an
// element of the wrong shape or a slot listed twice makes the whole reply an error. A map that
// does not cover every slot is not an error (complete() tells).
inline core::result<slot_map> parse_cluster_slots(const reply& r, std::string_view fallback_host) {
  auto ranges = r.as_array();
  if (!ranges) return failed("CLUSTER SLOTS", ranges.err());
  slot_map map;
  std::vector<bool> seen(cluster_slot_count, false);
  for (std::size_t i = 0; i < ranges->size(); ++i) {
    const std::string where = "CLUSTER SLOTS: range " + std::to_string(i + 1);
    auto bad = [&](const std::string& why) {
      return core::error(core::errc::protocol_error, where + ": " + why);
    };
    const reply& range = (*ranges)[i];
    if (!range.is_array() || range.elements.size() < 3)
      return bad("expected [start, end, master, replicas...], got " + range.describe());
    auto first = detail::parse_slots_bound(range.elements[0]);
    if (!first) return bad(first.err().detail());
    auto last = detail::parse_slots_bound(range.elements[1]);
    if (!last) return bad(last.err().detail());
    if (*first > *last)
      return bad("starts at slot " + std::to_string(*first) + " after its end " +
                 std::to_string(*last));
    for (std::size_t slot = *first; slot <= *last; ++slot) {
      if (seen[slot]) return bad("slot " + std::to_string(slot) + " is listed twice");
      seen[slot] = true;
    }
    auto master = detail::parse_slots_node(range.elements[2], fallback_host);
    if (!master) return bad("master: " + master.err().detail());
    if (!*master) return bad("the master's address is unknown (\"?\")");
    const auto too_many_nodes = [&] { return map.nodes().size() > max_cluster_nodes; };
    const auto refuse_size = [&] {
      return bad("more than " + std::to_string(max_cluster_nodes) + " nodes");
    };
    const std::size_t master_index = map.node_at((*master)->endpoint, (*master)->id);
    if (too_many_nodes()) return refuse_size();
    std::vector<std::size_t> replicas;
    for (std::size_t k = 3; k < range.elements.size(); ++k) {
      auto replica = detail::parse_slots_node(range.elements[k], fallback_host);
      if (!replica) return bad("replica " + std::to_string(k - 2) + ": " + replica.err().detail());
      if (*replica) replicas.push_back(map.node_at((*replica)->endpoint, (*replica)->id));
      if (too_many_nodes()) return refuse_size();
    }
    map.assign(*first, *last, master_index, replicas);
  }
  return map;
}

// ---- routing ------------------------------------------------------------------------------------

namespace detail {

inline bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view n) { return core::iequals(name, n); });
}

// The key after a numkeys argument at `at`, when numkeys is a positive number.
inline std::optional<std::string_view> key_after_numkeys(std::span<const std::string_view> args,
                                                         std::size_t at) {
  long long numkeys = 0;
  if (at + 1 >= args.size() || !core::parse_int(args[at], numkeys) || numkeys <= 0)
    return std::nullopt;
  return args[at + 1];
}

// XREAD [COUNT n] [BLOCK ms] STREAMS key... id...; XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
// [NOACK] STREAMS key... id.... The options are walked, not searched for "STREAMS": a group or
// consumer may be named "streams".
inline std::optional<std::string_view> first_stream_key(std::span<const std::string_view> args) {
  std::size_t i = 1;
  while (i < args.size()) {
    const auto option = args[i];
    if (core::iequals(option, "STREAMS")) {
      if (i + 1 < args.size()) return args[i + 1];
      return std::nullopt;
    }
    if (core::iequals(option, "GROUP")) {
      i += 3;
    } else if (core::iequals(option, "COUNT") || core::iequals(option, "BLOCK")) {
      i += 2;
    } else if (core::iequals(option, "NOACK")) {
      i += 1;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace detail

// The key a command is routed by in a cluster (its first key); nullopt for a command without
// keys, which any node can answer (or which is meant for one node in particular).
inline std::optional<std::string_view> command_key(std::span<const std::string_view> args) {
  if (args.empty()) return std::nullopt;
  const auto name = args[0];
  if (detail::is_one_of(
          name,
          {"PING",        "ECHO",       "INFO",         "SCAN",      "KEYS",     "RANDOMKEY",
           "CLUSTER",     "WAIT",       "WAITAOF",      "SCRIPT",    "ACL",      "CLIENT",
           "CONFIG",      "AUTH",       "HELLO",        "SELECT",    "PUBLISH",  "SUBSCRIBE",
           "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "PUBSUB",    "MULTI",    "EXEC",
           "DISCARD",     "UNWATCH",    "TIME",         "DBSIZE",    "FLUSHALL", "FLUSHDB",
           "FUNCTION",    "COMMAND",    "READONLY",     "READWRITE", "ASKING",   "QUIT",
           "RESET",       "ROLE",       "LASTSAVE",     "SAVE",      "BGSAVE",   "BGREWRITEAOF",
           "SHUTDOWN",    "MONITOR",    "DEBUG",        "SLOWLOG",   "LATENCY",  "MEMORY",
           "MODULE",      "SWAPDB",     "REPLICAOF",    "SLAVEOF",   "FAILOVER", "LOLWUT"})) {
    // MEMORY USAGE key is the one keyed form among these.
    if (core::iequals(name, "MEMORY") && args.size() > 2 && core::iequals(args[1], "USAGE"))
      return args[2];
    return std::nullopt;
  }
  if (detail::is_one_of(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}))
    return detail::key_after_numkeys(args, 2);  // EVAL script numkeys key...
  if (detail::is_one_of(
          name, {"ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "SINTERCARD", "LMPOP", "ZMPOP"}))
    return detail::key_after_numkeys(args, 1);  // ZUNION numkeys key...
  if (detail::is_one_of(name, {"BLMPOP", "BZMPOP"}))
    return detail::key_after_numkeys(args, 2);  // BLMPOP timeout numkeys key...
  if (detail::is_one_of(name, {"XREAD", "XREADGROUP"})) return detail::first_stream_key(args);
  // A subcommand or an operation first, then the key: XGROUP CREATE key ..., BITOP AND dest ...
  if (detail::is_one_of(name, {"XGROUP", "XINFO", "OBJECT", "BITOP"})) {
    if (args.size() > 2) return args[2];
    return std::nullopt;
  }
  // Every other command has its key first: GET key, HSET key ..., XADD key ..., SPUBLISH channel.
  if (args.size() > 1) return args[1];
  return std::nullopt;
}

}  // namespace bcast::redis
