#pragma once
// The message envelope: what the API returns, what goes through Redis and what sinks see.
// Writing it is message/encode.hpp, reading it message/decode.hpp, and making one from a request
// to send a message message/send_request.hpp.

#include <bcast/message/time.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::message {

enum class priority { normal, high, urgent };

inline std::string_view to_string(priority p) noexcept {
  switch (p) {
    case priority::normal:
      return "normal";
    case priority::high:
      return "high";
    case priority::urgent:
      return "urgent";
  }
  return "normal";
}

inline std::optional<priority> parse_priority(std::string_view text) noexcept {
  if (text == "normal") return priority::normal;
  if (text == "high") return priority::high;
  if (text == "urgent") return priority::urgent;
  return std::nullopt;
}

inline constexpr int envelope_version = 1;

// A must-read message's intervals (SPEC "Urgency and escalation"), in seconds. A send asks for at
// least min_repeat_every_s; a store holds anything shorter to that.
inline constexpr std::uint32_t min_repeat_every_s = 10;
inline constexpr std::uint32_t max_interval_s = 30 * 24 * 3600;

struct envelope {
  int v = envelope_version;
  std::string id;                    // ULID, made by publisherd
  std::vector<std::string> targets;  // canonical target strings, no duplicates
  std::string category;
  std::string title;
  std::string body;
  bcast::message::priority priority = bcast::message::priority::normal;
  std::string sent_at;                    // format_time()
  std::optional<std::string> expires_at;  // format_time(), JSON null when absent
  std::string sender;
  bool require_ack = false;
  // Must-read (with require_ack), in seconds, on the wire and in the signed bytes only when set:
  // a store shows the message again every `repeat_every_s` until a person acknowledges it, and
  // publisherd runs its escalation once `escalate_after_s` passed with stores not acknowledging.
  std::optional<std::uint32_t> repeat_every_s;
  std::optional<std::uint32_t> escalate_after_s;
  // Lifecycle (message/lifecycle.hpp). Each is a message id, on the wire and in the signed bytes
  // only when set, so that envelopes signed before they existed still verify. `supersedes`: this
  // message corrects that one, which stores take down and show this one in its place. `recalls`:
  // this is no message but a recall notice, signed like one, that takes that message down.
  std::optional<std::string> supersedes;
  std::optional<std::string> recalls;
  // Members this version does not know, which a newer publisher added: (name, value as canonical
  // JSON, message/canonical.hpp), sorted by name. They are kept because the signature covers them,
  // and encode() passes them on.
  std::vector<std::pair<std::string, std::string>> unknown_members;
  // "<key id>.<signature>" (trust/signature.hpp) over every other member; empty: unsigned.
  std::string sig;

  friend bool operator==(const envelope&, const envelope&) = default;
};

// An envelope without a valid expires_at never expires.
inline bool is_expired(const envelope& e, time_point now) noexcept {
  if (!e.expires_at) return false;
  const auto expires = parse_time(*e.expires_at);
  return expires && now >= *expires;
}

// nlohmann::json's ADL hooks for a priority; templates so that both nlohmann::json and
// nlohmann::ordered_json find them, and so that this header needs no JSON library.

template <class BasicJsonType>
void to_json(BasicJsonType& j, priority p) {
  j = std::string(to_string(p));
}

template <class BasicJsonType>
void from_json(const BasicJsonType& j, priority& p) {
  const auto* text = j.template get_ptr<const typename BasicJsonType::string_t*>();
  const auto parsed = text ? parse_priority(*text) : std::nullopt;
  if (!parsed) {
    throw BasicJsonType::type_error::create(
        302, "priority must be \"normal\", \"high\" or \"urgent\"", &j);
  }
  p = *parsed;
}

}  // namespace bcast::message
