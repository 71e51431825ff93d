#!/usr/bin/env bash
# The bcast-bench goal scenarios, RUNS times each, with the median of every figure.
# usage: bench/bcast_bench.sh [BUILD_DIR] [RUNS] [SCENARIO...]
#   scenarios: fanout5k (5,000 stores, target all), one-library, one-api (1 store, closed loop),
#              stores10k (10,000 stores, single-store messages at 5,000/s open loop), one-signed
#              (1 store through the display pipeline, --receive full --sign: unsigned and then
#              signed in each run, with the sign and verify costs, in the phases and apart): the
#              goals, the default;
#              one-frame (1 store, the frame by plain PUBLISH through the library's client, no
#              history append): a diagnostic, run only when named; recall5k (5,000 stores through
#              the display pipeline, each message recalled once it is everywhere) and
#              recall5k-signed (the same unsigned and then signed, 50 messages: 5,000 stores in one
#              process verify each message and notice 5,000 times): issue 17, run only when named;
#              cluster5k (fanout5k on the single Redis and on a local Redis Cluster of 3 masters
#              and 3 replicas, sharded pub/sub, in each run one after the other, the order
#              alternating; reported as cluster/single ratios): issue 16, run only when named.
# Each run writes BENCH_OUT/<scenario>-<run>/result.json (BENCH_OUT defaults to bcast-bench-runs);
# cluster5k writes the cluster's there and the single Redis's in cluster5k-single-<run>.
# PIN_CPU=N (lib.sh) runs everything on one CPU: the diagnostic for the work per message.
# BENCH_TINY=1: one run of every scenario (one-frame too) at a few stores and messages, into the
# temp dir unless BENCH_OUT is set.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build=$(realpath "${1:-build}")
runs=${2:-$(tiny_or 1 3)}
shift $(($# > 2 ? 2 : $#))
scenarios=("$@")
((${#scenarios[@]})) || read -ra scenarios <<<"$(tiny_or "fanout5k one-library one-frame one-signed one-api stores10k recall5k recall5k-signed cluster5k" \
  "fanout5k one-library one-signed one-api stores10k")"
out=$(realpath -m "${BENCH_OUT:-$(tiny_or "$BENCH_DIR/runs" bcast-bench-runs)}")
bench=$build/daemons/bcast-bench
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)"

# One private Redis (and publisherd for the API scenario) serves every run; each run is a fresh
# bcast-bench process. FLUSHALL between runs keeps the histories of earlier runs out of the way.
redis_port=$(free_port)
"${bench_pin[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$BENCH_DIR" \
  --logfile "$BENCH_DIR/redis.log" --maxclients 12000 --tcp-backlog 65535 \
  --client-output-buffer-limit 'pubsub 512mb 128mb 60' &
BENCH_PIDS+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
redis_url=redis://127.0.0.1:$redis_port

args_of() {
  local one_store_messages
  one_store_messages=$(tiny_or 50 5000)
  case $1 in
    fanout5k | cluster5k) echo --stores "$(tiny_or 20 5000)" --target all --messages "$(tiny_or 10 200)" ;;
    one-library) echo --stores 1 --messages "$one_store_messages" ;;
    one-frame) echo --stores 1 --messages "$one_store_messages" --via frame ;;
    one-signed) echo --stores 1 --messages "$one_store_messages" --receive full --sign ;;
    one-api) echo --stores 1 --messages "$one_store_messages" --via api --api "http://127.0.0.1:$http_port" --token "$BENCH_TOKEN" ;;
    recall5k) echo --stores "$(tiny_or 20 5000)" --target all --messages "$(tiny_or 10 100)" --receive full --recall ;;
    recall5k-signed) echo --stores "$(tiny_or 20 5000)" --target all --messages "$(tiny_or 10 50)" --receive full --recall --sign ;;
    stores10k) echo --stores "$(tiny_or 50 10000)" --target store --rate "$(tiny_or 500 5000)" --messages "$(tiny_or 100 25000)" ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

