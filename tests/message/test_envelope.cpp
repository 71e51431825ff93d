#include <bcast/message/envelope.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace bcast::message;
using nlohmann::json;
using namespace std::string_literals;

namespace {

const time_point now = *parse_time("2026-11-26T09:00:00.000Z");

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

json request() {
  return json{{"targets", {"all"}},
              {"category", "announcement"},
              {"title", "Promo"},
              {"body", "Diskon 10% hari ini"}};
}

validation_result check(const json& body, const limits& lim = {}) {
  return validate_request(body, default_categories(), lim, now);
}

validation_result check_text(std::string_view body, const limits& lim = {}) {
  return validate_request(body, default_categories(), lim, now);
}

// The error names `field`, and its message is printable JSON.
void refused(const validation_result& r, const std::string& field, const std::string& words = "") {
  REQUIRE_FALSE(r.ok());
  INFO(r.err().message);
  CHECK(r.err().field == field);
  CHECK_FALSE(r.err().message.empty());
  CHECK_NOTHROW(json{{"field", r.err().field}, {"message", r.err().message}}.dump());
  if (!words.empty()) CHECK_THAT(r.err().message, Catch::Contains(words));
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
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

TEST_CASE("encode writes the SPEC's keys in order, compact", "[envelope]") {
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
  REQUIRE(back.ok());
  CHECK(*back == e);

  e.expires_at = "2026-11-27T10:00:00.000Z";
  e.require_ack = true;
  e.priority = priority::urgent;
  back = decode(encode(e));
  REQUIRE(back.ok());
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
  REQUIRE(back.ok());
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
  REQUIRE(e.ok());
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

TEST_CASE("a typical request makes a draft", "[validate]") {
  auto r = check(request());
  REQUIRE(r.ok());
  const envelope& d = r.value();
  CHECK(d.v == 1);
  CHECK(d.id.empty());
  CHECK(d.sent_at.empty());
  CHECK(d.sender.empty());
  CHECK(d.targets == std::vector<std::string>{"all"});
  CHECK(d.category == "announcement");
  CHECK(d.title == "Promo");
  CHECK(d.body == "Diskon 10% hari ini");
  CHECK(d.priority == priority::normal);
  CHECK_FALSE(d.expires_at.has_value());
  CHECK_FALSE(d.require_ack);

  json full = request();
  full["priority"] = "urgent";
  full["expires_at"] = "2026-11-26T10:00:00Z";
  full["require_ack"] = true;
  full["targets"] = {"region:jateng", "store:smg-01", "region:jateng", "all", "store:smg-01"};
  auto f = check(full);
  REQUIRE(f.ok());
  CHECK(f->priority == priority::urgent);
  CHECK(f->expires_at == "2026-11-26T10:00:00.000Z");
  CHECK(f->require_ack);
  CHECK(f->targets == std::vector<std::string>{"region:jateng", "store:smg-01", "all"});

  // Null means absent for the optional fields.
  json nulls = request();
  nulls["priority"] = nullptr;
  nulls["expires_at"] = nullptr;
  nulls["require_ack"] = nullptr;
  auto n = check(nulls);
  REQUIRE(n.ok());
  CHECK(n->priority == priority::normal);
  CHECK_FALSE(n->expires_at.has_value());
  CHECK_FALSE(n->require_ack);
}

TEST_CASE("make_envelope completes a draft", "[validate]") {
  auto draft = check(request());
  REQUIRE(draft.ok());
  ulid_generator ids;
  auto e =
      make_envelope(std::move(draft).value(), ids, "admin", now + std::chrono::milliseconds(7));
  REQUIRE(e.ok());
  CHECK(is_valid_ulid(e->id));
  CHECK(ulid_time_ms(e->id) == unix_ms(now) + 7);
  CHECK(e->sent_at == "2026-11-26T09:00:00.007Z");
  CHECK(e->sender == "admin");
  CHECK(decode(encode(*e)).ok());
}

TEST_CASE("the body must be a JSON object", "[validate]") {
  refused(check(json::array()), "", "JSON object");
  refused(check(json("text")), "", "JSON object");
  refused(check_text("[]"), "", "JSON object");
  refused(check_text(""), "", "not valid JSON");
  refused(check_text("{\"targets\":"), "", "not valid JSON");
  refused(check_text("{} {}"), "", "not valid JSON");
}

TEST_CASE("invalid UTF-8 in the raw body is a clean error", "[validate]") {
  const std::string body = R"({"targets":["all"],"category":"announcement","title":"Pro)"s +
                           "\xFF\xFE" + R"(mo","body":"x"})";
  auto r = check_text(body);
  refused(r, "", "not valid JSON");
  CHECK_THAT(r.err().message, Catch::Contains("UTF-8"));
  refused(check_text("{\"targets\":[\"all\"],\"body\":\"\xED\xA0\x80\"}"), "", "not valid JSON");
  refused(check_text("{\"\xC0\x80\":1}"), "", "not valid JSON");
  // Valid text goes through the string overload too.
  CHECK(check_text(request().dump()).ok());
}

