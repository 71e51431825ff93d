#!/usr/bin/env bash
# Idle cost of one store: CPU time and RSS of subscriberd over SECONDS with no messages, connected
# to a private redis-server (heartbeats only). Prints CPU % of one core and the peak RSS.
# With WINDOWS_BUILD_DIR (./dev windows: build-win), subscriberd.exe under Wine too, as a second
# store on the same Redis over the same window; its CPU counts the wineserver's as well (Wine
# does part of a Windows program's work there), and its RSS is the Wine process's.
# usage: bench/subscriberd_idle.sh [BUILD_DIR] [SECONDS] [WINDOWS_BUILD_DIR]   (BENCH_TINY=1: 1 s)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
secs=${2:-$(tiny_or 1 60)}
windows=${3:-}
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
measured=("$sub")
if [[ -n $windows ]]; then
  export WINEPREFIX=${XDG_CACHE_HOME:-$HOME/.cache}/bcast/wine WINEDEBUG=-all
  [[ -d $WINEPREFIX ]] || wineboot --init >/dev/null 2>&1
  wine "$windows/daemons/subscriberd/subscriberd.exe" --redis "redis://127.0.0.1:$port" --store idle-2 \
    --group region:jateng --sink terminal --sink "jsonl:Z:$dir/shown-win.jsonl" --state-dir "Z:$dir/state-win" \
    --trusted-key "Z:$BENCH_PUBLIC_KEY" >"$dir/store-win.log" 2>&1 &
  wine_sub=$!
  BENCH_PIDS+=("$wine_sub")
  for _ in $(seq 120); do grep -q "is live on 3 channels" "$dir/store-win.log" && break; sleep 0.5; done
  grep -q "is live on 3 channels" "$dir/store-win.log" || { cat "$dir/store-win.log" >&2; exit 1; }
  # The wineserver of this prefix (one runs per prefix), by the WINEPREFIX it was started with.
  wineserver_pid=
  for p in $(pgrep -u "$(id -u)" -x 'wineserver(64)?'); do
    if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "WINEPREFIX=$WINEPREFIX"; then wineserver_pid=$p; fi
  done
  [[ -n $wineserver_pid ]] || { echo "no wineserver for $WINEPREFIX" >&2; exit 1; }
  measured+=("$wine_sub" "$wineserver_pid")
fi
sleep 2  # let it connect and catch up before measuring
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
declare -A start peak
for p in "${measured[@]}"; do start[$p]=$(ticks "$p"); peak[$p]=0; done
for _ in $(seq "$secs"); do
  sleep 1
  for p in "${measured[@]}"; do
    rss=$(rss_kib "$p")
    ((rss > peak[$p])) && peak[$p]=$rss
  done
done
report() {  # report LABEL CPU_TICKS PEAK_KIB
  python3 -c "
cpu = $2 / $hz
print(f'$1 idle for $secs s: CPU {cpu:.2f} s = {100 * cpu / $secs:.3f} % of one core; peak RSS {$3 / 1024:.1f} MiB')"
}
report subscriberd $(($(ticks "$sub") - start[$sub])) "${peak[$sub]}"
if [[ -n $windows ]]; then
  exe_ticks=$(($(ticks "$wine_sub") - start[$wine_sub]))
  server_ticks=$(($(ticks "$wineserver_pid") - start[$wineserver_pid]))
  report "subscriberd.exe under Wine (the process)" "$exe_ticks" "${peak[$wine_sub]}"
  report "subscriberd.exe under Wine (with the wineserver)" $((exe_ticks + server_ticks)) "${peak[$wine_sub]}"
fi
