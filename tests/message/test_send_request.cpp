#include <bcast/message/category.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/send_request.hpp>

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

TEST_CASE("a typical request makes a draft", "[validate]") {
  auto r = check(request());
  REQUIRE_OK(r);
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
  REQUIRE_OK(f);
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
  REQUIRE_OK(n);
  CHECK(n->priority == priority::normal);
  CHECK_FALSE(n->expires_at.has_value());
  CHECK_FALSE(n->require_ack);
}

TEST_CASE("make_envelope completes a draft", "[validate]") {
  auto draft = check(request());
  REQUIRE_OK(draft);
  ulid_generator ids;
  auto e =
      make_envelope(std::move(draft).value(), ids, "admin", now + std::chrono::milliseconds(7));
  REQUIRE_OK(e);
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

TEST_CASE("send_at schedules a message: RFC 3339, in the future, at most 90 days ahead",
          "[validate][schedule]") {
  const auto with = [](json value, const limits& lim = {}) {
    json body = request();
    body["send_at"] = std::move(value);
    return check(body, lim);
  };
  CHECK_FALSE(check(request())->send_at);
  CHECK_FALSE(with(nullptr)->send_at);
  CHECK(with("2026-11-26T09:00:00.001Z")->send_at == now + std::chrono::milliseconds(1));
  // An offset, as an admin in Semarang writes it: 16:30 WIB is 09:30 UTC.
  CHECK(with("2026-11-26T16:30:00+07:00")->send_at == now + std::chrono::minutes(30));
  CHECK(with("2027-02-24T09:00:00Z")->send_at == now + std::chrono::hours(24 * 90));
  refused(with("2027-02-24T09:00:00.001Z"), "send_at", "at most 90 days ahead");
  refused(with("2026-11-26T09:00:00Z"), "send_at", "in the future");
  refused(with("2026-11-26T15:59:59+07:00"), "send_at", "in the future");
  refused(with("2026-11-26 10:00"), "send_at", "2026-11-26T17:00:00+07:00");
  refused(with("2026-11-26T10:00:00+7:00"), "send_at");
  refused(with(1764151200), "send_at");
  limits week;
  week.max_schedule_ahead = std::chrono::hours(24 * 7);
  refused(with("2026-12-04T09:00:00Z", week), "send_at", "at most 7 days ahead");

  // It expires after it goes out, or it would never be shown.
  json body = request();
  body["send_at"] = "2026-11-27T09:00:00Z";
  body["expires_at"] = "2026-11-27T09:00:00Z";
  refused(check(body), "expires_at", "after send_at");
  body["expires_at"] = "2026-11-27T09:00:00.001Z";
  CHECK(check(body).ok());
}

TEST_CASE("supersedes names the message a correction replaces", "[validate][correction]") {
  const auto with = [](json value) {
    json body = request();
    body["supersedes"] = std::move(value);
    return check(body);
  };
  CHECK(with("01JD0000000000000000000001")->supersedes == "01JD0000000000000000000001");
  CHECK_FALSE(with(nullptr)->supersedes);
  refused(with("01JD"), "supersedes", "the id of the message");
  refused(with(17), "supersedes");
  json scheduled = request();
  scheduled["supersedes"] = "01JD0000000000000000000001";
  scheduled["send_at"] = "2026-11-27T09:00:00Z";
  refused(check(scheduled), "supersedes", "send_at");
  // And it is in the envelope the draft becomes.
  ulid_generator ids;
  auto e = make_envelope(*with("01JD0000000000000000000001"), ids, "admin", now);
  REQUIRE_OK(e);
  auto back = decode(encode(*e));
  REQUIRE_OK(back);
  CHECK(back->supersedes == "01JD0000000000000000000001");
}

TEST_CASE("repeat_every_s and escalate_after_s: whole seconds, in range, with require_ack",
          "[validate]") {
  const auto with = [](json extra) {
    json body = request();
    body["require_ack"] = true;
    body.update(extra);
    return check(body);
  };
  auto r = with({{"repeat_every_s", 10}, {"escalate_after_s", 1}});
  REQUIRE_OK(r);
  CHECK(r->repeat_every_s == 10u);
  CHECK(r->escalate_after_s == 1u);
  CHECK(with({{"repeat_every_s", nullptr}})->repeat_every_s == std::nullopt);
  CHECK(with({{"escalate_after_s", max_interval_s}})->escalate_after_s == max_interval_s);

  refused(with({{"repeat_every_s", 9}}), "repeat_every_s", "10 to 2592000");
  refused(with({{"repeat_every_s", -10}}), "repeat_every_s", "10 to 2592000");
  refused(with({{"repeat_every_s", 2592001}}), "repeat_every_s");
  refused(with({{"repeat_every_s", 30.5}}), "repeat_every_s", "whole number");
  refused(with({{"repeat_every_s", "30"}}), "repeat_every_s", "whole number");
  refused(with({{"escalate_after_s", 0}}), "escalate_after_s", "1 to 2592000");
  refused(with({{"escalate_after_s", 18446744073709551615ull}}), "escalate_after_s");

  for (const char* key : {"repeat_every_s", "escalate_after_s"}) {
    json body = request();
    body[key] = 60;
    refused(check(body), key, "needs require_ack");
    body["require_ack"] = false;
    refused(check(body), key, "needs require_ack");
  }
  // The draft's envelope carries them.
  auto draft = with({{"repeat_every_s", 45}});
  REQUIRE_OK(draft);
  ulid_generator ids;
  auto e = make_envelope(*draft, ids, "admin", now);
  REQUIRE_OK(e);
  CHECK(e->repeat_every_s == 45u);
  CHECK(encode(*e).find(R"("repeat_every_s":45)") != std::string::npos);
}