TEST_CASE("invalid UTF-8 in a json built in code is caught", "[validate]") {
  json body = request();
  body["title"] = "bad \xFF";
  refused(check(body), "title", "UTF-8");
  body = request();
  body["body"] = "\xC3";
  refused(check(body), "body", "UTF-8");
}

TEST_CASE("targets are checked", "[validate]") {
  const auto with_targets = [](json targets) {
    json body = request();
    body["targets"] = std::move(targets);
    return check(body);
  };
  json body = request();
  body.erase("targets");
  refused(check(body), "targets", "required");
  refused(with_targets("all"), "targets", "array");
  refused(with_targets(nullptr), "targets", "array");
  refused(with_targets(json::array()), "targets", "at least one");
  refused(with_targets({"all", 5}), "targets", "targets[1] must be a string");
  refused(with_targets({"Region:X"}), "targets", "\"Region:X\"");
  refused(with_targets({"store:"}), "targets", "store id is empty");
  refused(with_targets({"all:x"}), "targets", "\"all\" takes no name");
  refused(with_targets({"region:" + std::string(65, 'a')}), "targets", "longer than 64");
  CHECK(with_targets({"region:" + std::string(64, 'a')}).ok());

  json many = json::array();
  for (int i = 0; i < 64; ++i) many.push_back("store:s" + std::to_string(i));
  CHECK(with_targets(many).ok());
  many.push_back("store:s64");
  refused(with_targets(many), "targets", "at most 64");
  // Duplicates count against the limit: the request as sent is too long.
  json dupes = json::array();
  for (int i = 0; i < 65; ++i) dupes.push_back("all");
  refused(with_targets(dupes), "targets", "at most 64");

  limits small;
  small.max_targets = 2;
  body = request();
  body["targets"] = {"all", "store:1", "store:2"};
  refused(check(body, small), "targets", "at most 2");
}

TEST_CASE("category must be configured", "[validate]") {
  json body = request();
  body["category"] = "price_info";
  CHECK(check(body).ok());
  body["category"] = "gossip";
  refused(check(body), "category", "announcement, price_info, discount_info");
  body["category"] = 3;
  refused(check(body), "category", "must be a string");
  body.erase("category");
  refused(check(body), "category", "required");

  const std::vector<category> only = {{"urgent_recall", "Recall", "Penarikan"}};
  body = request();
  refused(validate_request(body, only, {}, now), "category", "urgent_recall");
  body["category"] = "urgent_recall";
  CHECK(validate_request(body, only, {}, now).ok());
}

