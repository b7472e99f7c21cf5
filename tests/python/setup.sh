#!/usr/bin/env bash
# Create (once) the virtualenv the Python client tests use, under the cargo target directory.
# Usage: tests/python/setup.sh TARGET_DIR   -> prints the venv's python path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:?target dir}/pyenv"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
echo "$venv/bin/python"
