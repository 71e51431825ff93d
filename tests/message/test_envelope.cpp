#include <bcast/message/category.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/envelope.hpp>

#include <catch2/catch.hpp>
#include <message/fixed_now.hpp>

#include <chrono>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast::message;
using nlohmann::json;
using namespace std::string_literals;

namespace {

using bcast::test::now;

envelope sample() {
  envelope e;
  e.id = "01JD0000000000000000000000";
  e.targets = {"all", "region:jateng"};
  e.category = "announcement";
  e.title = "Toko tutup lebih awal \xE2\x80\x94 hari ini";
  e.body = "Line one\nLine \"two\" \\ \xF0\x9F\x98\x80\ttab";
  e.priority = priority::high;
  e.sent_at = "2026-11-26T10:00:00.123Z";
  e.sender = "admin";
  return e;
}

}  // namespace

TEST_CASE("priority to and from text", "[envelope]") {
  CHECK(to_string(priority::normal) == "normal");
  CHECK(to_string(priority::high) == "high");
  CHECK(to_string(priority::urgent) == "urgent");
  CHECK(parse_priority("urgent") == priority::urgent);
  CHECK_FALSE(parse_priority("Urgent").has_value());
  CHECK_FALSE(parse_priority("").has_value());
  CHECK(json(priority::high) == "high");
  CHECK(json("normal").get<priority>() == priority::normal);
  CHECK_THROWS_AS(json("low").get<priority>(), json::type_error);
  CHECK_THROWS_AS(json(1).get<priority>(), json::type_error);
}

TEST_CASE("encode writes the envelope's keys in order, compact", "[envelope]") {
  envelope e = sample();
  e.title = "T";
  e.body = "B";
  e.targets = {"all"};
  CHECK(encode(e) ==
        R"({"v":1,"id":"01JD0000000000000000000000","targets":["all"],"category":"announcement",)"
        R"("title":"T","body":"B","priority":"high","sent_at":"2026-11-26T10:00:00.123Z",)"
        R"("expires_at":null,"sender":"admin","require_ack":false})");
  e.expires_at = "2026-11-27T10:00:00.000Z";
  e.require_ack = true;
  const auto j = json::parse(encode(e));
  CHECK(j["expires_at"] == "2026-11-27T10:00:00.000Z");
  CHECK(j["require_ack"] == true);
}

TEST_CASE("encode and decode round-trip", "[envelope]") {
  envelope e = sample();
  auto back = decode(encode(e));
  REQUIRE_OK(back);
  CHECK(*back == e);

  e.expires_at = "2026-11-27T10:00:00.000Z";
  e.require_ack = true;
  e.priority = priority::urgent;
  back = decode(encode(e));
  REQUIRE_OK(back);
  CHECK(*back == e);

  // Through nlohmann's own conversions too.
  const json j = e;
  CHECK(j.get<envelope>() == e);
  CHECK(j["expires_at"].is_string());
  const json none = sample();
  CHECK(none.contains("expires_at"));
  CHECK(none["expires_at"].is_null());
}

TEST_CASE("encode never throws on invalid UTF-8", "[envelope]") {
  envelope e = sample();
  e.title = "bad \xFF byte";
  std::string text;
  REQUIRE_NOTHROW(text = encode(e));
  auto back = decode(text);
  REQUIRE_OK(back);
  CHECK(back->title == "bad \xEF\xBF\xBD byte");
}