for scenario in "${scenarios[@]}"; do
  if [[ $scenario == one-api && -z ${http_port:-} ]]; then
    http_port=$(free_port)
    start_publisherd "$build" "$redis_port" "$http_port"
  fi
  if [[ $scenario == cluster5k && -z ${BENCH_CLUSTER_URL:-} ]]; then
    start_cluster 3
    echo "(Redis Cluster of 3 masters and 3 replicas at $BENCH_CLUSTER_URL)"
  fi
  args=$(args_of "$scenario")
  echo "== $scenario: bcast-bench $args"
  for run in $(seq "$runs"); do
    sides=("$scenario-$run $redis_url")
    if [[ $scenario == cluster5k ]]; then
      # Both in each run, the first one alternating, so that a drift of the machine is shared.
      sides=("$scenario-single-$run $redis_url" "$scenario-$run $BENCH_CLUSTER_URL")
      ((run % 2)) || sides=("${sides[1]}" "${sides[0]}")
    fi
    for side in "${sides[@]}"; do
      read -r name url <<<"$side"
      redis-cli -p "$redis_port" flushall >/dev/null
      [[ $url != redis-cluster://* ]] || cluster_flushall
      dir=$out/$name
      # shellcheck disable=SC2086
      "${bench_pin[@]}" "$bench" $args --redis "$url" --out "$dir" 2>"$dir.log" >/dev/null || echo "run $run exited $? (see $dir.log)"
    done
  done
  python3 - "$out" "$scenario" "$runs" <<'PY'
import json, statistics, sys
out, scenario, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
results = [json.load(open(f"{out}/{scenario}-{i}/result.json")) for i in range(1, runs + 1)]
def med(path, results=results):
    values = []
    for r in results:
        for key in path:
            r = r[key]
        values.append(r)
    return statistics.median(values), values
if scenario == "cluster5k":
    # Each side of a run against the single Redis of the same run: the median of the run ratios.
    single = [json.load(open(f"{out}/{scenario}-single-{i}/result.json")) for i in range(1, runs + 1)]
    rows = [("delivery p50 us", ["delivery_us", "p50"]), ("delivery p99 us", ["delivery_us", "p99"]),
            ("fan-out p50 us", ["fanout_us", "p50"]), ("fan-out p99 us", ["fanout_us", "p99"]),
            ("messages/s", ["throughput", "messages_per_s"]), ("lost", ["lost"])]
    print(f"{results[0]['masters']} masters; cluster/single ratio: the median of each run's ratio")
    for side, prefix in [("bcast", []), ("hiredis", ["baseline"])]:
        print(f"{side:20} {'single':>12} {'cluster':>12} {'ratio':>8}   ratio by run")
        for label, path in rows:
            s, each_s = med(prefix + path, single)
            c, each_c = med(prefix + path, results)
            ratios = [b / a if a else float("nan") for a, b in zip(each_s, each_c)]
            if label == "lost":  # single/cluster by run
                print(f"{label:20} {s:12.0f} {c:12.0f} {'':8}   "
                      + " ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(each_s, each_c)))
                continue
            print(f"{label:20} {s:12.1f} {c:12.1f} {statistics.median(ratios):8.3f}   "
                  + " ".join(f"{r:.3f}" for r in ratios))
    sys.exit(0)
rows = [("delivery p50 us", ["delivery_us", "p50"]), ("delivery p99 us", ["delivery_us", "p99"]),
        ("delivery p99.9 us", ["delivery_us", "p999"]), ("fan-out p50 us", ["fanout_us", "p50"]),
        ("fan-out p99 us", ["fanout_us", "p99"]), ("messages/s", ["throughput", "messages_per_s"]),
        ("lost", ["lost"])]
print(f"{'':20} {'bcast':>12} {'baseline':>12}   runs (bcast)")
for label, path in rows:
    ours, each = med(path)
    base, _ = med(["baseline"] + path)
    print(f"{label:20} {ours:12.1f} {base:12.1f}   {' '.join(f'{v:.1f}' for v in each)}")
for label, key in [("ratio delivery p50", "delivery_p50"), ("ratio fan-out p50", "fanout_p50"),
                   ("ratio delivery p99", "delivery_p99")]:
    m, each = med(["ratio", key])
    print(f"{label:20} {m:12.3f} {'':12}   {' '.join(f'{v:.3f}' for v in each)}")
# --sign: the unsigned side of the same runs, and what signing adds against what it costs.
# In the phases: the signed publish call and pipeline less the unsigned ones; apart: measured
# one after the other right after the phases.
if all("signing" in r for r in results):
    for label, path, digits in [("unsigned p50 us", ["delivery_p50_unsigned_us"], 1),
                                ("signed p50 us", ["delivery_p50_signed_us"], 1),
                                ("sign us", ["in_path", "sign_us"], 1),
                                ("verify us", ["in_path", "verify_us"], 1),
                                ("signed adds us", ["added_p50_us"], 1),
                                ("adds/(sign+verify)", ["in_path", "added_over_sign_verify"], 3),
                                ("sign us, apart", ["sign_us"], 1),
                                ("verify us, apart", ["verify_us"], 1),
                                ("adds/(apart)", ["added_over_sign_verify"], 3)]:
        m, each = med(["signing"] + path)
        print(f"{label:20} {m:12.{digits}f} {'':12}   {' '.join(f'{v:.{digits}f}' for v in each)}")
# --recall: each phase's recall notices against its messages (ratio: recall / message).
for side, name in [([], "bcast"), (["unsigned"], "unsigned")]:
    if not all("recall" in (r.get(side[0], {}) if side else r) for r in results):
        continue
    print(f"{name + ' recall':20} {'recall':>12} {'message':>12}   ratio, runs")
    for label, path, ratio_key in [("delivery p50 us", ["delivery_us", "p50"], "delivery_p50"),
                                   ("delivery p90 us", ["delivery_us", "p90"], "delivery_p90"),
                                   ("delivery p99 us", ["delivery_us", "p99"], "delivery_p99"),
                                   ("delivery max us", ["delivery_us", "max"], None),
                                   ("fan-out p50 us", ["fanout_us", "p50"], "fanout_p50"),
                                   ("fan-out p99 us", ["fanout_us", "p99"], "fanout_p99"),
                                   ("lost", ["lost"], None)]:
        recall, _ = med(side + ["recall"] + path)
        message, _ = med(side + path)
        ratios = ""
        if ratio_key:
            m, each = med(side + ["recall", "ratio_to_message", ratio_key])
            ratios = f"{m:.3f}: {' '.join(f'{v:.3f}' for v in each)}"
        print(f"{label:20} {recall:12.1f} {message:12.1f}   {ratios}")
PY
done
