#!/usr/bin/env bash
# Runs one libFuzzer harness for SECONDS: first every seed of fuzz/corpus/NAME (read only), then
# new inputs, which it keeps in WORK_DIR/corpus for the next run. Exits non-zero on a crash, a
# sanitizer report, a leak, a time-out or running out of memory, and then says where the input
# that did it was saved and how to replay it.
#
#   usage: fuzz/run.sh HARNESS SECONDS WORK_DIR [LIBFUZZER_FLAG...]     (HARNESS: .../fuzz_NAME)
set -euo pipefail

harness=$(readlink -f "$1")
seconds=$2
work=$3
shift 3
name=$(basename "$harness")
name=${name#fuzz_}
src=$(cd "$(dirname "$0")" && pwd)
seeds=$src/corpus/$name

mkdir -p "$work/corpus" "$work/crashes"
log=$work/last-run.log

args=(
  -max_total_time="$seconds"
  -timeout=10          # seconds for one input: every harness takes microseconds
  -rss_limit_mb=2048
  -detect_leaks=1
  -print_final_stats=1
  -artifact_prefix="$work/crashes/"
)
[[ -f $src/$name.dict ]] && args+=(-dict="$src/$name.dict")
args+=("$@")

# libFuzzer sets its own ASan handlers; these make UBSan and LeakSanitizer as strict as ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
TIMEFORMAT='%U %S'  # what `time` writes: CPU seconds in user and system mode
corpora=("$work/corpus")
[[ -d $seeds ]] && corpora+=("$seeds")
{ time "$harness" "${args[@]}" "${corpora[@]}" >"$log" 2>&1; } 2>"$work/cpu-seconds" ||
  status=$?
cpu=$(awk '{printf "%.0f", $1 + $2}' "$work/cpu-seconds")

# The last status line: "#123456 DONE cov: 812 ft: 2345 corp: 300/40Kb ..."
summary=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "fuzz $name: ${execs:-?} executions in ${cpu} CPU seconds; ${summary:-no status line}"

if ((status != 0)); then
  tail -n 60 "$log" >&2
  saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  echo "fuzz $name FAILED (exit $status): full log in $log" >&2
  if [[ -n $saved ]]; then
    echo "fuzz $name: the input is saved in $saved; replay it with: $harness $saved" >&2
  fi
  exit 1
fi
