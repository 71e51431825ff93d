#pragma once
// What a live channel carries, and Redis stream ids.
//
// A live frame is one of
//   <seq>:<stream-id>:<message-id>:<envelope-json>   numbered (a retry, by the publish script)
//   +:<message-id>:<envelope-json>                   counted (a first attempt, by MULTI)
//   seq          the message's offset in the target's history, decimal, from 1
//   stream-id    its history stream entry id, "0-<seq>"
//   +            "the entry after the previous frame on this channel": every frame on a channel
//                comes with exactly one history entry, in the same order, so a store that knows
//                one frame's seq counts the rest (live_numbering.hpp)
//   message-id   the envelope's id (a ULID), so that a duplicate is dropped without parsing JSON
//   envelope     message::encode() output, unchanged: encoded once, framed per target
// The publish script builds numbered frames by concatenation (publish.hpp); encode_frame() is
// the same thing in C++.

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/ulid.hpp>

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::broker {

struct stream_id {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;

  // "<ms>-<n>"; a bare "<ms>" is refused: bcast always stores complete ids.
  static std::optional<stream_id> parse(std::string_view text) noexcept {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    stream_id id;
    if (!core::parse_int(text.substr(0, dash), id.ms) ||
        !core::parse_int(text.substr(dash + 1), id.seq)) {
      return std::nullopt;
    }
    return id;
  }

  std::string str() const { return std::to_string(ms) + "-" + std::to_string(seq); }

  friend auto operator<=>(const stream_id&, const stream_id&) = default;
  friend bool operator==(const stream_id&, const stream_id&) = default;
};

// The seq in a history entry's id "0-<seq>"; nothing for any other id.
inline std::optional<std::uint64_t> seq_of_entry_id(std::string_view id) {
  const auto parsed = stream_id::parse(id);
  if (!parsed || parsed->ms != 0 || parsed->seq == 0) return std::nullopt;
  return parsed->seq;
}

// Views into the payload it was decoded from.
struct frame {
  std::uint64_t seq = 0;       // 0: counted
  std::string_view stream_id;  // empty: counted
  std::string_view message_id;
  std::string_view envelope_json;
};

inline void append_frame(std::string& out, std::uint64_t seq, std::string_view stream_id,
                         std::string_view message_id, std::string_view envelope_json) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, seq);
  (void)ec;
  out.reserve(out.size() + static_cast<std::size_t>(end - digits) + stream_id.size() +
              message_id.size() + envelope_json.size() + 3);
  out.append(digits, end);
  out += ':';
  out += stream_id;
  out += ':';
  out += message_id;
  out += ':';
  out += envelope_json;
}

inline std::string encode_frame(std::uint64_t seq, std::string_view stream_id,
                                std::string_view message_id, std::string_view envelope_json) {
  std::string out;
  append_frame(out, seq, stream_id, message_id, envelope_json);
  return out;
}

inline void append_counted_frame(std::string& out, std::string_view message_id,
                                 std::string_view envelope_json) {
  out.reserve(out.size() + message_id.size() + envelope_json.size() + 3);
  out += "+:";
  out += message_id;
  out += ':';
  out += envelope_json;
}

inline core::result<frame> decode_frame(std::string_view payload) {
  const auto bad = [](const char* why) {
    return core::error(core::errc::protocol_error, std::string("live frame: ") + why);
  };
  frame f;
  std::string_view rest;  // "<message-id>:<envelope-json>"
  if (payload.starts_with("+:")) {
    rest = payload.substr(2);
  } else {
    const auto c1 = payload.find(':');
    if (c1 == std::string_view::npos) return bad("no seq");
    const auto seq_text = payload.substr(0, c1);
    if (seq_text.empty() || seq_text.size() > 20 || seq_text[0] == '0') return bad("bad seq");
    if (!core::parse_int(seq_text, f.seq)) return bad("bad seq");
    const auto c2 = payload.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return bad("no stream id");
    f.stream_id = payload.substr(c1 + 1, c2 - c1 - 1);
    if (!stream_id::parse(f.stream_id)) return bad("bad stream id");
    rest = payload.substr(c2 + 1);
  }
  const auto c3 = rest.find(':');
  if (c3 == std::string_view::npos) return bad("no message id");
  f.message_id = rest.substr(0, c3);
  if (!message::is_valid_ulid(f.message_id)) return bad("bad message id");
  f.envelope_json = rest.substr(c3 + 1);
  if (f.envelope_json.empty() || f.envelope_json.front() != '{') return bad("no envelope");
  return f;
}

}  // namespace bcast::broker
