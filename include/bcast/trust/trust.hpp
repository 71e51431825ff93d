#pragma once
// The whole trust layer: Ed25519 keys, signed envelopes, and what a store accepts.

#include <bcast/trust/keys.hpp>
#include <bcast/trust/signature.hpp>
#include <bcast/trust/store_policy.hpp>
