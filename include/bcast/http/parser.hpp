#pragma once
// An incremental HTTP/1.1 request parser on http-parser 2.9 with the server's limits applied while
// bytes arrive: a long request target is refused before it is buffered, a too large body is refused
// from its Content-Length (or chunk sizes) before it is read. The parser stops after each complete
// request, so the caller handles pipelined requests one at a time, outside the C callbacks.

#include <bcast/core/text.hpp>
#include <bcast/http/headers.hpp>
#include <bcast/http/message.hpp>
#include <bcast/http/url.hpp>

#include <http_parser.h>

// 2.9.3 refuses a request that carries both Content-Length and Transfer-Encoding: chunked, and
// codings other than a final "chunked"; older versions let such requests smuggle a second request
// past a proxy.
static_assert(HTTP_PARSER_VERSION_MAJOR > 2 ||
                  (HTTP_PARSER_VERSION_MAJOR == 2 &&
                   (HTTP_PARSER_VERSION_MINOR > 9 ||
                    (HTTP_PARSER_VERSION_MINOR == 9 && HTTP_PARSER_VERSION_PATCH >= 3))),
              "bcast needs http-parser 2.9.3 or newer");

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::http {

struct parser_limits {
  std::size_t max_url_bytes = 8 * 1024;      // request target; past it: 414
  std::size_t max_header_bytes = 16 * 1024;  // all field names and values; past it: 431
  std::size_t max_header_count = 100;        // past it: 431
  std::size_t max_body_bytes = 64 * 1024;    // past it: 413
};

// Codes and messages are string literals, so recording an error cannot itself fail.
struct parse_error {
  int status = 0;
  std::string_view code;
  std::string_view message;
};

class request_parser {
 public:
  enum class state { need_more, message, error };

  explicit request_parser(parser_limits limits = {}) : limits_(limits) { reset(); }
  // http_parser keeps a pointer back to this object.
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;

  void reset() {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    state_ = state::need_more;
    error_ = {};
    current_ = request{};
    message_ready_ = in_message_ = headers_done_ = expect_continue_ = upgrade_ = false;
  }

  void set_limits(parser_limits limits) noexcept { limits_ = limits; }
  const parser_limits& limits() const noexcept { return limits_; }

  // Parses up to the end of one request. Returns the bytes consumed; then state() says whether a
  // request is ready to take(), more bytes are needed, or the input is unusable.
  std::size_t feed(std::string_view data) {
    if (state_ != state::need_more || data.empty()) return 0;
    std::size_t n = http_parser_execute(&parser_, &settings(), data.data(), data.size());
    if (message_ready_) {
      state_ = state::message;
    } else if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) {
      if (error_.status == 0) error_ = map_error(HTTP_PARSER_ERRNO(&parser_));
      state_ = state::error;
      in_message_ = true;  // whatever was underway is not a complete request
    }
    return n;
  }

  state status() const noexcept { return state_; }
  const parse_error& error() const noexcept { return error_; }

  // The complete request; parsing may then continue with the bytes after it.
  request take() {
    request out = std::move(current_);
    current_ = request{};
    message_ready_ = false;
    state_ = state::need_more;
    http_parser_pause(&parser_, 0);
    return out;
  }

  // The request being parsed, as far as it got (for logging a refused request).
  const request& current() const noexcept { return current_; }

  // A request has begun (its first byte arrived) and is not complete yet.
  bool in_message() const noexcept { return in_message_; }
  // The current request's headers are complete and its body is being read.
  bool headers_done() const noexcept { return headers_done_; }
  // The current request sent "Expect: 100-continue" and its body has not fully arrived.
  bool expects_continue() const noexcept { return expect_continue_ && in_message_; }
  // The last complete request was an Upgrade or CONNECT: what follows it is not HTTP/1.1.
  bool upgrade() const noexcept { return upgrade_; }

 private:
  static const http_parser_settings& settings() {
    static const http_parser_settings s = [] {
      http_parser_settings x{};
      x.on_message_begin = [](http_parser* p) { return self(p).on_message_begin(); };
      x.on_url = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_url(at, n);
      };
      x.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_field(at, n);
      };
      x.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_value(at, n);
      };
      x.on_headers_complete = [](http_parser* p) { return self(p).on_headers_complete(); };
      x.on_body = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_body(at, n);
      };
      x.on_message_complete = [](http_parser* p) { return self(p).on_message_complete(); };
      x.on_chunk_header = [](http_parser* p) { return self(p).on_chunk_header(); };
      return x;
    }();
    return s;
  }

  static request_parser& self(http_parser* p) noexcept {
    return *static_cast<request_parser*>(p->data);
  }

  // A non-zero return stops http_parser with HPE_CB_*; error_ then says why.
  int fail(int status, std::string_view code, std::string_view message) noexcept {
    if (error_.status == 0) error_ = {status, code, message};
    return -1;
  }

  // Every callback runs inside http_parser_execute: nothing may throw through it.
  template <class Fn>
  int guarded(Fn&& fn) noexcept {
    try {
      return fn();
    } catch (...) {
      return fail(500, "internal_error", "the server could not buffer the request");
    }
  }

  int on_message_begin() noexcept {
    return guarded([&] {
      current_ = request{};
      current_.started = std::chrono::steady_clock::now();
      field_.clear();
      value_.clear();
      header_bytes_ = 0;
      last_was_value_ = false;
      in_message_ = true;
      headers_done_ = expect_continue_ = upgrade_ = false;
      return 0;
    });
  }

  int on_url(const char* at, std::size_t n) noexcept {
    if (current_.target.size() + n > limits_.max_url_bytes)
      return fail(414, "uri_too_long", "the request target is too long");
    return guarded([&] {
      if (current_.method.empty())
        current_.method = http_method_str(static_cast<http_method>(parser_.method));
      current_.target.append(at, n);
      return 0;
    });
  }

  int count_header_bytes(std::size_t n) noexcept {
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes)
      return fail(431, "headers_too_large", "the request headers are too large");
    return 0;
  }

  void commit_header() {
    if (field_.empty() && value_.empty()) return;
    current_.headers.add(std::move(field_), std::string(trim(value_)));
    field_.clear();
    value_.clear();
  }

  // Trailer fields after a chunked body come through these callbacks too. They are counted
  // against the header limit and dropped: merged into the headers, they would let a client set
  // fields (Content-Type, X-Forwarded-For) after every check that read the headers had run.
  int on_header_field(const char* at, std::size_t n) noexcept {
    if (count_header_bytes(n) != 0) return -1;
    if (headers_done_) return 0;
    return guarded([&] {
      if (last_was_value_) {
        commit_header();
        last_was_value_ = false;
      }
      if (field_.empty() && current_.headers.size() >= limits_.max_header_count)
        return fail(431, "headers_too_large", "the request has too many header fields");
      field_.append(at, n);
      return 0;
    });
  }

  int on_header_value(const char* at, std::size_t n) noexcept {
    if (count_header_bytes(n) != 0) return -1;
    if (headers_done_) return 0;
    return guarded([&] {
      value_.append(at, n);
      last_was_value_ = true;
      return 0;
    });
  }

  // Splits the request target into path and query; false when it cannot be a path.
  bool split_target() {
    request& r = current_;
    std::string_view target = r.target;
    std::string_view path;
    std::string_view query;
    if (!target.empty() && target.front() == '/') {
      std::size_t end = target.find_first_of("?#");
      path = target.substr(0, end);
      if (end != std::string_view::npos && target[end] == '?') {
        query = target.substr(end + 1);
        query = query.substr(0, query.find('#'));
      }
    } else if (target == "*") {
      path = target;
    } else if (parser_.method == HTTP_CONNECT) {
      path = {};
    } else {
      http_parser_url u;
      http_parser_url_init(&u);
      if (http_parser_parse_url(target.data(), target.size(), 0, &u) != 0) return false;
      path = "/";
      if (u.field_set & (1 << UF_PATH))
        path = target.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
      if (u.field_set & (1 << UF_QUERY))
        query = target.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    }
    auto decoded = core::percent_decode(path);
    if (!decoded || decoded->find('\0') != std::string::npos) return false;
    r.raw_path.assign(path);
    r.path = std::move(*decoded);
    r.raw_query.assign(query);
    r.query = parse_query(query);
    return true;
  }

  int on_headers_complete() noexcept {
    return guarded([&] {
      commit_header();
      request& r = current_;
      r.method = http_method_str(static_cast<http_method>(parser_.method));
      r.http_major = parser_.http_major;
      r.http_minor = parser_.http_minor;
      r.keep_alive = http_should_keep_alive(&parser_) != 0;
      if (!split_target()) return fail(400, "bad_request", "malformed request target");
      auto te = r.headers.get_all("Transfer-Encoding");
      if (!te.empty()) {
        // Only plain "chunked": any other coding would hand the handler bytes it cannot read.
        if (te.size() != 1 || !iequals(trim(te[0]), "chunked"))
          return fail(501, "not_implemented", "unsupported Transfer-Encoding");
      }
      if ((parser_.flags & F_CONTENTLENGTH) && parser_.content_length > limits_.max_body_bytes)
        return fail(413, "payload_too_large", "the request body is too large");
      if (auto expect = r.headers.get("Expect")) {
        if (!iequals(trim(*expect), "100-continue"))
          return fail(417, "expectation_failed", "unsupported Expect header");
        expect_continue_ = r.http_major == 1 && r.http_minor >= 1;
      }
      headers_done_ = true;
      return 0;
    });
  }

  int on_chunk_header() noexcept {
    if (parser_.content_length > limits_.max_body_bytes - current_.body.size())
      return fail(413, "payload_too_large", "the request body is too large");
    return 0;
  }

  int on_body(const char* at, std::size_t n) noexcept {
    if (n > limits_.max_body_bytes - current_.body.size())
      return fail(413, "payload_too_large", "the request body is too large");
    return guarded([&] {
      current_.body.append(at, n);
      return 0;
    });
  }

  int on_message_complete() noexcept {
    message_ready_ = true;
    in_message_ = headers_done_ = expect_continue_ = false;
    upgrade_ = parser_.upgrade != 0;
    // Stop here: the caller takes this request before the next one is parsed.
    http_parser_pause(&parser_, 1);
    return 0;
  }

  static parse_error map_error(http_errno e) noexcept {
    switch (e) {
      case HPE_HEADER_OVERFLOW:
        return {431, "headers_too_large", "the request headers are too large"};
      case HPE_INVALID_METHOD:
        return {400, "bad_request", "malformed request: invalid method"};
      case HPE_INVALID_URL:
        return {400, "bad_request", "malformed request: invalid request target"};
      case HPE_INVALID_VERSION:
        return {400, "bad_request", "malformed request: invalid HTTP version"};
      case HPE_INVALID_CONTENT_LENGTH:
      case HPE_UNEXPECTED_CONTENT_LENGTH:
        return {400, "bad_request", "malformed request: invalid Content-Length"};
      case HPE_INVALID_TRANSFER_ENCODING:
        return {400, "bad_request", "malformed request: invalid Transfer-Encoding"};
      case HPE_INVALID_CHUNK_SIZE:
        return {400, "bad_request", "malformed request: invalid chunk size"};
      case HPE_INVALID_HEADER_TOKEN:
        return {400, "bad_request", "malformed request: invalid header"};
      default:
        return {400, "bad_request", "malformed request"};
    }
  }

  parser_limits limits_;
  http_parser parser_{};
  state state_ = state::need_more;
  parse_error error_;
  request current_;
  std::string field_;
  std::string value_;
  std::size_t header_bytes_ = 0;
  bool last_was_value_ = false;
  bool message_ready_ = false;
  bool in_message_ = false;
  bool headers_done_ = false;
  bool expect_continue_ = false;
  bool upgrade_ = false;
};

}  // namespace bcast::http
