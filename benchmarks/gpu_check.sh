#!/usr/bin/env bash
# Device check for the docker launcher on a machine WITH an NVIDIA GPU (cannot run on the
# CPU-only development machines): records a 3-run baseline of the bundled demo model and
# runs `gate check` through the NGC tritonserver image with `launcher.gpus: all`, then prints
# nvidia-smi, the verdict, the image digest and GPUs in the fingerprint, what Triton logged
# about the GPUs it saw, and GPU memory sampled (nvidia-smi) while the containers ran.
#
# Needs: a running Docker daemon with the NVIDIA container toolkit, the NGC image (pulled if
# missing: ~15 GB; `docker login nvcr.io` may be needed), Python 3.10+.
#   TRITON_TAG=24.10 bash benchmarks/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(realpath -m "${1:-reports/gpu-check}")"
TAG="${TRITON_TAG:-24.10}"
mkdir -p "$OUT"
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: this machine has no GPU" >&2; exit 3; }
bash scripts/setup.sh >/dev/null

echo "== nvidia-smi"
nvidia-smi
docker info --format 'docker {{.ServerVersion}}, runtimes: {{range $k, $v := .Runtimes}}{{$k}} {{end}}'

cat >"$OUT/gate.yaml" <<EOF
version: 1
model: {name: demo, repository: $PWD/fixtures/models/v1}
launcher:
  kind: docker
  triton_tag: "$TAG"
  gpus: all
  pull: missing
  startup_timeout_s: 600
traffic: {path: $PWD/fixtures/traffic/demo.jsonl.gz}
baseline: {store: $OUT/store, runs: 3}
reports: {dir: $OUT/reports}
EOF

# GPU memory of every GPU, sampled twice a second while the gate runs
nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv,noheader,nounits -lms 500 \
  >"$OUT/gpu-memory.csv" 2>/dev/null &
SMI=$!
trap 'kill "$SMI" 2>/dev/null || true' EXIT

echo "== gate baseline record (3 containers)"
.venv/bin/gate baseline record "$OUT/gate.yaml" -q
echo "== gate check"
set +e
.venv/bin/gate check "$OUT/gate.yaml"
CODE=$?
set -e
kill "$SMI" 2>/dev/null || true

echo "== verdict: exit $CODE"
.venv/bin/python - "$OUT" <<'EOF'
import json, sys, collections
out = sys.argv[1]
run = json.load(open(f"{out}/reports/run.json"))
env = run.get("environment", {})
print("verdict:", run["verdict"], "| image:", env.get("image"), env.get("image_digest"))
print("gpu:", env.get("gpu_model"), "x", env.get("gpu_count"), "driver", env.get("gpu_driver"))
if run.get("memory"):
    print("memory (RunResult):", json.dumps(run["memory"])[:600])
peak = collections.defaultdict(int)
for line in open(f"{out}/gpu-memory.csv"):
    parts = [p.strip() for p in line.split(",")]
    if len(parts) == 3 and parts[1].isdigit():
        peak[parts[0]] = max(peak[parts[0]], int(parts[1]))
for gpu, mib in sorted(peak.items()):
    print(f"GPU {gpu}: peak memory.used during the runs {mib} MiB")
log = run["runs"][0]["server_log"] if run.get("runs") else None
if log:
    seen = [l.strip() for l in open(log) if "GPU" in l or "CUDA" in l or "cuda" in l]
    print("what Triton saw:", *seen[:8], sep="\n  ")
EOF
exit "$CODE"
