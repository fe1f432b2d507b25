"""Measuring a live A/B: both models in one server, the traffic replayed in interleaved blocks.

Kept apart from ``gate.judge.live_ab`` (pure judge and repository layout) because it drives a real
server and perf_analyzer; ``gate.app.pipeline`` calls ``measure_ab`` when the config names a
baseline model (``baseline.model_dir``).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from pathlib import Path

from gate.app.environment import fingerprint
from gate.app.pipeline import Prepared, Run
from gate.errors import GateError
from gate.evidence import ABBlock, ABInfo, LatencyRun
from gate.inputs.model import model_digest, resolve_baseline_model
from gate.inputs.traffic import validate_against_model
from gate.measure.latency import ReplaySpec, replay
from gate.measure.perf_analyzer import (
    Pace,
    PerfAnalyzerInputs,
    retry_note,
    write_perf_analyzer_inputs,
)
from gate.result import now_iso
from gate.servers import open_server
from gate.tools import find_perf_analyzer, find_tritonserver


def measure_ab(run: Run, prep: Prepared, config_path: Path, baseline_dir: Path) -> ABInfo:
    """Replay the traffic once per arm in interleaved blocks on one fresh server.

    Arm A is the baseline model, arm B the candidate, loaded as ``<name>__A`` and
    ``<name>__B`` from a temporary repository of hard links (config.pbtxt rewritten). Every
    block gets ``baseline.ab_block_warmup`` warm-up requests (the first block of each arm the
    traffic's full warm-up), discarded, so both arms start each block alike.
    """
    cfg = prep.cfg
    name = cfg.model.name
    base_model = resolve_baseline_model(baseline_dir, name, str(config_path))
    cand_model = prep.model_dir
    if prep.served is not None and (prep.served / prep.model_dir.name).is_dir():
        cand_model = prep.served / prep.model_dir.name  # the verified private copy
    if run.result.signatures is not None:
        # the baseline model is code too: verified by the same policy before it is loaded
        from gate.signing.interface import SignaturesBlocked
        from gate.signing.stage import verify_for_run

        with run.stage("signatures (baseline model)") as st:
            try:
                _, warns, st.detail = verify_for_run(
                    cfg, config_path, prep.policy, cfg.policy, base_model
                )
            except SignaturesBlocked as e:
                e.message = f"baseline model {base_model}: {e.message}"
                raise
            run.result.warnings.extend(f"baseline model: {w}" for w in warns)
    with run.stage("tools") as st:
        ts = find_tritonserver(cfg.launcher.tritonserver) if cfg.launcher.kind == "local" else None
        pa = find_perf_analyzer(cfg.measure.perf_analyzer)
        server_desc = f"tritonserver {ts.path} ({ts.source})" if ts else cfg.launcher.kind
        st.detail = f"{server_desc}; perf_analyzer {pa.version} ({pa.source})"
    n = len(prep.traffic.requests)
    bs = cfg.baseline.ab_block_size
    info = ABInfo(
        model_a=name + ARM_SUFFIX["A"],
        model_b=name + ARM_SUFFIX["B"],
        baseline_model_dir=str(base_model),
        baseline_digest=model_digest(base_model),
        block_size=bs,
        block_warmup=cfg.baseline.ab_block_warmup,
        latencies_a_us=[0.0] * n,
        latencies_b_us=[0.0] * n,
    )
    run.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = run.log_dir / "server-ab.log"
    with tempfile.TemporaryDirectory(prefix="gate-ab-") as tmp:
        work = Path(tmp)
        repo = make_ab_repository(work, name, base_model, cand_model)
        server = open_server(cfg, ts, repo, log_path, run_id=run.result.run_id, index=1)
        try:
            with run.stage("server start (A/B)"):
                server.__enter__()
            with run.stage("model load (A/B)"):
                mbs = 0
                for arm in ("A", "B"):
                    model = name + ARM_SUFFIX[arm]
                    server.load_model(model)
                    meta = server.model_metadata(model, cfg.model.version or "")
                    mcfg = server.model_config(model, cfg.model.version or "")
                    mbs = int(mcfg.get("max_batch_size", 0))
                    # the arm's name is ours, not a mismatch with the recorded model's name
                    meta = {**meta, "name": name}
                    warns = validate_against_model(prep.traffic, meta, mbs, str(cfg.traffic.path))
                    run.result.warnings.extend(f"arm {arm}: {w}" for w in warns)
                if not run.result.environment:
                    version = str(server.server_metadata().get("version", "unknown"))
                    run.result.environment = fingerprint(version, pa, cfg, prep.traffic.digest())
                    run.result.environment.update(server.environment())
                    run.result.environment.setdefault("concurrency", "ab-blocks")
            inputs: dict[tuple[int, int], tuple[PerfAnalyzerInputs, list[int] | None]] = {}
            seen: set[str] = set()
            pace = Pace()  # perf_analyzer's seconds per request here: bounds hangs
            with run.stage("replay (A/B)") as st:
                for k, (arm, start, stop) in enumerate(ab_schedule(n, bs)):
                    warm = (
                        cfg.traffic.warmup_requests
                        if arm not in seen
                        else cfg.baseline.ab_block_warmup
                    )
                    seen.add(arm)
                    key = (start, warm)
                    if key not in inputs:
                        sub = dataclasses.replace(
                            prep.traffic, requests=prep.traffic.requests[start:stop]
                        )
                        d = work / f"block-{start}-{warm}"
                        d.mkdir()
                        pin = write_perf_analyzer_inputs(sub, d, warmup=warm, max_batch_size=mbs)
                        iv = (
                            [int(x) for x in pin.intervals.read_text().split()]
                            if pin.intervals is not None
                            else None
                        )
                        inputs[key] = (pin, iv)
                    pin, iv = inputs[key]
                    spec = ReplaySpec(
                        model=name + ARM_SUFFIX[arm],
                        version=cfg.model.version,
                        url=server.http_url if cfg.measure.protocol == "http" else server.grpc_url,
                        protocol=cfg.measure.protocol,
                        inputs=pin,
                        timeout_s=cfg.measure.timeout_s,
                        retries=cfg.measure.retries,
                        max_threads=cfg.measure.max_threads,
                    )
                    started = now_iso()
                    try:
                        lr = replay(pa, spec, work / "pa", index=k, intervals_us=iv, pace=pace)
                    except GateError as e:
                        if not server.is_alive():
                            e.message = (
                                f"{e.message}; tritonserver died during the A/B replay: "
                                f"{server.last_error() or 'see its log'}"
                            )
                        e.details = (e.details or "") + "\n--- server log ---\n" + server.log_tail()
                        raise
                    target = info.latencies_a_us if arm == "A" else info.latencies_b_us
                    target[start:stop] = lr.latencies_us
                    info.blocks.append(
                        ABBlock(
                            arm="A" if arm == "A" else "B",
                            start=start,
                            stop=stop,
                            started_at=started,
                            attempts=lr.perf_analyzer.attempts if lr.perf_analyzer else 1,
                            retries=lr.perf_analyzer.retries if lr.perf_analyzer else [],
                        )
                    )
                st.detail = f"{n} requests x 2 arms in {len(info.blocks)} blocks of {bs}"
                st.detail += retry_note([r for b in info.blocks for r in b.retries])
        except BaseException:
            run.result.server_log_tail = server.log_tail()
            raise
        finally:
            with run.stage("server stop (A/B)"):
                server.stop()
    run.result.runs = [
        LatencyRun(
            index=0,
            started_at=info.blocks[0].started_at if info.blocks else now_iso(),
            latencies_us=info.latencies_b_us,
            server_log=str(log_path),
        )
    ]
    return info


#: Names of the two arms in the temporary model repository.
ARM_SUFFIX = {"A": "__A", "B": "__B"}


def ab_schedule(n: int, block_size: int) -> list[tuple[str, int, int]]:
    """The send order: (arm, start, stop) per block, each request range once per arm.

    Pairs of blocks alternate their order (A B, B A, A B, …) so that a linear drift over
    the run favours neither arm.
    """
    if n < 1 or block_size < 1:
        raise ValueError("n and block_size must be >= 1")
    out: list[tuple[str, int, int]] = []
    for j, start in enumerate(range(0, n, block_size)):
        stop = min(n, start + block_size)
        arms = ("A", "B") if j % 2 == 0 else ("B", "A")
        out += [(arm, start, stop) for arm in arms]
    return out


_NAME_LINE = re.compile(r'^(\s*name\s*:\s*)"[^"]*"', re.MULTILINE)


def _copy_arm(src: Path, dst: Path, new_name: str) -> None:
    """Version folders hard-linked (copied across filesystems), config.pbtxt rewritten.

    Not symlinks: the python backend writes ``__pycache__`` next to ``model.py``, and through a
    symlink that bytecode would land in the user's (signed) model folder and block the next
    run's signature check. ``__pycache__`` already there is left out.
    """
    from gate.signing.snapshot import _link_or_copy

    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name in ("config.pbtxt", "__pycache__"):
            continue
        if item.is_dir():
            shutil.copytree(
                item,
                dst / item.name,
                symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__"),
                copy_function=_link_or_copy,
            )
        else:
            _link_or_copy(str(item), str(dst / item.name))
    cfg = src / "config.pbtxt"
    if cfg.is_file():
        text = cfg.read_text(encoding="utf-8")
        if _NAME_LINE.search(text):
            text = _NAME_LINE.sub(lambda m: f'{m.group(1)}"{new_name}"', text, count=1)
        else:
            text = f'name: "{new_name}"\n' + text
        (dst / "config.pbtxt").write_text(text, encoding="utf-8")


def make_ab_repository(root: Path, name: str, baseline_dir: Path, candidate_dir: Path) -> Path:
    """A Triton model repository under ``root`` with ``<name>__A`` (baseline) and
    ``<name>__B`` (candidate). Returns the repository path; the caller removes ``root``."""
    repo = root / "ab-repository"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    _copy_arm(baseline_dir, repo / (name + ARM_SUFFIX["A"]), name + ARM_SUFFIX["A"])
    _copy_arm(candidate_dir, repo / (name + ARM_SUFFIX["B"]), name + ARM_SUFFIX["B"])
    return repo


def model_dir_from_store(store: str | Path, name: str) -> tuple[Path | None, str]:
    """The stored baseline's model folder when it is still there unchanged, else a reason.

    A baseline records the repository it was measured from and the model's digest; when
    that folder still hashes to the digest, it *is* the baseline model and live A/B can use
    it (``baseline.ab_from_store``).
    """
    from gate.baselines.store import select_baseline
    from gate.inputs.model import model_digest

    base, path, _ = select_baseline(store, name, None)
    folder = Path(base.model_repository) / name
    if not folder.is_dir():
        return None, f"{path}: the baseline's model folder {folder} is gone"
    if model_digest(folder) != base.model_digest:
        return None, f"{path}: {folder} has changed since the baseline was recorded"
    return folder, ""
