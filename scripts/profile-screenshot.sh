#!/bin/sh
# A PNG screenshot of a ccoll profile dashboard (the HTML export), taken
# with headless Chromium.
#   scripts/profile-screenshot.sh PROFILE.html [OUT.png] [WIDTHxHEIGHT]
# Default OUT: PROFILE.png next to the HTML; default size 1000x3200.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 PROFILE.html [OUT.png] [WIDTHxHEIGHT]" >&2; exit 2; }
html=$1
out=${2:-${html%.*}.png}
size=${3:-1000x3200}
[ -f "$html" ] || { echo "$0: no such file: $html" >&2; exit 1; }
browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
[ -n "$browser" ] || { echo "$0: chromium not found (Debian: apt-get install chromium)" >&2; exit 1; }
abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
w=${size%x*}; h=${size#*x}
# --no-sandbox: containers and root shells have no user namespaces for it
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="$w,$h" --screenshot="$out" "file://$abs" >/dev/null 2>&1 || true
[ -s "$out" ] || { echo "$0: $browser produced no screenshot" >&2; exit 1; }
echo "$out"
