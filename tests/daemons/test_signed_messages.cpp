// End-to-end: a store shows only what head office signed, and only what was addressed to it
// (README, "Signed messages"). Real subscriberd processes, publisherd and redis-server; what an
// attacker who can write to Redis does is done here with the library: publish an envelope as it
// is (forged, unsigned, signed by another key), or rewrite a history entry.

#include "store_fixture.hpp"

#include <broker/broker_helpers.hpp>

#include <bcast/broker/keys.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/trust/signature.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;
using test::fleet;
using test::key_pair;
using test::store_box;

namespace {

// Whoever can write to Redis, with the library. Each write has a connection of its own: the
// test blocks on the daemons between writes, and a loop that did not run meanwhile would time its
// next command from a stale clock.
struct redis_writer {
  std::string url;

  struct connection {
    core::loop loop;
    redis::client client;
    explicit connection(const std::string& url) : client(loop, test::broker_opts(url)) {}
    redis::reply command(const std::vector<std::string>& args) {
      auto r = test::run_command(loop, client, args);
      REQUIRE_OK(r);
      return std::move(r).value();
    }
  };

  // Appends `e` to each of its targets' history and publishes it live, as it is; publisherd's
  // message log records it too, so GET /api/v1/messages/{id} shows its receipts.
  void publish(const message::envelope& e) const {
    connection c(url);
    broker::publisher publisher(c.client);
    std::optional<core::result<broker::publish_outcome>> out;
    publisher.publish(e,
                      [&](core::result<broker::publish_outcome> r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(c.loop, [&] { return out.has_value(); }));
    REQUIRE_OK(*out);
  }

  // Rewrites `target`'s history with `edit` applied to the envelope JSON of each entry, keeping
  // every entry id: what a store reads in catch-up is then the edited text.
  void rewrite_history(
      const std::string& target,
      const std::function<void(const std::string& id, std::string& json)>& edit) const {
    connection c(url);
    const auto key = broker::history_key(target);
    const auto entries = c.command({"XRANGE", key, "-", "+"});
    c.command({"DEL", key});
    for (const auto& e : entries.elements) {
      std::vector<std::string> add{"XADD", key, e.elements[0].str};
      std::string id;
      const auto& fields = e.elements[1].elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str == "id") id = fields[i + 1].str;
      }
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        std::string value = fields[i + 1].str;
        if (fields[i].str == "env") edit(id, value);
        add.push_back(fields[i].str);
        add.push_back(std::move(value));
      }
      c.command(add);
    }
  }

  // Appends `json` to `target`'s history as a copy of message `id` (no live frame: the stores
  // that read it are off).
  void append_to_history(const std::string& target, const std::string& id,
                         const std::string& json) const {
    connection(url).command({"XADD", broker::history_key(target), "0-*", "id", id, "env", json});
  }
};

message::envelope signed_by(const trust::signing_key& key, message::envelope e) {
  REQUIRE_OK(trust::sign(key, e));
  return e;
}

message::envelope signed_message(const trust::signing_key& key, std::vector<std::string> targets,
                                 const std::string& title) {
  return signed_by(key, test::make_test_envelope(std::move(targets), title));
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
store_box& store_gone_off(fleet& f, const redis_writer& w) {
  auto& s1 = store_trusting(f, "s1", {}, {f.head_office_keys.public_file});
  w.publish(signed_message(f.head_office_keys.key, {"all"}, "before"));
  REQUIRE(s1.wait_shown("before"));
  s1.stop();
  return s1;
}

// The store's receipt for message `id` through publisherd's API, once it is `state`.
json wait_for_receipt(fleet& f, const std::string& id, const std::string& store,
                      const std::string& state) {
  json r;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    r = f.receipts(id);
    for (const auto& s : r["stores"]) {
      if (s["store"] == store && s["state"] == state) return r;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("no receipt " << state << " from " << store << " for " << id << ": " << r.dump());
    }
    std::this_thread::sleep_for(10ms);
  }
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
  auto& s1 = store_trusting(f, "s1", {"region:jateng"}, {f.head_office_keys.public_file});
  CHECK(test::contains(s1.process->log(),
                       "showing messages signed by key " + f.head_office_keys.key.id()));
  const redis_writer hq{f.hq.redis->url()};
  const auto m = signed_message(f.head_office_keys.key, {"region:jateng"}, "Harga baru");
  hq.publish(m);
  REQUIRE(s1.wait_shown("Harga baru"));
  const auto r = wait_for_receipt(f, m.id, "s1", "displayed");
  CHECK(r["delivered"] == 1);
  CHECK(r["rejected"] == 0);
  CHECK(s1.shown()[0]["sig"] == m.sig);
}

