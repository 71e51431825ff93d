#!/usr/bin/env bash
# The bench-scripts test: every bench/*.sh (but lib.sh) once at its tiny size (BENCH_TINY=1), so
# that none goes stale. Fails when one fails or takes more than 2 minutes.
# usage: tests/bench_scripts.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1
failed=()
for script in "$root"/bench/*.sh; do
  name=$(basename "$script")
  [[ $name == lib.sh ]] && continue
  args=("$build")
  # two builds, the same one twice, on the 1-store scenario with the most parts (bcast_bench.sh runs
  # the others)
  [[ $name == bcast_bench_ab.sh ]] && args=("$build" "$build" 1 one-signed)
  echo "== $name ${args[*]}"
  started=$SECONDS
  BENCH_TINY=1 timeout --kill-after=10 120 bash "$script" "${args[@]}"
  status=$?
  if ((status == 0)); then
    echo "-- $name passed ($((SECONDS - started)) s)"
  else
    echo "-- $name FAILED with status $status ($((SECONDS - started)) s)"
    failed+=("$name")
  fi
done
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}"
  exit 1
fi
