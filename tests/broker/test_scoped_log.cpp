// The message log read for a user limited to target patterns: full pages of what they may see,
// with bounded work per request.

#include <bcast/auth/permissions.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/publish.hpp>

#include "broker_helpers.hpp"

#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;

namespace {

using page_result = core::result<broker::message_page>;

struct log_fixture {
  test::redis_server server;
  core::loop l;
  redis::client c{l, test::broker_opts(server.url())};
  broker::publisher pub{c};
  broker::message_log log{c};

  void send(std::vector<std::string> targets, std::string title) {
    auto e = test::make_test_envelope(std::move(targets), std::move(title));
    auto r = test::await_answer<core::result<broker::publish_outcome>>(
        l, [&](auto done) { pub.publish(e, done); });
    REQUIRE_OK(r);
  }

  page_result list(std::size_t limit, const std::string& before, const auth::read_scope& scope,
                   std::size_t budget = broker::message_log::default_scan_budget) {
    broker::message_log::visibility visible;
    if (!scope.unlimited())
      visible = [&scope](const message::envelope& e) { return scope.sees_message(e.targets); };
    return test::await_answer<page_result>(
        l, [&](auto done) { log.list(limit, before, visible, done, budget); });
  }
};

std::vector<std::string> titles(const broker::message_page& p) {
  std::vector<std::string> out;
  for (const auto& m : p.messages) out.push_back(m.envelope.title);
  return out;
}

}  // namespace

TEST_CASE("scoped log: a limited reader gets full pages of only what it may see", "[scope]") {
  log_fixture f;
  // Oldest first: j0, then nine others, j1, nine others, j2, ...
  for (int i = 0; i < 40; ++i) {
    if (i % 10 == 0)
      f.send({"region:jateng", "store:s1"}, std::string("j") + std::to_string(i / 10));
    else if (i % 10 == 5)
      f.send({"region:jateng", "region:jabar"}, std::string("mixed") + std::to_string(i / 10));
    else
      f.send({"all"}, std::string("all") + std::to_string(i));
  }
  const std::vector<std::string> patterns{"region:jateng", "store:*"};
  const auth::read_scope jateng(patterns);

  auto first = f.list(2, "", jateng);
  REQUIRE_OK(first);
  CHECK(titles(*first) == std::vector<std::string>{"j3", "j2"});
  CHECK(first->next_before.empty());
  auto second = f.list(2, first->messages.back().envelope.id, jateng);
  REQUIRE_OK(second);
  CHECK(titles(*second) == std::vector<std::string>{"j1", "j0"});
  auto rest = f.list(2, second->messages.back().envelope.id, jateng);
  REQUIRE_OK(rest);
  CHECK(rest->messages.empty());
  CHECK(rest->next_before.empty());  // the log ended: nothing more to read

  // Everything: one page, as before.
  auto all = f.list(3, "", auth::read_scope::everything());
  REQUIRE_OK(all);
  CHECK(titles(*all) == std::vector<std::string>{"all39", "all38", "all37"});

  // A reader with no patterns that match sees nothing, and the whole log is read to say so.
  const std::vector<std::string> elsewhere{"region:bali"};
  auto none = f.list(5, "", auth::read_scope(elsewhere));
  REQUIRE_OK(none);
  CHECK(none->messages.empty());
  CHECK(none->next_before.empty());
}

TEST_CASE("scoped log: the scan stops at its budget and says where to read on", "[scope]") {
  log_fixture f;
  for (int i = 0; i < 30; ++i)
    f.send({i % 10 == 0 ? "region:jateng" : "all"}, std::string("m") + std::to_string(i));
  const std::vector<std::string> patterns{"region:jateng"};
  const auth::read_scope jateng(patterns);

  // 12 records read: m29..m18 holds m20 only.
  auto first = f.list(3, "", jateng, 12);
  REQUIRE_OK(first);
  CHECK(titles(*first) == std::vector<std::string>{"m20"});
  REQUIRE_FALSE(first->next_before.empty());
  auto second = f.list(3, first->next_before, jateng, 12);
  REQUIRE_OK(second);
  CHECK(titles(*second) == std::vector<std::string>{"m10"});  // m17..m6
  auto third = f.list(3, second->next_before, jateng, 12);
  REQUIRE_OK(third);
  CHECK(titles(*third) == std::vector<std::string>{"m0"});  // m5..m0, and the log ends
  CHECK(third->next_before.empty());

  // A budget never stops a page short of `limit` records read.
  auto everything = f.list(20, "", auth::read_scope::everything(), 1);
  REQUIRE_OK(everything);
  CHECK(everything->messages.size() == 20);
}
