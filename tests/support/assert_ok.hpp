#pragma once
// REQUIRE_OK(r) / CHECK_OK(r): the result `r` holds a value; when it holds an error instead, the
// failure prints the error.

#include <catch2/catch.hpp>

#include <string>

namespace bcast::test {

template <class Result>
std::string error_text(const Result& r) {
  if (r.ok()) return {};
  if constexpr (requires { r.err().message(); }) {
    return r.err().message();
  } else if constexpr (requires { std::string(r.err().message); }) {
    return r.err().message;  // message::validation_error
  } else {
    return "an error";
  }
}

}  // namespace bcast::test

#define BCAST_ASSERT_OK(assertion, ...)                                                          \
  do {                                                                                           \
    const auto& bcast_checked_result = (__VA_ARGS__);                                            \
    INFO(#__VA_ARGS__ << " holds the error: " << bcast::test::error_text(bcast_checked_result)); \
    assertion(bcast_checked_result.ok());                                                        \
  } while (false)
#define REQUIRE_OK(...) BCAST_ASSERT_OK(REQUIRE, __VA_ARGS__)
#define CHECK_OK(...) BCAST_ASSERT_OK(CHECK, __VA_ARGS__)
