#!/usr/bin/env bash
# POST /api/v1/messages throughput (wrk, 50 keep-alive connections, target "all") through
# publisherd on one Redis, and on a local Redis Cluster (3 masters, 3 replicas) with
# "min_replicas": 0 and with 1 (WAIT before the live frame, the cluster's default): RUNS rounds,
# the three in turn within each round, each from an empty Redis; prints each round, the medians
# and the ratios of the medians to the single Redis.
# usage: bench/cluster_throughput.sh [BUILD_DIR] [RUNS] [SECONDS]
# BENCH_TINY=1: one round of 1 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
runs=${2:-$(tiny_or 1 3)}
secs=${3:-$(tiny_or 1 10)}
dir=$BENCH_DIR

rport=$(free_port)
start_redis "$rport"
start_cluster 3
echo '{"min_replicas": 0}' >"$dir/replicas-0.json"
echo '{"min_replicas": 1}' >"$dir/replicas-1.json"
declare -A http
http[single]=$(free_port)
http[cluster]=$(free_port)
http[cluster-wait]=$(free_port)
declare -A token
start_publisherd "$build" "$rport" "${http[single]}"
token[single]=$BENCH_TOKEN
start_publisherd "$build" "$BENCH_CLUSTER_URL" "${http[cluster]}" "$dir/replicas-0.json"
token[cluster]=$BENCH_TOKEN
start_publisherd "$build" "$BENCH_CLUSTER_URL" "${http[cluster-wait]}" "$dir/replicas-1.json"
token[cluster-wait]=$BENCH_TOKEN
body='{"targets":["all"],"category":"price_info","title":"Harga baru minyak goreng 2L","body":"Mulai Senin harga rak menjadi Rp 34.900. Ganti label harga sebelum toko buka."}'

post_rate() {  # post_rate SIDE: POST/s for SECS seconds
  local port=${http[$1]} tok=${token[$1]}
  cat >"$dir/post-$1.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $tok"
LUA
  local out errors
  out=$(wrk -t2 -c50 -d"${secs}s" -s "$dir/post-$1.lua" "http://127.0.0.1:$port/api/v1/messages")
  errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  [[ -z $errors ]] || echo "wrk ($1): $errors" >&2
  awk '/^Requests\/sec/ {print $2}' <<<"$out"
}

printf '%-5s %12s %12s %14s\n' run single cluster cluster-wait
declare -A all
for i in $(seq "$runs"); do
  redis-cli -p "$rport" FLUSHALL >/dev/null
  cluster_flushall
  row=()
  for side in single cluster cluster-wait; do
    rate=$(post_rate "$side")
    all[$side]+="$rate "
    row+=("$rate")
  done
  printf '%-5s %12s %12s %14s\n' "$i" "${row[@]}"
done
python3 - "${all[single]}" "${all[cluster]}" "${all[cluster-wait]}" <<'PY'
import statistics, sys
single, cluster, wait = ([float(x) for x in a.split()] for a in sys.argv[1:4])
m = [statistics.median(x) for x in (single, cluster, wait)]
print(f"median POST/s: single {m[0]:.0f}, cluster {m[1]:.0f} (min_replicas 0), "
      f"cluster {m[2]:.0f} (min_replicas 1)")
print(f"ratio to single: cluster {m[1] / m[0]:.3f}, cluster with min_replicas 1 {m[2] / m[0]:.3f}")
PY