// encode() writes the JSON itself for speed; nlohmann's dump of to_json() is the reference.
TEST_CASE("encode writes exactly what nlohmann dumps, for every kind of character", "[envelope]") {
  std::string every_ascii;
  for (int c = 1; c < 0x80; ++c) every_ascii += static_cast<char>(c);
  const std::vector<std::string> texts{
      "",
      "plain",
      every_ascii,
      "quote \" backslash \\ slash / tab \t newline \n cr \r bell \x07 del \x7f nul-free",
      "Rp 34.900 \xe2\x82\xac \xf0\x9f\x9b\x92 \xe6\x97\xa5\xe6\x9c\xac",
      "\xc3\x28 invalid \xff\xfe and truncated \xe2\x82",
  };
  for (const auto& text : texts) {
    envelope e = sample();
    e.title = text;
    e.body = text + text;
    e.sender = text;
    e.targets = {"all", "region:jateng"};
    for (bool with_expiry : {false, true}) {
      e.expires_at =
          with_expiry ? std::optional<std::string>("2026-11-27T10:00:00.000Z") : std::nullopt;
      e.require_ack = with_expiry;
      const nlohmann::ordered_json reference = e;
      CHECK(encode(e) ==
            reference.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    }
  }
}

TEST_CASE("decode accepts what a newer publisher may add", "[envelope]") {
  json j = sample();
  j["new_field"] = {{"x", 1}};
  j.erase("require_ack");
  j.erase("expires_at");
  auto e = decode(j.dump());
  REQUIRE_OK(e);
  CHECK_FALSE(e->require_ack);
  CHECK_FALSE(e->expires_at.has_value());
}

TEST_CASE("decode refuses malformed envelopes without throwing", "[envelope]") {
  const auto refused_wire = [](const std::string& text, const std::string& words) {
    INFO(text);
    bcast::core::result<envelope> r = envelope{};
    REQUIRE_NOTHROW(r = decode(text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == bcast::core::errc::protocol_error);
    CHECK_THAT(r.err().detail(), Catch::Contains(words));
    CHECK_NOTHROW(json(r.err().detail()).dump());
  };
  refused_wire("", "not JSON");
  refused_wire("{", "not JSON");
  refused_wire("{\"v\":1,\"title\":\"\xFF\"}", "not JSON");
  refused_wire("[1,2]", "not a JSON object");
  refused_wire("null", "not a JSON object");
  refused_wire(R"({"v":1} trailing)", "not JSON");

  const auto without = [](const char* key) {
    json j = sample();
    j.erase(key);
    return j.dump();
  };
  const auto with = [](const char* key, json value) {
    json j = sample();
    j[key] = std::move(value);
    return j.dump();
  };
  for (const char* key :
       {"v", "id", "targets", "category", "title", "body", "priority", "sent_at", "sender"}) {
    refused_wire(without(key), std::string("missing \"") + key + "\"");
  }
  refused_wire(with("v", 2), "unsupported version 2");
  refused_wire(with("v", -1), "unsupported version");
  refused_wire(with("v", "1"), "\"v\" must be an integer");
  refused_wire(with("v", 1.0), "\"v\" must be an integer");
  refused_wire(with("id", "not-a-ulid"), "ULID");
  refused_wire(with("id", 5), "\"id\" must be a string");
  refused_wire(with("targets", "all"), "targets");
  refused_wire(with("targets", json::array()), "targets");
  refused_wire(with("targets", {"all", 3}), "targets");
  refused_wire(with("targets", {"Region:X"}), "invalid target \"Region:X\"");
  refused_wire(with("category", "Bad Category"), "invalid category");
  refused_wire(with("title", nullptr), "\"title\" must be a string");
  refused_wire(with("body", json::array()), "\"body\" must be a string");
  refused_wire(with("priority", "low"), "invalid priority");
  refused_wire(with("sent_at", "yesterday"), "sent_at");
  refused_wire(with("expires_at", "tomorrow"), "expires_at");
  refused_wire(with("expires_at", 5), "expires_at");
  refused_wire(with("sender", false), "\"sender\" must be a string");
  refused_wire(with("require_ack", "yes"), "require_ack");

  CHECK_THROWS_AS(json(5).get<envelope>(), json::type_error);
}

TEST_CASE("is_expired", "[envelope]") {
  envelope e = sample();
  CHECK_FALSE(is_expired(e, now));
  e.expires_at = "2026-11-26T09:00:00.000Z";
  CHECK(is_expired(e, now));
  CHECK(is_expired(e, now + std::chrono::hours(1)));
  CHECK_FALSE(is_expired(e, now - std::chrono::milliseconds(1)));
  e.expires_at = "garbage";
  CHECK_FALSE(is_expired(e, now));
}

TEST_CASE("default categories", "[envelope]") {
  const auto cats = default_categories();
  REQUIRE(cats.size() == 3);
  CHECK(cats[0] == category{"announcement", "Announcement", "Pengumuman"});
  CHECK(cats[1] == category{"price_info", "Price info", "Info Harga"});
  CHECK(cats[2] == category{"discount_info", "Discount info", "Info Diskon"});
  CHECK(find_category(cats, "price_info") == &cats[1]);
  CHECK(find_category(cats, "nope") == nullptr);
  CHECK(is_valid_category_id("price_info"));
  CHECK_FALSE(is_valid_category_id("Price Info"));
}

// The canonical reader is a fast path: for any text, decode() must answer exactly what reading
// the text as a JSON document answers, whether the fast path took it or left it.
TEST_CASE("decode's canonical reader agrees with the document reader on every input",
          "[envelope]") {
  const auto same = [](const std::string& text) {
    const auto fast = decode(text);
    const auto general = detail::decode_document(text);
    INFO(bcast::core::printable(text, 400));
    REQUIRE(fast.ok() == general.ok());
    if (fast.ok()) {
      CHECK(*fast == *general);
    } else {
      CHECK(fast.err().detail() == general.err().detail());
    }
  };
  std::string every_control;
  for (int c = 1; c < 0x20; ++c) every_control += static_cast<char>(c);
  std::vector<std::string> canonical;
  for (const std::string& text :
       {std::string(), std::string("plain"), every_control,
        std::string("quote \" backslash \\ slash / del \x7f"),
        std::string("Rp 34.900 \xe2\x82\xac \xf0\x9f\x9b\x92 \xe6\x97\xa5\xe6\x9c\xac")}) {
    for (bool with_expiry : {false, true}) {
      envelope e = sample();
      e.title = text;
      e.body = text + "\n" + text;
      e.sender = text.empty() ? "admin" : text;
      e.expires_at =
          with_expiry ? std::optional<std::string>("2026-11-27T10:00:00.000Z") : std::nullopt;
      e.require_ack = with_expiry;
      e.targets = with_expiry ? std::vector<std::string>{"store:s1"}
                              : std::vector<std::string>{"all", "region:jateng", "store:s2"};
      canonical.push_back(encode(e));
      // Taken by the fast path, and the envelope comes back whole.
      CHECK(detail::canonical_reader(canonical.back()).read() == std::optional<envelope>(e));
      same(canonical.back());
    }
  }
  // Corrections and recall notices too.
  for (bool recall : {false, true}) {
    envelope e = sample();
    (recall ? e.recalls : e.supersedes) = "01JD0000000000000000000001";
    e.sig = "0123456789abcdef.sig";
    const auto text = encode(e);
    CHECK(detail::canonical_reader(text).read() == std::optional<envelope>(e));
    same(text);
    for (std::size_t n = 0; n < text.size(); ++n) same(text.substr(0, n));
  }
  // Everything it must leave to the document reader, valid or not.
  const std::string base = encode(sample());
  std::vector<std::string> others{
      R"({"v":1, "id":"01JD0000000000000000000000"})",
      base.substr(0, base.size() - 1) + R"(,"extra":{"a":[1,2]}})",
      std::string(base).replace(base.find(R"("v":1)"), 5, R"("v":2)"),
      std::string(base).replace(base.find(R"("v":1)"), 5, R"("v":1.0)"),
      std::string(base).replace(base.find("Toko"), 4,
                                "\\u0054oko"),  // an escape encode() never writes
      std::string(base).replace(base.find("Toko"), 4, "T\\/ko"),
      std::string(base).replace(base.find("Toko"), 4, "T\xffko"),  // invalid UTF-8
      std::string(base).replace(base.find("Toko"), 4, "T\x01ko"),  // a raw control character
      std::string(base).replace(base.find("\"high\""), 6, "\"urgent\""),
      std::string(base).replace(base.find("2026-11-26T10"), 4, "2O26"),
      std::string(base).replace(base.find("01JD"), 4, "01JI"),
      std::string(base).replace(base.find("region:jateng"), 6, "Region"),
      std::string(base).replace(base.find("announcement"), 12, "Announcement"),
      std::string(base).replace(base.find("[\"all\""), 6, "[]"),
      std::string(base).replace(base.find("false}"), 6, "0}"),
      " " + base,
      base + " ",
      base.substr(0, base.size() - 1) + R"(,"supersedes":"01JD0000000000000000000001",)" +
          R"("recalls":"01JD0000000000000000000002"})",
      base.substr(0, base.size() - 1) + R"(,"recalls":"01JD000000000000000000000")" + "}",
      base.substr(0, base.size() - 1) + R"(,"supersedes":"all"})",
      base.substr(0, base.size() - 1) + R"(,"recalls":1})",
      base.substr(0, base.size() - 1) + R"(,"recalls":null,"supersedes":null})",
  };
  for (const auto& text : others) same(text);
  // Every truncation and every single-byte change of a canonical envelope.
  for (std::size_t n = 0; n < base.size(); ++n) same(base.substr(0, n));
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (char c : {'"', '\\', ',', '}', 'x', '1', '\0', '\x80'}) {
      std::string text = base;
      text[i] = c;
      same(text);
    }
  }
}

TEST_CASE("the canonical reader takes only the escapes encode() writes", "[envelope]") {
  auto e = sample();
  e.body =
      "a\x1F"
      "b\x01";
  const auto text = encode(e);
  const auto at = text.find("\\u001f");
  REQUIRE(at != std::string::npos);
  CHECK(detail::canonical_reader(text).read() == e);

  auto upper = text;
  upper.replace(at, 6, "\\u001F");
  CHECK_FALSE(detail::canonical_reader(upper).read());
  CHECK(decode(upper).value() == e);  // the general reader takes it
  for (const char* other : {"\\u0020", "\\u0100", "\\u0x1f", "\\u001g", "\\u002f"}) {
    INFO(other);
    auto changed = text;
    changed.replace(at, 6, other);
    CHECK_FALSE(detail::canonical_reader(changed).read());
  }
}

TEST_CASE("supersedes and recalls: written only when set, read back, checked", "[envelope]") {
  envelope e = sample();
  const auto plain = encode(e);
  CHECK(plain.find("supersedes") == std::string::npos);
  CHECK(plain.find("recalls") == std::string::npos);
  CHECK_FALSE(json(e).contains("supersedes"));

  e.supersedes = "01JD0000000000000000000001";
  const auto correction = encode(e);
  CHECK(correction.find(R"("require_ack":false,"supersedes":"01JD0000000000000000000001"})") !=
        std::string::npos);
  CHECK(json::parse(correction) == json(e));
  auto back = decode(correction);
  REQUIRE_OK(back);
  CHECK(back->supersedes == e.supersedes);
  CHECK_FALSE(back->recalls);

  e.supersedes.reset();
  e.recalls = "01JD0000000000000000000002";
  auto notice = decode(encode(e));
  REQUIRE_OK(notice);
  CHECK(notice->recalls == e.recalls);

  // Null is absent; anything but a message id is refused, and so is a notice that corrects.
  auto j = json(sample());
  j["supersedes"] = nullptr;
  j["recalls"] = nullptr;
  auto nulls = decode(j);
  REQUIRE_OK(nulls);
  CHECK_FALSE(nulls->supersedes);
  CHECK_FALSE(nulls->recalls);
  for (const auto& bad :
       {json("all"), json(1), json::array(), json("01jd0000000000000000000001")}) {
    auto k = json(sample());
    k["recalls"] = bad;
    auto r = decode(k);
    REQUIRE_FALSE(r);
    CHECK(r.err().detail() == "envelope: \"recalls\" must be null or a message id");
  }
  auto both = json(sample());
  both["supersedes"] = "01JD0000000000000000000001";
  both["recalls"] = "01JD0000000000000000000002";
  auto refused = decode(both);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().detail() == "envelope: a recall notice cannot supersede a message");
}

