#pragma once
// A request to send a message (the compose form's fields, as JSON): the limits it is held to, the
// checks that name the field at fault, and the envelope it becomes.

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

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::message {

// The bounds a send request is held to (publisherd's config sets them).
struct limits {
  std::size_t title_max_chars = 200;
  std::size_t body_max_bytes = 8192;
  std::size_t max_targets = 64;
  // How far ahead send_at may be.
  std::chrono::seconds max_schedule_ahead{std::chrono::hours(24 * 90)};
};

// What a send request asks for: the envelope as far as the request decides it (a draft:
// make_envelope() completes it), and when to send it, nothing meaning now.
struct send_request : envelope {
  std::optional<time_point> send_at;
};

// `field` is the request key to blame, or empty when the body as a whole is wrong (not JSON, not
// an object). `message` is a sentence for a person and always valid UTF-8.
struct validation_error {
  std::string field;
  std::string message;
};

// The envelope a send request asks for, or the field to blame.
using validation_result = core::result<send_request, validation_error>;

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
  static constexpr std::string_view accepted[] = {
      "targets",     "category",   "title",   "body",           "priority",        "expires_at",
      "require_ack", "supersedes", "send_at", "repeat_every_s", "escalate_after_s"};
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

  send_request draft;

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

  if (const auto* at = member(body, "send_at"); at && !at->is_null()) {
    const auto* text = at->get_ptr<const std::string*>();
    const auto when = text ? parse_rfc3339(*text) : std::nullopt;
    if (!when) {
      return validation_error{
          "send_at",
          "send_at must be a time like 2026-11-26T10:00:00Z or 2026-11-26T17:00:00+07:00"};
    }
    if (*when <= now) return validation_error{"send_at", "send_at must be in the future"};
    if (*when > now + lim.max_schedule_ahead) {
      const auto days = std::chrono::duration_cast<std::chrono::hours>(lim.max_schedule_ahead) / 24;
      return validation_error{
          "send_at", "send_at may be at most " + std::to_string(days.count()) + " days ahead"};
    }
    if (draft.expires_at && *parse_time(*draft.expires_at) <= *when) {
      return validation_error{"expires_at", "expires_at must be after send_at"};
    }
    draft.send_at = std::chrono::time_point_cast<time_point::duration>(
        std::chrono::floor<std::chrono::milliseconds>(*when));
  }

  if (const auto* old = member(body, "supersedes"); old && !old->is_null()) {
    const auto* text = old->get_ptr<const std::string*>();
    if (!text || !is_valid_ulid(*text)) {
      return validation_error{"supersedes",
                              "supersedes must be the id of the message this one corrects"};
    }
    if (draft.send_at) {
      return validation_error{"supersedes",
                              "a correction goes out at once: supersedes cannot have a send_at"};
    }
    draft.supersedes = *text;
  }

  if (const auto* ack = member(body, "require_ack"); ack && !ack->is_null()) {
    if (!ack->is_boolean()) {
      return validation_error{"require_ack", "require_ack must be true or false"};
    }
    draft.require_ack = ack->get<bool>();
  }

  const auto seconds = [&](const char* field, std::uint32_t min,
                           std::optional<std::uint32_t>& out) -> std::optional<validation_error> {
    const auto* value = member(body, field);
    if (!value || value->is_null()) return std::nullopt;
    const std::string name(field);
    const auto range = std::to_string(min) + " to " + std::to_string(max_interval_s);
    if (!value->is_number_integer()) {
      return validation_error{name, name + " must be a whole number of seconds, " + range};
    }
    const auto n = value->get<std::int64_t>();
    if (n < min || n > max_interval_s) {
      return validation_error{name, name + " must be " + range + " seconds"};
    }
    if (!draft.require_ack) {
      return validation_error{name, name + " needs require_ack: only a message someone must "
                                           "acknowledge is repeated or escalated"};
    }
    out = static_cast<std::uint32_t>(n);
    return std::nullopt;
  };
  if (auto e = seconds("repeat_every_s", min_repeat_every_s, draft.repeat_every_s)) return *e;
  if (auto e = seconds("escalate_after_s", 1, draft.escalate_after_s)) return *e;
  return draft;
}

}  // namespace detail

// Checks a send request and makes a draft envelope: targets canonical and de-duplicated (in
// first-seen order), expires_at rewritten as format_time(), and id, sent_at and sender left empty
// for make_envelope(); send_at, when given, in the future and at most max_schedule_ahead away,
// and before expires_at. Whether `supersedes` names a message this one may correct is for
// check_correction() (message/lifecycle.hpp), once that message is found. More than `max_targets`
// entries are refused even when some are duplicates. Null counts as absent for the optional fields.
// Never throws (short of bad_alloc).
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

// Completes a draft: a new id from `ids` at `now`'s millisecond, sent_at, sender. A scheduled
// message is made with `now` = its send_at, so its id sorts where it goes out; a generator only
// counts forward, so those ids come from a generator of their own.
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
