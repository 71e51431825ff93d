#!/usr/bin/env bash
# GET /api/v1/stores through publisherd with STORES store profiles, on one Redis (one SCAN of the
# keyspace) and on a local Redis Cluster of 3 masters and 3 replicas (a SCAN per master, then the
# profiles read by slot): RUNS rounds of 5 requests each, the two sides in turn; prints each
# round's median, the medians of all requests and the ratio cluster / single.
# usage: bench/store_list.sh [BUILD_DIR] [STORES] [RUNS]
# BENCH_TINY=1: 200 stores, one round.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
stores=${2:-$(tiny_or 200 20000)}
runs=${3:-$(tiny_or 1 5)}

rport=$(free_port)
start_redis "$rport"
start_cluster 3
declare -A http token
http[single]=$(free_port)
http[cluster]=$(free_port)
start_publisherd "$build" "$rport" "${http[single]}"
token[single]=$BENCH_TOKEN
start_publisherd "$build" "$BENCH_CLUSTER_URL" "${http[cluster]}"
token[cluster]=$BENCH_TOKEN
write_store_profiles "$stores" "$rport"
write_store_profiles "$stores" "${BENCH_CLUSTER_PORTS[@]:0:3}"

list_seconds() {  # list_seconds SIDE: one request's time; checks that it lists every store
  local out
  out=$(curl -fs -w '\n%{time_total}' -H "Authorization: Bearer ${token[$1]}" \
    "http://127.0.0.1:${http[$1]}/api/v1/stores")
  local listed
  listed=$(head -n1 <<<"$out" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["stores"]))')
  ((listed == stores)) || { echo "$1: publisherd listed $listed stores, not $stores" >&2; exit 1; }
  tail -n1 <<<"$out"
}

median() { python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

printf '%-5s %14s %14s\n' run 'single ms' 'cluster ms'
declare -A all
for i in $(seq "$runs"); do
  row=()
  for side in single cluster; do
    times=()
    for _ in 1 2 3 4 5; do times+=("$(list_seconds "$side")"); done
    all[$side]+="${times[*]} "
    row+=("$(python3 -c "print(f'{$(median "${times[@]}") * 1000:.1f}')")")
  done
  printf '%-5s %14s %14s\n' "$i" "${row[@]}"
done
python3 - "$stores" "${all[single]}" "${all[cluster]}" <<'PY'
import statistics, sys
n = sys.argv[1]
single, cluster = (statistics.median(float(x) for x in a.split()) for a in sys.argv[2:4])
print(f"median GET /api/v1/stores with {n} stores: single {single * 1000:.1f} ms, "
      f"cluster {cluster * 1000:.1f} ms, ratio {cluster / single:.3f}")
PY
