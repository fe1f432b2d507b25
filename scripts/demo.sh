#!/usr/bin/env bash
# The main job on the bundled demo, from a fresh machine: set up, record a baseline of the
# demo model (3 replays, each on a fresh embedded tritonserver), then gate four candidates:
# the unchanged model (expected PASS, exit 0), a slower version, a less accurate version and
# one holding 200 MB more memory (all three expected BLOCKED, exit 1).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
GATE=.venv/bin/gate
# Bytecode left in the fixture models by older runs is not signed, and the demo's policy
# blocks unsigned files: remove it (the gate serves a private copy, so it writes none).
find fixtures/models -name __pycache__ -type d -prune -exec rm -rf {} +
CFG=examples/demo/gate.yaml

echo "== gate doctor"; $GATE doctor || exit $?
echo; echo "== gate baseline record $CFG"
$GATE baseline record "$CFG" || exit $?

echo; echo "== candidate 1: the unchanged model (expect PASS)"
$GATE check "$CFG" --report-dir reports/demo/unchanged; same=$?

echo; echo "== candidate 2: the slower model in fixtures/models/slow (expect BLOCKED)"
$GATE check "$CFG" --model-repository fixtures/models/slow --report-dir reports/demo/slower; slow=$?

echo; echo "== candidate 3: a less accurate model in fixtures/models/lessaccurate (expect BLOCKED on accuracy)"
$GATE check "$CFG" --model-repository fixtures/models/lessaccurate --report-dir reports/demo/lessaccurate; worse=$?

echo; echo "== candidate 4: the model holding 200 MB more in fixtures/models/hog (expect BLOCKED on memory)"
$GATE check "$CFG" --model-repository fixtures/models/hog --report-dir reports/demo/hog; hog=$?

echo
echo "unchanged model: exit $same (expected 0)   slower model: exit $slow (expected 1)   less accurate model: exit $worse (expected 1)   memory hog: exit $hog (expected 1)"
echo "reports: reports/demo/{unchanged,slower,lessaccurate,hog}/ (run.json, junit.xml, summary.md, report.html)"
[ "$same" -eq 0 ] && [ "$slow" -eq 1 ] && [ "$worse" -eq 1 ] && [ "$hog" -eq 1 ]
