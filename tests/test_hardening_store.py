"""Issue 15, items 1–4 and 9: names are keys, promote trusts evidence, a baseline is what it
claims, and a damaged store says what is wrong.

Each test is a case from the hostile review that once succeeded (a baseline written outside
the store, a BLOCKED run promoted after an edit, another model's baseline judged, a damaged
file passed over, a misleading "no baseline"); they run the real CLI in a process, so the
exit code and the one line on stderr are what a CI job would see.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_gate
from lifecycle_helpers import ENV, baseline, run_result

from gate.baselines.store import current_key, encode, env_key, save_baseline, select_baseline
from gate.errors import ConfigError, InputError
from gate.result import Verdict

FIXTURES = ROOT / "fixtures"


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256 (what 'unchanged' means)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _config(tmp: Path, *, name: str = "demo", store: Path | None = None, extra: str = "") -> Path:
    cfg = tmp / "gate.yaml"
    cfg.write_text(
        f"version: 1\nmodel:\n  name: {json.dumps(name)}\n"
        f"  repository: {FIXTURES / 'models' / 'v1'}\n"
        f"traffic:\n  path: {FIXTURES / 'traffic' / 'demo-small.jsonl'}\n"
        f"baseline:\n  store: {store or tmp / 'store'}\n" + extra
    )
    return cfg


def _one_line_exit_2(res: object, *words: str) -> None:
    out = res.stdout + res.stderr  # type: ignore[attr-defined]
    assert res.returncode == 2, out  # type: ignore[attr-defined]
    assert "Traceback" not in out, out
    lines = [x for x in res.stderr.splitlines() if x.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1, res.stderr  # type: ignore[attr-defined]
    for w in words:
        assert w in lines[0], lines[0]


def _edited(run_json: Path, **fields: object) -> Path:
    doc = json.loads(run_json.read_text())
    for dotted, value in fields.items():
        node = doc
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    run_json.write_text(json.dumps(doc, indent=2))
    return run_json


# --------------------------------------------------------------------------------------
# 1. Names are keys: nothing outside the store
# --------------------------------------------------------------------------------------


def test_promote_of_a_run_named_dotdot_writes_nothing_outside_the_store(tmp_path: Path) -> None:
    """Once: model.name '../../../somewhere/ESCAPED' wrote a baseline and a .lock outside."""
    work = tmp_path / "a" / "b" / "c"
    store = work / "store"
    store.mkdir(parents=True)
    (work / "run.json").write_text(run_result(Verdict.MEASURED).to_json())
    rj = _edited(work / "run.json", model__name="../../../somewhere/ESCAPED")
    before = _tree(tmp_path)
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), "--force", timeout=60)
    _one_line_exit_2(res, str(rj), "model.name")
    assert _tree(tmp_path) == before
    assert not (tmp_path / "somewhere").exists() and not list(tmp_path.rglob("ESCAPED"))


@pytest.fixture()
def rj_pass(tmp_path: Path) -> Path:
    rj = tmp_path / "a" / "b" / "c" / "run.json"
    rj.parent.mkdir(parents=True, exist_ok=True)
    rj.write_text(run_result().to_json())
    return rj


def test_promote_dotdot_name_with_intact_integrity_is_refused(
    rj_pass: Path, tmp_path: Path
) -> None:
    store = rj_pass.parent / "store"
    _edited(rj_pass, model__name="../../../somewhere/ESCAPED")
    before = _tree(tmp_path)
    res = run_gate("baseline", "promote", str(rj_pass), "--store", str(store), timeout=60)
    _one_line_exit_2(res, "model.name")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", ".hidden", "a\\b", ""])
def test_config_model_name_that_is_not_one_folder_is_exit_2(tmp_path: Path, name: str) -> None:
    """model.name '..' once made 'baseline show' read the store's parent."""
    cfg = _config(tmp_path, name=name)
    res = run_gate("baseline", "show", str(cfg), timeout=60)
    _one_line_exit_2(res, "model.name")


def test_restore_takes_only_entries_inside_the_store(tmp_path: Path) -> None:
    """Once: 'baseline restore ../history/…' wrote a current baseline outside the store."""
    store = tmp_path / "s" / "store"
    save_baseline(store, baseline("a"))
    save_baseline(store, baseline("b"))
    (hist,) = (store / "demo" / "history").iterdir()
    # a copy of a history entry beside the store, reached by '..'
    outside = tmp_path / "s" / "history"
    outside.mkdir()
    shutil.copy(hist, outside / hist.name)
    before = _tree(tmp_path)
    for entry in (f"../history/{hist.name}", str(outside / hist.name), f"demo/../../{hist.name}"):
        res = run_gate("baseline", "restore", entry, "--store", str(store), timeout=60)
        _one_line_exit_2(res)
        assert _tree(tmp_path) == before, entry
    res = run_gate("baseline", "restore", str(hist), "--store", str(store), timeout=60)
    assert res.returncode == 0, res.output


