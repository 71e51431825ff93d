// The live frame decoder (broker/frame.hpp), which reads every payload a store gets on its
// channels, and Redis stream ids. Invariants:
// - a decoded frame's parts are views into the payload, and writing them again (encode_frame() or
//   append_counted_frame(), what the publisher does) gives back the payload byte for byte;
// - its message id is a ULID and its envelope starts like a JSON object;
// - a stream id reads back from its own text, and a history entry's seq is its id's.

#include "harness.hpp"

#include <bcast/broker/frame.hpp>
#include <bcast/message/ulid.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace broker = bcast::broker;

bool within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_frame(const broker::frame& f, std::string_view payload) {
  FUZZ_CHECK(within(f.message_id, payload) && within(f.envelope_json, payload));
  FUZZ_CHECK(bcast::message::is_valid_ulid(f.message_id));
  FUZZ_CHECK(!f.envelope_json.empty() && f.envelope_json.front() == '{');
  std::string written;
  if (f.seq == 0) {
    FUZZ_CHECK(f.stream_id.empty());
    broker::append_counted_frame(written, f.message_id, f.envelope_json);
  } else {
    FUZZ_CHECK(within(f.stream_id, payload));
    FUZZ_CHECK(broker::stream_id::parse(f.stream_id).has_value());
    written = broker::encode_frame(f.seq, f.stream_id, f.message_id, f.envelope_json);
  }
  FUZZ_CHECK(written == payload);
}

void check_stream_id(std::string_view text) {
  const auto id = broker::stream_id::parse(text);
  if (id) FUZZ_CHECK(broker::stream_id::parse(id->str()) == id);
  const auto seq = broker::seq_of_entry_id(text);
  if (seq) FUZZ_CHECK(id && id->ms == 0 && id->seq == *seq && *seq > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto payload = bcast_fuzz::as_text(data, size);
  if (const auto f = broker::decode_frame(payload)) {
    check_frame(*f, payload);
  } else {
    FUZZ_CHECK(!f.err().detail().empty());
  }
  check_stream_id(payload);
  return 0;
}