TEST_CASE(
    "signed messages: unsigned, or signed by a key the store does not trust: not shown, "
    "rejected, and the store goes on") {
  fleet f;
  auto& s1 = store_trusting(f, "s1", {}, {f.head_office_keys.public_file});
  test::temp_dir other;
  const auto stranger = key_pair::make(other.path());
  const redis_writer w{f.hq.redis->url()};

  const auto foreign = signed_message(stranger.key, {"all"}, "from another key");
  w.publish(foreign);
  REQUIRE(s1.process->wait_for_log("message " + foreign.id +
                                   " rejected: it is signed by a key this store does not trust "
                                   "(key id " +
                                   stranger.key.id() + ")"));
  const auto plain = test::make_test_envelope({"store:s1"}, "unsigned");
  w.publish(plain);
  REQUIRE(s1.process->wait_for_log("message " + plain.id + " rejected: it is not signed"));

  w.publish(signed_message(f.head_office_keys.key, {"all"}, "genuine"));
  REQUIRE(s1.wait_shown("genuine"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"genuine"});
  for (const auto& id : {foreign.id, plain.id}) {
    const auto r = wait_for_receipt(f, id, "s1", "rejected");
    CHECK(r["rejected"] == 1);
    CHECK(r["delivered"] == 0);
    CHECK(r["displayed"] == 0);
    CHECK(r["expected"] == 1);
  }
}

TEST_CASE(
    "signed messages: one byte changed in the title, body, targets or expiry of a history "
    "entry or a live frame: not shown, rejected") {
  fleet f;
  const auto& key = f.head_office_keys.key;
  const redis_writer w{f.hq.redis->url()};
  auto& s1 = store_gone_off(f, w);

  // Genuine messages, published while the store is off; then their history entries in `all`
  // are edited, one byte each.
  auto expiring = test::make_test_envelope({"all"}, "expiry");
  expiring.expires_at = "2099-01-01T00:00:00.000Z";
  const std::vector<std::pair<message::envelope, std::pair<std::string, std::string>>> edits{
      {signed_message(key, {"all"}, "Harga 1000"), {"Harga 1000", "Harga 9000"}},
      {signed_message(key, {"all"}, "body"), {"Toko buka jam 7.", "Toko buka jam 9."}},
      {signed_message(key, {"all", "store:s7"}, "targets"), {"store:s7", "store:s1"}},
      {signed_by(key, expiring), {"2099-01-01", "2098-01-01"}}};
  std::map<std::string, std::pair<std::string, std::string>> edit_of;
  for (const auto& [m, edit] : edits) {
    w.publish(m);
    edit_of[m.id] = edit;
  }
  w.rewrite_history("all", [&](const std::string& id, std::string& json) {
    if (auto e = edit_of.find(id); e != edit_of.end())
      flip(json, e->second.first, e->second.second);
  });
  w.publish(signed_message(key, {"all"}, "after the edits"));
  s1.start();
  REQUIRE(s1.wait_shown("after the edits"));
  for (const auto& [m, edit] : edits) {
    INFO(m.title);
    CHECK(
        test::contains(s1.process->log(),
                       "message " + m.id + " rejected: its signature does not match its content"));
    const auto r = wait_for_receipt(f, m.id, "s1", "rejected");
    CHECK(r["rejected"] == 1);
    CHECK(r["delivered"] == 0);
  }

  // Live: a genuine message with its title changed, appended and published as a frame.
  auto forged = signed_message(key, {"all"}, "Diskon 10%");
  forged.title = "Diskon 90%";
  w.publish(forged);
  REQUIRE(s1.process->wait_for_log("message " + forged.id +
                                   " rejected: its signature does not match its content"));
  w.publish(signed_message(key, {"all"}, "live genuine"));
  REQUIRE(s1.wait_shown("live genuine"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"before", "after the edits", "live genuine"});
  wait_for_receipt(f, forged.id, "s1", "rejected");
}

TEST_CASE(
    "signed messages: a genuine message for store:9 copied into the `all` history while the "
    "store was off is rejected in catch-up; the store then goes on") {
  fleet f;
  const auto& key = f.head_office_keys.key;
  const redis_writer w{f.hq.redis->url()};
  auto& s1 = store_gone_off(f, w);

  const auto for_nine = signed_message(key, {"store:9"}, "only for store 9");
  w.publish(for_nine);
  w.append_to_history("all", for_nine.id, message::encode(for_nine));
  w.publish(signed_message(key, {"all"}, "next genuine"));
  s1.start();
  REQUIRE(s1.wait_shown("next genuine"));
  CHECK(test::contains(s1.process->log(),
                       "message " + for_nine.id +
                           " rejected: it is not addressed to this store (its targets: store:9)"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"before", "next genuine"});
  // Head office sees that s1 got a copy and refused it; s1 was never expected to show it.
  const auto r = wait_for_receipt(f, for_nine.id, "s1", "rejected");
  CHECK(r["rejected"] == 1);
  CHECK(r["expected"] == 0);
  CHECK(r["delivered"] == 0);

  // Not read again after a restart, and the store keeps going live.
  s1.stop();
  s1.start();
  w.publish(signed_message(key, {"store:s1"}, "after the restart"));
  REQUIRE(s1.wait_shown("after the restart"));
  CHECK(s1.shown_titles() ==
        std::vector<std::string>{"before", "next genuine", "after the restart"});
  std::string log = s1.process->log();
  CHECK(log.find("message " + for_nine.id + " rejected") == std::string::npos);
}

