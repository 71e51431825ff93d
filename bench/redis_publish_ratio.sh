#!/usr/bin/env bash
# Pipelined PUBLISH over one connection: bcast's client against redis-benchmark -P, on the same
# redis-server, in the same run, RUNS times; prints each ratio and the median.
# usage: bench/redis_publish_ratio.sh [BUILD_DIR] [RUNS]   (BENCH_TINY=1: one short run)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
runs=${2:-$(tiny_or 1 5)}
# Two repetitions at least: the median is an aggregate, which one repetition does not report.
ours_args=(--benchmark_repetitions="$(tiny_or 2 3)" --benchmark_min_time="$(tiny_or 0.01 0.5)")
theirs_requests=$(tiny_or 10000 300000)
port=$(free_port)
start_redis "$port"
payload=$(head -c 64 /dev/zero | tr '\0' x)
ratios=()
for i in $(seq "$runs"); do
  ours=$(BCAST_BENCH_REDIS_URL="redis://127.0.0.1:$port" "$build/bench/bench_redis" \
    --benchmark_filter=bm_pipelined_publish "${ours_args[@]}" --benchmark_report_aggregates_only=true \
    --benchmark_format=json | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(next(b["items_per_second"] for b in d["benchmarks"] if b["name"].endswith("_median")))')
  theirs=$(redis-benchmark -p "$port" -c 1 -P 10000 -n "$theirs_requests" -q PUBLISH bcast:bench "$payload" |
    tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
  ratio=$(python3 -c "print(round($ours/$theirs, 3))")
  printf 'run %d: bcast %.0f/s, redis-benchmark %.0f/s, ratio %s\n' "$i" "$ours" "$theirs" "$ratio"
  ratios+=("$ratio")
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
