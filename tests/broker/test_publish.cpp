#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/redis/subscriber.hpp>
#include <bcast/trust/signature.hpp>

#include "broker_helpers.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

core::result<broker::publish_outcome> publish_now(core::loop& l, broker::publisher& p,
                                                  const message::envelope& e,
                                                  broker::publish_options o = {}) {
  std::optional<core::result<broker::publish_outcome>> out;
  p.publish(
      e, [&](core::result<broker::publish_outcome> r) { out.emplace(std::move(r)); }, o);
  REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
  return std::move(*out);
}

struct history_entry {
  std::string id;
  std::map<std::string, std::string> fields;
};

std::vector<history_entry> read_history(core::loop& l, redis::client& c,
                                        const std::string& target) {
  auto r = test::run_command(l, c, {"XRANGE", broker::history_key(target), "-", "+"});
  REQUIRE_OK(r);
  std::vector<history_entry> out;
  for (const auto& e : r->elements) {
    history_entry h{e.elements[0].str, {}};
    for (std::size_t i = 0; i + 1 < e.elements[1].elements.size(); i += 2) {
      h.fields[e.elements[1].elements[i].str] = e.elements[1].elements[i + 1].str;
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

TEST_CASE(
    "publish: every target's history gets the message with gap-free seqs, live gets the frame") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  const std::vector<std::string> targets{"all", "store:s1", "region:jateng"};

  redis::subscriber sub(l, test::broker_opts(server.url()));
  std::vector<std::pair<std::string, std::string>> live;
  sub.on_message(
      [&](std::string_view ch, std::string_view payload) { live.emplace_back(ch, payload); });
  std::vector<std::string> channels;
  for (const auto& t : targets) channels.push_back(broker::live_channel(t));
  sub.subscribe(channels);
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));

  const int n = 5;
  std::vector<message::envelope> sent;
  for (int i = 0; i < n; ++i) {
    sent.push_back(test::make_test_envelope(targets, "Pesan " + std::to_string(i)));
    auto r = publish_now(l, pub, sent.back());
    REQUIRE_OK(r);
    CHECK(r->message_id == sent.back().id);
    REQUIRE(r->targets.size() == 3);
    for (std::size_t k = 0; k < 3; ++k) {
      CHECK(r->targets[k].target == targets[k]);
      CHECK(r->targets[k].seq == static_cast<std::uint64_t>(i + 1));
      CHECK_FALSE(r->targets[k].duplicate);
      CHECK(r->targets[k].receivers == 1);
    }
  }

  for (const auto& t : targets) {
    auto h = read_history(l, c, t);
    REQUIRE(h.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      CHECK(h[i].id == "0-" + std::to_string(i + 1));  // the seq is the entry's id
      CHECK(h[i].fields["id"] == sent[i].id);
      CHECK(h[i].fields["env"] == message::encode(sent[i]));
    }
  }

  REQUIRE(test::run_until(l, [&] { return live.size() == static_cast<std::size_t>(3 * n); }));
  std::map<std::string, std::uint64_t> last_seq;
  // A target's first publish from this publisher is numbered (the script); the rest are counted
  // (MULTI): each is the entry after the one before.
  for (const auto& [ch, payload] : live) {
    auto f = broker::decode_frame(payload);
    REQUIRE_OK(f);
    auto target = std::string(*broker::target_of_live_channel(ch));
    const bool first = last_seq[target] == 0;
    CHECK(f->seq == (first ? 1u : 0u));
    CHECK(f->stream_id.empty() == !first);
    const auto seq = ++last_seq[target];
    auto h = read_history(l, c, target);
    CHECK(h[seq - 1].id == "0-" + std::to_string(seq));
    CHECK(h[seq - 1].fields["id"] == f->message_id);
    auto env = message::decode(f->envelope_json);
    REQUIRE_OK(env);
    CHECK(env->id == f->message_id);
    CHECK(*env == sent[seq - 1]);
  }

  SECTION("a retry with the same id appends nothing and publishes nothing") {
    broker::publish_options retry;
    retry.retry = true;
    auto again = publish_now(l, pub, sent[2], retry);
    REQUIRE_OK(again);
    for (const auto& t : again->targets) {
      CHECK(t.duplicate);
      CHECK(t.seq == 3);
      CHECK(t.receivers == 0);
    }
    CHECK(again->targets[0].stream_id == read_history(l, c, "all")[2].id);
    test::run_for(l, 50ms);
    CHECK(live.size() == static_cast<std::size_t>(3 * n));
    for (const auto& t : targets)
      CHECK(read_history(l, c, t).size() == static_cast<std::size_t>(n));
  }
  SECTION("a retry of a message that is not there yet appends it with a numbered frame") {
    broker::publish_options retry;
    retry.retry = true;
    auto e = test::make_test_envelope({"store:s1"});
    auto r = publish_now(l, pub, e, retry);
    REQUIRE_OK(r);
    CHECK_FALSE(r->targets[0].duplicate);
    CHECK(r->targets[0].seq == static_cast<std::uint64_t>(n + 1));
    REQUIRE(test::run_until(l, [&] { return live.size() == static_cast<std::size_t>(3 * n + 1); }));
    auto f = broker::decode_frame(live.back().second);
    REQUIRE_OK(f);
    CHECK(f->seq == static_cast<std::uint64_t>(n + 1));
    CHECK(f->message_id == e.id);
  }
}

