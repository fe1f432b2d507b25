"""Orchestration without a server: plan decisions, validation order, teardown on every path.

``FakeLauncher`` implements ``gate.servers.interface.Launcher`` without starting anything: it
stands in for tritonserver only where the behaviour under test is gate's own (which evidence
a check plans, that bad input stops a run before any server starts, that whatever fails after
a start still stops the server and keeps its log, that a failed replay carries the server's
diagnostics). Everything else is real: config, signatures, traffic, the baseline store, and
perf_analyzer, which finds nothing listening at the fake's address (the discard port) and
fails as it would against a dead server. The real-server tests (``test_e2e.py``,
``test_ab.py``, ``test_faults.py``) cover the same paths with tritonserver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from conftest import FIXTURES
from lifecycle_helpers import baseline as synthetic_baseline
from scenario import gate_yaml

import gate.app.session as session_module
from gate.app.check import CheckPlan, LatencyFrom, plan_check, run_check
from gate.app.prepare import prepare
from gate.app.run import new_run, quiet
from gate.app.session import ServerSession
from gate.baselines.store import Baseline, save_baseline
from gate.config.config import GateConfig, load_config
from gate.errors import ConfigError, ServerError
from gate.evidence import MemoryRun, MemorySeries
from gate.inputs.traffic import read_traffic
from gate.result import RunResult, StageStatus
from gate.servers.interface import Launcher

V1 = FIXTURES / "models" / "v1"
TRAFFIC = FIXTURES / "traffic" / "demo-small.jsonl"  # 60 requests
NO_RESOURCES = "memory: {enabled: false}\nthroughput: {enabled: false}\n"
SLO_ONLY = (
    "latency: {shift: {enabled: false}, tails: [], min_requests: 20}\n"
    "slo: {objectives: ['latency.p95_ms <= 1000']}\n" + NO_RESOURCES
)
DEMO_INPUTS = [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]}]


class FakeLauncher:
    """A Launcher that starts nothing and records what gate asked of it."""

    log = "I1201 fake server up\nE1201 fake error: out of memory\n"

    def __init__(
        self,
        repository: Path,
        *,
        inputs: list[dict[str, Any]] | None = None,
        on_load: BaseException | None = None,
        dies_on_load: bool = False,
    ) -> None:
        self.repository = repository
        self.served_models = sorted(p.name for p in repository.iterdir() if p.is_dir())
        self.inputs = DEMO_INPUTS if inputs is None else inputs
        self.on_load = on_load
        self.dies_on_load = dies_on_load
        self.events: list[str] = []
        self.alive = False
        self.stopped = False

    @property
    def http_url(self) -> str:
        return "127.0.0.1:9"  # the discard port: nothing answers there

    @property
    def grpc_url(self) -> str:
        return "127.0.0.1:9"

    def __enter__(self) -> FakeLauncher:
        self.events.append("start")
        self.alive = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Idempotent, as the protocol asks: the first call is the one recorded."""
        if not self.stopped:
            self.events.append("stop")
        self.stopped, self.alive = True, False

    def load_model(self, name: str) -> None:
        self.events.append(f"load {name}")
        if self.dies_on_load:
            self.alive = False
        if self.on_load is not None:
            raise self.on_load

    def unload_model(self, name: str) -> None:
        self.events.append(f"unload {name}")

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        return {"name": name, "inputs": self.inputs, "outputs": []}

    def model_config(self, name: str, version: str = "") -> dict[str, Any]:
        return {"max_batch_size": 8}

    def server_metadata(self) -> dict[str, Any]:
        self.events.append("server metadata")
        return {"version": "2.51.0-fake"}

    def is_alive(self) -> bool:
        return self.alive

    def log_tail(self, lines: int = 80) -> str:
        return self.log

    def last_error(self) -> str:
        return "" if self.alive else "fake error: out of memory"

    def environment(self) -> dict[str, str]:
        return {}


