#pragma once
// Requests and responses as plain values, plus the JSON helpers every API route uses. The error
// shape is the API's (README): {"error":"<code>","message":"<human text>"} plus "field" when one field is to
// blame.

#include <bcast/http/cookies.hpp>
#include <bcast/http/headers.hpp>
#include <bcast/http/url.hpp>
#include <bcast/net/stream.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::http {

// What the server knows about the connection a request came on.
struct connection_info {
  std::uint64_t id = 0;
  std::string listener;      // the listener's name: "127.0.0.1:8080", "unix:/run/bcast.sock"
  std::string peer_address;  // "127.0.0.1:50312", "[::1]:50312", or "unix"
  bool is_tls = false;
  bool is_unix = false;
  std::optional<net::peer_credentials> credentials;  // Unix sockets only (SO_PEERCRED)
};

namespace detail {
inline const std::shared_ptr<const connection_info>& no_connection() {
  static const auto none = std::make_shared<const connection_info>();
  return none;
}
}  // namespace detail

struct request {
  std::string method;     // "GET"
  std::string target;     // the request-target as sent: "/api/v1/messages?limit=10"
  std::string raw_path;   // still percent-encoded: "/api/v1/messages"
  std::string path;       // percent-decoded
  std::string raw_query;  // "limit=10"
  param_map query;        // decoded query parameters
  header_map headers;
  std::string body;
  unsigned http_major = 1;
  unsigned http_minor = 1;
  bool keep_alive = true;
  param_map params;   // route parameters, set by the router: {id} in /api/v1/messages/{id}
  std::string route;  // the matched route pattern, for logs and metrics; empty when none matched
  std::shared_ptr<const connection_info> connection = detail::no_connection();
  std::chrono::steady_clock::time_point started{};  // first byte of the request

  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return headers.get(name);
  }
  std::optional<std::string_view> query_param(std::string_view name) const noexcept {
    return query.get(name);
  }
  std::optional<std::string_view> param(std::string_view name) const noexcept {
    return params.get(name);
  }
  // The first cookie called `name` over all Cookie fields.
  std::optional<std::string> cookie(std::string_view name) const {
    for (std::string_view field : headers.get_all("Cookie"))
      if (auto v = find_cookie(field, name)) return v;
    return std::nullopt;
  }
  // The body parsed as JSON; nullopt when it is not valid JSON. Never throws.
  std::optional<nlohmann::json> json() const {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  bool is_tls() const noexcept { return connection->is_tls; }
  bool is_unix() const noexcept { return connection->is_unix; }
  const std::string& peer_address() const noexcept { return connection->peer_address; }
  const std::string& listener() const noexcept { return connection->listener; }
  const std::optional<net::peer_credentials>& credentials() const noexcept {
    return connection->credentials;
  }
};

inline std::string_view status_reason(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      break;
  }
  if (status >= 100 && status < 200) return "Informational";
  if (status >= 200 && status < 300) return "Success";
  if (status >= 300 && status < 400) return "Redirection";
  if (status >= 400 && status < 500) return "Client Error";
  return "Server Error";
}

// Serialises JSON without throwing on invalid UTF-8 (it is replaced), since a response is built
// inside callbacks where an exception must not escape.
inline std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct response {
  int status = 200;
  header_map headers;
  std::string body;

  response() = default;
  explicit response(int status_code) : status(status_code) {}

  static response text(int status, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8") {
    response r(status);
    r.headers.add("Content-Type", std::string(content_type));
    r.body = std::move(body);
    return r;
  }

  static response json(int status, const nlohmann::json& body) {
    response r(status);
    r.headers.add("Content-Type", "application/json");
    r.body = dump_json(body);
    return r;
  }

  // {"error":code,"message":message} plus "field" when given.
  static response error(int status, std::string_view code, std::string_view message,
                        std::string_view field = {}) {
    nlohmann::json j = {{"error", code}, {"message", message}};
    if (!field.empty()) j["field"] = field;
    return json(status, j);
  }

  static response no_content() { return response(204); }

  static response redirect(int status, std::string location) {
    response r(status);
    r.headers.add("Location", std::move(location));
    return r;
  }

  response& set_header(std::string name, std::string value) {
    headers.set(std::move(name), std::move(value));
    return *this;
  }
  response& add_header(std::string name, std::string value) {
    headers.add(std::move(name), std::move(value));
    return *this;
  }

  // Adds a Set-Cookie field; false (and nothing added) when the name or value is not valid
  // cookie syntax.
  [[nodiscard]] bool set_cookie(std::string_view name, std::string_view value,
                                const cookie_options& options = {}) {
    auto field = format_set_cookie(name, value, options);
    if (!field) return false;
    headers.add("Set-Cookie", std::move(*field));
    return true;
  }

  // Tells the browser to forget a cookie; `options` must carry the same Path and Domain.
  response& clear_cookie(std::string_view name, cookie_options options = {}) {
    options.max_age = std::chrono::seconds(0);
    if (auto field = format_set_cookie(name, "", options))
      headers.add("Set-Cookie", std::move(*field));
    return *this;
  }
};

}  // namespace bcast::http
