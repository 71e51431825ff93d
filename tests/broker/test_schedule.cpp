// The schedule in a real Redis (broker/schedule.hpp): claims are atomic and leased, a cancel
// loses to a claim, the list is soonest first, and the runner sends what is due.

#include <bcast/broker/keys.hpp>
#include <bcast/broker/schedule.hpp>

#include "broker_helpers.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;
using broker::schedule;

namespace {

message::envelope draft(std::vector<std::string> targets, std::string title) {
  message::envelope e;
  e.targets = std::move(targets);
  e.category = "announcement";
  e.title = std::move(title);
  e.body = "Isi pesan.";
  return e;
}

struct schedule_fixture {
  test::redis_server server;
  core::loop l;
  redis::client c{l, test::broker_opts(server.url())};
  schedule s{c};
  message::time_point now = std::chrono::time_point_cast<message::time_point::duration>(
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));

  broker::scheduled_message add(message::time_point send_at, std::string title = "Halo",
                                std::vector<std::string> targets = {"all"}) {
    auto m =
        broker::make_scheduled(draft(std::move(targets), std::move(title)), "admin", send_at, now);
    REQUIRE_OK(m);
    auto added =
        test::await_answer<core::result<void>>(l, [&](auto cb) { s.add(*m, std::move(cb)); });
    REQUIRE_OK(added);
    return std::move(m).value();
  }