TEST_CASE(
    "publish: a retry finds its message behind many newer ones, and completes only what lacks it") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  auto first = test::make_test_envelope({"all"});
  REQUIRE(publish_now(l, pub, first).ok());
  for (int i = 0; i < 250; ++i)
    REQUIRE(publish_now(l, pub, test::make_test_envelope({"all"})).ok());

  broker::publish_options retry;
  retry.retry = true;
  auto again = first;
  again.targets = {"all", "store:s9"};  // store:s9 never got it
  auto r = publish_now(l, pub, again, retry);
  REQUIRE_OK(r);
  CHECK(r->targets[0].duplicate);
  CHECK(r->targets[0].seq == 1);
  CHECK(r->targets[0].stream_id == "0-1");
  CHECK_FALSE(r->targets[1].duplicate);
  CHECK(r->targets[1].seq == 1);
  CHECK(read_history(l, c, "all").size() == 251);

  // Without `retry` the same id is appended again (a first attempt does not search); stores drop
  // the second copy by id.
  auto twice = publish_now(l, pub, first);
  REQUIRE_OK(twice);
  CHECK_FALSE(twice->targets[0].duplicate);
  CHECK(twice->targets[0].seq == 252);
}

TEST_CASE(
    "publish: a history in an older layout (time-based entry ids) is refused with what to do") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  server.cli("XADD '" + broker::history_key("all") + "' '*' seq 1 id x env y");
  auto r = publish_now(l, pub, test::make_test_envelope({"all"}));
  REQUIRE_FALSE(r.ok());
  CHECK(
      test::contains(r.err().message(), "holds entries of an older bcast layout; delete the key"));
  CHECK(test::contains(r.err().message(), broker::history_key("all")));
  server.cli("DEL '" + broker::history_key("all") + "'");
  CHECK(publish_now(l, pub, test::make_test_envelope({"all"})).ok());
}

