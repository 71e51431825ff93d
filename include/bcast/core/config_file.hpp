#pragma once
// The one reader of the daemons' JSON config files. Comments are allowed; a repeated key, a key the
// daemon does not know and a value of the wrong type are refused at every depth, each named by its
// path (`limits.title_max_chars`, `https[0].cert_file`): a typo must not silently fall back to a
// default, and nlohmann alone would keep the last of two repeated keys without a word.
//
//   return core::read_config_file(path, [&](core::config_section& file) {
//     file.text("redis", c.redis_url).section("limits", [&](core::config_section& limits) {
//       limits.integer("title_max_chars", c.title_max_chars, std::size_t{1});
//     });
//   });
//
// Every read records its key as known and leaves the output as it was when the key is absent. The
// reads go on after a problem, and finish() reports an unknown key before any other problem, so
// that a misspelt key is named rather than the default it left behind.

#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/text.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

namespace bcast::core {

// Config and users files are small: anything larger is not one.
inline constexpr std::size_t config_file_max_bytes = 4 * 1024 * 1024;

// `s` as a JSON string, quotes and escapes included: how errors name a key or a value.
inline std::string json_quote(std::string_view s) {
  return nlohmann::json(std::string(s)).dump();
}

namespace detail {

inline std::string join_config_path(std::string_view path, std::string_view key) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

}  // namespace detail

// JSON text (comments allowed), refused when an object at any depth repeats a key. `source` names
// the text in errors ("/etc/bcast/publisherd.json: limits: duplicate key \"max_targets\"").
inline result<nlohmann::json> parse_config_json(std::string_view text, std::string_view source) {
  using json = nlohmann::json;
  const auto fail = [&](const std::string& what) {
    return error(errc::invalid_argument, std::string(source) + ": " + what);
  };
  struct frame {
    bool object = false;
    std::unordered_set<std::string> keys;
    std::string key;
    std::size_t index = 0;
  };
  std::vector<frame> stack;
  std::string duplicate;
  const auto path = [&] {
    std::string out;
    for (std::size_t i = 0; i + 1 < stack.size(); ++i) {
      if (stack[i].object) {
        out = detail::join_config_path(out, stack[i].key);
      } else {
        out += '[' + std::to_string(stack[i].index) + ']';
      }
    }
    return out.empty() ? std::string("top level") : out;
  };
  const auto element_done = [&] {
    if (!stack.empty() && !stack.back().object) ++stack.back().index;
  };
  json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        stack.push_back(frame{true, {}, {}, 0});
        break;
      case json::parse_event_t::array_start:
        stack.push_back(frame{false, {}, {}, 0});
        break;
      case json::parse_event_t::key: {
        auto& top = stack.back();
        top.key = parsed.is_string() ? parsed.get<std::string>() : std::string();
        if (!top.keys.insert(top.key).second && duplicate.empty())
          duplicate = path() + ": duplicate key " + json_quote(top.key);
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        element_done();
        break;
      case json::parse_event_t::value:
        element_done();
        break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                      /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at line 3, column 7: ..."
    std::string what = e.what();
    if (const auto close = what.find("] ");
        what.starts_with("[json.exception.") && close != std::string::npos)
      what.erase(0, close + 2);
    // nlohmann quotes the bytes it last read, which may be invalid UTF-8.
    return fail("invalid JSON: " + printable(what, 400));
  }
  if (!duplicate.empty()) return fail(duplicate);
  return doc;
}

// A config file's text, parsed by parse_config_json; errors name `path`.
inline result<nlohmann::json> read_config_file(const std::string& path) {
  auto text = read_file_bounded(path, config_file_max_bytes);
  if (!text && text.err().code().category() == std::system_category())
    return error(text.err().code(), text.err().detail() + ": " + text.err().code().message());
  if (!text) return text.err();
  return parse_config_json(*text, path);
}

// One JSON object of a config file, read key by key. Nested objects and arrays of objects are
// sections of their own, sharing the first problem with the section they are in.
class config_section {
 public:
  using json = nlohmann::json;

