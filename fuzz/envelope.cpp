// The envelope decoders (message/decode.hpp): decode() reads the bytes encode() writes with the
// canonical reader, without building a JSON document, and anything else with the general reader,
// which parses a document and says what is wrong. The bytes are what a store gets from Redis.
// Invariants:
// - when the canonical reader accepts, the general reader accepts too, with an equal envelope;
// - decode() accepts exactly what the general reader accepts, with an equal envelope;
// - what decode() accepts, encode() writes canonically: both readers read it back equal, it is
//   the bytes of to_json() dumped in order, and encoding is then stable;
// - a refusal says why, in text that can go into a log line or a JSON answer.
//
// A new envelope field (a signature) needs nothing here while envelope's operator==, encode() and
// both readers cover it; a field with rules of its own gets them in check_accepted().

#include "harness.hpp"

#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/utf8.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace message = bcast::message;

// What holds for any envelope a reader accepted.
void check_accepted(const message::envelope& e) {
  FUZZ_CHECK(e.v == message::envelope_version);
  FUZZ_CHECK(message::is_valid_ulid(e.id));
  FUZZ_CHECK(!e.targets.empty());
  for (const auto& t : e.targets) FUZZ_CHECK(message::is_valid_target(t));
  FUZZ_CHECK(message::is_valid_category_id(e.category));
  FUZZ_CHECK(message::parse_time(e.sent_at).has_value());
  if (e.expires_at) FUZZ_CHECK(message::parse_time(*e.expires_at).has_value());
  for (const auto* text : {&e.title, &e.body, &e.sender}) {
    FUZZ_CHECK(message::is_valid_utf8(*text));
  }

  const std::string encoded = message::encode(e);
  const auto canonical = message::detail::canonical_reader(encoded).read();
  FUZZ_CHECK(canonical && *canonical == e);
  const auto general = message::detail::decode_document(encoded);
  FUZZ_CHECK(general && *general == e);
  FUZZ_CHECK(encoded == nlohmann::ordered_json(e).dump());
  FUZZ_CHECK(message::encode(*canonical) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = bcast_fuzz::as_text(data, size);

  const auto canonical = message::detail::canonical_reader(text).read();
  const auto general = message::detail::decode_document(text);
  if (canonical) FUZZ_CHECK(general && *general == *canonical);

  const auto decoded = message::decode(text);
  FUZZ_CHECK(decoded.ok() == general.ok());
  if (decoded) {
    FUZZ_CHECK(*decoded == *general);
    check_accepted(*decoded);
  } else {
    const auto& why = decoded.err().detail();
    FUZZ_CHECK(!why.empty() && message::is_valid_utf8(why));
  }
  return 0;
}