TEST_CASE(
    "publish with a signing key: every target's history, the live frames, the record and the "
    "outcome carry one signature that verifies under the key; without a key, none") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  auto first_key =
      std::make_shared<const trust::signing_key>(trust::signing_key::generate().value());
  auto second_key =
      std::make_shared<const trust::signing_key>(trust::signing_key::generate().value());
  trust::keyring keys;
  keys.add(first_key->public_half());
  keys.add(second_key->public_half());
  const std::vector<std::string> targets{"all", "store:s1"};

  redis::subscriber sub(l, test::broker_opts(server.url()));
  std::vector<std::string> live;
  sub.on_message([&](std::string_view, std::string_view payload) { live.emplace_back(payload); });
  sub.subscribe({broker::live_channel("all"), broker::live_channel("store:s1")});
  REQUIRE(test::run_until(l, [&] { return sub.all_confirmed(); }));

  // The key that signed `json`'s envelope, or "" when none of ours did.
  const auto signer = [&](std::string_view json) -> std::string {
    auto e = message::decode(json);
    REQUIRE_OK(e);
    auto key = keys.verify(*e);
    return key ? (*key)->id() : std::string();
  };

  pub.set_signing_key(first_key);
  auto sent = test::make_test_envelope(targets, "Harga baru");
  auto r = publish_now(l, pub, sent);
  REQUIRE_OK(r);
  CHECK(signer(r->envelope_json) == first_key->id());
  auto published = message::decode(r->envelope_json);
  REQUIRE_OK(published);
  const auto sig = published->sig;
  CHECK(sig.rfind(first_key->id() + ".", 0) == 0);
  published->sig.clear();
  CHECK(*published == sent);  // signing added the signature and changed nothing else
  CHECK(sent.sig.empty());    // the caller's envelope is left as it was
  for (const auto& t : targets) {
    auto h = read_history(l, c, t);
    REQUIRE(h.size() == 1);
    CHECK(h[0].fields["env"] == r->envelope_json);  // one signature for every target
  }
  REQUIRE(test::run_until(l, [&] { return live.size() == targets.size(); }));
  for (const auto& payload : live) {
    auto f = broker::decode_frame(payload);
    REQUIRE_OK(f);
    CHECK(signer(f->envelope_json) == first_key->id());
  }
  broker::message_log log(c);
  std::optional<core::result<std::optional<broker::message_record>>> record;
  log.get(sent.id, [&](auto got) { record.emplace(std::move(got)); });
  REQUIRE(test::run_until(l, [&] { return record.has_value(); }));
  REQUIRE_OK(*record);
  REQUIRE(record->value());
  CHECK(record->value()->envelope.sig == sig);

  // A new key applies to the next publish; a message already out keeps its signature.
  pub.set_signing_key(second_key);
  auto next = publish_now(l, pub, test::make_test_envelope({"all"}));
  REQUIRE_OK(next);
  CHECK(signer(next->envelope_json) == second_key->id());
  CHECK(read_history(l, c, "all")[0].fields["env"] == r->envelope_json);

  // An altered byte no longer verifies.
  auto altered = message::decode(r->envelope_json).value();
  altered.title = "Harga baru!";
  CHECK_FALSE(keys.verify(altered).ok());

  pub.set_signing_key(nullptr);
  auto plain = publish_now(l, pub, test::make_test_envelope({"all"}));
  REQUIRE_OK(plain);
  CHECK(message::decode(plain->envelope_json)->sig.empty());
}

