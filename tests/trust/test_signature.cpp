// Signed envelopes: the canonical form, signing, verifying, and the checked-in test vector.

#include <bcast/core/files.hpp>
#include <bcast/message/canonical.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/trust/signature.hpp>

#include <catch2/catch.hpp>
#include <support/assert_ok.hpp>
#include <support/test_support.hpp>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace bcast;
using message::envelope;

namespace {

std::string vector_file(const std::string& name) {
  const char* root = std::getenv("BCAST_SOURCE_ROOT");
  REQUIRE(root);
  auto text = core::read_file_bounded(std::string(root) + "/tests/trust/vector/" + name, 1 << 16);
  REQUIRE_OK(text);
  return *text;
}

envelope sample() {
  envelope e;
  e.id = "01JD0000000000000000000000";
  e.targets = {"all", "region:jateng"};
  e.category = "announcement";
  e.title = "Toko tutup lebih awal \xE2\x80\x94 hari ini";
  e.body = "Line one\nLine \"two\" \\ \x01";
  e.priority = message::priority::high;
  e.sent_at = "2026-11-26T10:00:00.123Z";
  e.sender = "admin";
  return e;
}

trust::signing_key new_key() {
  auto k = trust::signing_key::generate();
  REQUIRE_OK(k);
  return *k;
}

}  // namespace

TEST_CASE("the canonical form: sorted members, defaults written, unknown members merged in order",
          "[trust][canonical]") {
  auto e = sample();
  CHECK(message::signed_bytes(e) ==
        "bcast-envelope-v1\n"
        R"({"body":"Line one\nLine \"two\" \\ \u0001","category":"announcement",)"
        R"("expires_at":null,"id":"01JD0000000000000000000000","priority":"high",)"
        R"("require_ack":false,"sender":"admin","sent_at":"2026-11-26T10:00:00.123Z",)"
        R"("targets":["all","region:jateng"],"title":"Toko tutup lebih awal — hari ini","v":1})");

  e.unknown_members = {{"aa", "1"}, {"reminder_sound", "60"}, {"zz", R"({"a":[true,null]})"}};
  const auto bytes = message::signed_bytes(e);
  CHECK(bytes.starts_with("bcast-envelope-v1\n{\"aa\":1,\"body\":"));
  CHECK(bytes.find(R"("priority":"high","reminder_sound":60,"require_ack":false)") !=
        std::string::npos);
  CHECK(bytes.ends_with(R"("v":1,"zz":{"a":[true,null]}})"));

  SECTION("the signature is not part of what it signs") {
    auto signed_copy = e;
    signed_copy.sig = "anything";
    CHECK(message::signed_bytes(signed_copy) == bytes);
  }
  SECTION("JSON written another way has the same canonical form") {
    const auto respaced =
        R"({ "zz": {"a": [true, null]}, "v": 1, "aa": 1, "id": "01JD0000000000000000000000",
      "targets": ["all", "region:jateng"], "category": "announcement", "reminder_sound": 60,
      "title": "Toko tutup lebih awal \u2014 hari ini", "body": "Line one\nLine \"two\" \\ \u0001",
      "priority": "high", "sent_at": "2026-11-26T10:00:00.123Z", "sender": "admin"})";
    auto decoded = message::decode(std::string_view(respaced));
    REQUIRE_OK(decoded);
    CHECK(message::signed_bytes(*decoded) == bytes);
  }
}

TEST_CASE("unknown members are kept, passed on and checked", "[trust][canonical][envelope]") {
  auto e = sample();
  e.unknown_members = {{"reminder_sound", "60"}, {"zone", "null"}};
  e.sig = "0123456789abcdef.sig";
  const auto wire = message::encode(e);
  CHECK(wire.ends_with(
      R"("require_ack":false,"reminder_sound":60,"zone":null,"sig":"0123456789abcdef.sig"})"));
  auto back = message::decode(std::string_view(wire));
  REQUIRE_OK(back);
  CHECK(*back == e);

  SECTION("an ordered document's nested members are sorted too") {
    nlohmann::ordered_json doc = nlohmann::ordered_json::parse(message::encode(sample()));
    doc["extra"] = nlohmann::ordered_json::parse(R"({"b":1,"a":2})");
    envelope from_ordered = doc.get<envelope>();
    REQUIRE(from_ordered.unknown_members.size() == 1);
    CHECK(from_ordered.unknown_members[0].second == R"({"a":2,"b":1})");
  }
  SECTION("refused: a name bcast would never add, a fraction, an empty signature") {
    auto doc = nlohmann::json::parse(message::encode(sample()));
    auto with = [&](const char* name, nlohmann::json value) {
      auto d = doc;
      d[name] = std::move(value);
      return message::decode(std::string_view(d.dump()));
    };
    CHECK_FALSE(with("Weird-Name", 1));
    CHECK_FALSE(with("price", 1.5));
    CHECK_FALSE(with("nested", nlohmann::json::parse(R"({"x":[0.5]})")));
    CHECK_FALSE(with("sig", ""));
    CHECK_FALSE(with("sig", 7));
    auto null_sig = with("sig", nullptr);
    REQUIRE_OK(null_sig);
    CHECK(null_sig->sig.empty());
  }
}

