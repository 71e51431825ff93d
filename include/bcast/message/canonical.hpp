#pragma once
// The bytes an envelope's signature covers (docs/ARCHITECTURE.md, "Signed messages"): a context
// line, then the envelope without "sig" as canonical JSON, that is RFC 8785 for the values an
// envelope holds: members sorted by name, no spaces, strings escaped as append_json_string()
// does, integers in decimal. Every member of the first version is present, with its default
// when the wire left it out ("expires_at":null, "require_ack":false), and so are the members this
// version does not know; "supersedes", "recalls", "repeat_every_s" and "escalate_after_s" only
// when set. The signature is then over what
// a store shows, however the JSON on the wire was written.

#include <bcast/message/encode.hpp>
#include <bcast/message/envelope.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace bcast::message {

// Names what is signed, so that a signature over an envelope is never valid for anything else
// bcast may sign one day.
inline constexpr std::string_view envelope_signing_context = "bcast-envelope-v1\n";

// Appends the canonical JSON of `e` without its signature.
inline void append_canonical_json(std::string& out, const envelope& e) {
  auto unknown = e.unknown_members.begin();
  const auto unknown_end = e.unknown_members.end();
  bool first = true;
  const auto begin_member = [&](std::string_view name) {
    out += first ? '{' : ',';
    first = false;
    append_json_string(out, name);
    out += ':';
  };
  // Members sort by name: the unknown ones (kept sorted) are merged in before each known one.
  const auto unknown_before = [&](std::string_view name) {
    for (; unknown != unknown_end && (name.empty() || unknown->first < name); ++unknown) {
      begin_member(unknown->first);
      out += unknown->second;
    }
  };
  const auto member = [&](std::string_view name) {
    unknown_before(name);
    begin_member(name);
  };
  member("body");
  append_json_string(out, e.body);
  member("category");
  append_json_string(out, e.category);
  if (e.escalate_after_s) {
    member("escalate_after_s");
    out += std::to_string(*e.escalate_after_s);
  }
  member("expires_at");
  if (e.expires_at) {
    append_json_string(out, *e.expires_at);
  } else {
    out += "null";
  }
  member("id");
  append_json_string(out, e.id);
  member("priority");
  append_json_string(out, to_string(e.priority));
  if (e.recalls) {
    member("recalls");
    append_json_string(out, *e.recalls);
  }
  if (e.repeat_every_s) {
    member("repeat_every_s");
    out += std::to_string(*e.repeat_every_s);
  }
  member("require_ack");
  out += e.require_ack ? "true" : "false";
  member("sender");
  append_json_string(out, e.sender);
  member("sent_at");
  append_json_string(out, e.sent_at);
  if (e.supersedes) {
    member("supersedes");
    append_json_string(out, *e.supersedes);
  }
  member("targets");
  out += '[';
  for (std::size_t i = 0; i < e.targets.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, e.targets[i]);
  }
  out += ']';
  member("title");
  append_json_string(out, e.title);
  member("v");
  out += std::to_string(e.v);
  unknown_before({});
  out += '}';
}

// `context`, then the canonical JSON: what Ed25519 signs. A message is signed with
// envelope_signing_context; anything else bcast signs over an envelope (a scheduled message's
// seal, broker/schedule.hpp) has a context of its own, so that its signature is never one a store
// would take for a message's.
inline std::string signed_bytes(const envelope& e,
                                std::string_view context = envelope_signing_context) {
  std::string out;
  std::size_t size = context.size() + 224 + e.id.size() + e.category.size() + e.title.size() +
                     e.body.size() + e.sent_at.size() + e.sender.size();
  for (const auto& t : e.targets) size += t.size() + 3;
  for (const auto& [name, value] : e.unknown_members) size += name.size() + value.size() + 4;
  out.reserve(size);
  out += context;
  append_canonical_json(out, e);
  return out;
}

}  // namespace bcast::message
