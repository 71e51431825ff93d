#!/usr/bin/env bash
# Offline catch-up: a store whose position is at the start of `all` replays every missed message
# (at least 10,000) to a jsonl sink. Measures subscriberd from start until the last line is
# written, RUNS times, and prints the median time and rate.
# usage: bench/catchup_replay.sh [BUILD_DIR] [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$ROOT/build}
runs=${2:-3}
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
hport=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
printf 'bench\n' | "$build/daemons/bcastctl/bcastctl" user add --users "$dir/users.json" bench --role admin \
  --password-stdin 2>/dev/null
token=$("$build/daemons/bcastctl/bcastctl" user token --users "$dir/users.json" bench 2>/dev/null)
"$build/daemons/publisherd/publisherd" --redis "redis://127.0.0.1:$rport" --http "127.0.0.1:$hport" \
  --users "$dir/users.json" 2>"$dir/publisherd.log" &
pids+=($!)
until curl -fs "http://127.0.0.1:$hport/api/v1/health" >/dev/null 2>&1; do sleep 0.05; done
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"targets":["all"],"category":"announcement","title":"Missed while the PC was off","body":"Rapat kepala toko jam 15.00 di kantor wilayah."}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
while (($(redis-cli -p "$rport" XLEN 'bcast:{all}:history') < 10000)); do
  wrk -t2 -c20 -d1s -s "$dir/post.lua" "http://127.0.0.1:$hport/api/v1/messages" >/dev/null
done
total=$(redis-cli -p "$rport" XLEN 'bcast:{all}:history')
first=$(redis-cli -p "$rport" XRANGE 'bcast:{all}:history' - + COUNT 1 | sed -n 3p)
echo "history of all: $total messages (first seq $first)"

times=()
for i in $(seq "$runs"); do
  state="$dir/state-$i"
  mkdir -p "$state"
  printf '{"version":1,"store":"bench-%d","channels":{"all":{"seq":%d,"stream_id":"0-0"}},"recent_ids":[]}' \
    "$i" "$((first - 1))" >"$state/position.json"
  out="$dir/shown-$i.jsonl"
  start=$(date +%s.%N)
  "$build/daemons/subscriberd/subscriberd" --redis "redis://127.0.0.1:$rport" --store "bench-$i" \
    --sink "jsonl:$out" --state-dir "$state" 2>"$dir/store-$i.log" &
  sub=$!
  while [[ ! -f $out ]] || (($(wc -l <"$out") < total)); do sleep 0.01; done
  end=$(date +%s.%N)
  kill "$sub"
  wait "$sub" 2>/dev/null || true
  t=$(python3 -c "print(round($end - $start, 3))")
  printf 'run %d: %d messages replayed in %s s (%.0f messages/s)\n' "$i" "$total" "$t" "$(python3 -c "print($total / $t)")"
  times+=("$t")
done
python3 -c "import statistics,sys; t=statistics.median(map(float, sys.argv[2:])); print(f'median {t:.3f} s for {sys.argv[1]} messages; {int(sys.argv[1])/t:.0f} messages/s')" "$total" "${times[@]}"
