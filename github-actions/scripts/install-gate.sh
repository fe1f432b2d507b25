#!/usr/bin/env bash
# Install the gate into its own virtual environment and put it on PATH for later steps.
#
# Inputs arrive as environment variables (never interpolated into the script, so a crafted
# input cannot inject shell): GATE_VERSION (a release on PyPI), GATE_SOURCE (a path, a
# git+https URL or an archive URL), GATE_ACTION_ROOT (the repository this action lives in:
# the default source), GATE_EXTRAS (pip extras, e.g. "embedded" for the bundled
# tritonserver) and GATE_PYTHON (the interpreter; default python3). pip's downloads go to
# GATE_PIP_CACHE (the action caches that folder, keyed on the gate version).
set -euo pipefail

python="${GATE_PYTHON:-python3}"
extras="${GATE_EXTRAS:-}"
bracket=""
if [[ -n "$extras" ]]; then
  bracket="[$extras]"
fi

if [[ -n "${GATE_VERSION:-}" ]]; then
  spec="triton-gate${bracket}==${GATE_VERSION}"
elif [[ -n "${GATE_SOURCE:-}" ]]; then
  case "$GATE_SOURCE" in
    git+* | http://* | https://*) spec="triton-gate${bracket} @ ${GATE_SOURCE}" ;;
    *) spec="${GATE_SOURCE}${bracket}" ;;
  esac
else
  spec="${GATE_ACTION_ROOT:?GATE_ACTION_ROOT is not set}${bracket}"
fi

# A venv of its own: self-hosted GPU runners often have an externally managed system Python.
venv="${RUNNER_TEMP:-/tmp}/triton-gate-venv"
if [[ ! -x "$venv/bin/gate" ]]; then
  "$python" -m venv "$venv"
fi
if [[ -n "${GATE_PIP_CACHE:-}" ]]; then
  export PIP_CACHE_DIR="$GATE_PIP_CACHE"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$spec"

version="$("$venv/bin/gate" --version | awk '{print $NF}')"
echo "installed triton-gate $version from: $spec"
if [[ -n "${GITHUB_PATH:-}" ]]; then
  echo "$venv/bin" >>"$GITHUB_PATH"
fi
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "version=$version" >>"$GITHUB_OUTPUT"
fi
