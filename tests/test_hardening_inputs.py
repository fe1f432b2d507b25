"""Issue 15, items 5, 7 and 8: bad input is exit 2 with one line before any server starts,
nothing is silently accepted, and the strictness does not refuse what is valid.

Library-level checks of the pieces the hostile corpus (tests/test_hostile.py) drives through
the CLI, with the valid neighbours of each bad input beside it: a merge key is still a
merge, a NaN input is accepted when the policy says so, a long but proper model name passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import FIXTURES, run_gate

from gate.config.config import load_config
from gate.config.policy import load_policy
from gate.errors import ConfigError, InputError
from gate.inputs.evalset import read_eval_set

# --------------------------------------------------------------------------------------
# YAML: duplicate keys, aliases, empty, binary
# --------------------------------------------------------------------------------------


def test_duplicate_keys_are_refused_and_merges_still_work() -> None:
    from gate.config.loader import DuplicateKeyError, load_yaml

    with pytest.raises(DuplicateKeyError, match="duplicate key 'tolerance'"):
        load_yaml("shift:\n  tolerance: 0.05\n  tolerance: 5\n")
    merged = load_yaml(
        "base: &b {tolerance: 0.05, mode: regression}\nshift:\n  <<: *b\n  tolerance: 0.1\n"
    )
    assert merged["shift"] == {"tolerance": 0.1, "mode": "regression"}


def test_alias_expansion_is_bounded() -> None:
    from gate.config.loader import MAX_ALIASES, load_yaml

    ok = "a: &a 1\n" + "".join(f"k{i}: *a\n" for i in range(MAX_ALIASES))
    assert len(load_yaml(ok)) == MAX_ALIASES + 1
    with pytest.raises(yaml.YAMLError, match="aliases"):
        load_yaml(ok + "extra: *a\n")


def test_a_duplicate_key_in_a_policy_names_the_file_and_both_lines(tmp_path: Path) -> None:
    """Once: the last 'tolerance' silently won (the trap strict config exists to close)."""
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\nlatency:\n  shift:\n    tolerance: 0.05\n    tolerance: 5\n")
    with pytest.raises(ConfigError, match=r"policy.yaml.*line 5.*'tolerance' \(first at line 4\)"):
        load_policy(p)


def test_an_empty_policy_is_refused_with_the_explicit_way_to_say_defaults(tmp_path: Path) -> None:
    """Once: an empty policy file silently meant the defaults."""
    p = tmp_path / "policy.yaml"
    for text in ("", "# only a comment\n", "---\n"):
        p.write_text(text)
        with pytest.raises(ConfigError, match="empty") as e:
            load_policy(p)
        assert "version: 1" in (e.value.hint or "")
    p.write_text("version: 1\n")
    assert load_policy(p).alpha == 0.05


@pytest.mark.parametrize("what", ["gate.yaml", "policy.yaml"])
def test_binary_config_files_are_exit_2_not_a_traceback(tmp_path: Path, what: str) -> None:
    """Once: UnicodeDecodeError (only OSError was caught)."""
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(
        f"version: 1\nmodel: {{name: demo, repository: {FIXTURES / 'models' / 'v1'}}}\n"
        f"traffic: {{path: {FIXTURES / 'traffic' / 'demo-small.jsonl'}}}\npolicy: policy.yaml\n"
    )
    (tmp_path / "policy.yaml").write_text("version: 1\n")
    (tmp_path / what).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    res = run_gate("baseline", "show", str(cfg), timeout=60)
    target = "gate.yaml" if what == "gate.yaml" else "policy"
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    if what == "gate.yaml":
        assert "not UTF-8" in res.stderr and target in res.stderr
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_policy(tmp_path / "policy.yaml") if what == "policy.yaml" else load_config(cfg)


def test_a_symlink_loop_in_a_config_path_names_the_field(tmp_path: Path) -> None:
    """Once: RuntimeError from Path.resolve()."""
    (tmp_path / "loop.jsonl").symlink_to("loop.jsonl")
    cfg = tmp_path / "gate.yaml"
    cfg.write_text("version: 1\nmodel: {name: demo, repository: .}\ntraffic: {path: loop.jsonl}\n")
    with pytest.raises(ConfigError, match=r"field 'traffic.path'.*cannot resolve"):
        load_config(cfg)


@pytest.mark.parametrize(
    "name", ["demo", "resnet50_v1.5-fp16", "_private", "a" * 200, "bert.onnx", "7"]
)
def test_proper_model_names_pass(name: str) -> None:
    from gate.result import is_model_name

    assert is_model_name(name)


@pytest.mark.parametrize("name", ["..", ".", ".x", "a/b", "a\\b", "", "a" * 201, "a b", "é"])
def test_other_names_do_not(name: str) -> None:
    from gate.result import is_model_name

    assert not is_model_name(name)


# --------------------------------------------------------------------------------------
# Eval sets
# --------------------------------------------------------------------------------------


def _jsonl(path: Path, label: object = 1, value: object = 0.5, n: int = 3) -> Path:
    lines = [
        json.dumps(
            {"format": "gate-eval/1", "inputs": [{"name": "X", "datatype": "FP32", "shape": [2]}]}
        )
    ]
    for i in range(n):
        lines.append(
            json.dumps({"inputs": {"X": {"data": [value if i == 1 else 0.0, 1.0]}}, "label": label})
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_huge_jsonl_label_is_exit_2_not_an_overflow(tmp_path: Path) -> None:
    """Once: OverflowError (exit 3) for label 10**30."""
    for label in (10**30, 2**63, 2**31):
        with pytest.raises(InputError, match=r"line 2: field 'label'"):
            read_eval_set(_jsonl(tmp_path / "e.jsonl", label=label))
    assert read_eval_set(_jsonl(tmp_path / "e.jsonl", label=2**31 - 1)).labels is not None


def test_non_finite_inputs_are_refused_unless_the_policy_allows_them(tmp_path: Path) -> None:
    """Once: NaN/Inf inputs were silently sent to the model."""
    p = tmp_path / "e.jsonl"
    p.write_text(_jsonl(p).read_text().replace('"data": [0.5, 1.0]', '"data": [NaN, 1.0]'))
    with pytest.raises(InputError, match=r"input 'X': sample 1 holds a NaN"):
        read_eval_set(p)
    es = read_eval_set(p, allow_non_finite=True)
    assert np.isnan(es.arrays["X"][1, 0])
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\naccuracy: {allow_non_finite: true}\n")
    assert load_policy(policy).accuracy.allow_non_finite


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_zero_d_arrays_are_exit_2(tmp_path: Path) -> None:
    """Once: IndexError on a 0-d label."""
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(InputError, match=r"array 'label' is a single value \(0-d\)"):
        read_eval_set(_npz(tmp_path / "e.npz", X=x, label=np.array(3)))
    with pytest.raises(InputError, match=r"array 'X' is a single value"):
        read_eval_set(_npz(tmp_path / "e.npz", X=np.array(1.0), label=np.ones(4, np.int64)))


def test_a_uint64_label_is_not_wrapped_negative(tmp_path: Path) -> None:
    """Once: 2**63 as uint64 passed the range check and became negative after the cast."""
    x = np.zeros((4, 2), np.float32)
    labels = np.array([0, 1, 2, 2**63], np.uint64)
    with pytest.raises(InputError, match="9223372036854775808"):
        read_eval_set(_npz(tmp_path / "e.npz", X=x, label=labels))


def test_npz_targets_and_inputs_must_be_finite(tmp_path: Path) -> None:
    """Once: NaN targets in .npz were accepted (JSONL checked them)."""
    x = np.zeros((4, 2), np.float32)
    t = np.array([1.0, np.nan, 2.0, 3.0])
    with pytest.raises(InputError, match=r"field 'target': sample 1"):
        read_eval_set(_npz(tmp_path / "e.npz", X=x, target=t))
    with pytest.raises(InputError, match=r"field 'target'"):  # not even when inputs may be
        read_eval_set(_npz(tmp_path / "e.npz", X=x, target=t), allow_non_finite=True)
    x[2, 1] = np.inf
    with pytest.raises(InputError, match=r"input 'X': sample 2"):
        read_eval_set(_npz(tmp_path / "e.npz", X=x, label=np.ones(4, np.int64)))
    ok = read_eval_set(
        _npz(tmp_path / "e.npz", X=x, label=np.ones(4, np.int64)), allow_non_finite=True
    )
    assert ok.size == 4
