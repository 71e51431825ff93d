// Costs on publisherd's publish path without I/O (plan the per-target transactions, encode them)
// and on every store's receive path (decode a frame, count its seq, merge and de-duplicate, show
// it once through the display pipeline; verify a signed message against the store's policy).

#include <bcast/broker/display_pipeline.hpp>
#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/live_numbering.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/broker/tracker.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/message.hpp>
#include <bcast/redis/reply.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/trust/signature.hpp>
#include <bcast/trust/store_policy.hpp>

#include "raw_ed25519.hpp"

#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace bcast;

message::envelope typical_envelope(std::size_t targets) {
  message::envelope e;
  e.id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4E";
  e.targets = {"all"};
  for (std::size_t i = 1; i < targets; ++i) e.targets.push_back("region:r" + std::to_string(i));
  e.category = "discount_info";
  e.title = "Diskon akhir pekan \xE2\x80\x94 minyak goreng 2L";
  e.body = std::string(
      "Mulai Sabtu 28/11 sampai Minggu 29/11, minyak goreng 2L turun harga menjadi Rp 32.900.\n"
      "Pastikan label harga rak sudah diganti sebelum toko buka. Terima kasih.\n");
  e.priority = message::priority::high;
  e.sent_at = "2026-11-26T10:00:00.123Z";
  e.sender = "admin";
  return e;
}

