#!/usr/bin/env bash
# What a full schedule costs an idle publisherd: its CPU time (/proc/PID/stat) and Redis's own
# (INFO cpu, used_cpu_sys + used_cpu_user) over SECONDS with nothing scheduled, and over SECONDS
# with PENDING messages scheduled days ahead (POST /api/v1/messages with "send_at"), nothing sent
# meanwhile. Windows alternate empty, full, full, empty, ... over ROUNDS rounds (each round one of
# each), so that drift on the shared machine hits both alike; prints each window and the medians.
# Idle, publisherd's only Redis work is its schedule poll (one EVALSHA of the claim script 4 times
# a second), so each window also shows that script's calls and its time per call (INFO
# commandstats), and Redis's memory.
# usage: [ROUNDS=N] bench/schedule_idle.sh [BUILD_DIR] [SECONDS] [PENDING]
# BENCH_TINY=1: one round of 1 s windows, 100 messages.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
build=${1:-$ROOT/build}
secs=${2:-$(tiny_or 1 30)}
pending=${3:-$(tiny_or 100 10000)}
rounds=${ROUNDS:-$(tiny_or 1 4)}
rport=$(free_port)
hport=$(free_port)
start_redis "$rport"
start_publisherd "$build" "$rport" "$hport"
pub=${BENCH_PIDS[-1]}
due='bcast:{schedule}:due'
hz=$(getconf CLK_TCK)

ticks() { awk '{print $14 + $15}' "/proc/$pub/stat"; }
redis_cpu() {
  redis-cli -p "$rport" INFO cpu | tr -d '\r' |
    awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" {s += $2} END {printf "%.6f\n", s}'
}
scheduled() { redis-cli -p "$rport" ZCARD "$due"; }
# "CALLS USEC_PER_CALL" of EVALSHA since the last CONFIG RESETSTAT.
evalsha_stats() {
  redis-cli -p "$rport" INFO commandstats | tr -d '\r' | awk -F'[:,=]' '$1 == "cmdstat_evalsha" {
    for (i = 2; i < NF; i += 2) v[$i] = $(i + 1); found = 1 }
    END { if (found) print v["calls"], v["usec_per_call"]; else print 0, 0 }'
}
memory_mib() {
  redis-cli -p "$rport" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" {printf "%.1f\n", $2 / 1048576}'
}

# fill: PENDING messages, one a second from 7 days ahead on, over one keep-alive connection.
fill() {
  python3 - "$hport" "$BENCH_TOKEN" "$pending" <<'PY'
import datetime, http.client, json, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
first = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
for i in range(n):
    at = (first + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"targets": ["all"], "category": "announcement",
                       "title": f"Scheduled {i}", "body": "Sent days from now.", "send_at": at})
    conn.request("POST", "/api/v1/messages", body, headers)
    r = conn.getresponse()
    text = r.read()
    if r.status != 202:
        sys.exit(f"message {i}: HTTP {r.status} {text.decode()}")
PY
  local have
  have=$(scheduled)
  ((have == pending)) || { echo "$have messages scheduled, not $pending" >&2; exit 1; }
}

# Empties the schedule behind publisherd's back: cancelling each through the API would take as
# long as the fill, and publisherd keeps no copy of the schedule between polls.
clear_schedule() { redis-cli -p "$rport" DEL "$due" 'bcast:{schedule}:items' >/dev/null; }

# window empty|full ROUND: sets RESULT to
# "ROUND STATE SCHEDULED PUB_S PUB_% REDIS_S REDIS_% EVALSHA_CALLS EVALSHA_US MEMORY_MIB".
# Not run in a subshell: it keeps the schedule's state in `state`.
state=empty
window() {
  if [[ $1 == full && $state == empty ]]; then fill; state=full; fi
  if [[ $1 == empty && $state == full ]]; then clear_schedule; state=empty; fi
  sleep 1  # the fill's last requests and log lines, and one poll of the new schedule
  local t0 r0 t1 r1
  redis-cli -p "$rport" CONFIG RESETSTAT >/dev/null
  t0=$(ticks) r0=$(redis_cpu)
  sleep "$secs"
  t1=$(ticks) r1=$(redis_cpu)
  RESULT=$(python3 -c "
p = ($t1 - $t0) / $hz; r = $r1 - $r0
print(f'$2 $1 {$(scheduled)} {p:.2f} {100 * p / $secs:.3f} {r:.3f} {100 * r / $secs:.3f} $(evalsha_stats) $(memory_mib)')")
}

row() { printf '%-5s %-6s %9s %14s %8s %11s %8s %9s %9s %9s\n' "$@"; }
row round state scheduled 'publisherd s' '% core' 'Redis s' '% core' EVALSHA 'us/call' 'Redis MiB'
results=()
for i in $(seq "$rounds"); do
  order=(empty full)
  ((i % 2 == 0)) && order=(full empty)
  for st in "${order[@]}"; do
    window "$st" "$i"
    results+=("$RESULT")
    read -ra fields <<<"$RESULT"
    row "${fields[@]}"
  done
done
printf '%s\n' "${results[@]}" | python3 -c "
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
def med(state, col):
    return statistics.median(float(r[col]) for r in rows if r[1] == state)
pe, pf, re_, rf = med('empty', 4), med('full', 4), med('empty', 6), med('full', 6)
ee, ef, me, mf = med('empty', 8), med('full', 8), med('empty', 9), med('full', 9)
print(f'medians over $rounds rounds of $secs s, % of one core: publisherd empty {pe:.3f}, '
      f'$pending scheduled {pf:.3f}, difference {pf - pe:+.3f}; '
      f'Redis empty {re_:.3f}, scheduled {rf:.3f}, difference {rf - re_:+.3f}')
print(f'the schedule poll (EVALSHA) in Redis: {ee:.2f} us a call empty, {ef:.2f} us with $pending '
      f'scheduled; Redis memory {me:.1f} MiB and {mf:.1f} MiB')
print(f'(publisherd CPU is counted in ticks of 1/$hz s: {100 / $hz / $secs:.3f} % of a core per tick over $secs s)')"
