#pragma once
// bcastctl's one HTTP exchange with publisherd over its Unix socket. A CLI may block, so this is a
// plain blocking socket; the response is parsed with http-parser, like the server's requests.

#include <http_parser.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace bcastctl {

struct http_response {
  int status = 0;
  std::string body;
};

struct http_failure {
  std::string message;
};

inline std::variant<http_response, http_failure> unix_http(const std::string& socket_path, const std::string& method,
                                                           const std::string& target, const std::string& body = {}) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return http_failure{std::string("socket: ") + std::strerror(errno)};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return http_failure{"socket path too long: " + socket_path};
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return http_failure{"cannot reach publisherd at " + socket_path + ": " + why};
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
                        "Accept: application/json\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return http_failure{"writing to publisherd: " + why};
    }
    sent += static_cast<std::size_t>(n);
  }

  struct parse_state {
    http_response response;
    bool complete = false;
  } state;
  http_parser parser;
  http_parser_init(&parser, HTTP_RESPONSE);
  parser.data = &state;
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_body = [](http_parser* p, const char* at, size_t len) {
    static_cast<parse_state*>(p->data)->response.body.append(at, len);
    return 0;
  };
  settings.on_message_complete = [](http_parser* p) {
    auto* s = static_cast<parse_state*>(p->data);
    s->response.status = static_cast<int>(p->status_code);
    s->complete = true;
    return 0;
  };
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return http_failure{"reading from publisherd: " + why};
    }
    http_parser_execute(&parser, &settings, buf, static_cast<std::size_t>(n));
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) {
      ::close(fd);
      return http_failure{std::string("bad response from publisherd: ") + http_errno_description(HTTP_PARSER_ERRNO(&parser))};
    }
    if (state.complete || n == 0) break;
  }
  ::close(fd);
  if (!state.complete) return http_failure{"publisherd closed the connection without a complete response"};
  return state.response;
}

}  // namespace bcastctl