def test_a_symlink_out_of_the_store_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    elsewhere = tmp_path / "elsewhere"
    save_baseline(elsewhere, baseline("x"))
    store.mkdir()
    (store / "demo").symlink_to(elsewhere / "demo")
    with pytest.raises(ConfigError, match="outside the baseline store"):
        select_baseline(store, "demo", ENV)
    before = _tree(elsewhere)
    with pytest.raises(ConfigError, match="outside the baseline store"):
        save_baseline(store, baseline("y"))
    assert _tree(elsewhere) == before


# --------------------------------------------------------------------------------------
# 2–3. Promote: the store from the config, the verdict from the evidence
# --------------------------------------------------------------------------------------


def test_promote_never_writes_into_a_store_named_by_the_run(tmp_path: Path) -> None:
    """Once: without --store, the run's own baseline.path chose the store."""
    theirs = tmp_path / "theirs" / "store"
    save_baseline(theirs, baseline("old"))
    res_ = run_result()
    from gate.result import BaselineRef

    res_.baseline = BaselineRef(
        path=str(theirs / current_key("demo", env_key(ENV))),
        recorded_at="2026-11-28T00:00:00+00:00",
        runs=3,
        model_digest="sha256:x",
        traffic_digest="sha256:y",
    )
    work = tmp_path / "work"
    work.mkdir()
    rj = work / "run.json"
    rj.write_text(res_.to_json())
    before = _tree(theirs)
    res = run_gate("baseline", "promote", str(rj), timeout=60, cwd=work)
    _one_line_exit_2(res, "gate.yaml")  # no config here: no store, whatever the run says
    assert _tree(theirs) == before
    ours = work / "ours"
    _config(work, store=ours)
    res = run_gate("baseline", "promote", str(rj), timeout=60, cwd=work)
    assert res.returncode == 0, res.output
    assert _tree(theirs) == before
    assert select_baseline(ours, "demo", ENV)[0].source_run_ids == ["run-1"]


def test_promote_refuses_a_blocked_run_edited_to_pass(tmp_path: Path) -> None:
    """Once: a BLOCKED run edited to "verdict": "PASS" became the current baseline."""
    store = tmp_path / "store"
    rj = tmp_path / "run.json"
    rj.write_text(run_result(Verdict.BLOCKED).to_json())
    rj.write_text(rj.read_text().replace('"verdict": "BLOCKED"', '"verdict": "PASS"'))
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), timeout=60)
    _one_line_exit_2(res, str(rj), "integrity")
    assert not store.exists()


def test_promote_rederives_the_verdict_when_the_digest_was_recomputed(tmp_path: Path) -> None:
    """Without a key anyone can recompute the digest: the verdict is decided again from the
    checks' statistics, so an edited verdict field is still refused."""
    from gate.result import RunResult

    store = tmp_path / "store"
    forged = run_result(Verdict.BLOCKED)
    forged.verdict = Verdict.PASS  # the edit, then a fresh digest as gate would write it
    rj = tmp_path / "run.json"
    rj.write_text(forged.to_json())
    assert RunResult.from_json(rj.read_text()).verdict is Verdict.PASS
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), timeout=60)
    _one_line_exit_2(res, "verdict", "BLOCKED")
    # a check's status edited too: its p-value still gives it away
    forged.checks[0].status = forged.checks[0].status.__class__("pass")
    rj.write_text(forged.to_json())
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), timeout=60)
    _one_line_exit_2(res, "checks[0].status")
    assert not store.exists()