TEST_CASE("must-read intervals: written only when set, read back by both readers, checked",
          "[envelope]") {
  envelope e = sample();
  CHECK(encode(e).find("repeat_every_s") == std::string::npos);
  CHECK_FALSE(json(e).contains("escalate_after_s"));

  e.require_ack = true;
  e.repeat_every_s = 10;
  e.escalate_after_s = max_interval_s;
  const auto text = encode(e);
  CHECK(text.find(R"("require_ack":true,"repeat_every_s":10,"escalate_after_s":2592000})") !=
        std::string::npos);
  CHECK(json::parse(text) == json(e));
  CHECK(detail::canonical_reader(text).read() == std::optional<envelope>(e));
  auto back = decode(text);
  REQUIRE_OK(back);
  CHECK(*back == e);
  e.supersedes = "01JD0000000000000000000001";
  e.sig = "0123456789abcdef.sig";
  CHECK(detail::canonical_reader(encode(e)).read() == std::optional<envelope>(e));

  // Anything but 1 to max_interval_s whole seconds is refused, by both readers alike.
  const std::string base = encode(sample());
  const auto with = [&](const std::string& member) {
    return base.substr(0, base.size() - 1) + "," + member + "}";
  };
  for (const char* bad : {"0", "-5", "2592001", "99999999999", "1.5", "\"60\"", "true", "[60]"}) {
    for (const char* key : {"repeat_every_s", "escalate_after_s"}) {
      INFO(key << " " << bad);
      const auto member = "\""s + key + "\":" + bad;
      const auto r = decode(with(member));
      REQUIRE_FALSE(r);
      CHECK_THAT(r.err().detail(), Catch::Contains(key) && Catch::Contains("seconds"));
      CHECK_FALSE(detail::canonical_reader(with(member)).read());
    }
  }
  // A leading zero or an exponent is JSON the document reader takes, never encode()'s.
  for (const char* other : {R"("repeat_every_s":060)", R"("repeat_every_s":6e1)"}) {
    CHECK_FALSE(detail::canonical_reader(with(other)).read());
  }
  auto nulls = decode(with(R"("repeat_every_s":null,"escalate_after_s":null)"));
  REQUIRE_OK(nulls);
  CHECK_FALSE(nulls->repeat_every_s);
  CHECK_FALSE(nulls->escalate_after_s);
}
