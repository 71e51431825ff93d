#pragma once
// Shared by the broker suites: Redis options for a test server, one command run to completion,
// and envelopes.

#include <bcast/broker/keys.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/redis/client.hpp>
#include <bcast/redis/options.hpp>

#include <catch2/catch.hpp>
#include <support/assert_ok.hpp>
#include <support/test_support.hpp>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcast::test {

inline redis::options broker_opts(const std::string& url) {
  auto o = redis::parse_url(url);
  REQUIRE_OK(o);
  o->backoff.initial = std::chrono::milliseconds(20);
  o->backoff.max = std::chrono::milliseconds(200);
  return o.value();
}

inline core::result<redis::reply> run_command(core::loop& l, redis::client& c,
                                              const std::vector<std::string>& args) {
  std::optional<core::result<redis::reply>> out;
  c.command(args, [&](core::result<redis::reply> r) { out.emplace(std::move(r)); });
  REQUIRE(run_until(l, [&] { return out.has_value(); }));
  return std::move(*out);
}

inline message::ulid_generator& test_ids() {
  static message::ulid_generator ids;
  return ids;
}

inline message::envelope make_test_envelope(std::vector<std::string> targets,
                                            std::string title = "Halo") {
  message::envelope e;
  e.id = test_ids().next().value();
  e.targets = std::move(targets);
  e.category = "announcement";
  e.title = std::move(title);
  e.body = "Toko buka jam 7.";
  e.sent_at = message::format_time(std::chrono::system_clock::now());
  e.sender = "admin";
  return e;
}

// The envelopes in `target`'s history, oldest first.
inline std::vector<message::envelope> history_envelopes(core::loop& l, redis::client& c,
                                                        const std::string& target) {
  auto r = run_command(l, c, {"XRANGE", broker::history_key(target), "-", "+"});
  REQUIRE_OK(r);
  std::vector<message::envelope> out;
  for (const auto& entry : r->elements) {
    const auto& fields = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str != "env") continue;
      auto e = message::decode(fields[i + 1].str);
      REQUIRE_OK(e);
      out.push_back(std::move(e).value());
    }
  }
  return out;
}

// Starts asynchronous work whose callback takes an R, and runs the loop until it has answered.
template <class R, class Start>
R await_answer(core::loop& l, Start&& start) {
  std::optional<R> out;
  start([&out](R r) { out.emplace(std::move(r)); });
  REQUIRE(run_until(l, [&] { return out.has_value(); }));
  return std::move(*out);
}

}  // namespace bcast::test
