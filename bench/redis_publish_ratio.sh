#!/usr/bin/env bash
# Pipelined PUBLISH over one connection: bcast's client against redis-benchmark -P, on the same
# redis-server, in the same run, RUNS times; prints each ratio and the median.
# usage: bench/redis_publish_ratio.sh [BUILD_DIR] [RUNS]
set -euo pipefail
build=${1:-build}
runs=${2:-5}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
payload=$(head -c 64 /dev/zero | tr '\0' x)
ratios=()
for i in $(seq "$runs"); do
  ours=$(BCAST_BENCH_REDIS_URL="redis://127.0.0.1:$port" "$build/bench/bench_redis" \
    --benchmark_filter=bm_pipelined_publish --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(next(b["items_per_second"] for b in d["benchmarks"] if b["name"].endswith("_median")))')
  theirs=$(redis-benchmark -p "$port" -c 1 -P 10000 -n 300000 -q PUBLISH bcast:bench "$payload" |
    tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
  ratio=$(python3 -c "print(round($ours/$theirs, 3))")
  printf 'run %d: bcast %.0f/s, redis-benchmark %.0f/s, ratio %s\n' "$i" "$ours" "$theirs" "$ratio"
  ratios+=("$ratio")
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
