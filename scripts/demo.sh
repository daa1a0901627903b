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