@dataclass
class Fakes:
    """The fakes gate opened, in order, and the options the next ones get."""

    made: list[FakeLauncher] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """Every server the session opens is a ``FakeLauncher``."""
    fakes = Fakes()

    def fake_open_server(
        cfg: GateConfig, ts: object, repository: Path, *args: Any, **kwargs: Any
    ) -> Launcher:
        fake = FakeLauncher(repository, **fakes.options)
        fakes.made.append(fake)
        launcher: Launcher = fake  # the protocol, checked by mypy
        return launcher

    monkeypatch.setattr(session_module, "open_server", fake_open_server)
    return fakes


def _cfg(tmp_path: Path, *, policy: str = NO_RESOURCES, **config: Any) -> tuple[GateConfig, Path]:
    """A config on the small traffic; a policy without ``latency:`` gets min_requests 20."""
    config.setdefault("traffic", TRAFFIC)
    if "latency:" not in policy:
        policy = "latency: {min_requests: 20}\n" + policy
    path = gate_yaml(tmp_path, policy=policy, **config)
    text = path.read_text().replace("retries: 2", "retries: 0")
    path.write_text(text)
    return load_config(path), path


def _check(cfg: GateConfig, path: Path) -> RunResult:
    return run_check(cfg, path, log_dir=path.parent / "logs")


def _stages(result: RunResult) -> dict[str, StageStatus]:
    return {s.name: s.status for s in result.stages}


def _baseline() -> Baseline:
    """A stored baseline of the small traffic (its samples are synthetic)."""
    digest = read_traffic(TRAFFIC).digest()
    return synthetic_baseline().model_copy(update={"traffic_digest": digest})


def _store_with_baseline(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    save_baseline(store, _baseline())
    return store


# --------------------------------------------------------------------------------------
# Plan: where each family's evidence comes from
# --------------------------------------------------------------------------------------


def _plan(tmp_path: Path, **kw: Any) -> tuple[CheckPlan, RunResult]:
    cfg, path = _cfg(tmp_path, **kw)
    run = new_run("check", path, quiet, tmp_path / "logs")
    return plan_check(run, prepare(run, cfg, path, None), path), run.result


def test_plan_live_ab_alone_needs_no_store(tmp_path: Path) -> None:
    plan, result = _plan(tmp_path, baseline=f"model_dir: {V1}")
    assert plan.latency is LatencyFrom.LIVE_AB and not plan.fresh and plan.stored == ()
    assert result.warnings == []


def test_plan_live_ab_beside_a_store_judges_everything_in_the_session(tmp_path: Path) -> None:
    """Every check is paired in the live session (memory and throughput per arm too): a
    stored baseline beside it is not used, and no fresh candidate runs are measured."""
    series = MemorySeries(source="host", before_load=1.0, after_load=2.0, values=[2.0])
    mem = [MemoryRun(index=i, interval_s=0.1, series={"host": series}) for i in range(3)]
    store = tmp_path / "store"
    save_baseline(store, _baseline().model_copy(update={"memory": mem}))
    plan, result = _plan(
        tmp_path,
        policy="memory: {sources: [host]}\nthroughput: {enabled: true}\n",
        store=store,
        baseline=f"model_dir: {V1}",
    )
    assert plan.latency is LatencyFrom.LIVE_AB and not plan.fresh and plan.stored == ()
    assert result.warnings == []


def test_plan_stored_baseline(tmp_path: Path) -> None:
    plan, _ = _plan(tmp_path, store=_store_with_baseline(tmp_path))
    assert plan.latency is LatencyFrom.STORED and plan.fresh and len(plan.stored) == 1


def test_plan_slo_only_for_a_new_model(tmp_path: Path) -> None:
    plan, _ = _plan(tmp_path, policy=SLO_ONLY)
    assert plan.latency is LatencyFrom.NONE and plan.fresh and plan.stored == ()


def test_plan_without_the_baseline_a_check_needs_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no baseline for model 'demo'"):
        _plan(tmp_path)


# --------------------------------------------------------------------------------------
# Validation order: bad input stops the run before any server starts
# --------------------------------------------------------------------------------------


def test_missing_baseline_is_exit_2_before_any_server(tmp_path: Path, launched: Fakes) -> None:
    result = _check(*_cfg(tmp_path))
    assert result.exit_code == 2 and result.error is not None
    assert "no baseline" in result.error.message
    assert launched.made == [] and "tools" not in _stages(result)
    assert _stages(result)["baseline"] is StageStatus.FAILED


def test_traffic_the_model_does_not_take_is_exit_2_and_the_server_stops(
    tmp_path: Path, launched: Fakes
) -> None:
    launched.options["inputs"] = [{"name": "FEATURES", "datatype": "FP32", "shape": [-1, 16]}]
    result = _check(*_cfg(tmp_path, policy=SLO_ONLY))
    assert result.exit_code == 2 and result.error is not None
    assert "FEATURES" in result.error.message
    (fake,) = launched.made
    assert fake.events == ["start", "load demo", "stop"]
    stages = _stages(result)
    assert stages["model load #1"] is StageStatus.FAILED
    assert stages["server stop #1"] is StageStatus.OK


# --------------------------------------------------------------------------------------
# Teardown and diagnostics
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [(ServerError("failed to load 'demo'"), 3), (KeyboardInterrupt(), 130)],
)
def test_a_failed_load_stops_the_server_and_keeps_its_log(
    tmp_path: Path, launched: Fakes, error: BaseException, code: int
) -> None:
    launched.options["on_load"] = error
    result = _check(*_cfg(tmp_path, policy=SLO_ONLY))
    assert result.exit_code == code
    (fake,) = launched.made
    assert fake.events == ["start", "load demo", "stop"]
    assert result.server_log_tail == FakeLauncher.log
    assert _stages(result)["server stop #1"] is StageStatus.OK


