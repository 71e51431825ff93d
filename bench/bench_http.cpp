// Costs on publisherd's request path before any handler runs: parsing a typical API request (no
// I/O), routing it, and turning a response into bytes' worth of JSON.

#include <bcast/http/parser.hpp>
#include <bcast/http/responder.hpp>
#include <bcast/http/router.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace bcast;

const std::string typical_body =
    R"({"targets":["region:jateng","format:minimarket"],"category":"discount_info",)"
    R"("title":"Diskon akhir pekan \u2014 minyak goreng 2L",)"
    R"("body":"Mulai Sabtu 28/11 sampai Minggu 29/11, minyak goreng 2L turun harga menjadi )"
    R"(Rp 32.900.\nPastikan label harga rak sudah diganti sebelum toko buka. Terima kasih.\n",)"
    R"("priority":"high","expires_at":"2026-11-30T00:00:00Z","require_ack":true})";

const std::string typical_request =
    "POST /api/v1/messages HTTP/1.1\r\n"
    "Host: hq.example.co.id\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36\r\n"
    "Accept: application/json\r\n"
    "Accept-Language: id-ID,id;q=0.9,en;q=0.8\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Content-Type: application/json\r\n"
    "Origin: https://hq.example.co.id\r\n"
    "Referer: https://hq.example.co.id/compose\r\n"
    "Cookie: bcast_session=6f1c0e0b9a3d4e7f8a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f; "
    "lang=id\r\n"
    "X-CSRF-Token: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d\r\n"
    "Connection: keep-alive\r\n"
    "Content-Length: " +
    std::to_string(typical_body.size()) + "\r\n\r\n" + typical_body;

void bm_parse_post(benchmark::State& state) {
  http::request_parser parser;
  for (auto _ : state) {
    std::size_t n = parser.feed(typical_request);
    if (parser.status() != http::request_parser::state::message || n != typical_request.size()) {
      state.SkipWithError("parse failed");
      break;
    }
    http::request req = parser.take();
    benchmark::DoNotOptimize(req);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * typical_request.size()));
}
BENCHMARK(bm_parse_post);

// The same request arriving in 64-byte pieces, as over a slow link.
void bm_parse_post_fragmented(benchmark::State& state) {
  http::request_parser parser;
  for (auto _ : state) {
    std::string_view rest = typical_request;
    while (!rest.empty()) {
      std::string_view piece = rest.substr(0, 64);
      std::size_t n = parser.feed(piece);
      rest.remove_prefix(n);
      if (parser.status() == http::request_parser::state::message) break;
      if (parser.status() == http::request_parser::state::error || n == 0) {
        state.SkipWithError("parse failed");
        return;
      }
    }
    http::request req = parser.take();
    benchmark::DoNotOptimize(req);
  }
}
BENCHMARK(bm_parse_post_fragmented);

http::router make_router() {
  http::router r;
  auto ok = [](http::request&) { return http::response(200); };
  r.post("/api/v1/login", ok);
  r.post("/api/v1/logout", ok);
  r.post("/api/v1/messages", ok);
  r.get("/api/v1/messages", ok);
  r.get("/api/v1/messages/{id}", ok);
  r.get("/api/v1/stores", ok);
  r.get("/api/v1/health", ok);
  r.get("/metrics", ok);
  r.get("/api/v1/users", ok);
  r.post("/api/v1/users", ok);
  r.del("/api/v1/users/{name}", ok);
  r.fallback(ok, "static");
  return r;
}

void bm_route_match(benchmark::State& state) {
  http::router r = make_router();
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"POST", "/api/v1/messages"},
      {"GET", "/api/v1/messages/01JD5Q8W3V6X4Y2Z0A1B2C3D4E"},
      {"GET", "/api/v1/health"},
      {"GET", "/app.js"},
  };
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [method, path] = requests[i++ % requests.size()];
    auto m = r.match(method, path);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(bm_route_match);

// Routing plus the call into a synchronous handler, as the server does it.
void bm_route_dispatch(benchmark::State& state) {
  http::router r = make_router();
  http::request_parser parser;
  parser.feed(typical_request);
  http::request prototype = parser.take();
  int status = 0;
  for (auto _ : state) {
    auto res = http::responder::to_callback(prototype,
                                            [&](http::response&& resp) { status = resp.status; });
    r.dispatch(res.req(), res);
    benchmark::DoNotOptimize(status);
  }
}
BENCHMARK(bm_route_dispatch);

}  // namespace

BENCHMARK_MAIN();
