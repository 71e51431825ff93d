// End-to-end: message signing keys made by the real bcastctl, and the real publisherd signing
// with them (README, "Signed messages"), against a real Redis.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/trust/signature.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

using namespace bcast;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fs::perms mode_of(const std::string& path) {
  return fs::status(path).permissions() & fs::perms::mask;
}

trust::keyring trusting(std::initializer_list<std::string> public_key_files) {
  trust::keyring keys;
  for (const auto& f : public_key_files) {
    auto k = trust::public_key::load(f);
    REQUIRE_OK(k);
    keys.add(std::move(k).value());
  }
  return keys;
}

// The id of the key in `keys` that signed `envelope_json`, or why none did.
std::string signer(const trust::keyring& keys, const std::string& envelope_json) {
  auto e = message::decode(envelope_json);
  REQUIRE_OK(e);
  auto key = keys.verify(*e);
  return key ? (*key)->id() : "not verified: " + std::string(trust::describe(key.err()));
}

// The envelope of message `id` as GET /api/v1/messages/{id} shows it.
std::string shown_envelope(test::publisherd_fixture& f, const test::publisherd_fixture::session& s,
                           const std::string& id) {
  auto r = f.call("GET", "/api/v1/messages/" + id, {}, {{"Cookie", s.cookie}});
  REQUIRE(r.status == 200);
  return json::parse(r.body)["message"].dump();
}

std::string sent_id(const test::http_result& r) {
  REQUIRE(r.status == 201);
  return json::parse(r.body)["id"];
}

}  // namespace

