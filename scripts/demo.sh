#!/bin/sh
# make demo: a short tour with real numbers (about a minute). $1 = build directory.
# Every section is the --quick form of a benchmark; `make bench` runs them in full.
set -eu
B=${1:-build/release}
echo "== ccoll $(sed -n 's/^#define CC_VERSION_\(MAJOR\|MINOR\|PATCH\) *//p' include/ccoll/export.h | paste -sd.) demo =="
echo
echo "-- allocation glue: cc_alloc_node+cc_free vs raw mi_malloc_aligned+mi_free --"
"$B/bench/alloc" --quick

echo
echo "-- reclamation: Treiber stack push+pop on each scheme, ratio to NONE --"
"$B/bench/smr" --quick

echo
echo "-- reclamation with one thread stalled inside an operation: what stays pending --"
"$B/bench/stall" --quick

echo
echo "-- ordered map: skip list and BST on each scheme vs rwlock+tsearch and a locked skip list --"
"$B/bench/map" --quick

echo
echo "-- queue: segmented FAA queue and Michael-Scott vs ck, liburcu, a mutex list, the FAA ceiling --"
"$B/bench/queue" --quick

echo
echo "-- allocation profile of a run (CCOLL_PROFILE): a map shared by worker threads, profiled --"
mkdir -p build
CCOLL_PROFILE=build/ccoll-profile.html "$B/examples/map_workers" >/dev/null
echo "dashboard: $(pwd)/build/ccoll-profile.html (self-contained HTML; scripts/profile-screenshot.sh makes a PNG)"