TEST_CASE(
    "publish with sign_off_loop: a burst is signed on the signing thread, every message verifies, "
    "and they reach the history in the order they were asked for; a lone publish signs on the "
    "loop") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  auto key = std::make_shared<const trust::signing_key>(trust::signing_key::generate().value());
  trust::keyring keys;
  keys.add(key->public_half());
  pub.set_signing_key(key);
  pub.sign_off_loop();
  // Once `all` has had a publish, the next ones are transactions: no script whose NOSCRIPT
  // fallback would let later ones overtake it in Redis (and so in the history read below).
  REQUIRE_OK(publish_now(l, pub, test::make_test_envelope({"all"}, "Pertama")));

  // 200 publishes asked for in one loop iteration, as when many requests arrive at once.
  std::vector<std::string> asked;
  std::vector<std::optional<core::result<broker::publish_outcome>>> outcomes(200);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    auto e = test::make_test_envelope({"all"}, "Burst " + std::to_string(i));
    asked.push_back(e.id);
    pub.publish(e, [&outcomes, i](core::result<broker::publish_outcome> r) {
      outcomes[i].emplace(std::move(r));
    });
  }
  REQUIRE(test::run_until(l, [&] {
    return std::all_of(outcomes.begin(), outcomes.end(),
                       [](const auto& o) { return o.has_value(); });
  }));
  for (const auto& o : outcomes) {
    REQUIRE_OK(*o);
    auto e = message::decode((*o)->envelope_json);
    REQUIRE_OK(e);
    CHECK(keys.verify(*e).ok());
  }
  CHECK(pub.signed_off_loop() >= outcomes.size() - 1);  // all but the first of the iteration
  auto h = read_history(l, c, "all");
  REQUIRE(h.size() == asked.size() + 1);
  h.erase(h.begin());
  for (std::size_t i = 0; i < h.size(); ++i) {
    auto e = message::decode(h[i].fields["env"]);
    REQUIRE_OK(e);
    CHECK(e->id == asked[i]);
    CHECK(keys.verify(*e).ok());
  }

  // Alone, after the burst: signed on the loop.
  const auto off_loop = pub.signed_off_loop();
  auto lone = publish_now(l, pub, test::make_test_envelope({"all"}, "Sendiri"));
  REQUIRE_OK(lone);
  CHECK(pub.signed_off_loop() == off_loop);
  CHECK(keys.verify(message::decode(lone->envelope_json).value()).ok());
}

TEST_CASE("publish: Redis down gives a clear error and records nothing") {
  core::loop l;
  auto o = test::broker_opts("redis://127.0.0.1:" + std::to_string(test::free_port()));
  o.command_timeout = 300ms;
  redis::client c(l, o);
  broker::publisher pub(c);
  auto e = test::make_test_envelope({"all", "store:s1"});
  auto r = publish_now(l, pub, e);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::timeout);
  const auto text = r.err().message();
  CHECK(text.find("not published to 2 of 2 targets") != std::string::npos);
  CHECK(text.find("not reachable") != std::string::npos);
  CHECK(text.find("same id is safe") != std::string::npos);
}

TEST_CASE("publish: a target that fails makes the whole publish fail; the retry completes it") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  broker::message_log log(c);
  server.cli("SET '" + broker::history_key("region:broken") + "' not-a-stream");
  auto e = test::make_test_envelope({"all", "region:broken", "store:s2"});

  auto r = publish_now(l, pub, e);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == core::errc::server_error);
  CHECK(r.err().message().find("not published to 1 of 3 targets") != std::string::npos);
  CHECK(r.err().message().find("region:broken") != std::string::npos);
  CHECK(r.err().message().find("WRONGTYPE") != std::string::npos);
  CHECK(server.cli("ZCARD bcast:message-log") == "0\n");  // not listed as sent

  server.cli("DEL '" + broker::history_key("region:broken") + "'");
  broker::publish_options retry;
  retry.retry = true;
  auto again = publish_now(l, pub, e, retry);
  REQUIRE_OK(again);
  CHECK(again->targets[0].duplicate);
  CHECK(again->targets[0].seq == 1);
  CHECK_FALSE(again->targets[1].duplicate);
  CHECK(again->targets[1].seq == 1);  // the failed attempt did not use up a seq
  CHECK(again->targets[2].duplicate);
  CHECK(read_history(l, c, "all").size() == 1);
  CHECK(read_history(l, c, "store:s2").size() == 1);
  CHECK(read_history(l, c, "region:broken").size() == 1);

  std::optional<core::result<std::optional<broker::message_record>>> got;
  log.get(e.id, [&](auto res) { got.emplace(std::move(res)); });
  REQUIRE(test::run_until(l, [&] { return got.has_value(); }));
  REQUIRE(got->ok());
  REQUIRE(got->value().has_value());
  CHECK(got->value()->envelope == e);
  CHECK(got->value()->seqs.at("all") == 1);
}