TEST_CASE("title limits are in characters", "[validate]") {
  const auto with_title = [](std::string title) {
    json body = request();
    body["title"] = std::move(title);
    return check(body);
  };
  CHECK(with_title(std::string(200, 'x')).ok());
  refused(with_title(std::string(201, 'x')), "title", "longer than 200 characters");
  // 200 two-, three- and four-byte characters are 400, 600 and 800 bytes, still fine.
  CHECK(with_title(repeat("\xC3\xA9", 200)).ok());
  CHECK(with_title(repeat("\xE2\x82\xAC", 200)).ok());
  CHECK(with_title(repeat("\xF0\x9F\x98\x80", 200)).ok());
  refused(with_title(repeat("\xF0\x9F\x98\x80", 201)), "title", "longer than 200");
  refused(with_title(repeat("\xC3\xA9", 199) + "ab"), "title", "longer than 200");
  CHECK(with_title("x").ok());
  refused(with_title(""), "title", "empty");
  refused(with_title("   "), "title", "blank");
  refused(with_title("\xC2\xA0\xE2\x80\x8B"), "title", "blank");
  refused(with_title("two\nlines"), "title", "control");
  refused(with_title("nul\0inside"s), "title", "control");
  refused(with_title("\x1b[2Jclear"), "title", "control");

  json body = request();
  body["title"] = 5;
  refused(check(body), "title", "must be a string");
  body["title"] = nullptr;
  refused(check(body), "title", "must be a string");
  body.erase("title");
  refused(check(body), "title", "required");

  limits small;
  small.title_max_chars = 3;
  body = request();
  body["title"] = "\xC3\xA9\xC3\xA9\xC3\xA9";
  CHECK(check(body, small).ok());
  body["title"] = "abcd";
  refused(check(body, small), "title", "longer than 3");
}

TEST_CASE("body limits are in bytes", "[validate]") {
  const auto with_body = [](std::string text) {
    json body = request();
    body["body"] = std::move(text);
    return check(body);
  };
  CHECK(with_body(std::string(8192, 'x')).ok());
  refused(with_body(std::string(8193, 'x')), "body", "longer than 8192 bytes");
  CHECK(with_body(repeat("\xE2\x82\xAC", 2730) + "xx").ok());        // 8192 bytes, 2732 characters
  refused(with_body(repeat("\xE2\x82\xAC", 2731)), "body", "8192");  // 8193 bytes
  refused(with_body(repeat("\xC3\xA9", 4097)), "body", "8192");
  refused(with_body(""), "body", "empty");
  CHECK(with_body("line 1\r\nline 2\n\tindented").ok());
  refused(with_body("bell\a"), "body", "control");
  refused(with_body("esc \x1b[31m"), "body", "control");
  refused(with_body("nul \0"s), "body", "control");

  json body = request();
  body["body"] = json::object();
  refused(check(body), "body", "must be a string");
  body.erase("body");
  refused(check(body), "body", "required");
}

TEST_CASE("optional fields are checked by type and value", "[validate]") {
  const auto with = [](const char* key, json value) {
    json body = request();
    body[key] = std::move(value);
    return check(body);
  };
  CHECK(with("priority", "high")->priority == priority::high);
  refused(with("priority", "low"), "priority", "\"normal\", \"high\" or \"urgent\"");
  refused(with("priority", "HIGH"), "priority");
  refused(with("priority", 2), "priority");

  CHECK(with("require_ack", false).ok());
  refused(with("require_ack", "true"), "require_ack", "true or false");
  refused(with("require_ack", 1), "require_ack");

  CHECK(with("expires_at", "2026-11-26T09:00:00.001Z")->expires_at == "2026-11-26T09:00:00.001Z");
  CHECK(with("expires_at", "2027-01-01T00:00:00Z")->expires_at == "2027-01-01T00:00:00.000Z");
  refused(with("expires_at", "2026-11-26T09:00:00.000Z"), "expires_at", "future");
  refused(with("expires_at", "2026-11-26T08:59:59Z"), "expires_at", "future");
  refused(with("expires_at", "2026-11-26T10:00:00+07:00"), "expires_at", "UTC");
  refused(with("expires_at", "tomorrow"), "expires_at");
  refused(with("expires_at", 1764151200), "expires_at");
}

TEST_CASE("unknown fields are refused by name", "[validate]") {
  const auto with = [](const std::string& key) {
    json body = request();
    body[key] = 1;
    return check(body);
  };
  refused(with("expire_at"), "expire_at", "unknown field");
  refused(with("id"), "id", "set by the server");
  refused(with("sender"), "sender", "set by the server");
  refused(with("sent_at"), "sent_at", "set by the server");
  refused(with("v"), "v", "set by the server");
  auto odd = with("\x01weird\"key");
  refused(odd, "\\x01weird\"key");
}

TEST_CASE("the first problem is reported even when there are several", "[validate]") {
  auto r = check(json::object());
  refused(r, "targets", "required");
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
