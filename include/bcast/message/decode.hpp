#pragma once
// Reading an envelope: decode() takes the bytes encode() writes without building a JSON document,
// and any other JSON text (or a parsed document) the general way, which says what is wrong.

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/category.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/json.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/message/utf8.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace bcast::message {

namespace detail {

inline bool is_envelope_member(std::string_view name) noexcept {
  for (std::string_view known :
       {"v", "id", "targets", "category", "title", "body", "priority", "sent_at", "expires_at",
        "sender", "require_ack", "repeat_every_s", "escalate_after_s", "supersedes", "recalls",
        "sig"}) {
    if (name == known) return true;
  }
  return false;
}

// The names a newer bcast may add: lowercase ASCII, so that sorting them by bytes is the
// canonical form's order (message/canonical.hpp).
inline bool is_extension_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A member's value as canonical JSON: objects' members sorted by name, no spaces, integers only
// (a canonical form of other numbers is more than bcast needs).
template <class BasicJsonType>
core::result<std::string> canonical_json_value(const BasicJsonType& value) {
  bool has_fraction = false;
  const auto check = [&](const auto& self, const BasicJsonType& v) -> void {
    if (v.is_number_float()) has_fraction = true;
    if (v.is_structured()) {
      for (const auto& child : v) self(self, child);
    }
  };
  check(check, value);
  if (has_fraction) return core::error(core::errc::protocol_error, "numbers must be integers");
  // nlohmann::json keeps an object's members sorted by name; an ordered document does not.
  if constexpr (std::is_same_v<BasicJsonType, nlohmann::json>) {
    return value.dump();
  } else {
    return nlohmann::json::parse(value.dump()).dump();
  }
}

// What the wire may carry. Limits that publisherd's config sets (title length, categories) are
// not checked: a store does not know them. Unknown members are kept (unknown_members) so that a
// newer publisher can add fields that older stores pass on and verify; an incompatible change
// raises "v".
template <class BasicJsonType>
core::result<envelope> read_envelope(const BasicJsonType& j) {
  const auto fail = [](std::string why) {
    return core::error(core::errc::protocol_error, "envelope: " + std::move(why));
  };
  if (!j.is_object()) return fail("not a JSON object");
  envelope e;

  const auto* v = member(j, "v");
  if (!v) return fail("missing \"v\"");
  if (!v->is_number_integer()) return fail("\"v\" must be an integer");
  if (!(v->is_number_unsigned() ? v->template get<std::uint64_t>() == 1
                                : v->template get<std::int64_t>() == 1)) {
    return fail("unsupported version " + core::printable(v->dump()));
  }

  std::string why;
  const auto string_field = [&](const char* key, std::string& out) {
    const auto* field = member(j, key);
    if (!field) {
      why = std::string("missing \"") + key + "\"";
      return false;
    }
    if (!field->is_string()) {
      why = std::string("\"") + key + "\" must be a string";
      return false;
    }
    out = field->template get<std::string>();
    return true;
  };

  if (!string_field("id", e.id)) return fail(why);
  if (!is_valid_ulid(e.id)) return fail("\"id\" is not a ULID: " + core::quoted(e.id));

  const auto* targets = member(j, "targets");
  if (!targets) return fail("missing \"targets\"");
  if (!targets->is_array() || targets->empty()) {
    return fail("\"targets\" must be a non-empty array of strings");
  }
  e.targets.reserve(targets->size());
  for (const auto& t : *targets) {
    if (!t.is_string()) return fail("\"targets\" must be a non-empty array of strings");
    const auto& text = t.template get_ref<const typename BasicJsonType::string_t&>();
    if (!is_valid_target(text)) return fail("invalid target " + core::quoted(text));
    e.targets.push_back(text);
  }

  if (!string_field("category", e.category)) return fail(why);
  if (!is_valid_category_id(e.category)) {
    return fail("invalid category " + core::quoted(e.category));
  }
  if (!string_field("title", e.title)) return fail(why);
  if (!string_field("body", e.body)) return fail(why);

  std::string level;
  if (!string_field("priority", level)) return fail(why);
  const auto p = parse_priority(level);
  if (!p) return fail("invalid priority " + core::quoted(level));
  e.priority = *p;

  if (!string_field("sent_at", e.sent_at)) return fail(why);
  if (!parse_time(e.sent_at)) return fail("invalid \"sent_at\" " + core::quoted(e.sent_at));

  if (const auto* expires = member(j, "expires_at"); expires && !expires->is_null()) {
    if (!expires->is_string() || !parse_time(expires->template get<std::string>())) {
      return fail("\"expires_at\" must be null or a time like 2026-11-26T10:00:00.000Z");
    }
    e.expires_at = expires->template get<std::string>();
  }

  if (!string_field("sender", e.sender)) return fail(why);

  if (const auto* ack = member(j, "require_ack"); ack) {
    if (!ack->is_boolean()) return fail("\"require_ack\" must be true or false");
    e.require_ack = ack->template get<bool>();
  }

  for (auto [key, out] : {std::pair{"repeat_every_s", &e.repeat_every_s},
                          std::pair{"escalate_after_s", &e.escalate_after_s}}) {
    const auto* seconds = member(j, key);
    if (!seconds || seconds->is_null()) continue;
    if (!seconds->is_number_unsigned() || seconds->template get<std::uint64_t>() < 1 ||
        seconds->template get<std::uint64_t>() > max_interval_s) {
      return fail(std::string("\"") + key + "\" must be null or a number of seconds, 1 to " +
                  std::to_string(max_interval_s));
    }
    *out = static_cast<std::uint32_t>(seconds->template get<std::uint64_t>());
  }

  for (auto [key, out] :
       {std::pair{"supersedes", &e.supersedes}, std::pair{"recalls", &e.recalls}}) {
    const auto* ref = member(j, key);
    if (!ref || ref->is_null()) continue;
    if (!ref->is_string() ||
        !is_valid_ulid(ref->template get_ref<const typename BasicJsonType::string_t&>())) {
      return fail(std::string("\"") + key + "\" must be null or a message id");
    }
    *out = ref->template get<std::string>();
  }
  if (e.supersedes && e.recalls) return fail("a recall notice cannot supersede a message");

  if (const auto* sig = member(j, "sig"); sig && !sig->is_null()) {
    if (!sig->is_string() ||
        sig->template get_ref<const typename BasicJsonType::string_t&>().empty()) {
      return fail("\"sig\" must be null or a signature \"<key id>.<signature>\"");
    }
    e.sig = sig->template get<std::string>();
  }

  for (const auto& [name, value] : j.items()) {
    if (is_envelope_member(name)) continue;
    if (!is_extension_name(name)) return fail("invalid member name " + core::quoted(name));
    auto canonical = canonical_json_value(value);
    if (!canonical) return fail("member " + core::quoted(name) + ": " + canonical.err().detail());
    e.unknown_members.emplace_back(name, std::move(canonical).value());
  }
  // items() of an ordered document keeps the sender's order; the signature wants them by name.
  std::sort(e.unknown_members.begin(), e.unknown_members.end());
  return e;
}

}  // namespace detail

// Throws nlohmann::json::type_error for anything decode() rejects.
template <class BasicJsonType>
void from_json(const BasicJsonType& j, envelope& e) {
  auto read = detail::read_envelope(j);
  if (!read) throw BasicJsonType::type_error::create(302, read.err().detail(), &j);
  e = std::move(read).value();
}

namespace detail {

// The envelope exactly as encode() writes it, read without building a JSON document: every store
// decodes every message it gets, and the document costs most of that (docs/PERFORMANCE.md,
// store_path). Anything else, valid or not (another key order, spaces, unknown keys, escapes
// encode() does not write, invalid UTF-8, a field that fails its check) gives nothing, and
// decode() reads it the general way, which also says what is wrong.
class canonical_reader {
 public:
  explicit canonical_reader(std::string_view text) : in_(text) {}

  std::optional<envelope> read() {
    envelope e;
    std::string level;
    if (!literal(R"({"v":)") || !literal(std::to_string(envelope_version)) ||
        !literal(R"(,"id":)") || !string(e.id) || !literal(R"(,"targets":[)")) {
      return std::nullopt;
    }
    do {
      if (!string(e.targets.emplace_back())) return std::nullopt;
    } while (literal(","));
    if (!literal(R"(],"category":)") || !string(e.category) || !literal(R"(,"title":)") ||
        !string(e.title) || !literal(R"(,"body":)") || !string(e.body) ||
        !literal(R"(,"priority":)") || !string(level) || !literal(R"(,"sent_at":)") ||
        !string(e.sent_at) || !literal(R"(,"expires_at":)")) {
      return std::nullopt;
    }
    if (!literal("null") && !string(e.expires_at.emplace())) return std::nullopt;
    if (!literal(R"(,"sender":)") || !string(e.sender) || !literal(R"(,"require_ack":)")) {
      return std::nullopt;
    }
    if (literal("true")) {
      e.require_ack = true;
    } else if (!literal("false")) {
      return std::nullopt;
    }
    if (literal(R"(,"repeat_every_s":)") && !seconds(e.repeat_every_s.emplace())) return std::nullopt;
    if (literal(R"(,"escalate_after_s":)") && !seconds(e.escalate_after_s.emplace())) {
      return std::nullopt;
    }
    if (literal(R"(,"supersedes":)") && !string(e.supersedes.emplace())) return std::nullopt;
    if (literal(R"(,"recalls":)") && !string(e.recalls.emplace())) return std::nullopt;
    if (literal(R"(,"sig":)") && (!string(e.sig) || e.sig.empty())) return std::nullopt;
    if (!literal("}") || pos_ != in_.size()) return std::nullopt;
    // The checks read_envelope() makes; it is the one that explains a failure.
    const auto p = parse_priority(level);
    if (!p || !is_valid_ulid(e.id) || !is_valid_category_id(e.category) || !parse_time(e.sent_at) ||
        (e.expires_at && !parse_time(*e.expires_at)) ||
        (e.supersedes && (e.recalls || !is_valid_ulid(*e.supersedes))) ||
        (e.recalls && !is_valid_ulid(*e.recalls))) {
      return std::nullopt;
    }
    for (const auto& t : e.targets) {
      if (!is_valid_target(t)) return std::nullopt;
    }
    e.priority = *p;
    return e;
  }

 private:
  bool literal(std::string_view text) {
    if (in_.substr(pos_, text.size()) != text) return false;
    pos_ += text.size();
    return true;
  }

  // 1 to max_interval_s, in decimal without leading zeros, as encode() writes it.
  bool seconds(std::uint32_t& out) {
    std::uint64_t value = 0;
    const std::size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9' && pos_ - start < 10) {
      value = value * 10 + static_cast<std::uint64_t>(in_[pos_] - '0');
      ++pos_;
    }
    if (pos_ == start || in_[start] == '0' || value > max_interval_s) return false;
    out = static_cast<std::uint32_t>(value);
    return true;
  }

  // A JSON string with only the escapes append_json_string() writes.
  bool string(std::string& out) {
    if (!literal("\"")) return false;
    std::size_t plain = pos_;
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        out.append(in_.data() + plain, pos_ - plain);
        ++pos_;
        return is_valid_utf8(out);
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        ++pos_;
        continue;
      }
      out.append(in_.data() + plain, pos_ - plain);
      if (pos_ + 1 >= in_.size()) return false;
      switch (in_[pos_ + 1]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          // Only \u00XX below 0x20 in lowercase, as append_json_string() writes the other
          // control characters.
          const auto hex = in_.substr(pos_ + 2, 4);
          const int low = hex.size() == 4 ? core::hex_value(hex[3]) : -1;
          if (low < 0 || !hex.starts_with("00") || (hex[2] != '0' && hex[2] != '1') ||
              (hex[3] >= 'A' && hex[3] <= 'F')) {
            return false;
          }
          out += static_cast<char>((hex[2] - '0') * 16 + low);
          pos_ += 4;
          break;
        }
        default:
          return false;
      }
      pos_ += 2;
      plain = pos_;
    }
    return false;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace detail

// Never throws (short of bad_alloc); the error's detail says what is wrong.
template <json_document Json>
[[nodiscard]] core::result<envelope> decode(const Json& j) {
  try {
    return detail::read_envelope(j);
  } catch (const nlohmann::json::exception& ex) {
    return core::error(core::errc::protocol_error, "envelope: " + detail::describe_parse_error(ex));
  }
}

namespace detail {

// Any JSON text: parsed into a document, then read_envelope().
inline core::result<envelope> decode_document(std::string_view json_text);

}  // namespace detail

[[nodiscard]] inline core::result<envelope> decode(std::string_view json_text) {
  if (auto e = detail::canonical_reader(json_text).read()) return std::move(*e);
  return detail::decode_document(json_text);
}

[[nodiscard]] inline core::result<envelope> detail::decode_document(std::string_view json_text) {
  auto parsed = detail::parse_json(json_text);
  if (!parsed) {
    return core::error(core::errc::protocol_error,
                       "envelope is not JSON: " + parsed.err().detail());
  }
  return decode(parsed.value());
}

}  // namespace bcast::message