TEST_CASE("a signed envelope verifies, through the fast and the general decoder",
          "[trust][signature]") {
  const auto key = new_key();
  auto e = sample();
  REQUIRE_OK(trust::sign(key, e));
  CHECK(e.sig.size() == trust::key_id_size + 1 + trust::encoded_signature_size);
  CHECK(e.sig.starts_with(key.id() + "."));

  trust::keyring ring;
  ring.add(key.public_half());
  const auto wire = message::encode(e);
  auto fast = message::decode(std::string_view(wire));
  REQUIRE_OK(fast);
  auto verified = ring.verify(*fast);
  REQUIRE(verified);
  CHECK(*verified.value() == key.public_half());

  auto general = message::decode(nlohmann::json::parse(wire));
  REQUIRE_OK(general);
  CHECK(ring.verify(*general));
}

TEST_CASE("any change to a signed member breaks the signature", "[trust][signature]") {
  const auto key = new_key();
  trust::keyring ring({key.public_half()});
  auto original = sample();
  original.unknown_members = {{"reminder_sound", "60"}};
  REQUIRE_OK(trust::sign(key, original));
  REQUIRE(ring.verify(original));

  const std::vector<std::pair<const char*, std::function<void(envelope&)>>> changes = {
      {"title", [](envelope& e) { e.title += "!"; }},
      {"body", [](envelope& e) { e.body[0] = 'l'; }},
      {"targets: another", [](envelope& e) { e.targets[1] = "store:9"; }},
      {"targets: one more", [](envelope& e) { e.targets.push_back("store:9"); }},
      {"targets: order", [](envelope& e) { std::swap(e.targets[0], e.targets[1]); }},
      {"expires_at", [](envelope& e) { e.expires_at = "2030-01-01T00:00:00.000Z"; }},
      {"category", [](envelope& e) { e.category = "price_info"; }},
      {"priority", [](envelope& e) { e.priority = message::priority::urgent; }},
      {"require_ack", [](envelope& e) { e.require_ack = true; }},
      {"sender", [](envelope& e) { e.sender = "ceo"; }},
      {"sent_at", [](envelope& e) { e.sent_at = "2026-11-26T10:00:00.124Z"; }},
      {"id", [](envelope& e) { e.id[25] = '1'; }},
      {"an unknown member", [](envelope& e) { e.unknown_members[0].second = "61"; }},
      {"an unknown member added", [](envelope& e) { e.unknown_members.emplace_back("x", "1"); }},
      {"the signature", [](envelope& e) { e.sig[20] = e.sig[20] == 'A' ? 'B' : 'A'; }},
      {"supersedes added", [](envelope& e) { e.supersedes = "01JD0000000000000000000001"; }},
      {"made a recall notice", [](envelope& e) { e.recalls = "01JD0000000000000000000001"; }},
      {"repeat_every_s added", [](envelope& e) { e.repeat_every_s = 10; }},
      {"escalate_after_s added", [](envelope& e) { e.escalate_after_s = 600; }},
  };
  for (const auto& [what, change] : changes) {
    INFO(what);
    auto e = original;
    change(e);
    auto r = ring.verify(e);
    REQUIRE_FALSE(r);
    CHECK(r.err() == trust::signature_problem::mismatch);
  }
}

