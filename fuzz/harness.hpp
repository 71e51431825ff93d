#pragma once
// What the harnesses share. An invariant that does not hold aborts, which libFuzzer reports as a
// crash, saving the input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition) \
  ((condition) ? (void)0 : ::bcast_fuzz::invariant_failed(#condition, __FILE__, __LINE__))

namespace bcast_fuzz {

[[noreturn]] inline void invariant_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "invariant failed: %s\n  at %s:%d\n", condition, file, line);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Sizes of the pieces a peer's bytes arrive in, 1 to 32 bytes, from a generator seeded by the
// input itself: deterministic, so that a saved input replays the same way.
class piece_sizes {
 public:
  explicit piece_sizes(std::string_view input) {
    for (const unsigned char c : input) state_ = (state_ ^ c) * 1099511628211u;  // FNV-1a
  }
  std::size_t next() {
    state_ = state_ * 6364136223846793005u + 1442695040888963407u;
    return 1 + static_cast<std::size_t>(state_ >> 59);
  }

 private:
  std::uint64_t state_ = 14695981039346656037u;
};

}  // namespace bcast_fuzz
