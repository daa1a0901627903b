#!/bin/sh
# make bench: every benchmark, full length. $1 = build dir, $2 = results dir.
set -eu
B=$1; R=$2
for prog in "$B"/bench/*; do
  [ -x "$prog" ] && [ -f "$prog" ] || continue
  name=$(basename "$prog")
  echo "== bench/$name =="
  "$prog" --csv "$R/$name.csv" --svg "$R/$name.svg"
  echo
done
echo "results: $R"
