#!/usr/bin/env bash
# Render benchmark: installs what is missing (nginx from Debian; Crawl4AI in a virtual
# environment of its own under .local, never in the workspace's lock; the "bench" dependency
# group), then runs bench/render/run.py. Arguments go to run.py (e.g. --pages 200,
# --repeat 2). Needs RABBITMQ_URL and MONGODB_URL (make bench-render sets them) and Debian's
# chromium (make browser-deps).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CRAWL4AI_VERSION="0.9.5"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" \
    || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"; }
fi
UV="bash deploy/uv.sh"
PEER=".local/bench/crawl4ai"
if ! "$PEER/bin/python" -c "import crawl4ai, sys; from importlib.metadata import version; sys.exit(version('crawl4ai') != '$CRAWL4AI_VERSION')" 2>/dev/null; then
  $UV venv --quiet --python 3.11 "$PEER"
  $UV pip install --quiet --python "$PEER/bin/python" "crawl4ai==$CRAWL4AI_VERSION"
fi
$UV sync --frozen --group bench --inexact
exec $UV run --frozen --group bench python -m bench.render.run "$@"
