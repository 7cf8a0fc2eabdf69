#!/usr/bin/env bash
# Crawl throughput benchmark: installs the corpora (Debian's python3.11-doc and apache2-doc)
# and Scrapy (the "bench" dependency group), then runs bench/crawl/run.py. Arguments go to
# run.py (e.g. --repeat 3, --corpus apache2-doc). Needs RABBITMQ_URL and MONGODB_URL
# (make bench-crawl sets them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
missing=()
[ -d /usr/share/doc/python3.11/html ] || missing+=(python3.11-doc)
[ -d /usr/share/doc/apache2-doc/manual ] || missing+=(apache2-doc)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y "${missing[@]}" \
    || { $SUDO apt-get update && $SUDO apt-get install -y "${missing[@]}"; }
fi
UV="bash deploy/uv.sh"
$UV sync --frozen --group bench --inexact
exec $UV run --frozen --group bench python -m bench.crawl.run "$@"
