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
// - the signature (trust/signature.hpp): parse_signature() accepts only the strict form, and a
//   keyring's check of any accepted envelope answers without crashing;
// - the signed bytes (message/canonical.hpp) survive an encode/decode round trip, and their JSON
//   is canonical: nlohmann's sorted dump of it gives the same bytes.
//
// The canonical reader takes only the layout without unknown members; with them, the general
// reader is the one that reads encode()'s bytes back.

#include "harness.hpp"

#include <bcast/message/canonical.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/utf8.hpp>
#include <bcast/trust/signature.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace message = bcast::message;
namespace trust = bcast::trust;

// A keyring with the key that signed the seed corpus's signed envelopes: RFC 8032's first test
// key, as in tests/trust/vector.
const trust::keyring& fuzz_keyring() {
  static const trust::keyring ring = [] {
    const unsigned char seed[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60,
                                    0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
                                    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
                                    0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
    auto key = trust::signing_key::from_seed(seed);
    trust::keyring r;
    if (key) r.add(key->public_half());
    return r;
  }();
  return ring;
}

void check_signature(const message::envelope& e) {
  if (const auto parts = trust::parse_signature(e.sig)) {
    FUZZ_CHECK(trust::is_valid_key_id(parts->key_id));
    FUZZ_CHECK(e.sig.size() == trust::key_id_size + 1 + trust::encoded_signature_size);
  }
  const auto verified = fuzz_keyring().verify(e);
  if (e.sig.empty())
    FUZZ_CHECK(!verified && verified.err() == trust::signature_problem::unsigned_message);

  const auto bytes = message::signed_bytes(e);
  FUZZ_CHECK(bytes.starts_with(message::envelope_signing_context));
  const auto json = std::string_view(bytes).substr(message::envelope_signing_context.size());
  const auto parsed = nlohmann::json::parse(json, nullptr, false);
  FUZZ_CHECK(!parsed.is_discarded());
  FUZZ_CHECK(parsed.dump() == json);
  FUZZ_CHECK(!parsed.contains("sig"));
}

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
  if (e.unknown_members.empty()) {
    FUZZ_CHECK(canonical && *canonical == e);
  } else {
    FUZZ_CHECK(!canonical);
  }
  const auto general = message::detail::decode_document(encoded);
  FUZZ_CHECK(general && *general == e);
  FUZZ_CHECK(encoded == nlohmann::ordered_json(e).dump());
  FUZZ_CHECK(message::encode(*general) == encoded);
  FUZZ_CHECK(message::signed_bytes(*general) == message::signed_bytes(e));
  check_signature(e);
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
