// URL and percent-decoding (core/text.hpp, http/url.hpp): what every request's path and query go
// through. Invariants:
// - percent_encode() then percent_decode() gives the bytes back, and a decoded path or query
//   encoded again decodes to the same segments and pairs;
// - the lenient decoders agree with the strict one wherever it accepts, and '+' is a space in a
//   form only;
// - decoding never lengthens; printable() and quoted() give printable ASCII of a bounded length;
// - hex round-trips.

#include "harness.hpp"

#include <bcast/core/text.hpp>
#include <bcast/http/url.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace core = bcast::core;
namespace http = bcast::http;

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

void check_percent(std::string_view in) {
  const auto encoded = core::percent_encode(in);
  FUZZ_CHECK(printable_ascii(encoded));
  FUZZ_CHECK(core::percent_decode(encoded) == std::string(in));

  const auto lenient = core::percent_decode_lenient(in);
  FUZZ_CHECK(lenient.size() <= in.size());
  if (const auto strict = core::percent_decode(in)) FUZZ_CHECK(*strict == lenient);
  std::string plus_as_space(in);
  std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
  FUZZ_CHECK(core::form_decode(in) == core::percent_decode_lenient(plus_as_space));
}

void check_path(std::string_view raw) {
  const auto segments = http::split_path(raw);
  std::string_view rest = raw;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  // An escape never spans a '/', so the path splits exactly when it decodes as a whole.
  FUZZ_CHECK(segments.has_value() == core::percent_decode(rest).has_value());
  if (!segments) return;
  std::string again;
  for (const auto& s : *segments) again += "/" + core::percent_encode(s);
  FUZZ_CHECK(http::split_path(again) == segments);
  if (!rest.empty()) {
    FUZZ_CHECK(segments->size() ==
               static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '/')) + 1);
  }
}

void check_query(std::string_view raw) {
  const auto query = http::parse_query(raw);
  std::string again;
  for (const auto& [name, value] : query) {
    if (!again.empty()) again += '&';
    again += core::percent_encode(name) + "=" + core::percent_encode(value);
  }
  const auto reparsed = http::parse_query(again);
  FUZZ_CHECK(std::equal(query.begin(), query.end(), reparsed.begin(), reparsed.end()));
  for (const auto& [name, value] : query) {
    FUZZ_CHECK(name.size() + value.size() <= raw.size());
    FUZZ_CHECK(query.get(name).has_value());
  }
}

void check_echo(std::string_view in) {
  const auto shown = core::printable(in);
  FUZZ_CHECK(printable_ascii(shown) && shown.size() <= 4 * 64 + 3);
  const auto q = core::quoted(in, 16);
  FUZZ_CHECK(printable_ascii(q) && q.front() == '"' && q.back() == '"');
}

void check_hex(std::string_view in) {
  const std::vector<unsigned char> bytes(in.begin(), in.end());
  const auto hex = core::to_hex(bytes, core::hex_case::upper);
  FUZZ_CHECK(core::from_hex(hex) == bytes);
  if (const auto back = core::from_hex(in)) FUZZ_CHECK(back->size() * 2 == in.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = bcast_fuzz::as_text(data, size);
  check_percent(in);
  check_path(in);
  check_query(in);
  check_echo(in);
  check_hex(in);
  return 0;
}