  // The top level of a document; `source` (the file) starts every problem.
  explicit config_section(const json& object, std::string source = {})
      : object_(object), shared_(std::make_shared<problems>()) {
    shared_->source = std::move(source);
    expect_object();
  }

  config_section(const config_section&) = delete;
  config_section& operator=(const config_section&) = delete;

  const std::string& path() const noexcept { return path_; }
  std::string path_of(std::string_view key) const { return detail::join_config_path(path_, key); }

  bool has(std::string_view key) const { return object_.is_object() && object_.contains(key); }

  config_section& text(std::string_view key, std::string& out) {
    if (const auto* v = find(key)) {
      if (!v->is_string()) return refuse(key, "expected a string");
      out = v->get<std::string>();
    }
    return *this;
  }

  config_section& flag(std::string_view key, bool& out) {
    if (const auto* v = find(key)) {
      if (!v->is_boolean()) return refuse(key, "expected true or false");
      out = v->get<bool>();
    }
    return *this;
  }

  // A whole number from `min` to `max`; 10.0 and "10" are not.
  template <class Int>
  config_section& integer(std::string_view key, Int& out, Int min = std::numeric_limits<Int>::min(),
                          Int max = std::numeric_limits<Int>::max()) {
    static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
    if (const auto* v = find(key)) {
      if (auto n = whole_number(*v, min, max)) {
        out = *n;
      } else {
        refuse(key, "expected " + range_text(min, max) + ", got " + v->dump());
      }
    }
    return *this;
  }

  // A duration in whole units of Duration (seconds for a `_s` key, milliseconds for `_ms`).
  template <class Duration>
  config_section& duration(std::string_view key, Duration& out, typename Duration::rep min = 1) {
    auto count = out.count();
    integer(key, count, min);
    out = Duration(count);
    return *this;
  }

  config_section& texts(std::string_view key, std::vector<std::string>& out) {
    return list(key, out, "strings", "a string", [](const json& v) -> std::optional<std::string> {
      if (!v.is_string()) return std::nullopt;
      return v.get<std::string>();
    });
  }

  template <class Int>
  config_section& integers(std::string_view key, std::vector<Int>& out,
                           Int min = std::numeric_limits<Int>::min(),
                           Int max = std::numeric_limits<Int>::max()) {
    return list(key, out, "integers", range_text(min, max),
                [&](const json& v) { return whole_number(v, min, max); });
  }

  // `read(section)` for the object at `key`.
  template <class Read>
  config_section& section(std::string_view key, Read&& read) {
    if (const auto* v = find(key)) {
      config_section inner(*v, path_of(key), shared_);
      if (inner.expect_object()) {
        read(inner);
        inner.refuse_unknown_keys();
      }
    }
    return *this;
  }

  // `read(section, index)` for each object of the array at `key`.
  template <class Read>
  config_section& sections(std::string_view key, Read&& read) {
    if (const auto* v = find(key)) {
      if (!v->is_array()) return refuse(key, "expected an array of objects");
      for (std::size_t i = 0; i < v->size(); ++i) {
        config_section inner((*v)[i], path_of(key) + "[" + std::to_string(i) + "]", shared_);
        if (!inner.expect_object()) continue;
        read(inner, i);
        inner.refuse_unknown_keys();
      }
    }
    return *this;
  }

  // Marks `key` known and reports it missing when it is absent.
  config_section& require(std::string_view key) {
    known_.emplace(key);
    if (!has(key)) report(false, path_of(key) + ": missing");
    return *this;
  }

  // A problem with the value at `key` that the caller found: "<path>.<key>: <what>".
  config_section& refuse(std::string_view key, std::string_view what) {
    known_.emplace(key);
    report(false, path_of(key) + ": " + std::string(what));
    return *this;
  }

  bool ok() const noexcept { return shared_->unknown.empty() && shared_->first.empty(); }

