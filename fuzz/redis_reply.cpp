// The RESP reply reader (redis/reply.hpp) through its public API, with the limits the daemons use
// (reader_limits{}): the bytes are what a hostile Redis or a man in the middle could send.
// Invariants:
// - the same replies, and a failure or none, whether the bytes arrive at once (consume()) or in
//   pieces (feed() and next());
// - reading one input never holds more heap than one reply's budget (reader_limits) and a few
//   times the input, however large the arrays it announces (SPEC "Abuse limits": 70 bytes of
//   nested "*1048576" took a daemon to 506 MB);
// - every reply's typed accessors answer (a value or an error), and never throw.

#include "harness.hpp"

#include <bcast/redis/reply.hpp>

#include <sanitizer/allocator_interface.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using bcast::redis::reply;
using bcast::redis::reply_reader;

// The most heap that reading `input_bytes` may hold at once, beyond what was held before.
std::int64_t memory_budget(std::size_t input_bytes) {
  return static_cast<std::int64_t>(bcast::redis::reader_limits{}.max_reply_bytes +
                                   64 * input_bytes + 1024 * 1024);
}

// Heap held by what runs while `counting`, from ASan's malloc and free hooks.
std::int64_t live_bytes = 0;
std::int64_t peak_bytes = 0;
bool counting = false;

void on_malloc(const volatile void*, std::size_t size) {
  if (!counting) return;
  live_bytes += static_cast<std::int64_t>(size);
  peak_bytes = std::max(peak_bytes, live_bytes);
}

void on_free(const volatile void* p) {
  if (counting && p) live_bytes -= static_cast<std::int64_t>(__sanitizer_get_allocated_size(p));
}

template <class Fn>
std::int64_t peak_heap_of(Fn&& fn) {
  live_bytes = peak_bytes = 0;
  counting = true;
  fn();
  counting = false;
  return peak_bytes;
}

// A rendering that tells any two different replies apart.
void render(const reply& r, std::string& out) {
  out += std::to_string(static_cast<int>(r.type));
  out += ':';
  out += std::to_string(r.str.size());
  out += ':';
  out += r.str;
  out += ':';
  out += std::to_string(r.integer);
  out += '[';
  for (const auto& e : r.elements) render(e, out);
  out += ']';
}

void check_accessors(const reply& r) {
  FUZZ_CHECK(r.as_string().ok() == r.is_string());
  FUZZ_CHECK(r.as_integer().ok() == r.is_integer());
  FUZZ_CHECK(r.as_array().ok() == r.is_array());
  FUZZ_CHECK(r.as_array(r.elements.size()).ok() == r.is_array());
  FUZZ_CHECK(r.checked().ok() == !r.is_error());
  (void)r.error_is("ERR");
  FUZZ_CHECK(!r.describe().empty() || r.is_string());
  if (!r.is_array()) FUZZ_CHECK(r.elements.empty());
  for (const auto& e : r.elements) check_accessors(e);
}

struct outcome {
  std::vector<std::string> replies;
  bool failed = false;
  friend bool operator==(const outcome&, const outcome&) = default;
};

outcome read_at_once(std::string_view bytes) {
  outcome out;
  reply_reader reader;
  auto consumed = reader.consume(bytes, [&](reply&& r) {
    check_accessors(r);
    render(r, out.replies.emplace_back());
    return true;
  });
  if (!consumed) {
    FUZZ_CHECK(!consumed.err().message().empty());
    out.failed = true;
  }
  return out;
}

outcome read_in_pieces(std::string_view bytes) {
  outcome out;
  reply_reader reader;
  bcast_fuzz::piece_sizes pieces(bytes);
  reply r;
  bcast::core::error err;
  while (!bytes.empty()) {
    const auto piece = bytes.substr(0, pieces.next());
    bytes.remove_prefix(piece.size());
    if (!reader.feed(piece)) {
      out.failed = true;
      return out;
    }
    for (;;) {
      const auto status = reader.next(r, err);
      if (status == reply_reader::status::failed) {
        out.failed = true;
        return out;
      }
      if (status == reply_reader::status::need_more) break;
      render(r, out.replies.emplace_back());
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = bcast_fuzz::as_text(data, size);
  outcome at_once;
  const auto peak = peak_heap_of([&] { at_once = read_at_once(bytes); });
  if (peak > memory_budget(size)) {
    std::fprintf(stderr, "reading %zu bytes held %lld bytes of heap\n", size,
                 static_cast<long long>(peak));
  }
  FUZZ_CHECK(peak <= memory_budget(size));
  FUZZ_CHECK(read_in_pieces(bytes) == at_once);
  return 0;
}
