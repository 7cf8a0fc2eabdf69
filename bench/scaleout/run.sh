#!/usr/bin/env bash
# Scale-out benchmark: installs the corpus (Debian's python3.11-doc) and nginx if missing,
# then runs bench/scaleout/run.py (arguments go to it, e.g. --repeat 3). Needs RABBITMQ_URL
# and MONGODB_URL (make bench-scaleout sets them) and taskset (util-linux).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
missing=()
[ -d /usr/share/doc/python3.11/html ] || missing+=(python3.11-doc)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y "${missing[@]}" \
    || { $SUDO apt-get update && $SUDO apt-get install -y "${missing[@]}"; }
fi
UV="bash deploy/uv.sh"
$UV sync --frozen --group bench --inexact
exec $UV run --frozen --group bench python -m bench.scaleout.run "$@"
