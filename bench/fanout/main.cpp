// bcast-bench: end-to-end fan-out latency of bcast against plain hiredis, in one invocation.
// See docs/PERFORMANCE.md, section "bcast-bench".

#include "bcast_side.hpp"
#include "environment.hpp"
#include "report.hpp"

#include <bcast/core/cli.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/text.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

const char* usage_text =
    "usage: bcast-bench [--stores N] [--groups K] [--messages M] [--rate R]\n"
    "                   [--target all|group|store] [--payload BYTES] [--via library|api|frame]\n"
    "                   [--api URL --token TOKEN] [--redis URL] [--out DIR] [--threads T]\n"
    "                   [--grace-ms MS] [--receive frame|full] [--sign] [--recall]\n"
    "Each store has its own Redis connection; on a Redis Cluster (--redis\n"
    "redis-cluster://HOST:PORT[,HOST:PORT]...) one per master that serves one of its channels,\n"
    "with sharded pub/sub (SPUBLISH, SSUBSCRIBE), and the baseline does the same with hiredis.\n"
    "Without --rate the publisher runs closed loop (the next message once the previous reached\n"
    "every store it targets). Without --redis a private\n"
    "redis-server is started. --via api posts to a running publisherd at --api http://HOST:PORT\n"
    "with a bearer --token, which must use the same Redis as --redis. --via frame sends the bcast\n"
    "frame with a plain PUBLISH through the library's client: its I/O path without the history\n"
    "append. --receive full runs each bcast store through the catch-up driver and the display\n"
    "pipeline, as subscriberd does (frame counting, merge, de-duplication, the envelope's JSON\n"
    "decode, show-once to a sink; no state dir); the default, frame, only decodes the frame.\n"
    "--sign (with --receive full and --via library) runs the bcast side twice, unsigned and "
    "then\n"
    "signed: the publisher signs every message with an Ed25519 key made for the run, and each\n"
    "store's pipeline shows only what that key signed. Sign and verify are measured in the same\n"
    "run twice: in the phases (the signed publish call and display pipeline, less the unsigned\n"
    "ones), and apart (500 of each one after the other, right after the phases).\n"
    "--recall (with --receive full and --via library) recalls each message once it reached\n"
    "every store it targets: its recall notice (signed too with --sign) goes out as publisherd\n"
    "sends one, and a store counts it when its display pipeline takes the message down through\n"
    "its sink. The recall latencies are reported beside the message latencies of the same phase;\n"
    "in closed loop the next message waits for the recall.\n"
    "Exit status: 0 nothing lost, 1 messages or recalls lost or not published, 2 usage error, 3 a\n"
    "limit or the set-up stopped the run (the reason is printed).\n";

using fanout::settings;

