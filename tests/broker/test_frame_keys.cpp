#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>
#include <support/assert_ok.hpp>

using namespace bcast;

TEST_CASE("keys: one hash tag per target, store keys under the store's own tag") {
  CHECK(broker::history_key("all") == "bcast:{all}:history");
  CHECK(broker::history_key("region:jateng") == "bcast:{region:jateng}:history");
  CHECK(broker::live_channel("store:s1") == "bcast:{store:s1}:live");
  CHECK(broker::receipts_key("s1") == "bcast:{store:s1}:receipts");
  CHECK(broker::receipts_index_key("s1") == "bcast:{store:s1}:receipts:index");
  CHECK(broker::gaps_key("s1") == "bcast:{store:s1}:gaps");
  CHECK(broker::presence_key("s1") == "bcast:{store:s1}:presence");
  CHECK(broker::profile_key("s1") == "bcast:{store:s1}:profile");
  CHECK(broker::message_log_key() == "bcast:message-log");

  CHECK(broker::target_of_live_channel("bcast:{region:jateng}:live") == "region:jateng");
  CHECK_FALSE(broker::target_of_live_channel("bcast:{all}:history"));
  CHECK_FALSE(broker::target_of_live_channel("bcast:{}:live"));
  CHECK_FALSE(broker::target_of_live_channel("other:{all}:live"));

  CHECK(broker::store_of_profile_key("bcast:{store:s-1.x}:profile") == "s-1.x");
  CHECK_FALSE(broker::store_of_profile_key("bcast:{store:}:profile"));
  CHECK_FALSE(broker::store_of_profile_key("bcast:{store:s1}:presence"));

  std::vector<std::string> groups{"region:jateng", "format:minimarket", "region:jateng"};
  CHECK(broker::store_targets("s1", groups) ==
        std::vector<std::string>{"all", "store:s1", "region:jateng", "format:minimarket"});
}

TEST_CASE("stream ids parse and order numerically") {
  auto a = broker::stream_id::parse("1700000000000-2");
  auto b = broker::stream_id::parse("999-10");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a > *b);
  CHECK(a->str() == "1700000000000-2");
  CHECK_FALSE(broker::stream_id::parse("17"));
  CHECK_FALSE(broker::stream_id::parse("-1"));
  CHECK_FALSE(broker::stream_id::parse("1-"));
  CHECK_FALSE(broker::stream_id::parse("1-x"));
}

TEST_CASE("frames: round trip, and malformed frames are rejected") {
  const std::string json = R"({"v":1,"id":"01JD5Q8W3V6X4Y2Z0A1B2C3D4E","title":"a:b:c"})";
  const auto payload =
      broker::encode_frame(42, "1700000000000-3", "01JD5Q8W3V6X4Y2Z0A1B2C3D4E", json);
  CHECK(payload == "42:1700000000000-3:01JD5Q8W3V6X4Y2Z0A1B2C3D4E:" + json);
  auto f = broker::decode_frame(payload);
  REQUIRE_OK(f);
  CHECK(f->seq == 42);
  CHECK(f->stream_id == "1700000000000-3");
  CHECK(f->message_id == "01JD5Q8W3V6X4Y2Z0A1B2C3D4E");
  CHECK(f->envelope_json == json);  // colons inside the JSON are kept

  const std::string id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4E";
  for (const std::string& bad : std::vector<std::string>{
           "", "42", "0:1-0:" + id + ":{}", "042:1-0:" + id + ":{}", "x:1-0:" + id + ":{}",
           "-1:1-0:" + id + ":{}", "99999999999999999999999:1-0:" + id + ":{}",
           "1:10:" + id + ":{}", "1:1-0:" + id, "1:1-0:not-a-ulid:{}", "1:1-0:" + id + ":",
           "1:1-0:" + id + ":[]", "1::" + id + ":{}"}) {
    INFO(bad);
    auto r = broker::decode_frame(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::protocol_error);
  }
}

TEST_CASE("frames: a counted frame has no seq and no stream id, only the message") {
  const std::string id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4E";
  const std::string json = R"({"v":1,"id":"01JD5Q8W3V6X4Y2Z0A1B2C3D4E","title":"a:b:c"})";
  std::string payload;
  broker::append_counted_frame(payload, id, json);
  CHECK(payload == "+:" + id + ":" + json);
  auto f = broker::decode_frame(payload);
  REQUIRE_OK(f);
  CHECK(f->seq == 0);
  CHECK(f->stream_id.empty());
  CHECK(f->message_id == id);
  CHECK(f->envelope_json == json);

  for (const std::string& bad :
       std::vector<std::string>{"+", "+:", "+:" + id, "+:" + id + ":", "+:not-a-ulid:{}",
                                "+:" + id + ":[]", "+1:1-0:" + id + ":{}", "++:" + id + ":{}"}) {
    INFO(bad);
    auto r = broker::decode_frame(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err() == core::errc::protocol_error);
  }
}