TEST_CASE(
    "bcastctl key gen: an Ed25519 pair that openssl reads (0600 private, public), its key id; it "
    "never replaces a key; usage errors exit 2") {
  test::temp_dir dir;
  const auto out_dir = dir.file("new/keys");  // made, 0700
  std::string out;
  REQUIRE(test::run_bcastctl("key gen --out " + out_dir, {}, &out) == 0);
  INFO(out);
  const auto key = out_dir + "/signing.key";
  const auto pub = out_dir + "/signing.pub";
  // It says where each file goes.
  CHECK(test::contains(out, key + "  private, 0600: stays with publisherd"));
  CHECK(test::contains(out, pub + "  public: copy it to every store"));
  REQUIRE(out.rfind("key id ", 0) == 0);
  const auto id = out.substr(7, out.find('\n') - 7);
  CHECK(trust::is_valid_key_id(id));
  CHECK(mode_of(out_dir) == fs::perms::owner_all);
  CHECK(mode_of(key) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK((mode_of(pub) & fs::perms::others_write) == fs::perms::none);

  // openssl reads both, the public key is the private key's, and the id is the first 8 bytes of
  // the SHA-256 of the raw 32-byte public key.
  CHECK(test::shell_status("openssl pkey -in '" + key + "' -noout") == 0);
  CHECK(test::shell_status("openssl pkey -pubin -in '" + pub + "' -noout") == 0);
  CHECK(test::shell("openssl pkey -in '" + key + "' -pubout") == read_text(pub));
  CHECK(test::contains(test::shell("openssl pkey -in '" + key + "' -noout -text"), "ED25519"));
  CHECK(test::shell("openssl pkey -pubin -in '" + pub +
                    "' -outform DER | tail -c 32 | sha256sum | cut -c1-16") == id + "\n");
  CHECK(test::shell("openssl pkcs8 -topk8 -nocrypt -in '" + key + "'") == read_text(key));

  // `key id` names a key file's id, private or public.
  REQUIRE(test::run_bcastctl("key id " + pub, {}, &out) == 0);
  CHECK(out == id + "\n");
  REQUIRE(test::run_bcastctl("key id " + key, {}, &out) == 0);
  CHECK(out == id + "\n");

  // A second gen into the same directory is refused and changes nothing; so is one where only
  // the public key is left.
  const auto key_text = read_text(key);
  CHECK(test::run_bcastctl("key gen --out " + out_dir, {}, &out) == 1);
  CHECK(test::contains(out, key + " exists; not replacing a key"));
  CHECK(read_text(key) == key_text);
  fs::remove(key);
  CHECK(test::run_bcastctl("key gen --out " + out_dir, {}, &out) == 1);
  CHECK(test::contains(out, pub + " exists; not replacing a key"));
  CHECK_FALSE(fs::exists(key));

  for (const auto& [args, said] : std::vector<std::pair<std::string, std::string>>{
           {"key gen", "key gen needs --out DIR"},
           {"key", "key needs gen or id"},
           {"key rotate --out " + out_dir, "unknown key action 'rotate'"},
           {"key gen extra --out " + out_dir, "key gen takes no NAME"},
           {"key id", "key id needs exactly one FILE"}}) {
    INFO(args);
    CHECK(test::run_bcastctl(args, {}, &out) == 2);
    CHECK(test::contains(out, said));
    CHECK(test::contains(out, "bcastctl key gen --out DIR"));  // the usage text
  }
  std::ofstream(dir.file("junk.pem")) << "not a key\n";
  CHECK(test::run_bcastctl("key id " + dir.file("junk.pem"), {}, &out) == 1);
  CHECK(test::contains(out, "is not a PEM public key"));
}

TEST_CASE(
    "publisherd without a signing key refuses to start and says how to make one; one that others "
    "may read, or that is not a key, is refused too") {
  test::redis_server redis;
  test::temp_dir dir;
  const auto key = test::make_key_pair(dir.file("keys"));
  const auto base =
      "--redis " + redis.url() + " --http 127.0.0.1:" + std::to_string(test::free_port());
  std::string out;
  for (const auto& mode : {std::string(), std::string(" --check-config")}) {
    INFO(mode);
    CHECK(test::run_publisherd(base + mode, out) == 2);
    CHECK(test::contains(out, "no signing key"));
    CHECK(test::contains(out, "bcastctl key gen --out /etc/bcast"));
    CHECK(test::contains(out, "\"allow_unsigned\": true"));
    CHECK_FALSE(test::contains(out, "listening"));  // it never started

    ::chmod(key.private_key.c_str(), 0640);
    CHECK(test::run_publisherd(base + mode + " --signing-key " + key.private_key, out) == 2);
    CHECK(test::contains(out, "signing key " + key.private_key + " may be read by other users"));
    CHECK(test::contains(out, "chmod 600"));
    ::chmod(key.private_key.c_str(), 0600);

    // A public key where the private one belongs.
    CHECK(test::run_publisherd(base + mode + " --signing-key " + key.public_key, out) == 2);
    CHECK(test::contains(out, key.public_key + " is a public key"));
    std::ofstream(dir.file("junk.key")) << "not a key\n";
    ::chmod(dir.file("junk.key").c_str(), 0600);
    CHECK(test::run_publisherd(base + mode + " --signing-key " + dir.file("junk.key"), out) == 2);
    CHECK(test::contains(out, dir.file("junk.key") + " is not an unencrypted PEM private key"));
    CHECK(test::run_publisherd(base + mode + " --signing-key " + dir.file("missing.key"), out) ==
          2);
    CHECK(test::contains(out, "missing.key"));
  }
  CHECK(test::run_publisherd(base + " --check-config --signing-key " + key.private_key, out) == 0);
  CHECK(test::contains(out, "configuration OK (signing key id " + key.id + ")"));
}

TEST_CASE("publisherd with allow_unsigned and no key starts, warns, and sends unsigned messages") {
  test::temp_dir conf;
  std::ofstream(conf.file("p.json")) << R"({"allow_unsigned": true})";
  test::publisherd_fixture f({"--config", conf.file("p.json")}, {},
                             test::publisherd_fixture::signing::unsigned_messages);
  CHECK(
      test::contains(f.daemon->log(), "allow_unsigned: no signing key, messages go out unsigned"));
  auto sent = f.send(f.login(), test::simple_message());
  REQUIRE(sent.status == 201);
  CHECK_FALSE(json::parse(sent.body).contains("sig"));
  std::string out;
  CHECK(test::run_publisherd("--check-config --config " + conf.file("p.json"), out) == 0);
  CHECK(test::contains(out, "configuration OK (allow_unsigned: no signing key)"));
}

TEST_CASE(
    "publisherd signs every message: the 201 envelope, GET /api/v1/messages/{id}, the list and the "
    "Redis history carry one sig that verifies under the fixture's public key") {
  test::publisherd_fixture f;
  CHECK(test::contains(f.daemon->log(), "signing messages with key id " + f.key.id));
  const auto keys = trusting({f.public_key});
  auto s = f.login();
  json message = test::simple_message("Harga baru");
  message["targets"] = {"region:jateng", "store:smg-01"};
  message["require_ack"] = true;
  message["expires_at"] = "2099-01-01T00:00:00Z";
  // With an Idempotency-Key the id is the client's: what is signed is the final id.
  const auto key_id = message::ulid_generator().next().value();
  auto sent = f.call("POST", "/api/v1/messages", message.dump(),
                     {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}, {"Idempotency-Key", key_id}});
  REQUIRE(sent_id(sent) == key_id);
  CHECK(signer(keys, sent.body) == f.key.id);
  const auto sig = json::parse(sent.body)["sig"].get<std::string>();
  CHECK(sig.rfind(f.key.id + ".", 0) == 0);
  CHECK(signer(keys, shown_envelope(f, s, key_id)) == f.key.id);
  auto list = json::parse(
      f.call("GET", "/api/v1/messages?limit=5", {}, {{"Cookie", s.cookie}}).body)["messages"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["sig"] == sig);
  for (const auto& target : {"region:jateng", "store:smg-01"}) {
    const auto history = f.redis->cli("XRANGE '" + broker::history_key(target) + "' - +");
    CHECK(test::contains(history, sig));
  }
  // The same key under another store's trust: another publisherd's key does not verify it.
  test::temp_dir other;
  const auto stranger = test::make_key_pair(other.file("keys"));
  CHECK(signer(trusting({stranger.public_key}), sent.body) ==
        "not verified: it is signed by a key this store does not trust");
}

