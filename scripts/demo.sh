#!/bin/sh
# make demo: a short tour with real numbers. $1 = build directory.
set -eu
B=${1:-build/release}
echo "== ccoll $(sed -n 's/^#define CC_VERSION_\(MAJOR\|MINOR\|PATCH\) *//p' include/ccoll/export.h | paste -sd.) demo =="
echo
echo "-- allocation glue: cc_alloc_node+cc_free vs raw mi_malloc_aligned+mi_free --"
"$B/bench/alloc" --quick

echo
echo "-- queue: segmented FAA queue and Michael-Scott vs ck, liburcu, a mutex list, the FAA ceiling --"
"$B/bench/queue" --quick

echo
echo "-- allocation profile of a run (CCOLL_PROFILE): the same benchmark, profiled --"
mkdir -p build
CCOLL_PROFILE=build/ccoll-profile.html "$B/bench/alloc" --quick --reps 1 >/dev/null
echo "dashboard: $(pwd)/build/ccoll-profile.html (self-contained HTML; scripts/profile-screenshot.sh makes a PNG)"