bcast::core::result<settings> read_settings(const bcast::core::cli::arguments& args) {
  settings s;
  const auto bad = [](const std::string& why) {
    return bcast::core::error(bcast::core::errc::invalid_argument, why);
  };
  const auto number = [&](const char* name, auto& out, double min) -> std::string {
    auto text = args.value(name);
    if (!text) return "";
    try {
      const double v = std::stod(*text);
      if (v < min)
        return std::string("--") + name + " must be at least " +
               std::to_string(static_cast<long long>(min));
      out = static_cast<std::remove_reference_t<decltype(out)>>(v);
    } catch (const std::exception&) {
      return std::string("--") + name + " needs a number, not '" + *text + "'";
    }
    return "";
  };
  long long grace_ms = s.grace.count();
  for (auto problem : {number("stores", s.stores, 1), number("groups", s.groups, 1),
                       number("messages", s.messages, 1), number("rate", s.rate, 0),
                       number("payload", s.payload, 1), number("threads", s.threads, 1),
                       number("grace-ms", grace_ms, 0)}) {
    if (!problem.empty()) return bad(problem);
  }
  s.grace = std::chrono::milliseconds(grace_ms);
  if (s.payload > 8192) return bad("--payload is the message body: at most 8192 bytes");
  const auto target = args.value("target").value_or("all");
  if (target == "all") {
    s.target = fanout::target_kind::all;
  } else if (target == "group") {
    s.target = fanout::target_kind::group;
  } else if (target == "store") {
    s.target = fanout::target_kind::store;
  } else {
    return bad("--target is all, group or store");
  }
  const auto via = args.value("via").value_or("library");
  if (via == "library") {
    s.publish_via = fanout::via::library;
  } else if (via == "api") {
    s.publish_via = fanout::via::api;
  } else if (via == "frame") {
    s.publish_via = fanout::via::frame;
  } else {
    return bad("--via is library, api or frame");
  }
  const auto receive = args.value("receive").value_or("frame");
  if (receive != "frame" && receive != "full") return bad("--receive is frame or full");
  s.full_receive = receive == "full";
  s.sign = args.has("sign");
  if (s.sign && !s.full_receive)
    return bad("--sign needs --receive full: the stores verify in the display pipeline");
  if (s.sign && s.publish_via != fanout::via::library)
    return bad("--sign signs through broker::publisher: --via library");
  s.recall = args.has("recall");
  if (s.recall && !s.full_receive)
    return bad(
        "--recall needs --receive full: a store takes a message down in its display pipeline");
  if (s.recall && s.publish_via != fanout::via::library)
    return bad("--recall publishes recall notices through broker::publisher: --via library");
  s.redis_url = args.value("redis").value_or("");
  s.api_url = args.value("api").value_or("");
  s.token = args.value("token").value_or("");
  s.out_dir = args.value("out").value_or(s.out_dir);
  if (s.publish_via == fanout::via::api &&
      (s.api_url.empty() || s.token.empty() || s.redis_url.empty())) {
    return bad(
        "--via api needs --api URL, --token TOKEN and --redis URL (the Redis that publisherd "
        "uses)");
  }
  return s;
}

// http://host:port[/]
std::optional<bcast::net::endpoint> api_endpoint(std::string_view url) {
  if (!url.starts_with("http://")) return std::nullopt;
  url.remove_prefix(7);
  while (url.ends_with('/')) url.remove_suffix(1);
  const auto colon = url.rfind(':');
  bcast::net::endpoint ep;
  ep.host = std::string(url.substr(0, colon));
  ep.port = 80;
  if (colon != std::string_view::npos && !bcast::core::parse_int(url.substr(colon + 1), ep.port)) {
    return std::nullopt;
  }
  return ep;
}

fanout::plain_endpoint plain(const bcast::redis::options& o) {
  fanout::plain_endpoint ep;
  ep.host = o.endpoint.host;
  ep.port = o.endpoint.port;
  ep.unix_path = o.endpoint.unix_path;
  ep.user = o.user;
  ep.password = o.password;
  ep.db = o.db;
  return ep;
}

int limit_stop(const std::string& why) {
  std::cerr << "bcast-bench: stopped by a limit: " << why << "\n";
  return 3;
}

struct bcast_figures {
  fanout::figures messages;
  std::optional<fanout::figures> recalls;  // --recall

  bool ok() const {
    return messages.lost == 0 && messages.publish_errors == 0 && (!recalls || recalls->lost == 0);
  }
};

