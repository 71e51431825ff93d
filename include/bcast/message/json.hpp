#pragma once
// nlohmann::json helpers shared by the readers of JSON text: decode() and validate_request().

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <string>
#include <string_view>

namespace bcast::message {

// nlohmann::json converts implicitly from a std::string, which would make decode(std::string)
// ambiguous between the text and the json overloads; the json overloads take exactly a json.
template <class T>
concept json_document = std::same_as<T, nlohmann::json>;

namespace detail {

template <class BasicJsonType>
const BasicJsonType* member(const BasicJsonType& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
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

}  // namespace bcast::message
