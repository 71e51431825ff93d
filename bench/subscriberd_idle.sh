#!/usr/bin/env bash
# Idle cost of one store: CPU time and RSS of subscriberd over SECONDS with no messages, connected
# to a private redis-server (heartbeats only). Prints CPU % of one core and the peak RSS.
# usage: bench/subscriberd_idle.sh [BUILD_DIR] [SECONDS]   (BENCH_TINY=1: 1 s)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
secs=${2:-$(tiny_or 1 60)}
dir=$BENCH_DIR
port=$(free_port)
start_redis "$port"
# No publisher here: the store trusts a key of its own.
bench_key_pair "$build" idle
store_trust_args
"$build/daemons/subscriberd/subscriberd" --redis "redis://127.0.0.1:$port" --store idle-1 --group region:jateng \
  --sink terminal --sink "jsonl:$dir/shown.jsonl" --state-dir "$dir/state" "${BENCH_STORE_TRUST[@]}" \
  >"$dir/store.log" 2>&1 &
sub=$!
BENCH_PIDS+=("$sub")
sleep 2  # let it connect and catch up before measuring
ticks() { awk '{print $14 + $15}' "/proc/$sub/stat"; }
hz=$(getconf CLK_TCK)
start=$(ticks)
peak=0
for _ in $(seq "$secs"); do
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$sub/status")
  ((rss > peak)) && peak=$rss
done
end=$(ticks)
python3 -c "
cpu = ($end - $start) / $hz
print(f'subscriberd idle for $secs s: CPU {cpu:.2f} s = {100 * cpu / $secs:.3f} % of one core; peak RSS {$peak / 1024:.1f} MiB')"
