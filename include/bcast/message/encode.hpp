#pragma once
// Writing an envelope as JSON: encode(), the bytes that go through Redis and to the sinks, and
// nlohmann's to_json() with the same content.

#include <bcast/core/text.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/utf8.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bcast::message {

// `s` as a JSON string, escaped as nlohmann's dump() escapes it (ensure_ascii off).
inline void append_json_string(std::string& out, std::string_view s) {
  if (!is_valid_utf8(s)) {
    // Never from decode() or validate_request(); nlohmann turns each bad sequence into U+FFFD.
    out += nlohmann::json(std::string(s))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, plain_from, i - plain_from);
    plain_from = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        core::append_hex(out, c);
    }
  }
  out.append(s, plain_from, s.size() - plain_from);
  out += '"';
}

// Compact JSON with the keys in the envelope's documented order (members this version does not
// know, then the signature, last), written directly: this runs once per message on the publish
// path. The same bytes as dumping to_json(); invalid UTF-8 in a field (which decode() and
// validate_request() never produce) becomes U+FFFD rather than an exception.
inline std::string encode(const envelope& e) {
  std::size_t size = 256 + e.sig.size() + e.id.size() + e.category.size() + e.title.size() +
                     e.body.size() + e.sent_at.size() + e.sender.size();
  for (const auto& t : e.targets) size += t.size() + 3;
  std::string out;
  out.reserve(size);
  out += "{\"v\":";
  out += std::to_string(e.v);
  const auto field = [&out](std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, value);
  };
  field("id", e.id);
  out += ",\"targets\":[";
  for (std::size_t i = 0; i < e.targets.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, e.targets[i]);
  }
  out += ']';
  field("category", e.category);
  field("title", e.title);
  field("body", e.body);
  field("priority", to_string(e.priority));
  field("sent_at", e.sent_at);
  if (e.expires_at) {
    field("expires_at", *e.expires_at);
  } else {
    out += ",\"expires_at\":null";
  }
  field("sender", e.sender);
  out += e.require_ack ? ",\"require_ack\":true" : ",\"require_ack\":false";
  const auto seconds = [&out](std::string_view name, std::uint32_t value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(value);
  };
  if (e.repeat_every_s) seconds("repeat_every_s", *e.repeat_every_s);
  if (e.escalate_after_s) seconds("escalate_after_s", *e.escalate_after_s);
  if (e.supersedes) field("supersedes", *e.supersedes);
  if (e.recalls) field("recalls", *e.recalls);
  for (const auto& [name, value] : e.unknown_members) {
    out += ',';
    append_json_string(out, name);
    out += ':';
    out += value;
  }
  if (!e.sig.empty()) field("sig", e.sig);
  out += '}';
  return out;
}

// nlohmann::json's ADL hook, for nlohmann::json and nlohmann::ordered_json.
template <class BasicJsonType>
void to_json(BasicJsonType& j, const envelope& e) {
  j = BasicJsonType::object();
  j["v"] = e.v;
  j["id"] = e.id;
  j["targets"] = e.targets;
  j["category"] = e.category;
  j["title"] = e.title;
  j["body"] = e.body;
  j["priority"] = std::string(to_string(e.priority));
  j["sent_at"] = e.sent_at;
  if (e.expires_at) {
    j["expires_at"] = *e.expires_at;
  } else {
    j["expires_at"] = nullptr;
  }
  j["sender"] = e.sender;
  j["require_ack"] = e.require_ack;
  if (e.repeat_every_s) j["repeat_every_s"] = *e.repeat_every_s;
  if (e.escalate_after_s) j["escalate_after_s"] = *e.escalate_after_s;
  if (e.supersedes) j["supersedes"] = *e.supersedes;
  if (e.recalls) j["recalls"] = *e.recalls;
  for (const auto& [name, value] : e.unknown_members) j[name] = BasicJsonType::parse(value);
  if (!e.sig.empty()) j["sig"] = e.sig;
}

}  // namespace bcast::message