TEST_CASE(
    "publisherd: SIGHUP with a new key signs the next message with it and old messages keep "
    "theirs; a broken or exposed key at SIGHUP keeps the running one") {
  test::publisherd_fixture f;
  const auto old_public = f.dir.file("old.pub");
  fs::copy_file(f.public_key, old_public);
  auto s = f.login();
  const auto first = sent_id(f.send(s, test::simple_message("Sebelum")));

  // Rotation: the new key replaces the file publisherd was given.
  const auto next = test::make_key_pair(f.dir.file("next"));
  fs::rename(next.private_key, f.key.private_key);
  f.daemon->signal(SIGHUP);
  REQUIRE(f.daemon->wait_for_log("signing messages with key id " + next.id + " (" +
                                 f.key.private_key + "), was " + f.key.id));
  REQUIRE(f.daemon->wait_for_log("configuration reloaded"));
  const auto both = trusting({old_public, next.public_key});
  const auto second = f.send(s, test::simple_message("Sesudah"));
  CHECK(signer(both, second.body) == next.id);
  CHECK(signer(both, shown_envelope(f, s, first)) == f.key.id);  // as it was sent
  CHECK(signer(trusting({old_public}), second.body) ==
        "not verified: it is signed by a key this store does not trust");

  const auto good_key = read_text(f.key.private_key);
  const auto signed_by_running_key = [&] {
    const auto r = f.send(s, test::simple_message("Masih"));
    return signer(both, r.body) == next.id;
  };
  SECTION("a file that is not a key") {
    std::ofstream(f.key.private_key, std::ios::trunc) << "-----BEGIN PRIVATE KEY-----\nbroken\n";
    f.daemon->signal(SIGHUP);
    REQUIRE(f.daemon->wait_for_log(
        "reload refused, keeping the running configuration, users and signing key"));
    CHECK(test::contains(f.daemon->log(),
                         f.key.private_key + " is not an unencrypted PEM private key"));
    CHECK(signed_by_running_key());
  }
  SECTION("a key that others may read") {
    ::chmod(f.key.private_key.c_str(), 0644);
    f.daemon->signal(SIGHUP);
    REQUIRE(f.daemon->wait_for_log(
        "reload refused, keeping the running configuration, users and signing key"));
    CHECK(test::contains(f.daemon->log(), "may be read by other users"));
    CHECK(signed_by_running_key());
    // Mended, a reload works again, and the key (unchanged) is not announced again.
    ::chmod(f.key.private_key.c_str(), 0600);
    f.daemon->signal(SIGHUP);
    REQUIRE(f.daemon->wait_for_log("configuration reloaded"));
    CHECK(read_text(f.key.private_key) == good_key);
    CHECK(signed_by_running_key());
    const auto& log = f.daemon->log();
    std::size_t announced = 0;
    for (auto at = log.find("signing messages with key id"); at != std::string::npos;
         at = log.find("signing messages with key id", at + 1))
      ++announced;
    CHECK(announced == 2);  // at start, and at the rotation
  }
}
