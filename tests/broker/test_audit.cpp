// The audit log in a real Redis (broker/audit.hpp): what an entry holds, paging newest first with
// cursors, the length cap, the age trim, and which token uses are sampled.

#include <bcast/broker/audit.hpp>
#include <bcast/broker/keys.hpp>

#include "broker_helpers.hpp"

#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

struct audit_fixture {
  test::redis_server server;
  core::loop l;
  redis::client c{l, test::broker_opts(server.url())};
  broker::audit_log log{c};

  void record(std::string actor, std::string_view action, std::string message_id = {}) {
    auto e = broker::audit_event(std::move(actor), action, "192.0.2.7");
    e.message_id = std::move(message_id);
    e.result = "ok";
    log.record(std::move(e));
  }

  broker::audit_page page(std::size_t limit, const std::string& before = {}) {
    auto r = test::await_answer<core::result<broker::audit_page>>(
        l, [&](auto cb) { log.page(limit, before, std::move(cb)); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }

  long long length() {
    auto r = test::run_command(l, c, {"XLEN", broker::audit_key()});
    REQUIRE_OK(r);
    return r->integer;
  }
};

}  // namespace

TEST_CASE("audit log: an entry reads back as it was recorded, with an id and a time") {
  audit_fixture f;
  auto e = broker::audit_event("admin", broker::audit_action::send, "192.0.2.7");
  e.message_id = "01JD0000000000000000000000";
  e.result = "ok";
  e.detail = "to all";
  f.log.record(e);
  f.log.record_escalation("01JD0000000000000000000001", "failed", "exit 3");
  const auto p = f.page(10);
  REQUIRE(p.entries.size() == 2);
  CHECK(p.next.empty());
  const auto& escalation = p.entries[0];
  CHECK(escalation.action == "escalation");
  CHECK(escalation.actor == "publisherd");
  CHECK(escalation.address.empty());
  CHECK(escalation.message_id == "01JD0000000000000000000001");
  CHECK(escalation.result == "failed");
  CHECK(escalation.detail == "exit 3");
  auto sent = p.entries[1];
  CHECK(broker::is_audit_cursor(sent.id));
  CHECK(message::parse_time(sent.at).has_value());
  e.id = sent.id;
  e.at = sent.at;
  CHECK(sent == e);

  const auto j = broker::to_json(escalation);
  CHECK(j["address"].is_null());
  CHECK(j["message_id"] == "01JD0000000000000000000001");
  CHECK(broker::describe(sent) ==
        "audit: send by \"admin\" from 192.0.2.7, message 01JD0000000000000000000000: ok (to all)");
}

TEST_CASE("audit log: pages newest first; the cursor goes on where a page ended, null at the end") {
  audit_fixture f;
  for (int i = 0; i < 7; ++i) f.record("u" + std::to_string(i), broker::audit_action::login);
  std::vector<std::string> actors;
  std::string before;
  int pages = 0;
  for (;;) {
    auto p = f.page(3, before);
    ++pages;
    for (const auto& e : p.entries) actors.push_back(e.actor);
    if (p.next.empty()) break;
    CHECK(p.entries.size() == 3);
    CHECK(p.next == p.entries.back().id);
    before = p.next;
  }
  CHECK(pages == 3);
  CHECK(actors == std::vector<std::string>{"u6", "u5", "u4", "u3", "u2", "u1", "u0"});
  // A page that ends exactly at the oldest entry has no next.
  CHECK(f.page(7).next.empty());
  CHECK(f.page(6).next == f.page(6).entries.back().id);
}

TEST_CASE("audit log: the length cap holds, exactly for a small cap") {
  audit_fixture f;
  f.log.set_settings({.max_entries = 4, .max_age = std::chrono::days(1)});
  for (int i = 0; i < 30; ++i) f.record("u" + std::to_string(i), broker::audit_action::send);
  f.page(1);  // after every write
  CHECK(f.length() == 4);
  CHECK(f.page(10).entries.front().actor == "u29");
}

TEST_CASE("audit log: entries older than max_age are trimmed by the next write") {
  audit_fixture f;
  // An entry from 2001, as if written long ago.
  REQUIRE_OK(test::run_command(
      f.l, f.c,
      {"XADD", broker::audit_key(), "1000000000000-0", "at", "2001-09-09T01:46:40.000Z", "actor",
       "old", "action", "login", "result", "ok"}));
  f.record("new", broker::audit_action::login);
  f.page(1);
  const auto p = f.page(10);
  REQUIRE(p.entries.size() == 1);
  CHECK(p.entries[0].actor == "new");
}

TEST_CASE("audit log: a cursor is <ms>-<seq> in decimal") {
  CHECK(broker::is_audit_cursor("1700000000000-0"));
  CHECK(broker::is_audit_cursor("0-12"));
  for (const auto* bad : {"", "-", "1-", "-1", "1700000000000", "01JD0000000000000000000000",
                          "1-2-3", "a-1", "1-x", "+", "(1-0", "123456789012345678901-0"}) {
    INFO(bad);
    CHECK_FALSE(broker::is_audit_cursor(bad));
  }
}

TEST_CASE("audit log: a sampled event is recorded once per interval, each key on its own") {
  broker::audit_sampler sample(1min);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(sample.due("ci", t0));
  CHECK_FALSE(sample.due("ci", t0 + 1s));
  CHECK_FALSE(sample.due("ci", t0 + 59s));
  CHECK(sample.due("deploy", t0 + 59s));
  CHECK(sample.due("ci", t0 + 60s));
  CHECK_FALSE(sample.due("ci", t0 + 61s));
}
