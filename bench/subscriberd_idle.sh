#!/usr/bin/env bash
# Idle cost of one store: CPU time and RSS of subscriberd over SECONDS with no messages, connected
# to a private redis-server (heartbeats only). Prints CPU % of one core and the peak RSS.
# usage: bench/subscriberd_idle.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$ROOT/build}
secs=${2:-60}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" &
pids+=($!)
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
"$build/daemons/subscriberd/subscriberd" --redis "redis://127.0.0.1:$port" --store idle-1 --group region:jateng \
  --sink terminal --sink "jsonl:$dir/shown.jsonl" --state-dir "$dir/state" >"$dir/store.log" 2>&1 &
sub=$!
pids+=($sub)
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
