#!/usr/bin/env bash
# Install the Python workspace exactly as locked (uv itself is installed on first use).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash deploy/uv.sh sync --frozen --quiet
