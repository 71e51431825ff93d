// The HTTP request parser (http/parser.hpp), driven as http::server's connection drives it: feed,
// take each complete request, stop at an error, an Upgrade or a request that closes the
// connection. Invariants:
// - the same requests come out whether the bytes arrive at once or in pieces (a client chooses
//   the pieces), and then an error in both cases or in neither;
// - under small limits no request exceeds them, and the requests that pass are the ones that pass
//   under the defaults;
// - a request's path is its raw path percent-decoded, and no error is an internal one.

#include "harness.hpp"

#include <bcast/core/text.hpp>
#include <bcast/http/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using bcast::http::parser_limits;
using bcast::http::request;
using bcast::http::request_parser;

// What a handler sees of a request (not its arrival time).
struct seen_request {
  std::string method, target, raw_path, path, raw_query;
  std::vector<std::pair<std::string, std::string>> query, headers;
  std::string body;
  unsigned http_major = 0, http_minor = 0;
  bool keep_alive = false, upgrade = false;
  friend bool operator==(const seen_request&, const seen_request&) = default;
};

struct outcome {
  std::vector<seen_request> requests;
  int error_status = 0;  // 0: none
};

seen_request summary(const request& r, bool upgrade) {
  seen_request s{r.method, r.target, r.raw_path,   r.path,       r.raw_query,  {},
                 {},       r.body,   r.http_major, r.http_minor, r.keep_alive, upgrade};
  s.query.assign(r.query.begin(), r.query.end());
  s.headers.assign(r.headers.begin(), r.headers.end());
  return s;
}

// Feeds `bytes` in pieces (all at once when `pieces` is null) as the server would.
outcome parse(std::string_view bytes, const parser_limits& limits,
              bcast_fuzz::piece_sizes* pieces) {
  request_parser parser(limits);
  outcome out;
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, pieces ? pieces->next() : bytes.size());
    bytes.remove_prefix(piece.size());
    // One read's bytes, as connection::process() handles them.
    while (!piece.empty()) {
      piece.remove_prefix(parser.feed(piece));
      switch (parser.status()) {
        case request_parser::state::need_more:
          // The server drops what is left of a read here: the parser must have taken it all.
          FUZZ_CHECK(piece.empty());
          break;
        case request_parser::state::message: {
          const bool upgrade = parser.upgrade();
          const request r = parser.take();
          out.requests.push_back(summary(r, upgrade));
          if (upgrade || !r.keep_alive) return out;  // the connection closes after it
          break;
        }
        case request_parser::state::error: {
          const auto& e = parser.error();
          FUZZ_CHECK(e.status >= 400 && e.status < 600 && e.status != 500);
          FUZZ_CHECK(!e.code.empty() && !e.message.empty());
          out.error_status = e.status;
          return out;
        }
      }
    }
  }
  return out;
}

void check_request(const seen_request& r, const parser_limits& limits) {
  FUZZ_CHECK(!r.method.empty());
  FUZZ_CHECK(r.target.size() <= limits.max_url_bytes);
  FUZZ_CHECK(r.body.size() <= limits.max_body_bytes);
  FUZZ_CHECK(r.headers.size() <= limits.max_header_count);
  std::size_t header_bytes = 0;
  for (const auto& [name, value] : r.headers) header_bytes += name.size() + value.size();
  FUZZ_CHECK(header_bytes <= limits.max_header_bytes);
  const auto decoded = bcast::core::percent_decode(r.raw_path);
  FUZZ_CHECK(decoded && *decoded == r.path);
  FUZZ_CHECK(r.path.find('\0') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = bcast_fuzz::as_text(data, size);

  const parser_limits defaults;
  const outcome whole = parse(bytes, defaults, nullptr);
  for (const auto& r : whole.requests) check_request(r, defaults);

  bcast_fuzz::piece_sizes pieces(bytes);
  const outcome pieced = parse(bytes, defaults, &pieces);
  FUZZ_CHECK(pieced.requests == whole.requests);
  // Which error may differ: http_parser hands over what it has of a header at the end of each
  // piece, so a limit (431) can see a header's first part before the parser reaches a bad byte
  // further on in it (400), which it reaches first when the header comes whole.
  FUZZ_CHECK((pieced.error_status != 0) == (whole.error_status != 0));

  const parser_limits small{
      .max_url_bytes = 40, .max_header_bytes = 120, .max_header_count = 4, .max_body_bytes = 24};
  const outcome limited = parse(bytes, small, nullptr);
  for (const auto& r : limited.requests) check_request(r, small);
  FUZZ_CHECK(limited.requests.size() <= whole.requests.size());
  for (std::size_t i = 0; i < limited.requests.size(); ++i) {
    FUZZ_CHECK(limited.requests[i] == whole.requests[i]);
  }
  // A shorter list of requests ends in an error: the limits refused the next one.
  if (limited.requests.size() < whole.requests.size()) FUZZ_CHECK(limited.error_status != 0);
  return 0;
}
