#!/usr/bin/env bash
# Crawl throughput benchmark: installs the site (Debian's python3.11-doc) and Scrapy (the
# "bench" dependency group), then runs bench/crawl/run.py. Arguments go to run.py
# (e.g. --repeat 3). Needs RABBITMQ_URL and MONGODB_URL (make bench-crawl sets them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [ ! -d /usr/share/doc/python3.11/html ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y python3.11-doc || { $SUDO apt-get update && $SUDO apt-get install -y python3.11-doc; }
fi
UV="bash deploy/uv.sh"
$UV sync --frozen --group bench
exec $UV run --frozen --group bench python -m bench.crawl.run "$@"
