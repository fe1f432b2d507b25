#!/usr/bin/env bash
# The key and folder of the gate's cache (pip downloads and perf_analyzer), keyed on the gate
# version, so a new release fetches afresh and every job of one version reuses the same files.
#
# Inputs arrive as environment variables (never interpolated into the script): GATE_VERSION
# (a PyPI release), GATE_SOURCE (a path or URL), GATE_ACTION_ROOT (the repository holding the
# action: the default source) and GATE_PYTHON. Writes key= and dir= to $GITHUB_OUTPUT.
set -euo pipefail

python="${GATE_PYTHON:-python3}"

source_version() {  # the version in a source tree's pyproject.toml (empty if none)
  if [[ -f "$1/pyproject.toml" ]]; then
    sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$1/pyproject.toml" | head -n 1
  fi
}

if [[ -n "${GATE_VERSION:-}" ]]; then
  version="$GATE_VERSION"
elif [[ -n "${GATE_SOURCE:-}" ]]; then
  case "$GATE_SOURCE" in
    git+* | http://* | https://*) version="url-$(printf '%s' "$GATE_SOURCE" | sha256sum | cut -c1-12)" ;;
    *) version="$(source_version "$GATE_SOURCE")" ;;
  esac
else
  version="$(source_version "${GATE_ACTION_ROOT:?GATE_ACTION_ROOT is not set}")"
fi
version="${version:-unknown}"
# the key goes into a cache name: keep it to a safe alphabet whatever the input held
version="$(printf '%s' "$version" | tr -c 'A-Za-z0-9._+-' '_')"
py="$("$python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')"
dir="${GATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/triton-gate}"
key="triton-gate-${RUNNER_OS:-os}-${RUNNER_ARCH:-arch}-${py}-${version}"
echo "gate cache: $key in $dir"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  {
    echo "key=$key"
    echo "dir=$dir"
  } >>"$GITHUB_OUTPUT"
fi
