#pragma once
// The message envelope: what the API returns, what goes through Redis and what sinks see.
// Also the checks on a POST /api/v1/messages body, which makes a draft envelope.

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/message/category.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/message/utf8.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
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

  friend bool operator==(const envelope&, const envelope&) = default;
};

// ---- JSON -------------------------------------------------------------------------------------
// Templates so that both nlohmann::json and nlohmann::ordered_json (used by encode(), which keeps
// the SPEC's key order) find them by ADL.

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
}

namespace detail {

template <class BasicJsonType>
const BasicJsonType* member(const BasicJsonType& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// What the wire may carry. Limits that publisherd's config sets (title length, categories) are
// not checked: a store does not know them. Unknown keys are ignored so that a newer publisher can
// add fields; an incompatible change raises "v".
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
  return e;
}

// nlohmann's messages quote the bytes last read, which may be invalid UTF-8: keep the reason only.
inline std::string describe_parse_error(const nlohmann::json::exception& ex) {
  std::string_view what = ex.what();
  if (const auto end = what.find("; last read"); end != std::string_view::npos) {
    what = what.substr(0, end);
  }
  if (what.starts_with("[json.exception.")) {
    if (const auto close = what.find("] "); close != std::string_view::npos) {
      what.remove_prefix(close + 2);
    }
  }
  return core::printable(what, 200);
}

inline core::result<nlohmann::json> parse_json(std::string_view text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& ex) {
    return core::error(core::errc::protocol_error, describe_parse_error(ex));
  }
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

// `s` as a JSON string, escaped as nlohmann's dump() escapes it (ensure_ascii off).
inline void append_json_string(std::string& out, std::string_view s) {
  if (!is_valid_utf8(s)) {
    // Never from decode() or validate_request(); nlohmann turns each bad sequence into U+FFFD.
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        core::append_hex(out, c);
    }
  }
  out.append(s, plain_from, s.size() - plain_from);
  out += '"';
}

}  // namespace detail