// Keys keep one initialised OpenSSL context and sign and verify on copies of it (trust/keys.hpp):
// nothing of one use may reach the next, and copies of a key share it across threads.
TEST_CASE("a key signs and verifies again and again, from copies on several threads",
          "[trust][signature]") {
  const auto key = new_key();
  const trust::keyring ring({key.public_half()});
  auto e = sample();
  REQUIRE_OK(trust::sign(key, e));
  const auto first = e.sig;
  REQUIRE_OK(trust::sign(key, e));
  CHECK(e.sig == first);  // Ed25519 signatures are deterministic
  auto altered = e;
  altered.title += "!";
  for (int i = 0; i < 3; ++i) {
    CHECK(ring.verify(altered).err() == trust::signature_problem::mismatch);
    CHECK(ring.verify(e));
  }

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([key, ring, t, &wrong] {
      for (int i = 0; i < 25; ++i) {
        auto m = sample();
        m.title = "thread " + std::to_string(t) + " message " + std::to_string(i);
        if (!trust::sign(key, m) || !ring.verify(m)) ++wrong;
        m.body += "!";
        if (ring.verify(m)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}

TEST_CASE("signatures that cannot be checked", "[trust][signature]") {
  const auto key = new_key();
  const auto other = new_key();
  trust::keyring ring({key.public_half()});
  auto e = sample();
  CHECK(ring.verify(e).err() == trust::signature_problem::unsigned_message);

  REQUIRE_OK(trust::sign(other, e));
  CHECK(ring.verify(e).err() == trust::signature_problem::unknown_key);

  const auto good = e.sig;
  for (std::string bad :
       {good.substr(1), good + "A", good.substr(0, 16) + ":" + good.substr(17),
        "XYZ" + good.substr(3), good.substr(0, 17), std::string(".") + good,
        good.substr(0, good.size() - 1) + "=", good.substr(0, good.size() - 1) + "B"}) {
    INFO(bad);
    e.sig = bad;
    auto r = ring.verify(e);
    REQUIRE_FALSE(r);
    CHECK((r.err() == trust::signature_problem::malformed ||
           r.err() == trust::signature_problem::unknown_key));
  }
  CHECK_FALSE(trust::parse_signature(good.substr(0, good.size() - 1) + "B"));  // non-zero pad bits

  SECTION("rotation: two trusted keys verify each one's messages") {
    trust::keyring both({key.public_half(), other.public_half()});
    auto a = sample();
    auto b = sample();
    REQUIRE_OK(trust::sign(key, a));
    REQUIRE_OK(trust::sign(other, b));
    CHECK(*both.verify(a).value() == key.public_half());
    CHECK(*both.verify(b).value() == other.public_half());
  }
}

TEST_CASE("a keyring from public key files, or the first file that cannot be used, named",
          "[trust][signature]") {
  test::temp_dir tmp;
  const auto a = new_key();
  const auto b = new_key();
  REQUIRE_OK(trust::write_key_pair(tmp.file("a"), a));
  REQUIRE_OK(trust::write_key_pair(tmp.file("b"), b));
  const auto a_pub = tmp.file("a") + "/signing.pub", b_pub = tmp.file("b") + "/signing.pub";

  // The same key twice is one key.
  auto ring = trust::load_keyring({a_pub, b_pub, a_pub}, "trusted key");
  REQUIRE_OK(ring);
  CHECK(ring->size() == 2);
  CHECK(ring->find(a.id()) != nullptr);
  CHECK(ring->find(b.id()) != nullptr);
  auto e = sample();
  REQUIRE_OK(trust::sign(b, e));
  CHECK(ring->verify(e).ok());
  CHECK(trust::load_keyring({}, "trusted key")->empty());

  auto missing = trust::load_keyring({a_pub, tmp.file("gone.pub")}, "previous_signing_keys");
  REQUIRE_FALSE(missing);
  CHECK(missing.err() == core::errc::invalid_argument);
  INFO(missing.err().detail());
  CHECK(missing.err().detail().starts_with("previous_signing_keys: "));
  CHECK(test::contains(missing.err().detail(), tmp.file("gone.pub")));
  CHECK(test::contains(missing.err().detail(), "No such file"));

  auto private_half = trust::load_keyring({tmp.file("a") + "/signing.key"}, "trusted key");
  REQUIRE_FALSE(private_half);
  CHECK(test::contains(private_half.err().detail(), "is a private key"));
}

TEST_CASE("the checked-in test vector", "[trust][vector]") {
  auto key = trust::signing_key::from_pem(vector_file("signing.key"));
  REQUIRE_OK(key);
  auto pub = trust::public_key::from_pem(vector_file("signing.pub"));
  REQUIRE_OK(pub);
  CHECK(*pub == key->public_half());
  CHECK(pub->id() == "21fe31dfa154a261");
  // RFC 8032, section 7.1, TEST 1.
  CHECK(core::to_hex(pub->raw()) ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");

  auto text = vector_file("envelope.json");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  auto e = message::decode(std::string_view(text));
  REQUIRE_OK(e);
  CHECK(message::signed_bytes(*e) == vector_file("signed_bytes.bin"));
  trust::keyring ring({*pub});
  CHECK(ring.verify(*e));

  // Ed25519 is deterministic: signing again gives the same signature.
  auto resigned = *e;
  resigned.sig.clear();
  REQUIRE_OK(trust::sign(*key, resigned));
  CHECK(resigned.sig == e->sig);
  CHECK(message::encode(resigned) == text);

  SECTION("another implementation checks it: python3's JSON and the openssl command") {
    const std::string dir = std::string(std::getenv("BCAST_SOURCE_ROOT")) + "/tests/trust/vector";
    test::temp_dir tmp;
    const auto canonical = tmp.file("signed"), sig = tmp.file("sig");
    REQUIRE(
        test::shell_status(
            "cd '" + dir +
            "' && python3 -c 'import json,sys,base64; e=json.load(open(\"envelope.json\")); "
            "s=e.pop(\"sig\"); "
            "open(sys.argv[2],\"wb\").write(base64.urlsafe_b64decode(s.split(\".\")[1]+\"==\")); "
            "open(sys.argv[1],\"wb\").write(b\"bcast-envelope-v1\\n\"+json.dumps(e,sort_keys=True,"
            "separators=(\",\",\":\"),ensure_ascii=False).encode())' '" +
            canonical + "' '" + sig + "'") == 0);
    CHECK(test::shell_status("cmp '" + canonical + "' '" + dir + "/signed_bytes.bin'") == 0);
    CHECK(test::shell_status("openssl pkeyutl -verify -pubin -inkey '" + dir +
                             "/signing.pub' -rawin -in '" + canonical + "' -sigfile '" + sig +
                             "'") == 0);
  }
}

TEST_CASE("a correction and a recall notice are signed with what they take down",
          "[trust][signature][canonical]") {
  const auto key = new_key();
  trust::keyring ring({key.public_half()});
  auto e = sample();
  e.supersedes = "01JD0000000000000000000001";
  const auto bytes = message::signed_bytes(e);
  // Sorted in: after sent_at, before targets.
  CHECK(
      bytes.find(
          R"("sent_at":"2026-11-26T10:00:00.123Z","supersedes":"01JD0000000000000000000001","targets")") !=
      std::string::npos);
  REQUIRE_OK(trust::sign(key, e));
  CHECK(ring.verify(e));
  auto taken_elsewhere = e;
  taken_elsewhere.supersedes = "01JD0000000000000000000002";
  CHECK_FALSE(ring.verify(taken_elsewhere));
  auto as_notice = e;
  as_notice.recalls = as_notice.supersedes;
  as_notice.supersedes.reset();
  CHECK_FALSE(ring.verify(as_notice));

  auto notice = sample();
  notice.recalls = "01JD0000000000000000000001";
  // After priority, before require_ack.
  CHECK(message::signed_bytes(notice).find(
            R"("priority":"high","recalls":"01JD0000000000000000000001","require_ack")") !=
        std::string::npos);
  REQUIRE_OK(trust::sign(key, notice));
  auto wire = message::decode(std::string_view(message::encode(notice)));
  REQUIRE_OK(wire);
  CHECK(ring.verify(*wire));
}

TEST_CASE("a must-read message's intervals are signed, and a store cannot be told to stop repeating",
          "[trust][signature][canonical]") {
  const auto key = new_key();
  trust::keyring ring({key.public_half()});
  auto e = sample();
  e.require_ack = true;
  e.repeat_every_s = 30;
  e.escalate_after_s = 900;
  const auto bytes = message::signed_bytes(e);
  // Sorted in: escalate_after_s after category, repeat_every_s before require_ack.
  CHECK(bytes.find(R"("category":"announcement","escalate_after_s":900,"expires_at")") !=
        std::string::npos);
  CHECK(bytes.find(R"("priority":"high","repeat_every_s":30,"require_ack":true)") !=
        std::string::npos);
  REQUIRE_OK(trust::sign(key, e));
  auto wire = message::decode(std::string_view(message::encode(e)));
  REQUIRE_OK(wire);
  CHECK(wire->repeat_every_s == 30u);
  CHECK(ring.verify(*wire));
  for (auto change : {+[](envelope& x) { x.repeat_every_s.reset(); },
                      +[](envelope& x) { x.repeat_every_s = 3600; },
                      +[](envelope& x) { x.escalate_after_s.reset(); }}) {
    auto altered = *wire;
    change(altered);
    CHECK(ring.verify(altered).err() == trust::signature_problem::mismatch);
  }
}
