"""Writes ``cases.jsonl``: the hostile corpus, one case per line.

Each line is ``{"id", "family", "input", "command", "exit", "words", "env"}``: the edits to
the known-good workspace (see ``harness.py`` for the edit kinds and the placeholders
``{ws}``, ``{cfg}``, ``{store}``, ``{run}``, ``{outside}``, ``{envkey}``), the gate command,
the exit code it must end with and words its one error line must contain. Every case here
is bad input: exit 2, one line, before any server starts. The families follow issue 15:
config, policy, eval sets, the baseline store, run.json, CLI misuse, path and shell tricks,
secrets.

    python tests/hostile/generate.py          # rewrite cases.jsonl
    python tests/hostile/generate.py --check  # exit 1 if cases.jsonl is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "cases.jsonl"
CASES: list[dict[str, Any]] = []

CHECK = ["check", "{cfg}", "-q"]
RECORD = ["baseline", "record", "{cfg}", "-q"]
REPLAY = ["replay", "{cfg}", "-q"]
SHOW = ["baseline", "show", "{cfg}"]
BASE = "store/demo/baseline-{envkey}.json.gz"


def case(
    id: str,
    family: str,
    input: list[list[Any]],
    command: list[str],
    words: list[str],
    exit: int = 2,
    env: dict[str, str] | None = None,
    reads: list[str] | None = None,
) -> None:
    CASES.append(
        {
            "id": id,
            "family": family,
            "input": input,
            "command": command,
            "exit": exit,
            "words": words,
            "env": env or {},
            "reads": reads or [],
        }
    )


# --------------------------------------------------------------------------------------
# config: gate.yaml
# --------------------------------------------------------------------------------------


def config_cases() -> None:
    f = "config"
    names = {
        "dotdot": "..",
        "dot": ".",
        "parent-path": "../../../somewhere/ESCAPED",
        "slash": "a/b",
        "hidden": ".hidden",
        "backslash": "a\\b",
        "absolute": "/etc",
        "nul": "de\x00mo",
        "newline": "demo\nx",
        "space": "de mo",
        "dollar": "$(touch PWNED)",
        "too-long": "m" * 201,
        "empty": "",
        "unicode-slash": "a\u2215b",
        "number": 7,
        "list": ["demo"],
    }
    for key, name in names.items():
        for cmd in (SHOW, CHECK) if key in ("dotdot", "parent-path", "dollar") else (CHECK,):
            case(
                f"config-model-name-{key}-{cmd[0]}-{cmd[1]}",
                f,
                [["yaml", "gate.yaml", "model.name", name]],
                cmd,
                ["gate.yaml", "model.name"],
            )
    case(
        "config-binary",
        f,
        [["bytes", "gate.yaml", "89504e470d0a1a0a0000000d49484452ff"]],
        CHECK,
        ["gate.yaml", "UTF-8"],
    )
    case(
        "config-nul-bytes",
        f,
        [["bytes", "gate.yaml", "76657273696f6e3a20310a00"]],
        CHECK,
        ["gate.yaml"],
    )
    case("config-empty", f, [["write", "gate.yaml", ""]], CHECK, ["gate.yaml", "model"])
    case("config-list", f, [["write", "gate.yaml", "- a\n- b\n"]], CHECK, ["gate.yaml", "mapping"])
    case(
        "config-scalar", f, [["write", "gate.yaml", "just text\n"]], CHECK, ["gate.yaml", "mapping"]
    )
    case(
        "config-not-yaml",
        f,
        [["write", "gate.yaml", "model: [unclosed\n"]],
        CHECK,
        ["gate.yaml", "YAML"],
    )
    case(
        "config-tab-indent",
        f,
        [["write", "gate.yaml", "model:\n\tname: demo\n"]],
        CHECK,
        ["gate.yaml", "YAML"],
    )
    case(
        "config-duplicate-top-key",
        f,
        [["append", "gate.yaml", "model:\n  name: other\n  repository: repo\n"]],
        CHECK,
        ["gate.yaml", "duplicate key 'model'"],
    )
    case(
        "config-duplicate-nested-key",
        f,
        [
            [
                "write",
                "gate.yaml",
                "version: 1\n"
                "model:\n"
                "  name: demo\n"
                "  name: evil\n"
                "  repository: repo\n"
                "traffic: {path: traffic.jsonl}\n",
            ]
        ],
        CHECK,
        ["gate.yaml", "duplicate key 'name'"],
    )
    case(
        "config-alias-bomb",
        f,
        [
            [
                "write",
                "gate.yaml",
                "a: &a [x,x,x,x,x,x,x,x,x]\n"
                + "".join(
                    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
                    for i in range(12)
                ),
            ]
        ],
        CHECK,
        ["gate.yaml", "aliases"],
    )
    case(
        "config-deep-nesting",
        f,
        [["fill", "gate.yaml", "a: ", "[", 5000, "]" * 5000 + "\n"]],
        CHECK,
        ["gate.yaml"],
    )
    case(
        "config-huge",
        f,
        [["fill", "gate.yaml", "# ", "x", 5 * 1024 * 1024, "\n"]],
        CHECK,
        ["gate.yaml", "limit"],
    )
    case(
        "config-unknown-key",
        f,
        [["yaml", "gate.yaml", "modle", {"name": "demo"}]],
        CHECK,
        ["gate.yaml", "modle"],
    )
    case(
        "config-future-version",
        f,
        [["yaml", "gate.yaml", "version", 2]],
        CHECK,
        ["gate.yaml", "version"],
    )
    case(
        "config-python-tag",
        f,
        [["append", "gate.yaml", "x: !!python/object/apply:os.system ['touch PWNED']\n"]],
        CHECK,
        ["gate.yaml"],
    )
    case(
        "config-is-a-folder", f, [["rm", "gate.yaml"], ["mkdir", "gate.yaml"]], CHECK, ["gate.yaml"]
    )
    case(
        "config-is-a-fifo",
        f,
        [["rm", "gate.yaml"], ["fifo", "gate.yaml"]],
        CHECK,
        ["gate.yaml", "regular file"],
    )
    case("config-missing", f, [["rm", "gate.yaml"]], CHECK, ["gate.yaml", "not found"])
    case(
        "config-unreadable-symlink-loop",
        f,
        [["rm", "gate.yaml"], ["symlink", "gate.yaml", "gate.yaml"]],
        CHECK,
        ["gate.yaml"],
    )
    for field, target in (
        ("traffic.path", "loop.jsonl"),
        ("policy", "loop.yaml"),
        ("model.repository", "looprepo"),
        ("baseline.store", "loopstore"),
        ("reports.dir", "loopreports"),
        ("accuracy.eval_set", "loop-eval.jsonl"),
        ("launcher.tritonserver", "looptool"),
    ):
        case(
            f"config-symlink-loop-{field}",
            f,
            [["symlink", target, target], ["yaml", "gate.yaml", field, target]],
            CHECK,
            ["gate.yaml", field],
        )
    case(
        "config-symlink-loop-pair",
        f,
        [
            ["symlink", "a.jsonl", "b.jsonl"],
            ["symlink", "b.jsonl", "a.jsonl"],
            ["yaml", "gate.yaml", "traffic.path", "a.jsonl"],
        ],
        CHECK,
        ["gate.yaml", "traffic.path"],
    )
    case(
        "config-traffic-is-a-folder",
        f,
        [["yaml", "gate.yaml", "traffic.path", "repo"]],
        CHECK,
        ["traffic.path", "regular file"],
    )
    case(
        "config-traffic-is-a-fifo",
        f,
        [["fifo", "pipe.jsonl"], ["yaml", "gate.yaml", "traffic.path", "pipe.jsonl"]],
        CHECK,
        ["traffic.path", "regular file"],
    )
    case(
        "config-traffic-missing",
        f,
        [["yaml", "gate.yaml", "traffic.path", "nope.jsonl"]],
        CHECK,
        ["nope.jsonl"],
    )
    case(
        "config-traffic-binary",
        f,
        [["bytes", "traffic.jsonl", "ff00fe01"]],
        CHECK,
        ["traffic.jsonl"],
    )
    # the config names a file outside the workspace: gate may read it, never echo it
    case(
        "config-traffic-secret-file",
        f,
        [["yaml", "gate.yaml", "traffic.path", "{outside}/secret.txt"]],
        CHECK,
        ["secret.txt"],
        reads=["{outside}/secret.txt"],
    )
    case(
        "config-traffic-deep-json",
        f,
        [["fill", "traffic.jsonl", "", "[", 100000, "\n"]],
        CHECK,
        ["traffic.jsonl", "nested too deeply"],
    )
    case(
        "config-traffic-model-dotdot",
        f,
        [
            [
                "write",
                "traffic.jsonl",
                '{"format": "gate-traffic/1", "model": "..", "inputs": [{"name": "INPUT0", '
                '"datatype": "FP32", "shape": [1]}]}\n'
                '{"t_us": 0, "inputs": {"INPUT0": {"shape": [1, 1], "data": [[1.0]]}}}\n',
            ]
        ],
        CHECK,
        ["traffic.jsonl", "model"],
    )
    case(
        "config-reports-dir-under-a-file",
        f,
        [["yaml", "gate.yaml", "reports.dir", "traffic.jsonl/reports"]],
        CHECK,
        ["reports.dir", "is a file"],
    )
    case(
        "config-repository-missing",
        f,
        [["yaml", "gate.yaml", "model.repository", "nowhere"]],
        CHECK,
        ["model.repository", "does not exist"],
    )
    case(
        "config-repository-is-a-file",
        f,
        [["yaml", "gate.yaml", "model.repository", "traffic.jsonl"]],
        CHECK,
        ["model.repository", "not a folder"],
    )
    case(
        "config-model-folder-missing",
        f,
        [["yaml", "gate.yaml", "model.name", "other"]],
        CHECK,
        ["model.name", "other"],
    )
    case(
        "config-cli-repository-missing",
        f,
        [],
        ["check", "{cfg}", "--model-repository", "{ws}/nonexistent", "-q"],
        ["--model-repository", "does not exist"],
    )
    case(
        "config-cli-repository-file",
        f,
        [],
        ["check", "{cfg}", "--model-repository", "{ws}/traffic.jsonl", "-q"],
        ["--model-repository"],
    )
    for key, ops, words in (
        (
            "text-file",
            [["write", "tools/fake", "just some text\n"], ["chmod", "tools/fake", "755"]],
            ["not an executable program"],
        ),
        (
            "not-executable",
            [["write", "tools/fake", "#!/bin/sh\nexit 0\n"], ["chmod", "tools/fake", "644"]],
            ["not executable"],
        ),
        ("folder", [["mkdir", "tools/fake"]], ["not a file"]),
        ("missing", [], ["fake"]),
        ("dangling-link", [["symlink", "tools/fake", "nowhere"]], ["No such file"]),
    ):
        case(
            f"config-tritonserver-{key}",
            f,
            [*ops, ["yaml", "gate.yaml", "launcher.tritonserver", "tools/fake"]],
            CHECK,
            ["launcher.tritonserver", *words],
        )
    case(
        "config-perf-analyzer-text-file",
        f,
        [
            ["write", "tools/pa", "hello\n"],
            ["chmod", "tools/pa", "755"],
            ["yaml", "gate.yaml", "measure", {"perf_analyzer": "tools/pa"}],
        ],
        CHECK,
        ["measure.perf_analyzer", "not an executable program"],
    )
    case(
        "config-store-is-a-file",
        f,
        [["rm", "store"], ["write", "store", "not a folder\n"]],
        CHECK,
        ["store", "is a file"],
    )
    case(
        "config-store-is-a-file-record",
        f,
        [["rm", "store"], ["write", "store", "not a folder\n"]],
        RECORD,
        ["store", "is a file"],
    )
    case(
        "config-set-malformed",
        f,
        [],
        ["check", "{cfg}", "--set", "nonsense", "-q"],
        ["--set", "KEY=VALUE"],
    )
    case(
        "config-set-unknown",
        f,
        [],
        ["check", "{cfg}", "--set", "launcher.kindd=local", "-q"],
        ["launcher.kindd"],
    )
    case(
        "config-set-name-dotdot",
        f,
        [],
        ["check", "{cfg}", "--set", "model.name=..", "-q"],
        ["model.name"],
    )
    case(
        "config-set-duplicate-yaml",
        f,
        [],
        ["check", "{cfg}", "--set", "policy={a: 1, a: 2}", "-q"],
        ["policy"],
    )
    case(
        "config-timeout-negative",
        f,
        [["yaml", "gate.yaml", "launcher.startup_timeout_s", -1]],
        CHECK,
        ["launcher.startup_timeout_s"],
    )
    case(
        "config-timeout-nan",
        f,
        [
            [
                "write",
                "gate.yaml",
                "version: 1\n"
                "model: {name: demo, repository: repo}\n"
                "traffic: {path: traffic.jsonl}\n"
                "launcher: {startup_timeout_s: .nan}\n",
            ]
        ],
        CHECK,
        ["launcher.startup_timeout_s"],
    )
    case(
        "config-runs-huge",
        f,
        [["yaml", "gate.yaml", "measure", {"runs": 10**30}]],
        CHECK,
        ["measure.runs"],
    )
    case(
        "config-remote-url-shell",
        f,
        [["yaml", "gate.yaml", "launcher", {"kind": "remote", "url": "http://x:1/$(touch PWNED)"}]],
        CHECK,
        ["launcher.url"],
    )


# --------------------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------------------


def policy_cases() -> None:
    f = "policy"
    case(
        "policy-empty",
        f,
        [["write", "policy.yaml", ""]],
        CHECK,
        ["policy.yaml", "empty", "version: 1"],
    )
    case(
        "policy-comments-only",
        f,
        [["write", "policy.yaml", "# nothing here\n"]],
        CHECK,
        ["policy.yaml", "empty"],
    )
    case(
        "policy-binary",
        f,
        [["bytes", "policy.yaml", "1f8b0800000000000003ffff"]],
        CHECK,
        ["policy.yaml", "UTF-8"],
    )
    case(
        "policy-duplicate-tolerance",
        f,
        [
            [
                "write",
                "policy.yaml",
                "version: 1\nlatency:\n  shift:\n    tolerance: 0.05\n    tolerance: 5\n",
            ]
        ],
        CHECK,
        ["policy.yaml", "duplicate key 'tolerance'"],
    )
    case(
        "policy-duplicate-section",
        f,
        [["append", "policy.yaml", "memory: {enabled: true}\n"]],
        CHECK,
        ["policy.yaml", "duplicate key 'memory'"],
    )
    everything_off = (
        "version: 1\nlatency:\n  shift: {enabled: false}\n  tails: []\nmemory: {enabled: false}\n"
        "throughput: {enabled: false}\naccuracy: {enabled: false}\n"
    )
    case(
        "policy-all-checks-disabled",
        f,
        [["write", "policy.yaml", everything_off]],
        CHECK,
        ["policy.yaml", "every check is disabled"],
    )
    case(
        "policy-all-disabled-tails-off",
        f,
        [
            [
                "write",
                "policy.yaml",
                everything_off.replace("tails: []", "tails: [{percentile: 95, enabled: false}]"),
            ]
        ],
        CHECK,
        ["policy.yaml", "every check is disabled"],
    )
    case(
        "policy-only-accuracy-no-eval",
        f,
        [
            [
                "write",
                "policy.yaml",
                everything_off.replace("accuracy: {enabled: false}", "accuracy: {enabled: true}"),
            ]
        ],
        CHECK,
        ["policy.yaml", "every check is disabled"],
    )
    case(
        "policy-misspelt-key",
        f,
        [["write", "policy.yaml", "version: 1\nlatency: {shift: {tolerence: 0.05}}\n"]],
        CHECK,
        ["policy.yaml", "tolerence"],
    )
    case(
        "policy-alpha-zero",
        f,
        [["yaml", "policy.yaml", "alpha", 0]],
        CHECK,
        ["policy.yaml", "alpha"],
    )
    case(
        "policy-alpha-nan",
        f,
        [["write", "policy.yaml", "version: 1\nalpha: .nan\n"]],
        CHECK,
        ["policy.yaml", "alpha"],
    )
    case(
        "policy-tolerance-inf",
        f,
        [["write", "policy.yaml", "version: 1\nlatency: {shift: {tolerance: .inf}}\n"]],
        CHECK,
        ["policy.yaml", "tolerance"],
    )
    case(
        "policy-tolerance-string",
        f,
        [["yaml", "policy.yaml", "latency", {"shift": {"tolerance": "5%"}}]],
        CHECK,
        ["policy.yaml", "tolerance"],
    )
    case(
        "policy-seed-huge",
        f,
        [["yaml", "policy.yaml", "seed", 10**40]],
        CHECK,
        ["policy.yaml", "seed"],
    )
    case(
        "policy-bad-slo",
        f,
        [["yaml", "policy.yaml", "slo", {"objectives": ["latency.p95_ms <= $(rm -rf /)"]}]],
        CHECK,
        ["policy.yaml", "slo.objectives"],
    )
    case("policy-missing", f, [["rm", "policy.yaml"]], CHECK, ["policy.yaml", "not found"])
    case(
        "policy-is-a-folder",
        f,
        [["rm", "policy.yaml"], ["mkdir", "policy.yaml"]],
        CHECK,
        ["policy.yaml"],
    )
    case(
        "policy-list",
        f,
        [["write", "policy.yaml", "- version: 1\n"]],
        CHECK,
        ["policy.yaml", "mapping"],
    )
    case(
        "policy-future-version",
        f,
        [["yaml", "policy.yaml", "version", 9]],
        CHECK,
        ["policy.yaml", "version"],
    )
    case(
        "policy-duplicate-percentile",
        f,
        [
            [
                "yaml",
                "policy.yaml",
                "latency",
                {"tails": [{"percentile": 95}, {"percentile": "p95"}]},
            ]
        ],
        CHECK,
        ["policy.yaml", "tails"],
    )
    case(
        "policy-inconclusive-typo",
        f,
        [["yaml", "policy.yaml", "inconclusive", "sometimes"]],
        CHECK,
        ["policy.yaml", "inconclusive"],
    )


# --------------------------------------------------------------------------------------
# eval sets
# --------------------------------------------------------------------------------------


def _with_eval(path: str) -> list[Any]:
    return ["yaml", "gate.yaml", "accuracy", {"eval_set": path}]


def eval_cases() -> None:
    f = "evalset"
    for key, mutate, words in (
        ("label-1e30", {"index": 3, "field": "label", "value": 10**30}, ["line 5", "label"]),
        ("label-2e63", {"index": 3, "field": "label", "value": 2**63}, ["line 5", "label"]),
        ("label-negative", {"index": 3, "field": "label", "value": -1}, ["line 5", "label"]),
        ("label-float", {"index": 3, "field": "label", "value": 1.5}, ["line 5", "label"]),
        ("label-bool", {"index": 3, "field": "label", "value": True}, ["line 5", "label"]),
        ("label-string", {"index": 3, "field": "label", "value": "cat"}, ["line 5", "label"]),
        ("input-nan", {"index": 7, "field": "input", "value": float("nan")}, ["eval.jsonl", "NaN"]),
        (
            "input-inf",
            {"index": 7, "field": "input", "value": float("inf")},
            ["eval.jsonl", "NaN or infinite"],
        ),
        ("input-huge", {"index": 7, "field": "input", "value": 1e300}, ["eval.jsonl"]),
        ("raw-not-json", {"index": 9, "field": "raw", "value": "{not json"}, ["line 11", "JSON"]),
        ("raw-deep", {"index": 9, "field": "raw", "value": "[" * 3000 + "]" * 3000}, ["line 11"]),
        ("raw-array", {"index": 9, "field": "raw", "value": "[1, 2]"}, ["line 11", "object"]),
    ):
        case(
            f"eval-jsonl-{key}",
            f,
            [["eval_jsonl", "eval.jsonl", {"mutate": mutate}], _with_eval("eval.jsonl")],
            CHECK,
            words,
        )
    case(
        "eval-jsonl-target-nan",
        f,
        [
            [
                "write",
                "eval.jsonl",
                '{"format": "gate-eval/1", "inputs": [{"name": "INPUT0", "datatype": "FP32", '
                '"shape": [2]}]}\n'
                '{"inputs": {"INPUT0": {"data": [1, 2]}}, "target": NaN}\n',
            ],
            _with_eval("eval.jsonl"),
        ],
        CHECK,
        ["eval.jsonl", "target"],
    )
    case(
        "eval-jsonl-binary",
        f,
        [["bytes", "eval.jsonl", "00ff10ee"], _with_eval("eval.jsonl")],
        CHECK,
        ["eval.jsonl"],
    )
    case(
        "eval-jsonl-empty",
        f,
        [["write", "eval.jsonl", ""], _with_eval("eval.jsonl")],
        CHECK,
        ["eval.jsonl", "empty"],
    )
    case(
        "eval-jsonl-too-few",
        f,
        [["eval_jsonl", "eval.jsonl", {"n": 20}], _with_eval("eval.jsonl")],
        CHECK,
        ["eval.jsonl", "min_samples"],
    )
    case("eval-missing", f, [_with_eval("nope.jsonl")], CHECK, ["nope.jsonl"])
    case(
        "eval-is-a-folder",
        f,
        [["mkdir", "evals"], _with_eval("evals")],
        CHECK,
        ["accuracy.eval_set", "regular file"],
    )
    case(
        "eval-is-a-fifo",
        f,
        [["fifo", "pipe.npz"], _with_eval("pipe.npz")],
        CHECK,
        ["accuracy.eval_set", "regular file"],
    )
    n = 200
    good_in = {"dtype": "float32", "shape": [n, 16]}
    good_label = {"dtype": "int64", "shape": [n], "value": 1}
    for key, arrays, words in (
        (
            "label-0d",
            {"INPUT0": good_in, "label": {"dtype": "int64", "value": 3}},
            ["label", "0-d"],
        ),
        (
            "input-0d",
            {"INPUT0": {"dtype": "float32", "value": 1.0}, "label": good_label},
            ["INPUT0", "0-d"],
        ),
        (
            "target-0d",
            {"INPUT0": good_in, "target": {"dtype": "float32", "value": 1.0}},
            ["target", "0-d"],
        ),
        (
            "label-uint64-2e63",
            {"INPUT0": good_in, "label": {**good_label, "dtype": "uint64", "set": [4, 2**63]}},
            ["label", "9223372036854775808"],
        ),
        (
            "label-int64-huge",
            {"INPUT0": good_in, "label": {**good_label, "set": [4, 2**40]}},
            ["label"],
        ),
        (
            "label-negative",
            {"INPUT0": good_in, "label": {**good_label, "set": [4, -3]}},
            ["label", "negative"],
        ),
        (
            "label-float",
            {"INPUT0": good_in, "label": {**good_label, "dtype": "float32"}},
            ["label", "integer"],
        ),
        (
            "label-2d",
            {"INPUT0": good_in, "label": {"dtype": "int64", "shape": [n, 1], "value": 1}},
            ["label", "shape"],
        ),
        (
            "target-nan",
            {
                "INPUT0": good_in,
                "target": {
                    "dtype": "float32",
                    "shape": [n],
                    "value": 1.0,
                    "set": [5, float("nan")],
                },
            },
            ["target", "NaN"],
        ),
        (
            "target-inf",
            {
                "INPUT0": good_in,
                "target": {
                    "dtype": "float64",
                    "shape": [n],
                    "value": 1.0,
                    "set": [5, float("inf")],
                },
            },
            ["target"],
        ),
        (
            "input-nan",
            {"INPUT0": {**good_in, "set": [17, float("nan")]}, "label": good_label},
            ["INPUT0", "NaN"],
        ),
        (
            "input-inf",
            {"INPUT0": {**good_in, "set": [17, float("-inf")]}, "label": good_label},
            ["INPUT0", "infinite"],
        ),
        (
            "size-mismatch",
            {"INPUT0": {"dtype": "float32", "shape": [n - 1, 16]}, "label": good_label},
            ["INPUT0", "samples"],
        ),
        (
            "both-label-target",
            {"INPUT0": good_in, "label": good_label, "target": {"dtype": "float32", "shape": [n]}},
            ["exactly one"],
        ),
        ("no-inputs", {"label": good_label}, ["no input arrays"]),
        (
            "complex",
            {"INPUT0": {"dtype": "complex64", "shape": [n, 16]}, "label": good_label},
            ["INPUT0", "dtype"],
        ),
    ):
        case(
            f"eval-npz-{key}",
            f,
            [["npz", "eval.npz", arrays], _with_eval("eval.npz")],
            CHECK,
            ["eval.npz", *words],
        )
    case(
        "eval-npz-not-a-zip",
        f,
        [["write", "eval.npz", "PK this is not a zip\n"], _with_eval("eval.npz")],
        CHECK,
        ["eval.npz", "not a readable"],
    )
    case(
        "eval-npz-truncated",
        f,
        [
            ["npz", "eval.npz", {"INPUT0": good_in, "label": good_label}],
            ["truncate", "eval.npz", 300],
            _with_eval("eval.npz"),
        ],
        CHECK,
        ["eval.npz"],
    )
    case(
        "eval-npz-pickle",
        f,
        [["bytes", "eval.npz", "504b0304"], _with_eval("eval.npz")],
        CHECK,
        ["eval.npz"],
    )
    digest_other = {
        "accuracy": {
            "eval_set": "e",
            "eval_set_digest": "sha256:" + "0" * 64,
            "samples": 200,
            "output": "OUTPUT0",
            "kind": "label",
        }
    }
    case(
        "eval-digest-differs-from-baseline",
        f,
        [["baseline", BASE, digest_other], _with_eval("eval.jsonl")],
        CHECK,
        ["eval_set_digest", "another eval set"],
    )


# --------------------------------------------------------------------------------------
# the baseline store
# --------------------------------------------------------------------------------------


def store_cases() -> None:
    f = "store"
    for key, ops, words in (
        ("truncated", [["truncate", BASE, 60]], ["corrupt or truncated"]),
        ("empty-file", [["truncate", BASE, 0]], ["corrupt or truncated"]),
        ("not-gzip", [["write", BASE, "{}"]], ["corrupt or truncated"]),
        (
            "gzip-of-garbage",
            [["copy", "{outside}/baseline-0.json.gz", BASE]],
            ["corrupt or truncated"],
        ),
        ("future-schema", [["baseline", BASE, {"schema": "gate-baseline/9"}]], ["schema"]),
        ("other-model", [["baseline", BASE, {"model": "resnet50"}]], ["resnet50", "demo"]),
        ("model-dotdot", [["baseline", BASE, {"model": ".."}]], ["model"]),
        (
            "env-not-its-name",
            [["baseline", BASE, {"environment.gpu_model": "H100"}]],
            ["environment"],
        ),
        (
            "other-traffic",
            [["baseline", BASE, {"traffic_digest": "sha256:" + "1" * 64}]],
            ["traffic_digest"],
        ),
        ("wrong-types", [["baseline", BASE, {"runs": "many"}]], ["runs"]),
        ("file-is-a-folder", [["rm", BASE], ["mkdir", BASE]], ["is a folder, not a baseline file"]),
        (
            "damaged-sibling",
            [["write", "store/demo/baseline-0123456789ab.json.gz", "garbage"]],
            ["baseline-0123456789ab", "corrupt"],
        ),
        (
            "symlink-out",
            [["rm", BASE], ["symlink", BASE, "{outside}/baseline-0.json.gz"]],
            ["outside the baseline store"],
        ),
        (
            "model-folder-symlink-out",
            [["rm", "store/demo"], ["symlink", "store/demo", "{outside}"]],
            ["outside the baseline store"],
        ),
        (
            "symlink-loop",
            [["rm", BASE], ["symlink", BASE, "baseline-{envkey}.json.gz"]],
            ["baseline-"],
        ),
        (
            "model-folder-is-a-file",
            [["rm", "store/demo"], ["write", "store/demo", "x"]],
            ["store/demo", "is a file"],
        ),
        ("history-is-a-file", [["write", "store/demo/history", "x"]], ["history", "is a file"]),
    ):
        case(f"store-{key}-check", f, ops, CHECK, words)
    for key, ops, cmd, words in (
        ("truncated-show", [["truncate", BASE, 60]], SHOW, ["corrupt or truncated"]),
        ("other-model-show", [["baseline", BASE, {"model": "resnet50"}]], SHOW, ["resnet50"]),
        ("folder-show", [["rm", BASE], ["mkdir", BASE]], SHOW, ["is a folder"]),
        ("store-file-show", [["rm", "store"], ["write", "store", "x"]], SHOW, ["is a file"]),
        (
            "store-file-list",
            [["rm", "store"], ["write", "store", "x"]],
            ["baseline", "list", "--store", "{store}"],
            ["is a file"],
        ),
        (
            "truncated-list",
            [["truncate", BASE, 60]],
            ["baseline", "list", "--store", "{store}"],
            ["damaged"],
        ),
        (
            "other-model-list",
            [["baseline", BASE, {"model": "resnet50"}]],
            ["baseline", "list", "--store", "{store}"],
            ["damaged"],
        ),
        (
            "history-file-record",
            [["write", "store/demo/history", "x"]],
            RECORD,
            ["history", "is a file"],
        ),
        (
            "model-file-record",
            [["rm", "store/demo"], ["write", "store/demo", "x"]],
            RECORD,
            ["is a file"],
        ),
        (
            "symlink-out-record",
            [["rm", "store/demo"], ["symlink", "store/demo", "{outside}"]],
            RECORD,
            ["outside the baseline store"],
        ),
        (
            "history-file-promote",
            [["write", "store/demo/history", "x"]],
            ["baseline", "promote", "{run}", "--store", "{store}"],
            ["history", "is a file"],
        ),
        (
            "symlink-out-promote",
            [["rm", "store/demo"], ["symlink", "store/demo", "{outside}"]],
            ["baseline", "promote", "{run}", "--store", "{store}"],
            ["outside the baseline store"],
        ),
        (
            "prune-keep-zero",
            [],
            ["baseline", "prune", "--store", "{store}", "--keep", "0"],
            ["--keep"],
        ),
        (
            "prune-bad-date",
            [],
            ["baseline", "prune", "--store", "{store}", "--older-than", "yesterday"],
            ["--older-than"],
        ),
        ("prune-nothing", [], ["baseline", "prune", "--store", "{store}"], ["--keep"]),
        (
            "list-model-dotdot",
            [],
            ["baseline", "list", "--store", "{store}", "--model", ".."],
            [".."],
        ),
        (
            "prune-model-dotdot",
            [],
            ["baseline", "prune", "--store", "{store}", "--keep", "1", "--model", "../x"],
            ["../x"],
        ),
    ):
        case(f"store-{key}", f, ops, cmd, words)
    restore = ["baseline", "restore"]
    for key, entry, words in (
        (
            "dotdot-history",
            "../history/baseline-{envkey}-20260101T000000000000Z-abc123.json.gz",
            ["not"],
        ),
        ("absolute-outside", "{outside}/baseline-0.json.gz", ["not inside the baseline store"]),
        ("dotdot-inside-key", "demo/../../outside/baseline-x-1.json.gz", ["not"]),
        ("current-not-history", "demo/baseline-{envkey}.json.gz", ["not a history entry"]),
        ("empty", "", ["not"]),
        ("model-dotdot", "../history/baseline-a-b.json.gz", ["not"]),
        (
            "missing-entry",
            "demo/history/baseline-{envkey}-20260101T000000000000Z-abc123.json.gz",
            ["not found"],
        ),
    ):
        case(f"store-restore-{key}", f, [], [*restore, entry, "--store", "{store}"], words)


# --------------------------------------------------------------------------------------
# run.json: report, promote, notify, merge, append
# --------------------------------------------------------------------------------------


def run_cases() -> None:
    f = "run.json"
    promote = ["baseline", "promote", "{run}", "--store", "{store}"]
    for key, ops, words in (
        (
            "verdict-edited",
            [["copy", "run-blocked.json", "run.json"], ["json", "run.json", "verdict", "PASS"]],
            ["integrity"],
        ),
        (
            "verdict-edited-resealed",
            [
                ["copy", "run-blocked.json", "run.json"],
                ["json", "run.json", "verdict", "PASS"],
                ["reseal", "run.json"],
            ],
            ["verdict", "BLOCKED"],
        ),
        (
            "check-status-edited-resealed",
            [
                ["copy", "run-blocked.json", "run.json"],
                ["json", "run.json", "verdict", "PASS"],
                ["json", "run.json", "checks.0.status", "pass"],
                ["reseal", "run.json"],
            ],
            ["checks[0].status"],
        ),
        ("p-value-edited", [["json", "run.json", "checks.0.p_value", 0.9]], ["integrity"]),
        ("integrity-removed", [["json", "run.json", "integrity", "<delete>"]], ["integrity"]),
        (
            "alpha-edited-resealed",
            [["json", "run.json", "alpha", 0.4], ["reseal", "run.json"]],
            ["alpha"],
        ),
        (
            "model-name-dotdot",
            [["json", "run.json", "model.name", "../../../somewhere/ESCAPED"]],
            ["model.name"],
        ),
        ("model-name-dotdot-resealed", [["json", "run.json", "model.name", ".."]], ["model.name"]),
        (
            "store-named-by-run",
            [
                [
                    "json",
                    "run.json",
                    "baseline",
                    {
                        "path": "{outside}/demo/baseline-x.json.gz",
                        "recorded_at": "x",
                        "runs": 3,
                        "model_digest": "a",
                        "traffic_digest": "b",
                    },
                ]
            ],
            ["integrity"],
        ),
        ("one-run", [["json", "run.json", "runs", []], ["reseal", "run.json"]], ["runs"]),
        (
            "errored",
            [
                ["json", "run.json", "error", {"kind": "X", "message": "boom", "exit_code": 3}],
                ["json", "run.json", "verdict", "ERROR"],
                ["reseal", "run.json"],
            ],
            ["error"],
        ),
        ("binary", [["bytes", "run.json", "89504e47ff00"]], ["run.json"]),
        ("not-json", [["write", "run.json", "{not json"]], ["run.json"]),
        ("empty", [["write", "run.json", ""]], ["run.json"]),
        ("future-schema", [["json", "run.json", "schema", "gate-run/9"]], ["schema"]),
        ("is-a-folder", [["rm", "run.json"], ["mkdir", "run.json"]], ["run.json"]),
        ("deep-nesting", [["fill", "run.json", "", "[", 100000, ""]], ["run.json"]),
        (
            "nan-latency",
            [["write", "run.json", '{"schema": "gate-run/1", "run_id": NaN}']],
            ["run.json"],
        ),
    ):
        case(f"run-promote-{key}", f, ops, promote, words)
    case(
        "run-promote-hmac-mismatch",
        f,
        [["reseal", "run.json", "another-key"]],
        promote,
        ["hmac_sha256"],
        env={"GATE_RUN_KEY": "the-ci-key-abcdef"},
    )
    case(
        "run-promote-unsigned-with-key",
        f,
        [],
        promote,
        ["hmac_sha256", "GATE_RUN_KEY"],
        env={"GATE_RUN_KEY": "the-ci-key-abcdef"},
    )
    case(
        "run-promote-signed-without-key",
        f,
        [["reseal", "run.json", "some-key-123456"]],
        promote,
        ["hmac_sha256"],
    )
    case(
        "run-promote-no-config-no-store",
        f,
        [["rm", "gate.yaml"]],
        ["baseline", "promote", "{run}"],
        ["gate.yaml", "--store"],
    )
    for cmd_key, cmd in (
        ("report", ["report", "{run}", "--format", "markdown"]),
        ("notify", ["notify", "{run}", "--dry-run"]),
        ("merge", ["report", "merge", "{run}", "--out", "{ws}/merged"]),
        ("append", ["report", "append", "{ws}/history.jsonl", "{run}"]),
    ):
        for key, ops in (
            ("binary", [["bytes", "run.json", "1f8b08ff00ff"]]),
            ("not-json", [["write", "run.json", "nope"]]),
            ("future-schema", [["json", "run.json", "schema", "gate-run/2"]]),
            ("folder", [["rm", "run.json"], ["mkdir", "run.json"]]),
        ):
            case(f"run-{cmd_key}-{key}", f, ops, cmd, ["run.json"])


# --------------------------------------------------------------------------------------
# CLI misuse, paths and shell tricks
# --------------------------------------------------------------------------------------


def cli_cases() -> None:
    f = "cli"
    case("cli-unknown-option", f, [], ["check", "{cfg}", "--frobnicate"], ["--frobnicate"])
    case("cli-unknown-command", f, [], ["chekc"], ["chekc"])
    case("cli-runs-zero", f, [], ["replay", "{cfg}", "--runs", "0"], ["--runs"])
    case("cli-report-bad-format", f, [], ["report", "{run}", "--format", "pdf"], ["--format"])
    case("cli-config-missing", f, [], ["check", "{ws}/nope.yaml", "-q"], ["nope.yaml", "not found"])
    case(
        "cli-verify-both",
        f,
        [],
        ["verify", "repo/demo", "--config", "{cfg}", "--policy", "policy.yaml"],
        ["--config or --policy"],
    )
    case("cli-verify-missing-dir", f, [], ["verify", "{ws}/nowhere"], ["nowhere"])
    case(
        "cli-traffic-import-bad-spec",
        f,
        [],
        [
            "traffic",
            "import",
            "traffic.jsonl",
            "out.jsonl",
            "--from",
            "pa-json",
            "--model",
            "demo",
            "--input",
            "X;rm -rf /",
        ],
        ["--input"],
    )
    case(
        "cli-traffic-import-name-dotdot",
        f,
        [["write", "pa.json", '{"data": [{"INPUT0": [1, 2]}]}']],
        [
            "traffic",
            "import",
            "pa.json",
            "out.jsonl",
            "--from",
            "pa-json",
            "--model",
            "..",
            "--input",
            "INPUT0:FP32:2",
        ],
        ["model"],
    )
    case(
        "cli-traffic-inspect-binary",
        f,
        [["bytes", "t.jsonl", "ff00aa"]],
        ["traffic", "inspect", "t.jsonl"],
        ["t.jsonl"],
    )
    case(
        "cli-traffic-inspect-header-dotdot",
        f,
        [
            [
                "write",
                "t.jsonl",
                '{"format": "gate-traffic/1", "model": "../x", "inputs": [{"name": "INPUT0", '
                '"datatype": "FP32", "shape": [1]}]}\n'
                '{"t_us": 0, "inputs": {"INPUT0": {"shape": [1, 1], "data": [[1.0]]}}}\n',
            ]
        ],
        ["traffic", "inspect", "t.jsonl"],
        ["model"],
    )
    case(
        "cli-notify-bad-config",
        f,
        [["yaml", "gate.yaml", "notify", {"events": ["nope"]}]],
        ["notify", "{run}", "--config", "{cfg}", "--dry-run"],
        ["notify.events"],
    )
    case("cli-plan-not-git", f, [], ["plan", "--all", "--root", "{ws}", "--github-output"], ["git"])
    f = "paths"
    for key, name in (
        ("newline", "bad\nname.yaml"),
        ("workflow-command", "x\n::set-output name=verdict::PASS.yaml"),
        ("dollar", "$(touch PWNED).yaml"),
        ("backtick", "`touch PWNED`.yaml"),
        ("semicolon", "a; rm -rf ~.yaml"),
        ("dash", "-rf.yaml"),
        ("long", "x" * 300 + ".yaml"),
    ):
        case(
            f"paths-config-name-{key}",
            f,
            [],
            ["check", "--", name] if name.startswith("-") else ["check", name, "-q"],
            ["gate: error:"],
        )
    for field, value in (
        ("traffic.path", "$(touch PWNED)"),
        ("traffic.path", "`id`.jsonl"),
        ("traffic.path", "../../../../../../etc/nonexistent-gate"),
        ("traffic.path", "traffic.jsonl\n::error::forged"),
        ("model.repository", "repo; touch PWNED"),
        ("policy", "$HOME/.ssh/id_rsa"),
        ("reports.dir", "gate.yaml/$(touch PWNED)"),
    ):
        case(
            f"paths-{field}-{len(CASES)}",
            f,
            [["yaml", "gate.yaml", field, value]],
            CHECK,
            [field.split(".")[0]],
        )


# --------------------------------------------------------------------------------------
# secrets: never echoed
# --------------------------------------------------------------------------------------


def secret_cases() -> None:
    f = "secrets"
    for key, ops in (
        ("events-url", [["yaml", "gate.yaml", "notify", {"events": ["{secret_url}"]}]]),
        ("env-name-url", [["yaml", "gate.yaml", "notify", {"slack_webhook_env": "{secret_url}"}]]),
        ("nested-url", [["yaml", "gate.yaml", "notify", {"events": [["{secret_url}"]]}]]),
        ("timeout-url", [["yaml", "gate.yaml", "notify", {"timeout_s": "{secret_url}"}]]),
    ):
        case(f"secrets-notify-{key}", f, ops, CHECK, ["notify", "not shown"])
    for key, ops, words in (
        (
            "store-cred-url",
            [["yaml", "gate.yaml", "baseline.store", "{store_url}"]],
            ["no baseline"],
        ),
        (
            "tool-token",
            [["yaml", "gate.yaml", "launcher.tritonserver", "/opt/{token}/tritonserver"]],
            ["launcher.tritonserver"],
        ),
        (
            "repository-token",
            [["yaml", "gate.yaml", "model.repository", "{token}"]],
            ["model.repository"],
        ),
        ("name-token", [["yaml", "gate.yaml", "model.name", "{secret_url}"]], ["model.name"]),
        ("traffic-url", [["yaml", "gate.yaml", "traffic.path", "{cred_url}"]], ["traffic"]),
        ("unknown-key-value", [["yaml", "gate.yaml", "webhook", "{secret_url}"]], ["webhook"]),
        (
            "remote-url",
            [["yaml", "gate.yaml", "launcher", {"kind": "remote", "url": "{cred_url}"}]],
            ["launcher.url"],
        ),
        ("policy-value", [["yaml", "policy.yaml", "alpha", "{secret_url}"]], ["alpha"]),
        ("set-override", [], ["model.name"]),
        (
            "slo-token",
            [["yaml", "policy.yaml", "slo", {"objectives": ["{token} <= 3"]}]],
            ["slo.objectives"],
        ),
    ):
        cmd = (
            CHECK
            if key != "set-override"
            else ["check", "{cfg}", "--set", "model.name={secret_url}", "-q"]
        )
        case(f"secrets-{key}", f, ops, cmd, words)
    case(
        "secrets-restore-entry",
        f,
        [],
        ["baseline", "restore", "{secret_url}", "--store", "{store}"],
        ["not"],
    )
    case(
        "secrets-store-option",
        f,
        [],
        ["baseline", "restore", "demo/history/baseline-x-1.json.gz", "--store", "{store_url}"],
        ["not found"],
    )
    case(
        "secrets-store-show",
        f,
        [["yaml", "gate.yaml", "baseline.store", "{store_url}"]],
        SHOW,
        ["no baseline"],
    )


def main() -> None:
    for build in (
        config_cases,
        policy_cases,
        eval_cases,
        store_cases,
        run_cases,
        cli_cases,
        secret_cases,
    ):
        build()
    ids = [c["id"] for c in CASES]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate case ids: {sorted(dup)}"
    text = "".join(json.dumps(c, sort_keys=True) + "\n" for c in CASES)
    if "--check" in sys.argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            raise SystemExit(1)
        return
    OUT.write_text(text)
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
