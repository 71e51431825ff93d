#!/usr/bin/env bash
# POST /api/v1/messages over keep-alive with wrk (50 connections), and, in the same run against
# the same redis-server, redis-benchmark doing a publish's Redis work (XADD and PUBLISH of the
# frame, as one EVALSHA: redis-benchmark sends one command per request, so not as publisherd's
# MULTI) with 50 clients: the baseline of what Redis alone does. RUNS rounds; prints each and the
# medians.
# With STORES=N in the environment, N stores (in 35 regions) are known to publisherd, as in a
# fleet: each round starts with their profiles in Redis.
# usage: [STORES=N] bench/publisherd_throughput.sh [BUILD_DIR] [RUNS] [SECONDS]
# BENCH_TINY=1: one round of 1 s, 10 stores, 3,000 EVALSHA.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
runs=${2:-$(tiny_or 1 3)}
secs=${3:-$(tiny_or 1 10)}
stores=${STORES:-$(tiny_or 10 0)}
evalsha_requests=$(tiny_or 3000 300000)
dir=$BENCH_DIR
rport=$(free_port)
hport=$(free_port)
start_redis "$rport"
start_publisherd "$build" "$rport" "$hport"
token=$BENCH_TOKEN

body='{"targets":["all"],"category":"price_info","title":"Harga baru minyak goreng 2L","body":"Mulai Senin harga rak menjadi Rp 34.900. Ganti label harga sebelum toko buka."}'
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA

# The smallest ULID made at a time in ms (Crockford base32 time, zero randomness).
ulid_floor() {
  python3 -c 'import sys
ms = int(sys.argv[1]); a = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
print("".join(a[(ms >> (5 * i)) & 31] for i in range(9, -1, -1)) + "0" * 16)' "$1"
}

# add_stores N: N store profiles, the way subscriberd's heartbeat writes them, then a stores
# request so that publisherd knows them all before the round starts.
add_stores() {
  (($1 > 0)) || return 0
  write_store_profiles "$1" "$rport"
  local known
  known=$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$hport/api/v1/stores" |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["stores"]))')
  ((known == $1)) || { echo "publisherd knows $known stores, not $1" >&2; exit 1; }
}

# The baseline: a publish's XADD and PUBLISH (broker/publish.hpp), one target, a fresh message id
# per call.
sha=$(redis-cli -p "$rport" SCRIPT LOAD "
local sid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '0-*', 'id', ARGV[1], 'env', ARGV[2])
return redis.call('PUBLISH', ARGV[3], '+:' .. ARGV[1] .. ':' .. ARGV[2])")
envelope='{"v":1,"id":"01JD0000000000000000000000","targets":["all"],"category":"price_info","title":"Harga baru minyak goreng 2L","body":"Mulai Senin harga rak menjadi Rp 34.900. Ganti label harga sebelum toko buka.","priority":"normal","sent_at":"2026-11-26T10:00:00.000Z","expires_at":null,"sender":"bench","require_ack":false}'

printf '%-5s %12s %9s %9s %9s %14s %8s\n' run 'POST/s' p50 p99 max 'EVALSHA/s' ratio
rps_all=(); p50_all=(); p99_all=(); ratio_all=()
for i in $(seq "$runs"); do
  # Every round, each side starts from an empty Redis: the keys earlier rounds leave (histories,
  # records) slow Redis down run after run.
  redis-cli -p "$rport" FLUSHALL >/dev/null
  add_stores "$stores"
  out=$(wrk -t2 -c50 -d"${secs}s" --latency -s "$dir/post.lua" "http://127.0.0.1:$hport/api/v1/messages")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  max=$(awk '/Latency/ && !/Distribution/ {print $4; exit}' <<<"$out")
  errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  [[ -z $errors ]] || echo "wrk: $errors" >&2
  redis-cli -p "$rport" FLUSHALL >/dev/null
  # What publisherd passes: a fresh id made now.
  now_id=$(ulid_floor "$(date +%s%3N)")
  base=$(redis-benchmark -p "$rport" -c 50 -n "$evalsha_requests" -r 1000000000 -q EVALSHA "$sha" 1 \
    'bcast:{all}:history' "${now_id:0:14}__rand_int__" "$envelope" 'bcast:{all}:live' 10000 |
    tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
  ratio=$(python3 -c "print(round($rps/$base, 3))")
  printf '%-5s %12s %9s %9s %9s %14s %8s\n' "$i" "$rps" "$p50" "$p99" "$max" "$base" "$ratio"
  rps_all+=("$rps"); p50_all+=("$p50"); p99_all+=("$p99"); ratio_all+=("$ratio")
done
python3 - "${rps_all[*]}" "${ratio_all[*]}" <<'PY'
import statistics, sys
rps = [float(x) for x in sys.argv[1].split()]
ratio = [float(x) for x in sys.argv[2].split()]
print(f"median POST/s {statistics.median(rps):.0f}; median ratio to redis-benchmark EVALSHA {statistics.median(ratio):.3f}")
PY
