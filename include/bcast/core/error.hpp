#pragma once
// Error and result types. Async failures travel as values, never as exceptions across C callbacks.

#include <uv.h>

#include <concepts>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace bcast::core {

enum class errc {
  timeout = 1,
  closed,
  backpressure,
  limit_exceeded,
  protocol_error,
  not_connected,
  queue_full,
  cancelled,
  tls_error,
  invalid_argument,
  auth_failed,
  server_error,
  conflict,  // the thing exists and belongs to someone else
};

}  // namespace bcast::core

template <>
struct std::is_error_code_enum<bcast::core::errc> : std::true_type {};

namespace bcast::core {

class bcast_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bcast"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::timeout:
        return "timed out";
      case errc::closed:
        return "connection closed";
      case errc::backpressure:
        return "too many bytes queued for writing";
      case errc::limit_exceeded:
        return "limit exceeded";
      case errc::protocol_error:
        return "protocol error";
      case errc::not_connected:
        return "not connected";
      case errc::queue_full:
        return "queue full";
      case errc::cancelled:
        return "cancelled";
      case errc::tls_error:
        return "TLS error";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::auth_failed:
        return "authentication failed";
      case errc::server_error:
        return "server error";
      case errc::conflict:
        return "conflict";
    }
    return "unknown bcast error";
  }
};

inline const std::error_category& bcast_category() noexcept {
  static const bcast_category_impl category;
  return category;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), bcast_category()};
}

class uv_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libuv"; }
  std::string message(int code) const override { return uv_strerror(code); }
};

inline const std::error_category& uv_category() noexcept {
  static const uv_category_impl category;
  return category;
}

// libuv reports failures as negative errno values.
inline std::error_code uv_error(int status) noexcept {
  return {status, uv_category()};
}

// An error code plus the human detail that a code alone cannot carry (a Redis error line, an
// OpenSSL reason, the field that failed validation).
class error {
 public:
  error() = default;
  error(std::error_code code) : code_(code) {}        // NOLINT: implicit on purpose
  error(errc code) : code_(make_error_code(code)) {}  // NOLINT
  error(std::error_code code, std::string detail) : code_(code), detail_(std::move(detail)) {}
  error(errc code, std::string detail) : code_(make_error_code(code)), detail_(std::move(detail)) {}

  const std::error_code& code() const noexcept { return code_; }
  const std::string& detail() const noexcept { return detail_; }
  explicit operator bool() const noexcept { return static_cast<bool>(code_); }
  bool operator==(errc e) const noexcept { return code_ == make_error_code(e); }

  // "connection closed: <detail>", or just the code's text.
  std::string message() const {
    if (detail_.empty()) return code_.message();
    return code_.message() + ": " + detail_;
  }

 private:
  std::error_code code_;
  std::string detail_;
};

// A value, or why there is none. E is core::error for everything that talks to the outside; a
// layer whose refusals carry more (a request field, an HTTP status) names its own E.
template <class T, class E = error>
class [[nodiscard]] result {
 public:
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  result(E e) : state_(std::in_place_index<1>, std::move(e)) {}          // NOLINT
  result(errc e)                                                         // NOLINT
      requires std::same_as<E, error> : state_(std::in_place_index<1>, error(e)) {}
  result(std::error_code e)  // NOLINT
      requires std::same_as<E, error> : state_(std::in_place_index<1>, error(e)) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& err() const& { return std::get<1>(state_); }

 private:
  std::variant<T, E> state_;
};

template <>
class [[nodiscard]] result<void, error> {
 public:
  result() = default;
  result(error e) : error_(std::move(e)) {}  // NOLINT
  result(errc e) : error_(e) {}              // NOLINT
  result(std::error_code e) : error_(e) {}   // NOLINT

  bool ok() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return ok(); }
  const error& err() const& { return error_; }

 private:
  error error_;
};

}  // namespace bcast::core