TEST_CASE("publish: histories are trimmed by count and by age") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  SECTION("MAXLEN") {
    broker::publisher_settings s;
    s.history_max_len = 3;
    s.exact_trim = true;
    broker::publisher pub(c, s);
    for (int i = 0; i < 10; ++i)
      REQUIRE(publish_now(l, pub, test::make_test_envelope({"all"})).ok());
    auto h = read_history(l, c, "all");
    REQUIRE(h.size() == 3);
    CHECK(h[0].id == "0-8");
    CHECK(h[2].id == "0-10");
  }
  SECTION("a max length of 0 still keeps the newest entry") {
    broker::publisher_settings s;
    s.history_max_len = 0;
    s.exact_trim = true;
    broker::publisher pub(c, s);
    for (int i = 0; i < 3; ++i)
      REQUIRE(publish_now(l, pub, test::make_test_envelope({"all"})).ok());
    auto h = read_history(l, c, "all");
    REQUIRE(h.size() == 1);
    CHECK(h[0].id == "0-3");
  }
  SECTION("by age, never the newest entry") {
    broker::publisher_settings s;
    s.history_max_age = 20ms;
    s.exact_trim = true;
    broker::publisher pub(c, s);
    REQUIRE(publish_now(l, pub, test::make_test_envelope({"all"})).ok());
    REQUIRE(publish_now(l, pub, test::make_test_envelope({"all"})).ok());
    test::run_for(l, 60ms);  // let the first two age
    REQUIRE(publish_now(l, pub, test::make_test_envelope({"all"})).ok());
    auto h = read_history(l, c, "all");
    REQUIRE(h.size() == 1);
    CHECK(h[0].id == "0-3");
    // A message made before the age limit (a late retry) is appended, and stays as the newest
    // when everything else has aged too: the stream never empties, so it keeps its last seq.
    test::run_for(l, 60ms);
    auto late = test::make_test_envelope({"all"});
    late.id = message::make_ulid(1, {});
    REQUIRE(publish_now(l, pub, late).ok());
    h = read_history(l, c, "all");
    REQUIRE(h.size() == 1);
    CHECK(h[0].id == "0-4");
  }
}

TEST_CASE("message log: newest first, paged with before, one by id, bounded") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher_settings s;
  s.records.max_messages = 5;
  s.records.trim_every = 1;
  broker::publisher pub(c, s);
  broker::message_log log(c);
  std::vector<message::envelope> sent;
  for (int i = 0; i < 7; ++i) {
    sent.push_back(test::make_test_envelope({"all", "region:jateng"}, "M" + std::to_string(i)));
    broker::publish_options o;
    o.expected_stores = 40 + i;
    REQUIRE(publish_now(l, pub, sent.back(), o).ok());
  }
  test::run_for(l, 50ms);  // the count trim runs after the publish reported
  CHECK(server.cli("ZCARD bcast:message-log") == "5\n");

  auto list = [&](std::size_t limit, std::string before) {
    std::optional<core::result<std::vector<broker::message_record>>> out;
    log.list(limit, before, [&](auto r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
    return std::move(*out);
  };
  auto page1 = list(3, "");
  REQUIRE_OK(page1);
  REQUIRE(page1->size() == 3);
  CHECK((*page1)[0].envelope.title == "M6");
  CHECK((*page1)[1].envelope.title == "M5");
  CHECK((*page1)[2].envelope.title == "M4");
  CHECK((*page1)[0].expected_at_send == 46u);
  CHECK((*page1)[0].seqs.at("region:jateng") == 7);
  CHECK((*page1)[0].json == message::encode(sent[6]));
  auto page2 = list(3, (*page1)[2].envelope.id);
  REQUIRE_OK(page2);
  REQUIRE(page2->size() == 2);  // M0 and M1 were trimmed away
  CHECK((*page2)[0].envelope.title == "M3");
  CHECK((*page2)[1].envelope.title == "M2");

  auto bad = list(3, "not-an-id");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err() == core::errc::invalid_argument);

  std::optional<core::result<std::optional<broker::message_record>>> missing;
  log.get("01JD5Q8W3V6X4Y2Z0A1B2C3D4E", [&](auto r) { missing.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return missing.has_value(); }));
  REQUIRE(missing->ok());
  CHECK_FALSE(missing->value().has_value());
}