// Plan plus the bytes of every target's first-attempt transaction, as the client writes them.
void publish_path(benchmark::State& state) {
  const auto e = typical_envelope(static_cast<std::size_t>(state.range(0)));
  const broker::publisher_settings settings;
  static constexpr std::string_view multi[] = {"MULTI"};
  static constexpr std::string_view exec[] = {"EXEC"};
  std::string wire;
  for (auto _ : state) {
    broker::publish_plan plan(e, settings);
    wire.clear();
    for (std::size_t i = 0; i < plan.size(); ++i) {
      redis::append_command(wire, multi);
      redis::append_command(wire, plan.xadd(i));
      redis::append_command(wire, plan.publish(i));
      redis::append_command(wire, exec);
    }
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["bytes_per_message"] = static_cast<double>(wire.size());
}
BENCHMARK(publish_path)->Arg(1)->Arg(8)->Arg(64);

void frame_round_trip(benchmark::State& state) {
  const auto json = message::encode(typical_envelope(2));
  for (auto _ : state) {
    auto payload =
        broker::encode_frame(123456, "1764151200123-0", "01JD5Q8W3V6X4Y2Z0A1B2C3D4E", json);
    auto f = broker::decode_frame(payload);
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(frame_round_trip);

// One message reaching a store through three matching channels: delivered once, two duplicates.
void merge_and_dedup(benchmark::State& state) {
  broker::tracker t;
  const std::vector<std::string> channels{"all", "store:s1", "region:jateng"};
  std::vector<broker::tracker_event> out;
  for (const auto& c : channels) {
    t.add_channel(c, broker::position{0, "0-0"});
    t.start(c, out);
  }
  for (const auto& c : channels) {
    broker::fetch_request req{c, broker::fetch_kind::range, "0-0", 500, 0};
    for (auto& ev : out) {
      if (auto* r = std::get_if<broker::fetch_request>(&ev); r && r->target == c) req = *r;
    }
    t.on_history(req, {}, out);
  }
  const std::string json = message::encode(typical_envelope(3));
  message::ulid_generator ids;
  std::uint64_t seq = 0;
  std::int64_t delivered = 0;
  for (auto _ : state) {
    ++seq;
    const auto id = ids.next(1764151200123).value();
    const auto sid = std::to_string(1764151200123 + seq) + "-0";
    for (const auto& c : channels) {
      out.clear();
      t.on_live(broker::entry{c, seq, sid, id, json}, out);
      for (auto& ev : out) delivered += std::holds_alternative<broker::deliver_event>(ev) ? 1 : 0;
    }
  }
  if (delivered != static_cast<std::int64_t>(state.iterations()))
    state.SkipWithError("not delivered exactly once");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(merge_and_dedup);

// What subscriberd does with a counted frame before its sinks: decode the frame, count its seq,
// merge it in the tracker, decode the envelope; with a policy, also check the envelope against the
// store's trust policy, as the display pipeline does once per message id (the signature's verify,
// for a signed message). Each message has its own id, as live ones do. As many messages as
// iterations, each made (and signed) before the timing starts.
void run_store_path(benchmark::State& state, const trust::store_policy* policy,
                    const trust::signing_key* key) {
  const auto messages = static_cast<std::size_t>(state.max_iterations);
  const auto envelope = typical_envelope(1);
  message::ulid_generator ids;
  std::vector<std::string> payloads;
  payloads.reserve(messages);
  for (std::size_t i = 0; i < messages; ++i) {
    auto e = envelope;
    e.id = ids.next(1764151200123).value();
    if (key && !trust::sign(*key, e)) return state.SkipWithError("cannot sign");
    payloads.emplace_back();
    broker::append_counted_frame(payloads.back(), e.id, message::encode(e));
  }
  broker::tracker t;
  broker::live_numbering numbering;
  std::vector<broker::tracker_event> out;
  std::vector<broker::entry> ready;
  std::vector<broker::lookup_request> ask;
  t.add_channel("all", broker::position{0, "0-0"});
  t.start("all", out);
  t.on_history(std::get<broker::fetch_request>(out.front()), {}, out);
  const std::string first =
      broker::encode_frame(1, "0-1", ids.next(1764151200123).value(), message::encode(envelope));
  numbering.on_frame("all", broker::decode_frame(first).value(), ready, ask);
  for (auto& e : ready) t.on_live(std::move(e), out);
  std::size_t k = 0;
  std::int64_t shown = 0;
  for (auto _ : state) {
    ready.clear();
    out.clear();
    numbering.on_frame("all", broker::decode_frame(payloads[k++]).value(), ready, ask);
    for (auto& e : ready) t.on_live(std::move(e), out);
    for (auto& ev : out) {
      if (auto* d = std::get_if<broker::deliver_event>(&ev)) {
        auto e = message::decode(d->e.envelope_json);
        shown += e && (!policy || !policy->check(*e)) ? 1 : 0;
      }
    }
  }
  if (shown != static_cast<std::int64_t>(state.iterations()) || !ask.empty())
    state.SkipWithError("not every message was numbered, delivered and allowed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void store_path(benchmark::State& state) {
  run_store_path(state, nullptr, nullptr);
}
BENCHMARK(store_path)->Iterations(50000);

// The store's key and its policy: subscribed to all, its store and its group; the keyring holds
// a second key, as during a rotation.
const trust::signing_key& publisher_key() {
  static const auto key = trust::signing_key::generate().value();
  return key;
}

trust::store_policy bench_policy() {
  trust::keyring keys;
  keys.add(trust::signing_key::generate().value().public_half());
  keys.add(publisher_key().public_half());
  const std::vector<std::string> groups{"region:jateng", "format:minimarket"};
  return trust::store_policy(std::move(keys), false, broker::store_targets("s1", groups));
}

// store_path with every message signed and checked by the store's policy. Fewer iterations:
// each is mostly an Ed25519 verify, and each message is signed beforehand.
void store_path_verified(benchmark::State& state) {
  const auto policy = bench_policy();
  run_store_path(state, &policy, &publisher_key());
}
BENCHMARK(store_path_verified)->Iterations(5000);

// The baseline for store_path_verified, in the same run: OpenSSL's Ed25519 verify of the bytes a
// signature covers (raw_ed25519.hpp), the bytes made once.
void raw_verify(benchmark::State& state) {
  auto e = typical_envelope(1);
  if (!trust::sign(publisher_key(), e)) return state.SkipWithError("cannot sign");
  const auto data = message::signed_bytes(e);
  const auto signature = trust::parse_signature(e.sig).value().signature;
  EVP_PKEY* key = publisher_key().public_half().get();
  for (auto _ : state) {
    if (!raw_ed25519::verify(key, signature, data)) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(raw_verify);

class counting_sink final : public sinks::sink {
 public:
  const std::string& name() const noexcept override { return name_; }
  void show(const message::envelope&, sinks::reporter) override { ++shown; }
  void close(std::function<void()>) override {}
  std::size_t pending() const noexcept override { return 0; }
  std::int64_t shown = 0;

 private:
  std::string name_ = "counting";
};

// subscriberd's display pipeline for a live message (a batch of one) up to its sink: arg 0 without
// a state dir, as bcast-bench --receive full runs it; arg 1 with one under $TMPDIR (two journal
// marks, then the saved position with 1000 recent ids: temp file, fsync, rename, fsync the dir).
void display_checkpoint(benchmark::State& state) {
  const bool keep_state = state.range(0) != 0;
  std::string dir;
  if (keep_state) {
    dir = (std::filesystem::temp_directory_path() / "bcast-bench-XXXXXX").string();
    if (!::mkdtemp(dir.data())) return state.SkipWithError("no temp dir");
  }
  core::loop l;
  auto sinks = std::make_unique<sinks::sink_set>(l);
  auto* sink = new counting_sink;
  sinks->add(std::unique_ptr<counting_sink>(sink));
  broker::discarded_receipts receipts;
  // Unsigned and unverified, as before signed messages: bcast-bench --sign measures verifying.
  broker::display_pipeline pipeline({"s1", dir},
                                    trust::store_policy({}, true, broker::store_targets("s1", {})),
                                    std::move(sinks), receipts);
  if (!pipeline.open_state().ok()) return state.SkipWithError("cannot open the state dir");
  broker::tracker t;
  std::vector<broker::tracker_event> out;
  t.add_channel("all", broker::position{0, "0-0"});
  t.start("all", out);
  t.on_history(std::get<broker::fetch_request>(out.front()), {}, out);
  message::ulid_generator ids;
  for (int i = 0; i < 1000; ++i) t.remember(ids.next(1764151200123).value());
  std::vector<message::envelope> messages(1000, typical_envelope(1));
  for (auto& e : messages) e.id = ids.next(1764151200123).value();
  std::size_t k = 0;
  for (auto _ : state) {
    pipeline.on_message(messages[k++ % messages.size()]);
    if (!pipeline.checkpoint(t).ok()) {
      state.SkipWithError("checkpoint failed");
      break;
    }
  }
  if (sink->shown != static_cast<std::int64_t>(state.iterations()))
    state.SkipWithError("not every message was shown");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  std::error_code ec;
  if (keep_state) std::filesystem::remove_all(dir, ec);
}
BENCHMARK(display_checkpoint)->Arg(0)->Arg(1);

}  // namespace

// The stores a message reaches (publisherd's `expected`, on every POST), for a fleet of N stores
// in 35 regions: testing each store, and through the index.
std::vector<broker::known_store> fleet(std::size_t n) {
  std::vector<broker::known_store> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(
        {"s" + std::to_string(i), {"region:r" + std::to_string(i % 35), "format:minimarket"}});
  }
  return out;
}

void expected_by_testing_each_store(benchmark::State& state) {
  const auto stores = fleet(static_cast<std::size_t>(state.range(0)));
  auto e = typical_envelope(1);
  e.targets = {"region:r7", "store:s12"};
  for (auto _ : state) {
    std::uint64_t n = 0;
    for (const auto& s : stores) n += broker::store_matches_message(s, e) ? 1 : 0;
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(expected_by_testing_each_store)->Arg(100)->Arg(10000);

void expected_by_store_reach(benchmark::State& state) {
  const auto stores = fleet(static_cast<std::size_t>(state.range(0)));
  const broker::store_reach reach(stores);
  auto e = typical_envelope(1);
  e.targets = {"region:r7", "store:s12"};
  for (auto _ : state) benchmark::DoNotOptimize(reach.count(e));
}
BENCHMARK(expected_by_store_reach)->Arg(100)->Arg(10000);

BENCHMARK_MAIN();
