#!/usr/bin/env bash
# `make install`: a virtual environment with the pinned dependencies (requirements/dev.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements/dev.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# ThingsBoard's device SDK for the MQTT compatibility test, apart (it brings its own paho).
TB_VENV="${TB_VENV:-.venv-tb}"
if [ ! -f "$TB_VENV/.installed" ] || [ requirements/tb.txt -nt "$TB_VENV/.installed" ]; then
  "$PYTHON" -m venv "$TB_VENV"
  "$TB_VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements/tb.txt \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  touch "$TB_VENV/.installed"
fi