TEST_CASE("message log: a record is one member that keeps the envelope byte for byte") {
  auto e = test::make_test_envelope({"all", "store:s1"}, "line one\nline \"two\"");
  const auto json = message::encode(e);
  const std::vector<std::pair<std::string_view, std::uint64_t>> seqs{{"all", 7}, {"store:s1", 2}};
  const auto member = broker::detail::encode_record(e.id, 12, seqs, json);
  CHECK(member.starts_with(e.id + "\n12\n{\"all\":7,\"store:s1\":2}\n"));
  auto rec = broker::detail::decode_record(member);
  REQUIRE_OK(rec);
  CHECK(rec->envelope == e);
  CHECK(rec->json == json);
  CHECK(rec->expected_at_send == 12u);
  CHECK(rec->seqs ==
        std::map<std::string, std::uint64_t, std::less<>>{{"all", 7}, {"store:s1", 2}});

  auto unknown = broker::detail::decode_record(broker::detail::encode_record(e.id, {}, seqs, json));
  REQUIRE_OK(unknown);
  CHECK_FALSE(unknown->expected_at_send.has_value());

  for (const std::string& bad :
       {e.id, e.id + "\n1\n{}", e.id + "\nx\n{}\n" + json, e.id + "\n1\n{nope\n" + json,
        e.id + "\n1\n{}\n{\"id\":1}", "01JD5Q8W3V6X4Y2Z0A1B2C3D4E\n1\n{}\n" + json}) {
    auto r = broker::detail::decode_record(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::protocol_error);
  }
}

TEST_CASE("message log: a retry keeps the first record; two first attempts with one id list once") {
  test::redis_server server;
  core::loop l;
  redis::client c(l, test::broker_opts(server.url()));
  broker::publisher pub(c);
  broker::message_log log(c);
  auto e = test::make_test_envelope({"all"});
  broker::publish_options first;
  first.expected_stores = 3;
  REQUIRE(publish_now(l, pub, e, first).ok());
  broker::publish_options retry;
  retry.retry = true;
  retry.expected_stores = 4;
  REQUIRE(publish_now(l, pub, e, retry).ok());
  CHECK(server.cli("ZCARD bcast:message-log") == "1\n");
  std::optional<core::result<std::optional<broker::message_record>>> got;
  log.get(e.id, [&](auto r) { got.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return got.has_value(); }));
  REQUIRE(got->ok());
  REQUIRE(got->value().has_value());
  CHECK(got->value()->expected_at_send == 3u);  // as the first attempt filed it
  CHECK(got->value()->seqs.at("all") == 1);

  // A client that reuses an id without saying it retries appends and files it again.
  REQUIRE(publish_now(l, pub, e).ok());
  CHECK(server.cli("ZCARD bcast:message-log") == "2\n");
  std::optional<core::result<std::vector<broker::message_record>>> listed;
  log.list(10, "", [&](auto r) { listed.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return listed.has_value(); }));
  REQUIRE(listed->ok());
  REQUIRE((*listed)->size() == 1);
  CHECK((*listed)->front().envelope.id == e.id);

  // A member that does not decode is left out; the others still list.
  server.cli("ZADD bcast:message-log 0 'zzz-not-a-record'");
  listed.reset();
  log.list(10, "", [&](auto r) { listed.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return listed.has_value(); }));
  REQUIRE(listed->ok());
  CHECK((*listed)->size() == 1);
}