  schedule::claim claim(message::time_point at, std::size_t most = 100,
                        std::chrono::milliseconds lease = 30s) {
    auto r = test::await_answer<core::result<schedule::claim>>(
        l, [&](auto cb) { s.claim_due(at, lease, most, std::move(cb)); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }

  std::vector<broker::scheduled_message> list(std::size_t limit = 100,
                                              schedule::visibility visible = {},
                                              std::size_t budget = schedule::default_scan_budget) {
    auto r = test::await_answer<core::result<std::vector<broker::scheduled_message>>>(
        l, [&](auto cb) { s.list(limit, std::move(visible), std::move(cb), budget); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }

  schedule::cancel_outcome cancel(const std::string& id) {
    auto r = test::await_answer<core::result<schedule::cancel_outcome>>(
        l, [&](auto cb) { s.cancel(id, std::move(cb)); });
    REQUIRE_OK(r);
    return r.value();
  }

  std::optional<broker::scheduled_message> get(const std::string& id) {
    auto r = test::await_answer<core::result<std::optional<broker::scheduled_message>>>(
        l, [&](auto cb) { s.get(id, std::move(cb)); });
    REQUIRE_OK(r);
    return std::move(r).value();
  }
};

std::vector<std::string> ids_of(const std::vector<broker::scheduled_message>& list) {
  std::vector<std::string> out;
  for (const auto& m : list) out.push_back(m.envelope.id);
  return out;
}

}  // namespace

TEST_CASE("schedule: a message is made for its send_at, unsigned, and read back as it was filed") {
  schedule_fixture f;
  const auto at = f.now + 2h;
  const auto m = f.add(at, "Rapat", {"region:jateng", "store:s1"});
  CHECK(message::ulid_time_ms(m.envelope.id) == message::unix_ms(at));
  CHECK(m.envelope.sent_at == message::format_time(at));
  CHECK(m.envelope.sender == "admin");
  CHECK(m.envelope.sig.empty());

  const auto back = f.get(m.envelope.id);
  REQUIRE(back);
  CHECK(back->envelope == m.envelope);
  CHECK(back->send_at == at);
  CHECK(back->created_at == f.now);
  CHECK(back->created_by == "admin");
  CHECK(back->attempts == 0);
  CHECK_FALSE(f.get(test::test_ids().next().value()));
  CHECK_FALSE(f.get("not-an-id"));

  const auto j = broker::to_json(*back);
  CHECK(j["state"] == "scheduled");
  CHECK(j["send_at"] == message::format_time(at));
  CHECK(j["id"] == m.envelope.id);
  CHECK(j["title"] == "Rapat");
}

TEST_CASE("schedule: ids of messages scheduled out of order still carry their own send_at") {
  schedule_fixture f;
  const auto late = f.add(f.now + 48h);
  const auto soon = f.add(f.now + 1h);
  CHECK(message::ulid_time_ms(late.envelope.id) == message::unix_ms(f.now + 48h));
  CHECK(message::ulid_time_ms(soon.envelope.id) == message::unix_ms(f.now + 1h));
}

TEST_CASE("schedule: the list is soonest first, with the state of each, within the reader's view") {
  schedule_fixture f;
  const auto c = f.add(f.now + 3h, "C", {"region:jabar"});
  const auto a = f.add(f.now + 1h, "A", {"region:jateng"});
  const auto b = f.add(f.now + 2h, "B", {"store:s1"});
  const auto due = f.add(f.now - 1s, "due", {"region:jateng"});
  CHECK(ids_of(f.list()) ==
        std::vector<std::string>{due.envelope.id, a.envelope.id, b.envelope.id, c.envelope.id});

  // Claimed: it stays listed at its send_at (not at its lease's end), as being sent.
  REQUIRE(f.claim(f.now).messages.size() == 1);
  const auto listed = f.list();
  REQUIRE(listed.size() == 4);
  CHECK(listed[0].envelope.id == due.envelope.id);
  CHECK(listed[0].sending());
  CHECK(broker::to_json(listed[0])["state"] == "sending");
  CHECK_FALSE(listed[1].sending());

  CHECK(ids_of(f.list(2)) == std::vector<std::string>{due.envelope.id, a.envelope.id});
  // A reader who sees only region:jateng, scanning in small pages.
  const auto jateng = [](const message::envelope& e) {
    return e.targets == std::vector<std::string>{"region:jateng"};
  };
  CHECK(ids_of(f.list(10, jateng)) == std::vector<std::string>{due.envelope.id, a.envelope.id});
  CHECK(ids_of(f.list(1, jateng, 1)) == std::vector<std::string>{due.envelope.id});
}

TEST_CASE(
    "schedule: only what is due is claimed; a claim holds it for its lease, then it is due "
    "again with one more attempt") {
  schedule_fixture f;
  const auto due = f.add(f.now + 1s);
  f.add(f.now + 1h);

  auto first = f.claim(f.now);
  CHECK(first.messages.empty());
  CHECK(first.scheduled == 2);

  first = f.claim(f.now + 1s, 100, 30s);
  REQUIRE(first.messages.size() == 1);
  CHECK(first.messages[0].first == due.envelope.id);
  REQUIRE_OK(first.messages[0].second);
  CHECK(first.messages[0].second->attempts == 1);
  CHECK(first.messages[0].second->envelope == due.envelope);

  // Within the lease nobody else gets it.
  CHECK(f.claim(f.now + 2s).messages.empty());
  CHECK(f.claim(f.now + 30s).messages.empty());
  // The claimer died: once the lease is over it is claimed again, counted as a second attempt.
  const auto again = f.claim(f.now + 31s + 1ms);
  REQUIRE(again.messages.size() == 1);
  CHECK(again.messages[0].first == due.envelope.id);
  CHECK(again.messages[0].second->attempts == 2);
  CHECK(again.messages[0].second->envelope == due.envelope);

  // Done: gone from both keys.
  auto done = test::await_answer<core::result<void>>(
      f.l, [&](auto cb) { f.s.done(due.envelope.id, std::move(cb)); });
  REQUIRE_OK(done);
  CHECK_FALSE(f.get(due.envelope.id));
  CHECK(f.claim(f.now + 2h).messages.size() == 1);  // only the other one is left
  CHECK(test::run_command(f.l, f.c, {"ZSCORE", broker::schedule_due_key(), due.envelope.id})
            ->is_nil());
}

TEST_CASE("schedule: two claimers at once claim each due message exactly once") {
  schedule_fixture f;
  redis::client other(f.l, test::broker_opts(f.server.url()));
  schedule s2(other);
  std::set<std::string> all;
  for (int i = 0; i < 60; ++i) all.insert(f.add(f.now - std::chrono::milliseconds(i)).envelope.id);

  std::vector<std::string> claimed_by[2];
  int answers = 0;
  bool empty_round = false;
  // Both claim in small batches, interleaved on two connections, until a round finds nothing.
  while (!empty_round) {
    empty_round = true;
    int round_answers = 0;
    schedule* claimers[2] = {&f.s, &s2};
    for (int k = 0; k < 2; ++k) {
      claimers[k]->claim_due(f.now, 30s, 7, [&, k](core::result<schedule::claim> r) {
        REQUIRE_OK(r);
        for (auto& [id, m] : r->messages) {
          REQUIRE_OK(m);
          CHECK(m->attempts == 1);
          claimed_by[k].push_back(id);
        }
        if (!r->messages.empty()) empty_round = false;
        ++round_answers;
      });
    }
    REQUIRE(test::run_until(f.l, [&] { return round_answers == 2; }));
    answers += round_answers;
  }
  std::set<std::string> got;
  for (const auto& list : claimed_by)
    for (const auto& id : list) CHECK(got.insert(id).second);  // never claimed twice
  CHECK(got == all);
  CHECK_FALSE(claimed_by[0].empty());
  CHECK_FALSE(claimed_by[1].empty());
}

TEST_CASE("schedule: a cancel removes a message nobody claimed, and loses to a claim") {
  schedule_fixture f;
  const auto claimed = f.add(f.now);
  const auto waiting = f.add(f.now + 1h);
  REQUIRE(f.claim(f.now).messages.size() == 1);

  CHECK(f.cancel(claimed.envelope.id) == schedule::cancel_outcome::sending);
  CHECK(f.get(claimed.envelope.id));  // still there, for its claimer to finish

  CHECK(f.cancel(waiting.envelope.id) == schedule::cancel_outcome::cancelled);
  CHECK_FALSE(f.get(waiting.envelope.id));
  const auto later = f.claim(f.now + 2h);  // never claimed after the cancel
  REQUIRE(later.messages.size() == 1);
  CHECK(later.messages[0].first == claimed.envelope.id);
  CHECK(f.cancel(waiting.envelope.id) == schedule::cancel_outcome::unknown);
  CHECK(f.cancel(test::test_ids().next().value()) == schedule::cancel_outcome::unknown);
  CHECK(ids_of(f.list()) == std::vector<std::string>{claimed.envelope.id});
}

TEST_CASE("schedule: an item that cannot be read is handed over as an error, to be dropped") {
  schedule_fixture f;
  const auto id = test::test_ids().next().value();
  REQUIRE_OK(test::run_command(f.l, f.c, {"HSET", broker::schedule_items_key(), id, "{nonsense"}));
  REQUIRE_OK(test::run_command(f.l, f.c, {"ZADD", broker::schedule_due_key(), "1", id}));
  // And an id whose item is gone is dropped by the claim itself.
  const auto orphan = test::test_ids().next().value();
  REQUIRE_OK(test::run_command(f.l, f.c, {"ZADD", broker::schedule_due_key(), "1", orphan}));
  const auto c = f.claim(f.now);
  REQUIRE(c.messages.size() == 1);
  CHECK(c.messages[0].first == id);
  CHECK_FALSE(c.messages[0].second.ok());
  CHECK(c.scheduled == 1);
  CHECK(f.list().empty());
}

TEST_CASE("schedule runner: sends what is due, removes what went out, leaves a failure for later") {
  schedule_fixture f;
  const auto ok = f.add(f.now - 1s, "ok");
  const auto failing = f.add(f.now - 1s, "failing");
  const auto later = f.add(f.now + 1h, "later");
  std::vector<broker::scheduled_message> handed;
  std::optional<std::size_t> seen_scheduled;
  broker::schedule_runner runner(f.c, f.s,
                                 [&](broker::scheduled_message m, std::function<void(bool)> sent) {
                                   const bool works = m.envelope.title == "ok";
                                   handed.push_back(std::move(m));
                                   sent(works);
                                 },
                                 {.poll_every = 10ms, .lease = 30s, .batch = 100});
  runner.observe([&](std::size_t n) {
    if (!seen_scheduled) seen_scheduled = n;
  });
  runner.start();
  REQUIRE(test::run_until(f.l, [&] { return handed.size() == 2; }));
  runner.stop();
  // The runner removed the one that went out before this read, on the same connection.
  CHECK_FALSE(f.get(ok.envelope.id));
  CHECK(runner.sending() == 0);
  REQUIRE(seen_scheduled);
  CHECK(*seen_scheduled == 3);
  // The failed one waits out its lease; the future one was never handed over.
  const auto left = f.get(failing.envelope.id);
  REQUIRE(left);
  CHECK(left->attempts == 1);
  CHECK(f.get(later.envelope.id));
  for (const auto& m : handed) CHECK(m.envelope.title != "later");
}

TEST_CASE("schedule: an idle poll costs next to nothing with 10,000 messages waiting") {
  schedule_fixture f;
  // 500 adds in flight at a time: all 10,000 queued at once would wait longer than the command
  // timeout on a slow (sanitized, shared) machine.
  int added = 0, next = 0;
  std::function<void()> add_next = [&] {
    const int i = next++;
    if (i >= 10000) return;
    auto m = broker::make_scheduled(draft({"all"}, "m" + std::to_string(i)), "admin",
                                    f.now + std::chrono::minutes(10 + i), f.now);
    REQUIRE_OK(m);
    f.s.add(*m, [&](core::result<void> r) {
      REQUIRE_OK(r);
      ++added;
      add_next();
    });
  };
  for (int i = 0; i < 500; ++i) add_next();
  REQUIRE(test::run_until(
      f.l, [&] { return added == 10000; }, 60s));
  REQUIRE_OK(test::run_command(f.l, f.c, {"CONFIG", "RESETSTAT"}));
  for (int i = 0; i < 50; ++i) {
    const auto c = f.claim(f.now);
    CHECK(c.messages.empty());
    CHECK(c.scheduled == 10000);
  }
  // Redis's own count of the time it spent in those claims.
  const auto stats = test::run_command(f.l, f.c, {"INFO", "commandstats"});
  REQUIRE_OK(stats);
  const auto& text = stats->str;
  const auto at = text.find("cmdstat_evalsha:");
  REQUIRE(at != std::string::npos);
  const auto usec = text.find("usec=", at);
  REQUIRE(usec != std::string::npos);
  const auto total = std::stoll(text.substr(usec + 5));
  INFO(text.substr(at, text.find('\n', at) - at));
  CHECK(total < 50 * 1000);  // under 1 ms a poll, where a scan of 10,000 would take far more
}

TEST_CASE("schedule seal: made when scheduled, checked before it goes out, never a message's") {
  auto key = trust::signing_key::generate();
  REQUIRE_OK(key);
  const auto now = std::chrono::system_clock::now();
  auto m = broker::make_scheduled(draft({"region:jateng"}, "Promo besok"), "admin", now + 1h, now);
  REQUIRE_OK(m);
  trust::keyring own({key->public_half()});
  CHECK(broker::check_seal(own, false, *m) ==
        "it carries no seal: it was not scheduled by a publisherd with a key");
  CHECK_FALSE(broker::check_seal(own, true, *m));  // a publisherd without a key seals nothing

  REQUIRE_OK(broker::seal(*key, *m));
  CHECK_FALSE(broker::check_seal(own, false, *m));
  // Read back from Redis's bytes, it still holds.
  auto back =
      broker::detail::decode_scheduled(m->envelope.id, broker::detail::encode_scheduled(*m));
  REQUIRE_OK(back);
  CHECK_FALSE(broker::check_seal(own, false, *back));
  // The API does not show it: it is no signature of a message.
  CHECK_FALSE(broker::to_json(*m).contains("sig"));
  // A store would refuse the sealed draft if someone published it.
  CHECK(own.verify(m->envelope).err() == trust::signature_problem::mismatch);

  for (const auto& [what, edit] :
       std::vector<std::pair<std::string, std::function<void(message::envelope&)>>>{
           {"title", [](message::envelope& e) { e.title = "Promo palsu"; }},
           {"targets", [](message::envelope& e) { e.targets = {"all"}; }},
           {"sender", [](message::envelope& e) { e.sender = "ceo"; }}}) {
    INFO(what);
    auto altered = *m;
    edit(altered.envelope);
    CHECK(broker::check_seal(own, false, altered) ==
          "its seal does not match it: it was altered in Redis");
    CHECK(broker::check_seal(own, true, altered));  // a seal there must hold, key or not
  }
  auto other = trust::signing_key::generate();
  REQUIRE_OK(other);
  trust::keyring others({other->public_half()});
  CHECK_THAT(*broker::check_seal(others, false, *m),
             Catch::Contains("which this publisherd does not hold"));
}
