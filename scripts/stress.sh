#!/bin/sh
# The stress programs. $1 = build dir, $2 = short | long.
#   short: CI, a few seconds per combination (every container x every
#          scheme, then each mode in a short form, then the other programs).
#   long:  make stress, 120 s per combination with progress, then each mode
#          for 20 s per combination.
# Every run goes on after a failure; the exit status is non-zero if any failed.
set -u
B=$1; MODE=${2:-short}
S="$B/stress/ccoll-stress"
# Sanitizer reports are failures (no-ops in plain builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

failed=""
t0=$(date +%s)
run() {
  echo "== $*"
  s=$(date +%s)
  if "$@"; then r=ok; else r="FAILED (exit $?)"; failed="$failed
  $*"; fi
  echo "== $r in $(( $(date +%s) - s ))s"
}

if [ ! -x "$S" ]; then
  echo "stress.sh: $S not built"; exit 1
fi
case $MODE in
short)
  run "$S" --all --short
  run "$S" --all --short --stall
  run "$S" --all --short --churn --seconds 0.5
  run "$S" --all --short --fail-alloc 7 --seconds 0.5
  run "$S" --all --short --fail-internal 50 --churn --seconds 0.5
  run "$S" --all --smr debra+ --short --neutralize-every 64
  run "$S" --all --short --lin --keys 5
  # Focused forms of the bugs the harness found (see tests/test_regress_*):
  # threads starting while others read (DEBRA epoch), MS queue under IBR.
  run "$S" --map skiplist --map bst --smr debra --smr debra+ --churn --seconds 1 \
      --mix insert=30,remove=30,range=20,get=20
  run "$S" --queue ms --smr ibr --seconds 3 ;;
long)
  run "$S" --all --long
  for m in --stall --churn "--fail-alloc 7" "--fail-internal 50 --churn" "--lin --keys 6"; do
    # shellcheck disable=SC2086
    run "$S" --all --long --seconds 20 $m
  done
  run "$S" --all --smr debra+ --long --seconds 20 --neutralize-every 64 ;;
*)
  echo "usage: stress.sh BUILD_DIR short|long"; exit 2 ;;
esac

for prog in "$B"/stress/*; do
  [ -x "$prog" ] && [ -f "$prog" ] && [ "$prog" != "$S" ] || continue
  run "$prog" --"$MODE"
done

echo "stress ($MODE) finished in $(( $(date +%s) - t0 ))s"
if [ -n "$failed" ]; then
  echo "FAILED runs:$failed"
  exit 1
fi
echo "all stress runs passed"