def test_with_a_run_key_an_edit_with_a_recomputed_digest_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GATE_RUN_KEY (a CI secret): the HMAC cannot be recomputed without it."""
    from gate.result import seal

    monkeypatch.setenv("GATE_RUN_KEY", "s3cret-key-from-ci")
    store = tmp_path / "store"
    good = run_result()
    rj = tmp_path / "run.json"
    rj.write_text(good.to_json())
    env = {"GATE_RUN_KEY": "s3cret-key-from-ci"}
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), env=env, timeout=60)
    assert res.returncode == 0, res.output
    # an attacker without the key: edits and recomputes the digest, keeps the old HMAC
    bad = run_result(Verdict.BLOCKED)
    old_mac = good.integrity.hmac_sha256 if good.integrity else None
    bad.integrity = seal(bad, None)
    bad.integrity.hmac_sha256 = old_mac
    bad._sealable = False
    rj.write_text(bad.to_json().replace('"verdict": "BLOCKED"', '"verdict": "PASS"'))
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), env=env, timeout=60)
    _one_line_exit_2(res, "integrity")
    # an unsigned run where a key is configured
    monkeypatch.delenv("GATE_RUN_KEY")
    rj.write_text(run_result().to_json())
    res = run_gate("baseline", "promote", str(rj), "--store", str(store), env=env, timeout=60)
    _one_line_exit_2(res, "hmac_sha256", "GATE_RUN_KEY")


def test_promote_refuses_a_run_without_integrity(tmp_path: Path) -> None:
    rj = tmp_path / "run.json"
    rj.write_text(run_result().to_json())
    doc = json.loads(rj.read_text())
    doc.pop("integrity")
    rj.write_text(json.dumps(doc))
    res = run_gate("baseline", "promote", str(rj), "--store", str(tmp_path / "s"), timeout=60)
    _one_line_exit_2(res, "integrity")


# --------------------------------------------------------------------------------------
# 4. A baseline is what it claims; a damaged file is never passed over
# --------------------------------------------------------------------------------------


def _plant(store: Path, key: str, b: object) -> Path:
    path = store / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(b))  # type: ignore[arg-type]
    return path


def test_a_baseline_of_another_model_under_this_models_folder_is_exit_2(tmp_path: Path) -> None:
    """Once: a payload saying 'model: resnet50' (sha256 recomputed) under demo/ → PASS."""
    other = baseline("x").model_copy(update={"model": "resnet50"})
    _plant(tmp_path, current_key("demo", env_key(ENV)), other)
    with pytest.raises(InputError, match="resnet50"):
        select_baseline(tmp_path, "demo", ENV)


def test_a_baseline_whose_environment_is_not_its_file_name_is_exit_2(tmp_path: Path) -> None:
    b = baseline("x")
    _plant(tmp_path, current_key("demo", "0123456789ab"), b)
    with pytest.raises(InputError, match="environment"):
        select_baseline(tmp_path, "demo", ENV)


def test_a_truncated_baseline_beside_the_exact_one_is_reported(tmp_path: Path) -> None:
    """Once: with the exact environment present, a damaged sibling was never read."""
    save_baseline(tmp_path, baseline("here"))
    gpu = {**ENV, "gpu_model": "H100", "gpu_count": "1"}
    p = Path(save_baseline(tmp_path, baseline("gpu", env=gpu)))
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(InputError, match="corrupt or truncated"):
        select_baseline(tmp_path, "demo", ENV)


def test_a_future_payload_schema_is_refused(tmp_path: Path) -> None:
    b = baseline("x")
    payload = b.model_dump(mode="json", by_alias=True)
    payload["schema"] = "gate-baseline/9"
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    doc = {
        "schema": "gate-baseline/1",
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "payload": payload,
    }
    key = current_key("demo", env_key(ENV))
    (tmp_path / "demo").mkdir()
    (tmp_path / key).write_bytes(gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(InputError, match="schema"):
        select_baseline(tmp_path, "demo", ENV)


# --------------------------------------------------------------------------------------
# 9. Messages that say what is wrong
# --------------------------------------------------------------------------------------


def test_a_baseline_file_replaced_by_a_folder_is_named(tmp_path: Path) -> None:
    """Once: 'no baseline for model demo'."""
    (tmp_path / current_key("demo", env_key(ENV))).mkdir(parents=True)
    with pytest.raises(InputError, match="is a folder, not a baseline file"):
        select_baseline(tmp_path, "demo", ENV)


def test_a_store_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "store").write_text("not a folder")
    with pytest.raises(ConfigError, match="store is a file"):
        select_baseline(tmp_path / "store", "demo", ENV)
    res = run_gate("baseline", "list", "--store", str(tmp_path / "store"), timeout=60)
    _one_line_exit_2(res, "is a file")


def test_history_that_is_a_file_is_exit_2_not_3(tmp_path: Path) -> None:
    """Once: exit 3 'File exists' (worth a retry) for a store a person must fix."""
    save_baseline(tmp_path, baseline("a"))
    (tmp_path / "demo" / "history").write_text("oops")
    with pytest.raises(ConfigError, match="history: is a file"):
        save_baseline(tmp_path, baseline("b"))
    rj = tmp_path / "run.json"
    rj.write_text(run_result().to_json())
    res = run_gate("baseline", "promote", str(rj), "--store", str(tmp_path), timeout=60)
    _one_line_exit_2(res, "history")
