// RESP reply parsing and dispatch, and pipelined PUBLISH throughput over one connection against a
// real redis-server. bench/redis_publish_ratio.sh compares the latter with redis-benchmark -P.

#include <bcast/redis/client.hpp>
#include <bcast/redis/local_server.hpp>
#include <bcast/redis/reply.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <functional>
#include <memory>

using namespace bcast;

namespace {

std::string pubsub_messages(int count, std::size_t payload_bytes) {
  std::string payload(payload_bytes, 'x');
  std::string out;
  for (int i = 0; i < count; ++i) {
    out += "*3\r\n$7\r\nmessage\r\n$14\r\nbcast:{all}:lv\r\n$" + std::to_string(payload.size()) +
           "\r\n" + payload + "\r\n";
  }
  return out;
}

void bm_parse_replies(benchmark::State& state) {
  const int batch = 1000;
  std::string wire = pubsub_messages(batch, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    redis::reply_reader reader;
    int n = 0;
    (void)reader.consume(wire, [&](redis::reply&&) { return ++n > 0; });
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(bm_parse_replies)->Arg(64)->Arg(512)->Arg(4096);

// Parsing in socket-sized chunks and handing each reply to a callback, as the connection does.
void bm_parse_and_dispatch(benchmark::State& state) {
  const int batch = 1000;
  std::string wire = pubsub_messages(batch, 512);
  std::size_t seen_bytes = 0;
  std::function<void(std::string_view, std::string_view)> on_message =
      [&](std::string_view ch, std::string_view payload) {
        seen_bytes += ch.size() + payload.size();
      };
  for (auto _ : state) {
    redis::reply_reader reader;
    // 64 KiB, the size of the loop's read buffer.
    for (std::size_t off = 0; off < wire.size(); off += 65536) {
      (void)reader.consume(std::string_view(wire).substr(off, 65536), [&](redis::reply&& r) {
        on_message(r.elements[1].str, r.elements[2].str);
        return true;
      });
    }
  }
  benchmark::DoNotOptimize(seen_bytes);
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(bm_parse_and_dispatch);

void bm_encode_command(benchmark::State& state) {
  std::string payload(512, 'x');
  std::string out;
  for (auto _ : state) {
    out.clear();
    std::string_view args[] = {"PUBLISH", "bcast:{all}:live", payload};
    redis::append_command(out, args);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_encode_command);

// BCAST_BENCH_REDIS_URL points at a running server (the ratio script); otherwise one is started.
void bm_pipelined_publish(benchmark::State& state) {
  std::unique_ptr<redis::local_server> own;
  std::string url;
  if (const char* env = std::getenv("BCAST_BENCH_REDIS_URL")) {
    url = env;
  } else {
    own = std::make_unique<redis::local_server>();
    if (auto started = own->start(); !started)
      return state.SkipWithError(started.err().message().c_str());
    url = own->url();
  }
  core::loop l;
  redis::client c(l, redis::parse_url(url).value());
  const int batch = static_cast<int>(state.range(0));
  std::string payload(static_cast<std::size_t>(state.range(1)), 'x');
  for (auto _ : state) {
    int answered = 0;
    for (int i = 0; i < batch; ++i) {
      c.command({"PUBLISH", "bcast:bench", payload}, [&](core::result<redis::reply> r) {
        if (!r) state.SkipWithError(r.err().message().c_str());
        ++answered;
      });
    }
    while (answered < batch) l.run_once();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(bm_pipelined_publish)->Args({10000, 64})->Unit(benchmark::kMillisecond)->UseRealTime();

// The same PUBLISHes, three to a client::pipeline with one completion (as a publish to three
// targets): what the pipeline costs per command over plain commands.
void bm_pipeline_of_three(benchmark::State& state) {
  redis::local_server server;
  if (auto started = server.start(); !started)
    return state.SkipWithError(started.err().message().c_str());
  core::loop l;
  redis::client c(l, redis::parse_url(server.url()).value());
  const int batch = static_cast<int>(state.range(0));
  std::string payload(static_cast<std::size_t>(state.range(1)), 'x');
  for (auto _ : state) {
    int answered = 0;
    for (int i = 0; i < batch; i += 3) {
      redis::client::pipeline p(c, 3);
      for (int k = 0; k < 3; ++k) p.command({"PUBLISH", "bcast:bench", payload});
      p.send([&](core::result<redis::replies> r) {
        if (!r || r->size() != 3) state.SkipWithError("unexpected answer");
        answered += 3;
      });
    }
    while (answered < batch) l.run_once();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(bm_pipeline_of_three)->Args({9999, 64})->Unit(benchmark::kMillisecond)->UseRealTime();

// Pipelined EVALSHA of a script as long as the publish script (about 2 KB) with an envelope-sized
// argument: the client's per-call cost of a script call (the script itself does next to nothing).
void bm_pipelined_eval(benchmark::State& state) {
  redis::local_server server;
  if (auto started = server.start(); !started)
    return state.SkipWithError(started.err().message().c_str());
  core::loop l;
  redis::client c(l, redis::parse_url(server.url()).value());
  const redis::script s("-- " + std::string(1900, '.') + "\nreturn #ARGV[1]");
  const int batch = static_cast<int>(state.range(0));
  const std::string envelope(400, 'x');
  const std::string_view keys[] = {"bcast:{all}:history"};
  const std::string_view args[] = {envelope};
  for (auto _ : state) {
    int answered = 0;
    for (int i = 0; i < batch; ++i) {
      c.eval(s, keys, args, [&](core::result<redis::reply> r) {
        if (!r || r->integer != 400) state.SkipWithError("unexpected answer");
        ++answered;
      });
    }
    while (answered < batch) l.run_once();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(bm_pipelined_eval)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