// One bcast phase on a loop of its own: the figures, or why the set-up failed. With a `key` the
// publisher signs every message and the stores trust only that key.
bcast::core::result<bcast_figures> run_bcast_phase(const settings& s, const fanout::plan& plan,
                                                   const bcast::redis::options& redis_options,
                                                   const std::optional<bcast::net::endpoint>& api,
                                                   const fanout::signing_key_ptr& key) {
  std::optional<bcast::trust::keyring> trusted;
  if (key) trusted.emplace(std::vector{key->public_half()});
  fanout::tally tally(plan, s.threads);
  std::optional<fanout::tally> recalls;
  if (s.recall) recalls.emplace(plan, s.threads);
  fanout::tally* const recall_tally = recalls ? &*recalls : nullptr;
  bcast::core::loop loop;
  std::unique_ptr<fanout::publisher> pub;
  if (s.publish_via == fanout::via::api) {
    pub = std::make_unique<fanout::api_publisher>(loop, plan, s.payload, *api, s.token);
  } else {
    pub = std::make_unique<fanout::library_publisher>(
        loop, plan, s.payload, redis_options, s.publish_via == fanout::via::library, key, s.recall);
  }
  auto outcome = fanout::run_phase(
      loop.uv(), [&loop] { loop.run(); }, s, plan, tally, *pub,
      [&](unsigned w, std::uint32_t first, std::uint32_t last, std::function<void()> done) {
        return std::make_unique<fanout::bcast_store_worker>(
            plan, tally, w, first, last, std::move(done), redis_options, s.full_receive, trusted,
            recall_tally, s.sign);
      },
      recall_tally);
  if (!outcome.set_up) return bcast::core::error(bcast::core::errc::server_error, outcome.problem);
  const auto name =
      std::string("bcast (") + fanout::via_name(s.publish_via) + (key ? ", signed" : "") + ")";
  bcast_figures out{fanout::summarize(name, plan, tally, outcome, *pub), std::nullopt};
  if (recalls) {
    // Timed from the first notice; a notice that reached every store was sent, whatever its k.
    auto recall_outcome = outcome;
    recall_outcome.first_send_ns = outcome.first_recall_ns;
    out.recalls = fanout::summarize(name + " recall", plan, *recalls, recall_outcome, *pub);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bcast::core::cli::spec spec{
      {"stores", "groups", "messages", "rate", "target", "payload", "via", "api", "token", "redis",
       "out", "threads", "grace-ms", "receive"},
      {"help", "version", "sign", "recall"}};
  auto start = bcast::core::cli::parse_daemon_command_line(argc, argv, spec, "bcast-bench",
                                                           BCAST_VERSION, usage_text);
  if (!start.args) return start.exit_status;
  auto read = read_settings(*start.args);
  if (!read) {
    std::cerr << "bcast-bench: " << read.err().detail() << "\n" << usage_text;
    return 2;
  }
  auto s = std::move(read).value();
  std::signal(SIGPIPE, SIG_IGN);
  // Each store's pipeline logs every message it takes down (info): with 5,000 stores in one
  // process, 5,000 lines a recall on the recall's path alone, which a message's does not pay.
  if (s.recall) bcast::core::log::config().threshold = bcast::core::log::level::notice;

  // The stores of one phase, the publisher, Redis's own clients and some slack: what one Redis
  // (or one cluster node) takes. On a cluster a store has a connection per master that serves
  // one of its channels, so the process needs up to one per channel.
  const std::uint64_t connections = std::uint64_t{s.stores} + 64;
  const bool cluster_url =
      s.redis_url.starts_with("redis-cluster://") || s.redis_url.starts_with("rediss-cluster://");
  const fanout::plan plan(s);
  const std::uint64_t links_per_store = cluster_url ? fanout::store_channels(plan, 0).size() : 1;
  if (auto why = fanout::raise_fd_limit(std::uint64_t{s.stores} * links_per_store + 128);
      !why.empty())
    return limit_stop(why);
  if (auto why = fanout::check_ephemeral_ports(connections); !why.empty()) return limit_stop(why);

  std::unique_ptr<bcast::redis::local_server> own_redis;
  if (s.redis_url.empty()) {
    auto started = fanout::start_private_redis(connections + 64);
    if (!started) {
      std::cerr << "bcast-bench: " << started.err().message() << "\n";
      return 3;
    }
    own_redis = std::move(started).value();
    s.redis_url = own_redis->url();
  }
  auto redis_options = bcast::redis::parse_url(s.redis_url);
  if (!redis_options) {
    std::cerr << "bcast-bench: " << redis_options.err().detail() << "\n";
    return 2;
  }
  const auto endpoint = plain(*redis_options);
  // A single Redis, or the masters of the cluster and which serves each channel.
  auto nodes = fanout::node_map::single(endpoint);
  if (redis_options->cluster) {
    if (redis_options->tls) {
      std::cerr << "bcast-bench: rediss-cluster:// is not measured: the baseline (hiredis 0.14) "
                   "has no TLS\n";
      return 2;
    }
    std::string error;
    auto map = fanout::read_cluster_map(endpoint, error);
    if (!map) {
      std::cerr << "bcast-bench: " << error << "\n";
      return 3;
    }
    nodes = std::move(*map);
  }
  for (const auto& node : nodes.nodes) {
    if (auto why = fanout::ensure_maxclients(node, connections); !why.empty())
      return limit_stop(why);
  }
  std::optional<bcast::net::endpoint> api;
  if (s.publish_via == fanout::via::api && !(api = api_endpoint(s.api_url))) {
    std::cerr << "bcast-bench: --api is http://HOST:PORT, not '" << s.api_url << "'\n";
    return 2;
  }

  const auto channels_of = [&plan](std::uint32_t i) { return fanout::store_channels(plan, i); };
  const auto channel_of = [&plan](std::uint32_t k) {
    return bcast::broker::live_channel(plan.target_of(k));
  };
  // --sign: the run's key; the publisher and the stores' trust get it, nothing else.
  fanout::signing_key_ptr key;
  if (s.sign) {
    auto made = bcast::trust::signing_key::generate();
    if (!made) {
      std::cerr << "bcast-bench: " << made.err().detail() << "\n";
      return 3;
    }
    key = std::make_shared<const bcast::trust::signing_key>(std::move(made).value());
  }
  const auto baseline_payload = fanout::frame_size(plan, s.payload, key);
  std::fprintf(
      stderr, "bcast-bench: %u stores, %u messages to %s, %s, via %s, Redis %s\n", s.stores,
      s.messages, plan.target_of(0).c_str(),
      s.rate > 0 ? ("open loop at " + std::to_string(s.rate) + "/s").c_str() : "closed loop",
      fanout::via_name(s.publish_via), s.redis_url.c_str());
  if (nodes.sharded)
    std::fprintf(stderr, "Redis Cluster: %zu masters, sharded pub/sub (SPUBLISH, SSUBSCRIBE)\n",
                 nodes.nodes.size());

  // The baseline first: plain hiredis on plain libuv loops.
  std::fprintf(stderr, "baseline (hiredis + libuv):\n");
  fanout::tally base_tally(plan, s.threads);
  fanout::figures base;
  {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
      fanout::baseline_publisher pub(&loop, nodes, baseline_payload, channel_of);
      auto outcome = fanout::run_phase(
          &loop, [&loop] { uv_run(&loop, UV_RUN_DEFAULT); }, s, plan, base_tally, pub,
          [&](unsigned w, std::uint32_t first, std::uint32_t last, std::function<void()> done) {
            return std::make_unique<fanout::baseline_store_worker>(
                plan, base_tally, w, first, last, std::move(done), nodes, channels_of);
          });
      if (!outcome.set_up) {
        std::cerr << "bcast-bench: baseline: " << outcome.problem << "\n";
        return 3;
      }
      base = fanout::summarize("hiredis", plan, base_tally, outcome, pub);
    }
    while (uv_run(&loop, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&loop);
  }

  // --sign: the same phase unsigned first, then signed, so that the two compare in one run.
  bcast_figures unsigned_phase;
  if (s.sign) {
    std::fprintf(stderr, "bcast, unsigned:\n");
    auto phase = run_bcast_phase(s, plan, *redis_options, api, nullptr);
    if (!phase) {
      std::cerr << "bcast-bench: bcast (unsigned): " << phase.err().detail() << "\n";
      return 3;
    }
    unsigned_phase = std::move(phase).value();
  }
  const auto& unsigned_ours = unsigned_phase.messages;
  std::fprintf(stderr, s.sign ? "bcast, signed:\n" : "bcast:\n");
  auto phase = run_bcast_phase(s, plan, *redis_options, api, key);
  if (!phase) {
    std::cerr << "bcast-bench: bcast: " << phase.err().detail() << "\n";
    return 3;
  }
  const auto ours_phase = std::move(phase).value();
  const auto& ours = ours_phase.messages;
  std::optional<fanout::signing_costs> costs;
  if (key) costs = fanout::measure_signing(plan, s.payload, *key, 500);

  fanout::print_table(ours, base, plan);
  if (costs) fanout::print_signing(ours, unsigned_ours, *costs);
  if (s.sign && unsigned_phase.recalls)
    fanout::print_recall(unsigned_ours, *unsigned_phase.recalls);
  if (ours_phase.recalls) fanout::print_recall(ours, *ours_phase.recalls);
  const fanout::figures* sides[] = {&ours, &base, &unsigned_ours};
  for (const auto* f : sides) {
    if (f->publish_errors > 0)
      std::cerr << f->name << ": first publish error: " << f->first_publish_error << "\n";
  }

  std::error_code ec;
  std::filesystem::create_directories(s.out_dir, ec);
  auto result = fanout::to_json(ours, plan);
  result["baseline"] = fanout::to_json(base, plan);
  result["groups"] = s.groups;
  result["target"] = plan.target_of(0);
  result["via"] = fanout::via_name(s.publish_via);
  result["cluster"] = nodes.sharded;
  result["masters"] = nodes.nodes.size();
  result["rate"] = s.rate;
  result["payload_bytes"] = s.payload;
  result["baseline_payload_bytes"] = baseline_payload;
  const auto p50 = [](const fanout::figures& f, bool fan) {
    return fanout::percentile(fan ? f.fanout_us : f.delivery_us, 50);
  };
  const auto p99 = [](const fanout::figures& f, bool fan) {
    return fanout::percentile(fan ? f.fanout_us : f.delivery_us, 99);
  };
  result["ratio"] = {{"delivery_p50", fanout::ratio(p50(ours, false), p50(base, false))},
                     {"delivery_p99", fanout::ratio(p99(ours, false), p99(base, false))},
                     {"fanout_p50", fanout::ratio(p50(ours, true), p50(base, true))},
                     {"fanout_p99", fanout::ratio(p99(ours, true), p99(base, true))}};
  result["signed"] = s.sign;
  if (costs) {
    result["unsigned"] = fanout::to_json(unsigned_ours, plan);
    result["signing"] = fanout::signing_json(ours, unsigned_ours, *costs);
  }
  if (ours_phase.recalls) result["recall"] = fanout::recall_json(ours, *ours_phase.recalls, plan);
  if (costs && unsigned_phase.recalls)
    result["unsigned"]["recall"] =
        fanout::recall_json(unsigned_ours, *unsigned_phase.recalls, plan);
  const auto dir = std::filesystem::path(s.out_dir);
  std::ofstream(dir / "result.json") << result.dump(2) << "\n";
  std::ofstream(dir / "latency_cdf.svg")
      << (s.sign ? fanout::cdf_svg({&ours, &unsigned_ours, &base})
                 : fanout::cdf_svg({&ours, &base}));
  std::fprintf(stderr, "wrote %s and %s\n", (dir / "result.json").c_str(),
               (dir / "latency_cdf.svg").c_str());
  const bool unsigned_ok = !s.sign || unsigned_phase.ok();
  return ours_phase.ok() && base.lost == 0 && unsigned_ok ? 0 : 1;
}
