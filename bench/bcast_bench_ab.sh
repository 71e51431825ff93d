#!/usr/bin/env bash
# Two builds of bcast against each other on one 1-store scenario, runs alternated, so that both
# meet the same moments of a noisy machine; prints each build's median ratio and runs.
# usage: bench/bcast_bench_ab.sh BUILD_A BUILD_B [RUNS] [one-library|one-api|one-frame|one-signed]
# one-signed: --receive full --sign, each run unsigned and signed; also prints each build's
# median of what signing adds over (sign + verify).
# PIN_CPU=N (lib.sh) runs everything on one CPU. BENCH_TINY=1: one run of 50 messages.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
builds=("$(realpath "$1")" "$(realpath "$2")")
runs=${3:-$(tiny_or 1 9)}
scenario=${4:-one-library}

redis_port=$(free_port)
start_redis "$redis_port"
args=(--stores 1 --messages "$(tiny_or 50 5000)")
case $scenario in
  one-library) ;;
  one-frame) args+=(--via frame) ;;
  one-signed) args+=(--receive full --sign) ;;
  one-api)
    # Each build's own publisherd, one after the other on the same Redis.
    for i in 0 1; do
      http_port[i]=$(free_port)
      start_publisherd "${builds[i]}" "$redis_port" "${http_port[i]}"
      token[i]=$BENCH_TOKEN
    done
    ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac

for run in $(seq "$runs"); do
  for i in 0 1; do
    redis-cli -p "$redis_port" flushall >/dev/null
    extra=()
    [[ $scenario == one-api ]] && extra=(--via api --api "http://127.0.0.1:${http_port[i]}" --token "${token[i]}")
    "${bench_pin[@]}" "${builds[i]}/daemons/bcast-bench" "${args[@]}" "${extra[@]}" \
      --redis "redis://127.0.0.1:$redis_port" --out "$BENCH_DIR/$i-$run" >/dev/null 2>"$BENCH_DIR/$i-$run.log" ||
      echo "build $i run $run exited $? ($(tail -1 "$BENCH_DIR/$i-$run.log"))"
  done
done

python3 - "$BENCH_DIR" "$runs" "${builds[@]}" <<'PY'
import json, statistics, sys
out, runs, builds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for i, build in enumerate(builds):
    rs = [json.load(open(f"{out}/{i}-{r}/result.json")) for r in range(1, runs + 1)]
    ratio = [r["ratio"]["delivery_p50"] for r in rs]
    ours = statistics.median(r["delivery_us"]["p50"] for r in rs)
    base = statistics.median(r["baseline"]["delivery_us"]["p50"] for r in rs)
    print(f"{build}: ratio delivery p50 median {statistics.median(ratio):.3f} "
          f"(runs {' '.join(f'{x:.2f}' for x in ratio)}); p50 {ours:.1f} us, baseline {base:.1f} us")
    if all("signing" in r for r in rs):
        s = [r["signing"] for r in rs]
        m = lambda key: statistics.median(x[key] for x in s)
        p = lambda key: statistics.median(x["in_path"][key] for x in s)
        over = [x["in_path"]["added_over_sign_verify"] for x in s]
        apart = [x["added_over_sign_verify"] for x in s]
        print(f"  signed p50 {m('delivery_p50_signed_us'):.1f} us, unsigned {m('delivery_p50_unsigned_us'):.1f} us, "
              f"sign {p('sign_us'):.1f} us, verify {p('verify_us'):.1f} us (in the phases); signed adds / (sign + verify) "
              f"median {statistics.median(over):.3f} (runs {' '.join(f'{x:.2f}' for x in over)})")
        print(f"  apart: sign {m('sign_us'):.1f} us, verify {m('verify_us'):.1f} us; signed adds / (sign + verify) "
              f"median {statistics.median(apart):.3f} (runs {' '.join(f'{x:.2f}' for x in apart)})")
PY
