// End-to-end: a store shows only what head office signed, and only what was addressed to it
// (README, "Signed messages"). Real subscriberd processes, publisherd (which signs) and
// redis-server; what an attacker who can write to Redis does is done here with the library:
// publish an envelope as it is (unsigned, or signed by a key of its own), append an edited copy
// to a history and publish it as a live frame, or rewrite a history entry.

#include "redis_writer.hpp"
#include "store_fixture.hpp"

#include <broker/broker_helpers.hpp>

#include <bcast/broker/keys.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/message/time.hpp>
#include <bcast/trust/signature.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;
using test::fleet;
using test::redis_writer;
using test::store_box;

namespace {

message::envelope signed_message(const trust::signing_key& key, std::vector<std::string> targets,
                                 const std::string& title) {
  auto e = test::make_test_envelope(std::move(targets), title);
  REQUIRE_OK(trust::sign(key, e));
  return e;
}

trust::signing_key signing_key_in(const std::string& file) {
  auto key = trust::signing_key::load(file);
  REQUIRE_OK(key);
  return std::move(key).value();
}

// Sent through head office's publisherd, which signs it: its id and the envelope JSON as sent.
std::pair<std::string, std::string> send_signed(fleet& f, std::vector<std::string> targets,
                                                const std::string& title,
                                                json extra = json::object()) {
  auto r = f.try_send(std::move(targets), title, std::move(extra));
  REQUIRE(r.status == 201);
  return {json::parse(r.body)["id"].get<std::string>(), r.body};
}

// A store of `f` that trusts `keys` and nothing unsigned; started.
store_box& store_trusting(fleet& f, const std::string& id, std::vector<std::string> groups,
                          std::vector<std::string> keys) {
  auto& box = f.prepare(id, std::move(groups));
  box.trusted_keys = std::move(keys);
  box.allow_unsigned = false;
  box.start();
  return box;
}

// Store s1 of `f`, trusting head office: it showed a message, "before", and is stopped now.
store_box& store_gone_off(fleet& f) {
  auto& s1 = store_trusting(f, "s1", {}, {f.hq.public_key});
  f.send({"all"}, "before");
  REQUIRE(s1.wait_shown("before"));
  s1.stop();
  return s1;
}

// Replaces the first `from` in `text` with `to`, which must be there.
void flip(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("signed messages: signed by head office and shown; its receipts reach publisherd") {
  fleet f;
  auto& s1 = store_trusting(f, "s1", {"region:jateng"}, {f.hq.public_key});
  CHECK(test::contains(s1.process->log(), "showing messages signed by key " + f.hq.key.id));
  const auto m = f.send({"region:jateng"}, "Harga baru");
  REQUIRE(s1.wait_shown("Harga baru"));
  const auto r = f.wait_for_receipt(m["id"], "s1", "displayed");
  CHECK(r["delivered"] == 1);
  CHECK(r["rejected"] == 0);
  CHECK(m["sig"].get<std::string>().rfind(f.hq.key.id + ".", 0) == 0);
  CHECK(s1.shown()[0]["sig"] == m["sig"]);
}

TEST_CASE(
    "signed messages: signed by another publisherd's key, or unsigned: not shown, rejected, "
    "and head office sees it; the store goes on") {
  fleet f;
  auto& s1 = store_trusting(f, "s1", {}, {f.hq.public_key});
  const redis_writer w{f.hq.redis->url()};
  // A second publisherd with a key of its own, on the same Redis (its --redis comes last and
  // wins; the fixture's own redis-server stays unused).
  test::publisherd_fixture other({"--redis", f.hq.redis->url()});
  REQUIRE(other.key.id != f.hq.key.id);
  json body{{"targets", {"all"}},
            {"category", "announcement"},
            {"title", "from another key"},
            {"body", "Isi"}};
  const auto sent = test::http_call(0, "POST", "/api/v1/messages", body.dump(), {}, other.socket);
  REQUIRE(sent.status == 201);
  const std::string foreign = json::parse(sent.body)["id"];
  REQUIRE(s1.process->wait_for_log("message " + foreign +
                                   " rejected: it is signed by a key this store does not trust "
                                   "(key id " +
                                   other.key.id + ")"));
  const auto plain = test::make_test_envelope({"store:s1"}, "unsigned");
  w.publish(plain);
  REQUIRE(s1.process->wait_for_log("message " + plain.id + " rejected: it is not signed"));

  f.send({"all"}, "genuine");
  REQUIRE(s1.wait_shown("genuine"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"genuine"});
  // Through the first publisherd's API.
  for (const auto& id : {foreign, plain.id}) {
    INFO(id);
    const auto r = f.wait_for_receipt(id, "s1", "rejected");
    CHECK(r["rejected"] == 1);
    CHECK(r["delivered"] == 0);
    CHECK(r["displayed"] == 0);
    CHECK(r["expected"] == 1);
  }
  std::string out;
  REQUIRE(test::run_bcastctl("--socket " + f.hq.socket + " show " + foreign, {}, &out) == 0);
  CHECK(std::regex_search(out, std::regex("\\nrejected +1 \\(refused a copy")));
  CHECK(std::regex_search(out, std::regex("\\ns1 +rejected ")));
}

TEST_CASE(
    "signed messages: one byte changed in the title, body, targets or expiry of a history "
    "entry, or in a live frame: not shown, rejected") {
  fleet f;
  const redis_writer w{f.hq.redis->url()};
  auto& s1 = store_gone_off(f);

  // Genuine messages, sent while the store is off; then their history entries in `all` are
  // edited, one byte each.
  const auto expiry = message::format_time(std::chrono::system_clock::now() + 24h * 400);
  auto later_year = expiry.substr(0, 4);
  later_year.back() = later_year.back() == '9' ? '0' : static_cast<char>(later_year.back() + 1);
  std::map<std::string, std::pair<std::string, std::string>> edit_of;  // by message id
  const auto edit = [&](const std::pair<std::string, std::string>& sent, std::string from,
                        std::string to) {
    edit_of[sent.first] = {std::move(from), std::move(to)};
  };
  edit(send_signed(f, {"all"}, "Harga 1000"), "Harga 1000", "Harga 9000");
  edit(send_signed(f, {"all"}, "body"), "Isi pesan body", "Isi pesen body");
  edit(send_signed(f, {"all", "store:s7"}, "targets"), "store:s7", "store:s1");
  edit(send_signed(f, {"all"}, "expiry", {{"expires_at", expiry}}),
       "\"expires_at\":\"" + expiry.substr(0, 4), "\"expires_at\":\"" + later_year);
  w.rewrite_history("all", [&](const std::string& id, std::string& json) {
    if (auto e = edit_of.find(id); e != edit_of.end())
      flip(json, e->second.first, e->second.second);
  });
  f.send({"all"}, "after the edits");
  s1.start();
  REQUIRE(s1.wait_shown("after the edits"));
  REQUIRE(edit_of.size() == 4);
  for (const auto& [id, change] : edit_of) {
    INFO(change.first << " -> " << change.second);
    CHECK(test::contains(s1.process->log(),
                         "message " + id + " rejected: its signature does not match its content"));
    const auto r = f.wait_for_receipt(id, "s1", "rejected");
    CHECK(r["rejected"] == 1);
    CHECK(r["delivered"] == 0);
  }

  // Live: a genuine message for store s7, its frame edited (to s1, and 10% made 90%) and
  // published where s1 listens.
  auto [id, text] = send_signed(f, {"store:s7"}, "Diskon 10%");
  flip(text, "store:s7", "store:s1");
  flip(text, "Diskon 10%", "Diskon 90%");
  w.append_to_history("store:s1", id, text, true);
  REQUIRE(s1.process->wait_for_log("message " + id +
                                   " rejected: its signature does not match its content"));
  f.send({"all"}, "live genuine");
  REQUIRE(s1.wait_shown("live genuine"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"before", "after the edits", "live genuine"});
  f.wait_for_receipt(id, "s1", "rejected");
}

TEST_CASE(
    "signed messages: a genuine message for store:9 copied into the `all` history while the "
    "store was off is rejected in catch-up; the store then goes on") {
  fleet f;
  const redis_writer w{f.hq.redis->url()};
  auto& s1 = store_gone_off(f);

  const auto [for_nine, text] = send_signed(f, {"store:9"}, "only for store 9");
  w.append_to_history("all", for_nine, text);
  f.send({"all"}, "next genuine");
  s1.start();
  REQUIRE(s1.wait_shown("next genuine"));
  CHECK(test::contains(s1.process->log(),
                       "message " + for_nine +
                           " rejected: it is not addressed to this store (its targets: store:9)"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"before", "next genuine"});
  // Head office sees that s1 got a copy and refused it; s1 was never expected to show it.
  const auto r = f.wait_for_receipt(for_nine, "s1", "rejected");
  CHECK(r["rejected"] == 1);
  CHECK(r["expected"] == 0);
  CHECK(r["delivered"] == 0);

  // Not read again after a restart, and the store keeps going.
  s1.stop();
  s1.start();
  f.send({"store:s1"}, "after the restart");
  REQUIRE(s1.wait_shown("after the restart"));
  CHECK(s1.shown_titles() ==
        std::vector<std::string>{"before", "next genuine", "after the restart"});
  CHECK_FALSE(test::contains(s1.process->log(), "message " + for_nine + " rejected"));
}

TEST_CASE(
    "signed messages: key rotation; the store trusts the old and the new key while "
    "publisherd switches, then only the new one") {
  fleet f;
  const redis_writer w{f.hq.redis->url()};
  const auto old_key = signing_key_in(f.hq.key.private_key);
  const auto next = test::make_key_pair(f.hq.dir.file("next"));
  auto& s1 = store_trusting(f, "s1", {}, {f.hq.public_key, next.public_key});
  CHECK(test::contains(s1.process->log(),
                       "showing messages signed by keys " + f.hq.key.id + ", " + next.id));
  f.send({"all"}, "signed by the old key");
  REQUIRE(s1.wait_shown("signed by the old key"));

  // publisherd switches to the new key.
  std::filesystem::rename(next.private_key, f.hq.key.private_key);
  f.hq.daemon->signal(SIGHUP);
  REQUIRE(f.hq.daemon->wait_for_log("signing messages with key id " + next.id));
  const auto m = f.send({"all"}, "signed by the new key");
  CHECK(m["sig"].get<std::string>().rfind(next.id + ".", 0) == 0);
  REQUIRE(s1.wait_shown("signed by the new key"));

  // The store drops the old key: what it signs is refused from now on.
  s1.stop();
  s1.trusted_keys = {next.public_key};
  s1.start();
  const auto late = signed_message(old_key, {"all"}, "old key, too late");
  w.publish(late);
  REQUIRE(s1.process->wait_for_log("message " + late.id +
                                   " rejected: it is signed by a key this store does not trust"));
  f.send({"all"}, "new key again");
  REQUIRE(s1.wait_shown("new key again"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"signed by the old key",
                                                      "signed by the new key", "new key again"});
}

TEST_CASE(
    "signed messages: a store without a trusted key refuses to start, --allow-unsigned "
    "warns, a private key is refused") {
  test::temp_dir dir;
  test::redis_server redis;
  const auto keys = test::make_key_pair(dir.file("keys"));
  store_box box;
  box.id = "s1";
  box.dir = dir.file("s1");
  box.redis_url = redis.url();
  std::filesystem::create_directories(box.dir);

  SECTION("no key: refused, saying what to do") {
    box.launch();
    CHECK(box.process->wait_exit() == 2);
    const auto& log = box.process->log();
    CHECK(test::contains(log, "no trusted key: a store shows only messages signed by head office"));
    CHECK(test::contains(log, "--trusted-key FILE"));
    CHECK(test::contains(log, "signing.pub"));
  }
  SECTION("a private key: refused, naming the file") {
    box.trusted_keys = {keys.private_key};
    box.launch();
    CHECK(box.process->wait_exit() == 2);
    CHECK(test::contains(box.process->log(),
                         "trusted key: " + keys.private_key +
                             " is a private key; a store needs only the public key (signing.pub), "
                             "and the private key must stay at head office"));
  }
  SECTION("a key file that is not there, or not a key: refused, naming the file") {
    std::ofstream(dir.file("garbage.pub")) << "not a key\n";
    for (const auto& file : {dir.file("missing.pub"), dir.file("garbage.pub")}) {
      box.trusted_keys = {keys.public_key, file};
      box.launch();
      CHECK(box.process->wait_exit() == 2);
      CHECK(test::contains(box.process->log(), "trusted key: "));
      CHECK(test::contains(box.process->log(), file));
    }
  }
  SECTION("--allow-unsigned: starts, with a warning") {
    box.allow_unsigned = true;
    box.start();
    CHECK(test::contains(box.process->log(), "warning: allow_unsigned is on"));
    box.stop();
  }
}

TEST_CASE("signed messages: --check-config checks trusted_keys and allow_unsigned in the config") {
  test::temp_dir dir;
  const auto keys = test::make_key_pair(dir.file("keys"));
  const auto bin = test::build_path("daemons/subscriberd/subscriberd");
  auto check = [&](const json& config, std::string& said) {
    std::ofstream(dir.file("store.json"), std::ios::trunc) << config.dump();
    return test::shell_status("'" + bin + "' --check-config --config '" + dir.file("store.json") +
                                  "' --store s1 --state-dir '" + dir.file("state") + "' 2>&1",
                              &said);
  };
  std::string said;
  CHECK(check({{"trusted_keys", {keys.public_key}}}, said) == 0);
  CHECK(test::contains(said, "configuration OK; trusts key " + keys.id));
  CHECK(check({{"allow_unsigned", true}}, said) == 0);
  CHECK(test::contains(said, "allow_unsigned is on"));
  CHECK(check(json::object(), said) == 2);
  CHECK(test::contains(said, "no trusted key"));
  CHECK(check({{"trusted_keys", {keys.private_key}}}, said) == 2);
  CHECK(test::contains(said, keys.private_key + " is a private key"));
  CHECK(check({{"trusted_keys", keys.public_key}}, said) == 2);
  CHECK(test::contains(said, "trusted_keys: expected"));
  CHECK(check({{"allow_unsigned", "true"}}, said) == 2);
  CHECK(test::contains(said, "allow_unsigned: expected true or false"));
  // A flag replaces the config's keys, as every flag does.
  std::ofstream(dir.file("store.json"), std::ios::trunc)
      << json({{"trusted_keys", {dir.file("missing.pub")}}}).dump();
  CHECK(test::shell_status("'" + bin + "' --check-config --config '" + dir.file("store.json") +
                               "' --store s1 --state-dir /tmp/x --trusted-key '" + keys.public_key +
                               "' 2>&1",
                           &said) == 0);
}