  // Call once every key is read: an unknown key at this level, else the first problem anywhere.
  result<void> finish() {
    refuse_unknown_keys();
    const auto& problem = shared_->unknown.empty() ? shared_->first : shared_->unknown;
    if (problem.empty()) return {};
    return error(errc::invalid_argument,
                 shared_->source.empty() ? problem : shared_->source + ": " + problem);
  }

 private:
  struct problems {
    std::string source;
    std::string unknown;  // the first unknown key
    std::string first;    // the first other problem
  };

  config_section(const json& object, std::string path, std::shared_ptr<problems> shared)
      : object_(object), path_(std::move(path)), shared_(std::move(shared)) {}

  const json* find(std::string_view key) {
    known_.emplace(key);
    if (!object_.is_object()) return nullptr;
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  bool expect_object() {
    if (object_.is_object()) return true;
    report(false, (path_.empty() ? std::string("top level") : path_) + ": expected an object");
    return false;
  }

  void refuse_unknown_keys() {
    if (!object_.is_object()) return;
    for (const auto& [key, value] : object_.items()) {
      if (known_.count(key)) continue;
      std::string known;
      for (const auto& k : known_) known += (known.empty() ? "" : ", ") + k;
      report(true, path_of(key) + ": unknown key (known here: " + known + ")");
      return;
    }
  }

  void report(bool unknown, std::string problem) {
    auto& slot = unknown ? shared_->unknown : shared_->first;
    if (slot.empty()) slot = std::move(problem);
  }

  template <class Int>
  static std::optional<Int> whole_number(const json& v, Int min, Int max) {
    if (v.is_number_unsigned()) {
      const auto n = v.get<std::uint64_t>();
      if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) &&
          static_cast<std::int64_t>(n) >= static_cast<std::int64_t>(min) &&
          n <= static_cast<std::uint64_t>(max))
        return static_cast<Int>(n);
    } else if (v.is_number_integer()) {
      const auto n = v.get<std::int64_t>();
      if (n >= static_cast<std::int64_t>(min) &&
          (n < 0 || static_cast<std::uint64_t>(n) <= static_cast<std::uint64_t>(max)))
        return static_cast<Int>(n);
    }
    return std::nullopt;
  }

  template <class Int>
  static std::string range_text(Int min, Int max) {
    // Named in words where the bound is beyond any real setting; a 32-bit id's range is spelt out.
    if (max == std::numeric_limits<Int>::max() && sizeof(Int) >= sizeof(std::int64_t)) {
      if (min == 1) return "a positive integer";
      if (min == 0) return "0 or a positive integer";
      if (min == std::numeric_limits<Int>::min()) return "an integer";
      return "an integer of at least " + std::to_string(min);
    }
    return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  }

  template <class T, class Convert>
  config_section& list(std::string_view key, std::vector<T>& out, std::string_view elements,
                       const std::string& element, Convert&& convert) {
    if (const auto* v = find(key)) {
      if (!v->is_array()) return refuse(key, "expected an array of " + std::string(elements));
      std::vector<T> read;
      for (std::size_t i = 0; i < v->size(); ++i) {
        auto converted = convert((*v)[i]);
        if (!converted) {
          report(false, path_of(key) + "[" + std::to_string(i) + "]: expected " + element +
                            ", got " + (*v)[i].dump());
          return *this;
        }
        read.push_back(std::move(*converted));
      }
      out = std::move(read);
    }
    return *this;
  }

  const json& object_;
  std::string path_;
  std::shared_ptr<problems> shared_;
  std::set<std::string, std::less<>> known_;
};

// Reads the config file at `path` with `read(section)` over its top level; the first problem, if
// any, after every key is read.
template <class Read>
result<void> read_config_file(const std::string& path, Read&& read) {
  auto doc = read_config_file(path);
  if (!doc) return doc.err();
  config_section file(*doc, path);
  read(file);
  return file.finish();
}

// The `log_level` setting, checked.
inline result<log::level> log_level_setting(const std::string& text) {
  if (auto l = log::parse_level(text)) return *l;
  return error(errc::invalid_argument,
               "log_level: expected error, warning, notice, info or debug, got '" + text + "'");
}

}  // namespace bcast::core
