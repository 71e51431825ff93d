// Cookies (http/cookies.hpp): the Cookie header of every request is read for the session, and
// Set-Cookie is written from names and values. Invariants:
// - find_cookie() finds the first cookie of each name that parse_cookies() lists, and nothing
//   for a name it does not list;
// - what format_set_cookie() accepts comes back from a Cookie header unchanged, and cannot carry
//   an attribute or a line break of its own.

#include "harness.hpp"

#include <bcast/http/cookies.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace http = bcast::http;

void check_set_cookie(std::string_view name, std::string_view value) {
  const auto set = http::format_set_cookie(name, value);
  if (!set) return;
  FUZZ_CHECK(http::valid_cookie_name(name) && http::valid_cookie_value(value));
  FUZZ_CHECK(set->find_first_of("\r\n") == std::string::npos);
  const std::string pair = std::string(name) + "=" + std::string(value);
  FUZZ_CHECK(set->starts_with(pair + "; ") || *set == pair);
  // Only the attributes cookie_options{} asks for follow the pair.
  FUZZ_CHECK(set->substr(pair.size()) == "; Path=/; HttpOnly; SameSite=Strict");
  const auto back = http::parse_cookies(pair);
  FUZZ_CHECK(back.size() == 1 && back[0].first == name && back[0].second == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto header = bcast_fuzz::as_text(data, size);
  const auto cookies = http::parse_cookies(header);
  for (std::size_t i = 0; i < cookies.size(); ++i) {
    const auto& [name, value] = cookies[i];
    FUZZ_CHECK(!name.empty() && name.size() + value.size() <= header.size());
    bool first = true;
    for (std::size_t j = 0; j < i; ++j) first = first && cookies[j].first != name;
    if (first) FUZZ_CHECK(http::find_cookie(header, name) == value);
    check_set_cookie(name, value);
  }
  // A name cut from the input, whether or not the header has such a cookie.
  const auto name = header.substr(0, header.find('='));
  const auto found = http::find_cookie(header, name);
  bool listed = false;
  for (const auto& c : cookies) listed = listed || c.first == name;
  if (!name.empty()) FUZZ_CHECK(found.has_value() == listed);
  if (const auto eq = header.find('='); eq != std::string_view::npos) {
    check_set_cookie(header.substr(0, eq), header.substr(eq + 1));
  }
  return 0;
}
