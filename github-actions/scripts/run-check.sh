#!/usr/bin/env bash
# Run `gate check` for the composite action and publish what it found.
#
# Every input comes in as an environment variable (GATE_*), never interpolated into a
# script. gate itself writes its outputs (verdict, exit-code, summary, run-id, report-*) and
# the fitted Markdown summary; this script adds step-exit and the report paths, and a
# summary of its own when gate stopped before writing a report. Exits 0 itself: the action's
# last step exits with step-exit, after the reports were uploaded.
set -uo pipefail

gate_bin="${GATE_BIN:-gate}"
config="${GATE_CONFIG:-gate.yaml}"
report_dir="$(realpath -m -- "${GATE_REPORT_DIR:-gate-reports}")"
args=(check "$config" --report-dir "$report_dir" --github)

esc() {  # a value made safe inside a workflow command (::error::...): one line, no %-codes
  local s="${1//%/%25}"
  s="${s//$'\r'/%0D}"
  printf '%s' "${s//$'\n'/%0A}"
}

abs() {  # a local path relative to the workspace, made absolute; URLs are kept
  case "$1" in
    *://*) printf '%s' "$1" ;;
    *) realpath -m -- "$1" ;;
  esac
}

if [[ -n "${GATE_POLICY:-}" ]]; then args+=(--set "policy=$(abs "$GATE_POLICY")"); fi
if [[ -n "${GATE_LAUNCHER:-}" ]]; then args+=(--set "launcher.kind=$GATE_LAUNCHER"); fi
if [[ -n "${GATE_IMAGE:-}" ]]; then args+=(--set "launcher.image=$GATE_IMAGE"); fi
if [[ -n "${GATE_GPUS:-}" ]]; then args+=(--set "launcher.gpus=$GATE_GPUS"); fi
if [[ -n "${GATE_BASELINE_STORE:-}" ]]; then
  args+=(--set "baseline.store=$(abs "$GATE_BASELINE_STORE")")
fi
if [[ -n "${GATE_MODEL_REPOSITORY:-}" ]]; then
  args+=(--model-repository "$GATE_MODEL_REPOSITORY")
fi
# trust from the base branch: the rules from that commit, its model as the live A/B baseline
if [[ -n "${GATE_TRUSTED_CONFIG_FROM:-}" ]]; then
  args+=(--trusted-config-from "$GATE_TRUSTED_CONFIG_FROM")
fi
if [[ -n "${GATE_BASE_CHECKOUT:-}" ]]; then
  args+=(--base-checkout "$(abs "$GATE_BASE_CHECKOUT")")
fi
if [[ "${GATE_ALLOW_ENV_MISMATCH:-false}" == "true" ]]; then args+=(--allow-env-mismatch); fi
if [[ "${GATE_NOTIFY:-false}" == "true" ]]; then args+=(--notify); fi
if [[ -n "${GATE_PREVIOUS:-}" ]]; then args+=(--previous "$GATE_PREVIOUS"); fi
# extra arguments: one per line, passed as they are (no word splitting, no globbing)
while IFS= read -r line; do
  if [[ -n "$line" ]]; then args+=("$line"); fi
done <<<"${GATE_ARGS:-}"

echo "gate $(esc "${args[*]}")"
"$gate_bin" "${args[@]}"
code=$?

run_json="$report_dir/run.json"
verdict="ERROR"
declare -A paths=()
if [[ -f "$run_json" ]]; then
  while IFS='=' read -r key value; do
    if [[ "$key" == "verdict" ]]; then verdict="$value"; else paths[$key]="$value"; fi
  done < <(python3 - "$run_json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1], encoding="utf-8"))
print(f"verdict={run.get('verdict', 'ERROR')}")
for fmt, path in (run.get("reports") or {}).items():
    print(f"{fmt}={path}")
PY
  )
fi

step_exit=$code
if [[ "$verdict" == "INCONCLUSIVE" && "${GATE_FAIL_ON_INCONCLUSIVE:-true}" != "true" ]]; then
  echo "::warning title=gate::INCONCLUSIVE: the data could not decide (fail-on-inconclusive is off)"
  step_exit=0
fi
case "$code" in
  0) ;;
  1) echo "::error title=gate::$(esc "$verdict"): the model did not pass the gate (reports: $(esc "$report_dir"))" ;;
  2) echo "::error title=gate::bad usage, config or input (exit 2): see the log above" ;;
  4) echo "::error title=gate::NEEDS_REVIEW: this change edits the gate's rules (exit 4); a person must review and merge it" ;;
  130) echo "::error title=gate::interrupted" ;;
  *) echo "::error title=gate::infrastructure error (exit $code): worth a retry" ;;
esac

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  {
    echo "verdict=$verdict"
    echo "exit-code=$code"
    echo "step-exit=$step_exit"
    echo "report-dir=$report_dir"
    echo "json=${paths[json]:-}"
    echo "junit=${paths[junit]:-}"
    echo "markdown=${paths[markdown]:-}"
    echo "html=${paths[html]:-}"
  } >>"$GITHUB_OUTPUT"
fi

# gate appended its own summary (fitted to GitHub's 1 MiB) when it wrote a report
if [[ -n "${GITHUB_STEP_SUMMARY:-}" && ! -f "$run_json" ]]; then
  printf '### gate: %s (exit %s)\n\nNo report was written; see the job log.\n' \
    "$verdict" "$code" >>"$GITHUB_STEP_SUMMARY"
fi
exit 0
