// Costs on publisherd's send path (validate, encode, sign) and on every store's receive path
// (decode, verify).

#include <bcast/message/message.hpp>
#include <bcast/trust/signature.hpp>

#include "raw_ed25519.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace bcast::message;

const time_point bench_now = *parse_time("2026-11-26T09:00:00.000Z");

envelope typical_envelope() {
  envelope e;
  e.id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4E";
  e.targets = {"region:jateng", "format:minimarket"};
  e.category = "discount_info";
  e.title = "Diskon akhir pekan \xE2\x80\x94 minyak goreng 2L";
  e.body = std::string(
      "Mulai Sabtu 28/11 sampai Minggu 29/11, minyak goreng 2L turun harga menjadi Rp 32.900.\n"
      "Pastikan label harga rak sudah diganti sebelum toko buka. Terima kasih.\n");
  e.priority = priority::high;
  e.sent_at = "2026-11-26T10:00:00.123Z";
  e.expires_at = "2026-11-30T00:00:00.000Z";
  e.sender = "admin";
  e.require_ack = true;
  return e;
}

const std::string typical_request =
    R"({"targets":["region:jateng","format:minimarket"],"category":"discount_info",)"
    R"("title":"Diskon akhir pekan \u2014 minyak goreng 2L",)"
    R"("body":"Mulai Sabtu 28/11 sampai Minggu 29/11, minyak goreng 2L turun harga menjadi )"
    R"(Rp 32.900.\nPastikan label harga rak sudah diganti sebelum toko buka. Terima kasih.\n",)"
    R"("priority":"high","expires_at":"2026-11-30T00:00:00Z","require_ack":true})";

void bm_encode(benchmark::State& state) {
  const envelope e = typical_envelope();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = encode(e);
    bytes += text.size();
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(bm_encode);

void bm_decode(benchmark::State& state) {
  const std::string text = encode(typical_envelope());
  for (auto _ : state) {
    auto e = decode(std::string_view(text));
    if (!e) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(bm_decode);

// The signing key of these benchmarks: made once, as publisherd loads its key once.
const bcast::trust::signing_key& bench_key() {
  static const auto key = bcast::trust::signing_key::generate().value();
  return key;
}

envelope signed_envelope() {
  auto e = typical_envelope();
  if (!bcast::trust::sign(bench_key(), e)) throw std::runtime_error("cannot sign");
  return e;
}

// What a signature covers (message::signed_bytes): part of both sign and verify below.
void bm_signed_bytes(benchmark::State& state) {
  const envelope e = typical_envelope();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = signed_bytes(e);
    bytes += text.size();
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(bm_signed_bytes);

// publisherd, once per message: signed_bytes, Ed25519, the "sig" text.
void bm_sign(benchmark::State& state) {
  envelope e = typical_envelope();
  const auto& key = bench_key();
  for (auto _ : state) {
    if (!bcast::trust::sign(key, e)) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(e.sig);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_sign);

// Ed25519 alone, over bytes made once: what sign costs beyond signed_bytes.
void bm_sign_bytes(benchmark::State& state) {
  const auto data = signed_bytes(typical_envelope());
  const auto& key = bench_key();
  for (auto _ : state) {
    auto signature = bcast::trust::sign_bytes(key, data);
    if (!signature) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_sign_bytes);

// bm_sign_bytes as OpenSSL is called without bcast's prepared context (raw_ed25519.hpp).
void bm_raw_sign(benchmark::State& state) {
  const auto data = signed_bytes(typical_envelope());
  EVP_PKEY* key = bench_key().get();
  std::array<unsigned char, 64> signature{};
  for (auto _ : state) {
    if (!raw_ed25519::sign(key, data, signature)) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_raw_sign);

// A store, once per message id: parse "sig", find the key, signed_bytes, Ed25519. The keyring
// holds two keys, as during a rotation, and the message is signed by the second.
void bm_verify(benchmark::State& state) {
  const envelope e = signed_envelope();
  bcast::trust::keyring keys;
  keys.add(bcast::trust::signing_key::generate().value().public_half());
  keys.add(bench_key().public_half());
  for (auto _ : state) {
    auto verified = keys.verify(e);
    if (!verified) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_verify);

// Ed25519 alone, over bytes made once: what verify costs beyond parsing and signed_bytes.
void bm_verify_bytes(benchmark::State& state) {
  const envelope e = signed_envelope();
  const auto data = signed_bytes(e);
  const auto parts = bcast::trust::parse_signature(e.sig).value();
  const auto& key = bench_key().public_half();
  for (auto _ : state) {
    const bool ok = bcast::trust::verify_bytes(key, parts.signature, data);
    if (!ok) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_verify_bytes);

// bm_verify_bytes as OpenSSL is called without bcast's prepared context (raw_ed25519.hpp).
void bm_raw_verify(benchmark::State& state) {
  const envelope e = signed_envelope();
  const auto data = signed_bytes(e);
  const auto parts = bcast::trust::parse_signature(e.sig).value();
  EVP_PKEY* key = bench_key().public_half().get();
  for (auto _ : state) {
    const bool ok = raw_ed25519::verify(key, parts.signature, data);
    if (!ok) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_raw_verify);

// A store's decode of a signed envelope, as encode() writes it: the canonical reader's fast path
// (checked), "sig" included. Next to bm_decode, the signature's share of the decode.
void bm_decode_signed(benchmark::State& state) {
  const std::string text = encode(signed_envelope());
  if (!detail::canonical_reader(text).read()) return state.SkipWithError("not the fast path");
  for (auto _ : state) {
    auto e = decode(std::string_view(text));
    if (!e || e->sig.empty()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(bm_decode_signed);

void bm_validate_request(benchmark::State& state) {
  const auto categories = default_categories();
  const limits lim;
  for (auto _ : state) {
    auto draft = validate_request(std::string_view(typical_request), categories, lim, bench_now);
    if (!draft) state.SkipWithError("validation failed");
    benchmark::DoNotOptimize(draft);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * typical_request.size()));
}
BENCHMARK(bm_validate_request);

void bm_ulid_next(benchmark::State& state) {
  ulid_generator ids;
  std::uint64_t ms = unix_ms(bench_now);
  for (auto _ : state) {
    auto id = ids.next(ms++);
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(bm_ulid_next);

void bm_store_matches(benchmark::State& state) {
  const std::vector<std::string> groups = {"region:jateng", "format:minimarket", "city:semarang"};
  const auto t = parse_target("city:semarang").value();
  for (auto _ : state) {
    bool hit = store_matches(t, "smg-001", groups);
    benchmark::DoNotOptimize(hit);
  }
}
BENCHMARK(bm_store_matches);

}  // namespace

BENCHMARK_MAIN();
