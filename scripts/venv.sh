#!/usr/bin/env bash
# Make .venv with Python 3.11+ and install the pinned requirements (dev included).
# On a fresh Debian, python3 -m venv needs the python3-venv package: install it with apt if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
    echo "venv: installing python3-venv (apt)"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv python3-dev >/dev/null
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
touch .venv/.installed
