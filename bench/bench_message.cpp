// Costs on publisherd's send path (validate, encode) and on every store's receive path (decode).

#include <bcast/message/message.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
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