def test_a_failed_replay_says_the_server_died_and_carries_its_log(
    tmp_path: Path, launched: Fakes
) -> None:
    launched.options["dies_on_load"] = True
    result = _check(*_cfg(tmp_path, policy=SLO_ONLY))
    assert result.exit_code == 3 and result.error is not None
    assert "tritonserver died during the replay: fake error: out of memory" in (
        result.error.message
    )
    assert "--- server log ---\n" + FakeLauncher.log in (result.error.details or "")
    assert _stages(result)["replay #1"] is StageStatus.FAILED
    assert launched.made[0].events[-1] == "stop"


def test_live_ab_loads_both_arms_in_one_server(tmp_path: Path, launched: Fakes) -> None:
    result = _check(*_cfg(tmp_path, baseline=f"model_dir: {V1}"))
    assert result.exit_code == 3  # perf_analyzer finds no server at the fake's address
    (fake,) = launched.made
    assert fake.served_models == ["demo__A", "demo__B"]
    assert fake.events[:3] == ["start", "load demo__A", "load demo__B"]
    assert "stop" in fake.events
    stages = _stages(result)
    assert stages["server start (A/B)"] is StageStatus.OK
    assert stages["server stop (A/B)"] is StageStatus.OK


def test_the_session_fingerprints_once_and_cleans_up(tmp_path: Path, launched: Fakes) -> None:
    cfg, path = _cfg(tmp_path)
    run = new_run("replay", path, quiet, tmp_path / "logs")
    prep = prepare(run, cfg, path, None)
    with ServerSession(run, prep) as session:
        for i in (1, 2):
            with session.server(f"#{i}", log_name=f"s{i}.log", index=i):
                session.load("demo")
                env = session.fingerprint("1")
                assert session.fingerprint("other") is env
        work = session.work
        assert work.is_dir()
    assert not work.exists()  # the session's folder goes with it
    assert [f.events for f in launched.made] == [
        ["start", "load demo", "server metadata", "stop"],
        ["start", "load demo", "stop"],
    ]
    assert env["triton_version"] == "2.51.0-fake" and env["concurrency"] == "1"
    assert [s.name for s in run.result.stages] == [
        "config",
        "signatures",
        "traffic",
        "tools",
        "server start #1",
        "server stop #1",
        "server start #2",
        "server stop #2",
    ]