TEST_CASE(
    "signed messages: key rotation; the store trusts the old and the new key, then only the "
    "new one") {
  fleet f;
  test::temp_dir keys;
  const auto old_key = key_pair::make(keys.path() / "old");
  const auto new_key = key_pair::make(keys.path() / "new");
  auto& s1 = store_trusting(f, "s1", {}, {old_key.public_file, new_key.public_file});
  CHECK(test::contains(s1.process->log(), "showing messages signed by keys " + old_key.key.id() +
                                              ", " + new_key.key.id()));
  const redis_writer w{f.hq.redis->url()};
  w.publish(signed_message(old_key.key, {"all"}, "signed by the old key"));
  w.publish(signed_message(new_key.key, {"all"}, "signed by the new key"));
  REQUIRE(s1.wait_shown("signed by the new key"));
  CHECK(s1.shown_titles() ==
        std::vector<std::string>{"signed by the old key", "signed by the new key"});

  // Head office signs with the new key now; the store drops the old one.
  s1.stop();
  s1.trusted_keys = {new_key.public_file};
  s1.start();
  const auto late = signed_message(old_key.key, {"all"}, "old key, too late");
  w.publish(late);
  REQUIRE(s1.process->wait_for_log("message " + late.id +
                                   " rejected: it is signed by a key this store does not trust"));
  w.publish(signed_message(new_key.key, {"all"}, "new key again"));
  REQUIRE(s1.wait_shown("new key again"));
  CHECK(s1.shown_titles() == std::vector<std::string>{"signed by the old key",
                                                      "signed by the new key", "new key again"});
}

TEST_CASE(
    "signed messages: a store without a trusted key refuses to start, --allow-unsigned "
    "warns, a private key is refused") {
  test::temp_dir dir;
  test::redis_server redis;
  const auto keys = key_pair::make(dir.path() / "keys");
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
    box.trusted_keys = {keys.private_file};
    box.launch();
    CHECK(box.process->wait_exit() == 2);
    CHECK(test::contains(box.process->log(),
                         "trusted key: " + keys.private_file +
                             " is a private key; a store needs only the public key (signing.pub), "
                             "and the private key must stay at head office"));
  }
  SECTION("a key file that is not there, or not a key: refused, naming the file") {
    std::ofstream(dir.file("garbage.pub")) << "not a key\n";
    for (const auto& file : {dir.file("missing.pub"), dir.file("garbage.pub")}) {
      box.trusted_keys = {keys.public_file, file};
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
  const auto keys = key_pair::make(dir.path() / "keys");
  const auto bin = test::build_path("daemons/subscriberd/subscriberd");
  auto check = [&](const json& config, std::string& said) {
    std::ofstream(dir.file("store.json"), std::ios::trunc) << config.dump();
    return test::shell_status("'" + bin + "' --check-config --config '" + dir.file("store.json") +
                                  "' --store s1 --state-dir '" + dir.file("state") + "' 2>&1",
                              &said);
  };
  std::string said;
  CHECK(check({{"trusted_keys", {keys.public_file}}}, said) == 0);
  CHECK(test::contains(said, "configuration OK; trusts key " + keys.key.id()));
  CHECK(check({{"allow_unsigned", true}}, said) == 0);
  CHECK(test::contains(said, "allow_unsigned is on"));
  CHECK(check(json::object(), said) == 2);
  CHECK(test::contains(said, "no trusted key"));
  CHECK(check({{"trusted_keys", {keys.private_file}}}, said) == 2);
  CHECK(test::contains(said, keys.private_file + " is a private key"));
  CHECK(check({{"trusted_keys", keys.public_file}}, said) == 2);
  CHECK(test::contains(said, "trusted_keys: expected"));
  CHECK(check({{"allow_unsigned", "true"}}, said) == 2);
  CHECK(test::contains(said, "allow_unsigned: expected true or false"));
  // A flag replaces the config's keys, as every flag does.
  std::ofstream(dir.file("store.json"), std::ios::trunc)
      << json({{"trusted_keys", {dir.file("missing.pub")}}}).dump();
  CHECK(test::shell_status("'" + bin + "' --check-config --config '" + dir.file("store.json") +
                               "' --store s1 --state-dir /tmp/x --trusted-key '" +
                               keys.public_file + "' 2>&1",
                           &said) == 0);
}
