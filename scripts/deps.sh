#!/bin/sh
# Checks the Debian packages ccoll builds with; installs the missing ones
# when run as root, else prints the one command to run and fails.
#   scripts/deps.sh            check / install
#   scripts/deps.sh --quiet    say nothing when all is present
set -u
PKGS="cmake pkg-config make gcc libmimalloc-dev libck-dev liburcu-dev libcriterion-dev gnuplot-nox"
[ "${CCOLL_DEPS_CLANG:-0}" = 1 ] && PKGS="$PKGS clang"
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1

missing=""
for p in $PKGS; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = "installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
  [ $quiet = 1 ] || echo "deps: all present ($PKGS)"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && $cmd -qq >/dev/null || { echo "deps: '$cmd' failed" >&2; exit 1; }
  echo "deps: installed$missing"
  exit 0
fi
echo "deps: missing$missing" >&2
echo "deps: run as root:  sudo apt-get update && sudo $cmd" >&2
exit 1
