#!/bin/sh
# make stress: the stress programs. $1 = build dir, $2 = short | long.
set -eu
B=$1; MODE=${2:-short}
found=0
for prog in "$B"/stress/*; do
  [ -x "$prog" ] && [ -f "$prog" ] || continue
  found=1
  echo "== stress/$(basename "$prog") ($MODE) =="
  "$prog" --"$MODE"
done
[ $found = 1 ] || echo "no stress programs built yet"
