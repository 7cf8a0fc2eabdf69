#!/usr/bin/env bash
# Run uv with the given arguments, installing it from PyPI first where the machine has none.
set -euo pipefail
find_uv() {
  command -v uv 2>/dev/null && return
  [[ -x "$HOME/.local/bin/uv" ]] && { echo "$HOME/.local/bin/uv"; return; }
  python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null
}
UVBIN="$(find_uv || true)"
if [[ -z "$UVBIN" ]]; then
  echo "uv not found: installing it from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check uv >&2
  UVBIN="$(find_uv)"
fi
exec "$UVBIN" "$@"