// Compact JSON with the keys in the SPEC's order, written directly: this runs once per message
// on the publish path. The same bytes as dumping to_json(); invalid UTF-8 in a field (which
// decode() and validate_request() never produce) becomes U+FFFD rather than an exception.
inline std::string encode(const envelope& e) {
  std::size_t size = 192 + e.id.size() + e.category.size() + e.title.size() + e.body.size() +
                     e.sent_at.size() + e.sender.size();
  for (const auto& t : e.targets) size += t.size() + 3;
  std::string out;
  out.reserve(size);
  out += "{\"v\":";
  out += std::to_string(e.v);
  const auto field = [&out](std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    detail::append_json_string(out, value);
  };
  field("id", e.id);
  out += ",\"targets\":[";
  for (std::size_t i = 0; i < e.targets.size(); ++i) {
    if (i > 0) out += ',';
    detail::append_json_string(out, e.targets[i]);
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
  out += e.require_ack ? ",\"require_ack\":true}" : ",\"require_ack\":false}";
  return out;
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
    if (literal("true}")) {
      e.require_ack = true;
    } else if (!literal("false}")) {
      return std::nullopt;
    }
    if (pos_ != in_.size()) return std::nullopt;
    // The checks read_envelope() makes; it is the one that explains a failure.
    const auto p = parse_priority(level);
    if (!p || !is_valid_ulid(e.id) || !is_valid_category_id(e.category) ||
        !parse_time(e.sent_at) || (e.expires_at && !parse_time(*e.expires_at))) {
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
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
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
        default: return false;
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

// nlohmann::json converts implicitly from a std::string, which would make decode(std::string)
// ambiguous between the text and the json overloads; the json overloads take exactly a json.
template <class T>
concept json_document = std::same_as<T, nlohmann::json>;

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

// An envelope without a valid expires_at never expires.
inline bool is_expired(const envelope& e, time_point now) noexcept {
  if (!e.expires_at) return false;
  const auto expires = parse_time(*e.expires_at);
  return expires && now >= *expires;
}

// ---- POST /api/v1/messages ------------------------------------------------------------------

struct limits {
  std::size_t title_max_chars = 200;
  std::size_t body_max_bytes = 8192;
  std::size_t max_targets = 64;
};

// `field` is the request key to blame, or empty when the body as a whole is wrong (not JSON, not
// an object). `message` is a sentence for a person and always valid UTF-8.
struct validation_error {
  std::string field;
  std::string message;
};

class [[nodiscard]] validation_result {
 public:
  validation_result(envelope draft) : state_(std::in_place_index<0>, std::move(draft)) {}  // NOLINT
  validation_result(validation_error e) : state_(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  envelope& value() & { return std::get<0>(state_); }
  const envelope& value() const& { return std::get<0>(state_); }
  envelope&& value() && { return std::get<0>(std::move(state_)); }
  envelope& operator*() & { return value(); }
  const envelope& operator*() const& { return value(); }
  envelope* operator->() { return &value(); }
  const envelope* operator->() const { return &value(); }
  const validation_error& err() const& { return std::get<1>(state_); }

 private:
  std::variant<envelope, validation_error> state_;
};

namespace detail {

inline std::optional<validation_error> check_text(const char* field, const nlohmann::json* value,
                                                  std::size_t max, bool max_in_chars,
                                                  std::string_view allowed_controls,
                                                  std::string& out) {
  const std::string name(field);
  if (!value) return validation_error{name, name + " is required"};
  if (!value->is_string()) return validation_error{name, name + " must be a string"};
  const auto& text = value->get_ref<const std::string&>();
  // Text parsed from JSON is valid UTF-8, but a json built in code need not be.
  if (!is_valid_utf8(text)) return validation_error{name, name + " is not valid UTF-8"};
  if (text.empty()) return validation_error{name, name + " must not be empty"};
  if (max_in_chars ? utf8_length(text) > max : text.size() > max) {
    return validation_error{name, name + " is longer than " + std::to_string(max) +
                                      (max_in_chars ? " characters" : " bytes")};
  }
  if (has_control_chars(text, allowed_controls)) {
    return validation_error{name, name + " must not contain control characters"};
  }
  out = text;
  return std::nullopt;
}

inline validation_result check_request(const nlohmann::json& body,
                                       std::span<const category> categories, const limits& lim,
                                       time_point now) {
  if (!body.is_object()) return validation_error{"", "the request body must be a JSON object"};

  // Unknown keys are refused: a misspelt optional field ("expire_at") must not be dropped quietly.
  static constexpr std::string_view accepted[] = {"targets",  "category",   "title",      "body",
                                                  "priority", "expires_at", "require_ack"};
  static constexpr std::string_view server_set[] = {"v", "id", "sent_at", "sender"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    bool known = false;
    for (const auto a : accepted) known = known || key == a;
    if (known) continue;
    for (const auto s : server_set) {
      if (key == s) return validation_error{key, key + " is set by the server"};
    }
    const auto name = core::printable(key, 64);
    return validation_error{name, "unknown field \"" + name + "\""};
  }

  envelope draft;

  const auto* targets = member(body, "targets");
  if (!targets) return validation_error{"targets", "targets is required"};
  if (!targets->is_array()) {
    return validation_error{"targets", "targets must be an array of strings"};
  }
  if (targets->empty()) return validation_error{"targets", "targets must name at least one target"};
  if (targets->size() > lim.max_targets) {
    return validation_error{"targets", "too many targets: " + std::to_string(targets->size()) +
                                           ", at most " + std::to_string(lim.max_targets)};
  }
  draft.targets.reserve(targets->size());
  for (std::size_t i = 0; i < targets->size(); ++i) {
    const auto& t = (*targets)[i];
    if (!t.is_string()) {
      return validation_error{"targets", "targets[" + std::to_string(i) + "] must be a string"};
    }
    auto parsed = parse_target(t.get_ref<const std::string&>());
    if (!parsed) return validation_error{"targets", parsed.err().detail()};
    auto text = parsed->str();
    bool seen = false;
    for (const auto& earlier : draft.targets) seen = seen || earlier == text;
    if (!seen) draft.targets.push_back(std::move(text));
  }

  const auto* cat = member(body, "category");
  if (!cat) return validation_error{"category", "category is required"};
  if (!cat->is_string()) return validation_error{"category", "category must be a string"};
  const auto& cat_id = cat->get_ref<const std::string&>();
  if (!find_category(categories, cat_id)) {
    std::string known;
    for (const auto& c : categories) known += (known.empty() ? "" : ", ") + c.id;
    return validation_error{
        "category", "unknown category " + core::quoted(cat_id) + "; expected one of: " + known};
  }
  draft.category = cat_id;

  if (auto e =
          check_text("title", member(body, "title"), lim.title_max_chars, true, "", draft.title)) {
    return *std::move(e);
  }
  if (is_blank(draft.title)) return validation_error{"title", "title must not be blank"};
  if (auto e = check_text("body", member(body, "body"), lim.body_max_bytes, false, "\t\n\r",
                          draft.body)) {
    return *std::move(e);
  }

  if (const auto* p = member(body, "priority"); p && !p->is_null()) {
    const auto* text = p->get_ptr<const std::string*>();
    const auto level = text ? parse_priority(*text) : std::nullopt;
    if (!level) {
      return validation_error{"priority", "priority must be \"normal\", \"high\" or \"urgent\""};
    }
    draft.priority = *level;
  }

  if (const auto* x = member(body, "expires_at"); x && !x->is_null()) {
    const auto* text = x->get_ptr<const std::string*>();
    const auto when = text ? parse_time(*text) : std::nullopt;
    if (!when) {
      return validation_error{"expires_at",
                              "expires_at must be a UTC time like 2026-11-26T10:00:00Z or null"};
    }
    if (*when <= now) return validation_error{"expires_at", "expires_at must be in the future"};
    draft.expires_at = format_time(*when);
  }

  if (const auto* ack = member(body, "require_ack"); ack && !ack->is_null()) {
    if (!ack->is_boolean()) {
      return validation_error{"require_ack", "require_ack must be true or false"};
    }
    draft.require_ack = ack->get<bool>();
  }
  return draft;
}

}  // namespace detail

// Checks a POST /api/v1/messages body and makes a draft envelope: targets canonical and
// de-duplicated (in first-seen order), expires_at rewritten as format_time(), and id, sent_at and
// sender left empty for make_envelope(). More than `max_targets` entries are refused even when
// some are duplicates. Null counts as absent for the optional fields. Never throws (short of
// bad_alloc).
template <json_document Json>
validation_result validate_request(const Json& body, std::span<const category> categories,
                                   const limits& lim, time_point now) {
  try {
    return detail::check_request(body, categories, lim, now);
  } catch (const nlohmann::json::exception& ex) {
    return validation_error{"", "invalid request: " + detail::describe_parse_error(ex)};
  }
}

inline validation_result validate_request(std::string_view json_text,
                                          std::span<const category> categories, const limits& lim,
                                          time_point now) {
  auto parsed = detail::parse_json(json_text);
  if (!parsed) {
    return validation_error{"", "the request body is not valid JSON: " + parsed.err().detail()};
  }
  return validate_request(parsed.value(), categories, lim, now);
}

// Completes a draft: a new id from `ids` at `now`'s millisecond, sent_at, sender.
[[nodiscard]] inline core::result<envelope> make_envelope(envelope draft, ulid_generator& ids,
                                                          std::string sender, time_point now) {
  auto id = ids.next(unix_ms(now));
  if (!id) return id.err();
  draft.v = envelope_version;
  draft.id = std::move(id).value();
  draft.sent_at = format_time(now);
  draft.sender = std::move(sender);
  return draft;
}

}  // namespace bcast::message
