#pragma once
// PBKDF2 iterations for hashes the auth tests make: what they check is not the cost.

namespace bcast::test {

inline constexpr unsigned fast_iterations = 1000;

}  // namespace bcast::test
