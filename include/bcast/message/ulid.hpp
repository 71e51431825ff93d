#pragma once
// Message ids: ULIDs (https://github.com/ulid/spec). 26 characters of Crockford base32, a 48-bit
// Unix time in milliseconds followed by 80 random bits, so that ids sort by time as plain strings.
// Only the canonical upper-case form is accepted, so that one id has one spelling (ids are keys).

#include <bcast/core/error.hpp>

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::message {

inline constexpr std::size_t ulid_length = 26;
inline constexpr std::uint64_t ulid_max_time_ms = (std::uint64_t{1} << 48) - 1;

using ulid_random = std::array<std::uint8_t, 10>;

namespace detail {

inline constexpr char crockford_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// -1 for characters outside the canonical alphabet.
inline int crockford_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  for (int v = 10; v < 32; ++v) {
    if (crockford_alphabet[v] == c) return v;
  }
  return -1;
}

}  // namespace detail

// The id for a given time and random part; `time_ms` is cut to 48 bits.
inline std::string make_ulid(std::uint64_t time_ms, const ulid_random& random) {
  std::string out(ulid_length, '0');
  time_ms &= ulid_max_time_ms;
  for (int i = 9; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = detail::crockford_alphabet[time_ms & 31];
    time_ms >>= 5;
  }
  // Two groups of 5 bytes = 40 bits = 8 characters each.
  for (std::size_t group = 0; group < 2; ++group) {
    std::uint64_t bits = 0;
    for (std::size_t k = 0; k < 5; ++k) bits = (bits << 8) | random[group * 5 + k];
    for (int i = 7; i >= 0; --i) {
      out[10 + group * 8 + static_cast<std::size_t>(i)] = detail::crockford_alphabet[bits & 31];
      bits >>= 5;
    }
  }
  return out;
}

inline bool is_valid_ulid(std::string_view id) noexcept {
  if (id.size() != ulid_length) return false;
  // 26 characters hold 130 bits; the top two must be zero.
  if (id[0] < '0' || id[0] > '7') return false;
  for (const char c : id) {
    if (detail::crockford_value(c) < 0) return false;
  }
  return true;
}

// The Unix time in milliseconds that an id was made at, or nothing for an invalid id.
inline std::optional<std::uint64_t> ulid_time_ms(std::string_view id) noexcept {
  if (!is_valid_ulid(id)) return std::nullopt;
  std::uint64_t ms = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    ms = (ms << 5) | static_cast<std::uint64_t>(detail::crockford_value(id[i]));
  }
  return ms;
}

inline std::uint64_t unix_ms(std::chrono::system_clock::time_point tp) noexcept {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch());
  return ms.count() < 0 ? 0 : static_cast<std::uint64_t>(ms.count());
}

// Makes strictly increasing ids. Within one millisecond, and when the clock steps back, it keeps
// the last time and adds one to the random part, as the ULID spec's monotonic factory does, so
// ids from one generator sort in the order they were made. Not thread-safe: one per loop.
class ulid_generator {
 public:
  // Fills the span with random bytes; false on failure.
  using random_source = std::function<bool(std::span<std::uint8_t>)>;

  ulid_generator()
      : random_([](std::span<std::uint8_t> out) {
          return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
        }) {}
  explicit ulid_generator(random_source random) : random_(std::move(random)) {}

  [[nodiscard]] core::result<std::string> next(std::uint64_t time_ms) {
    if (time_ms > ulid_max_time_ms) {
      return core::error(core::errc::invalid_argument, "time is beyond the ULID range");
    }
    if (has_last_ && time_ms <= last_ms_) {
      // Big-endian increment of the 80-bit random part.
      std::size_t i = last_random_.size();
      while (i > 0 && ++last_random_[i - 1] == 0) --i;
      if (i == 0) {
        // Wrapped: 2^80 ids in one millisecond. Keep the state at its maximum so that every
        // later call in this millisecond fails too rather than repeating an id.
        last_random_.fill(0xFF);
        return core::error(core::errc::limit_exceeded,
                           "ULID random part exhausted in this millisecond");
      }
      return make_ulid(last_ms_, last_random_);
    }
    ulid_random fresh{};
    if (!random_ || !random_(fresh)) {
      return core::error(core::errc::server_error, "no random bytes for a ULID");
    }
    last_random_ = fresh;
    last_ms_ = time_ms;
    has_last_ = true;
    return make_ulid(last_ms_, last_random_);
  }

  [[nodiscard]] core::result<std::string> next() {
    return next(unix_ms(std::chrono::system_clock::now()));
  }

 private:
  random_source random_;
  bool has_last_ = false;
  std::uint64_t last_ms_ = 0;
  ulid_random last_random_{};
};

}  // namespace bcast::message
