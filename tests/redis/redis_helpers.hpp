#pragma once
// What the Redis suites share: client options for a test server, and one command run to its end.

#include <bcast/redis/client.hpp>
#include <bcast/redis/options.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::test {

// Reconnects fast, so that a test that restarts Redis need not wait.
inline redis::options opts(const std::string& url) {
  using namespace std::chrono_literals;
  auto o = redis::parse_url(url);
  REQUIRE_OK(o);
  o->backoff.initial = 20ms;
  o->backoff.max = 200ms;
  return o.value();
}

// Runs one command to completion.
inline core::result<redis::reply> call(core::loop& l, redis::client& c,
                                       std::initializer_list<std::string_view> args) {
  std::optional<core::result<redis::reply>> out;
  c.command(args, [&](core::result<redis::reply> r) { out.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  return std::move(*out);
}

}  // namespace bcast::test
