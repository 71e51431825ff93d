#!/usr/bin/env bash
# Offline catch-up: a store whose position is at the start of `all` replays every missed message
# (at least 10,000; 200 with BENCH_TINY=1) to a jsonl sink. Measures subscriberd from start until
# the last line is written, RUNS times, and prints the median time and rate.
# usage: bench/catchup_replay.sh [BUILD_DIR] [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
runs=${2:-$(tiny_or 1 3)}
least=$(tiny_or 200 10000)
read -ra wrk_load <<<"$(tiny_or "-t1 -c1" "-t2 -c20")"
dir=$BENCH_DIR
rport=$(free_port)
hport=$(free_port)
start_redis "$rport"
start_publisherd "$build" "$rport" "$hport"
token=$BENCH_TOKEN
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"targets":["all"],"category":"announcement","title":"Missed while the PC was off","body":"Rapat kepala toko jam 15.00 di kantor wilayah."}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
while (($(redis-cli -p "$rport" XLEN 'bcast:{all}:history') < least)); do
  wrk "${wrk_load[@]}" -d1s -s "$dir/post.lua" "http://127.0.0.1:$hport/api/v1/messages" >/dev/null
done
total=$(redis-cli -p "$rport" XLEN 'bcast:{all}:history')
# A history entry's id is 0-<seq>.
first=$(redis-cli -p "$rport" XRANGE 'bcast:{all}:history' - + COUNT 1 | sed -n 1p)
first=${first#0-}
echo "history of all: $total messages (first seq $first)"

times=()
for i in $(seq "$runs"); do
  state="$dir/state-$i"
  mkdir -p "$state"
  printf '{"version":1,"store":"bench-%d","channels":{"all":{"seq":%d,"stream_id":"0-%d"}},"recent_ids":[]}' \
    "$i" "$((first - 1))" "$((first - 1))" >"$state/position.json"
  out="$dir/shown-$i.jsonl"
  start=$(date +%s.%N)
  # The store trusts publisherd's key.
  store_trust_args
  "$build/daemons/subscriberd/subscriberd" --redis "redis://127.0.0.1:$rport" --store "bench-$i" \
    --sink "jsonl:$out" --state-dir "$state" "${BENCH_STORE_TRUST[@]}" 2>"$dir/store-$i.log" &
  sub=$!
  BENCH_PIDS+=("$sub")
  while [[ ! -f $out ]] || (($(wc -l <"$out") < total)); do
    kill -0 "$sub" 2>/dev/null || { echo "subscriberd exited:" >&2; cat "$dir/store-$i.log" >&2; exit 1; }
    sleep 0.01
  done
  end=$(date +%s.%N)
  kill "$sub"
  wait "$sub" 2>/dev/null || true
  t=$(python3 -c "print(round($end - $start, 3))")
  printf 'run %d: %d messages replayed in %s s (%.0f messages/s)\n' "$i" "$total" "$t" "$(python3 -c "print($total / $t)")"
  times+=("$t")
done
python3 -c "import statistics,sys; t=statistics.median(map(float, sys.argv[2:])); print(f'median {t:.3f} s for {sys.argv[1]} messages; {int(sys.argv[1])/t:.0f} messages/s')" "$total" "${times[@]}"
