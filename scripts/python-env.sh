#!/usr/bin/env bash
# Source it: creates (once per requirements hash) and activates the Python environment for model/.
# Exports TW_PYTHON. The venv lives outside the checkout so CI clones reuse it.
set -euo pipefail
_tw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_tw_req="$_tw_root/model/requirements.txt"
_tw_hash="$(sha256sum "$_tw_req" | cut -c1-12)"
_tw_venv="${TIDEWATCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tidewatch/venv-$_tw_hash}"
if [ ! -x "$_tw_venv/bin/python" ] || [ ! -f "$_tw_venv/.complete" ]; then
  echo "[python-env] creating $_tw_venv from model/requirements.txt" >&2
  rm -rf "$_tw_venv"
  python3 -m venv "$_tw_venv"
  "$_tw_venv/bin/pip" install -q --disable-pip-version-check -r "$_tw_req" >&2
  touch "$_tw_venv/.complete"
fi
export TW_PYTHON="$_tw_venv/bin/python"
set +euo pipefail
