#!/usr/bin/env bash
# Create .venv (if missing) and install gate with everything the demo and the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[all]'
# perf_analyzer: unpacked from the tritonclient wheel that runs on this glibc, into the cache
.venv/bin/gate doctor --install >/dev/null || .venv/bin/gate doctor --install
