"""Measuring a live A/B: both models in one server, the traffic replayed in interleaved blocks.

The judge of the paired arms is ``gate.judge.live_ab``; this module drives the server and
perf_analyzer through a ``ServerSession``. ``gate.app.check`` measures a live A/B when the
config names a baseline model (``baseline.model_dir``, or ``baseline.ab_from_store``), and
``gate.app.calibrate`` runs it with the baseline model in both arms.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from gate.app.prepare import Prepared
from gate.app.run import Run
from gate.app.session import ServerSession
from gate.evidence import ABBlock, ABInfo, LatencyRun
from gate.inputs.model import model_digest, resolve_baseline_model
from gate.measure.perf_analyzer import retry_note
from gate.result import now_iso


@dataclass(frozen=True)
class LiveAB:
    """One live A/B replay: both arms paired by request, arm B (the candidate) as a run, and
    the environment of its server."""

    info: ABInfo
    candidate: LatencyRun
    environment: dict[str, str]


def measure_ab(run: Run, prep: Prepared, config_path: Path, baseline_dir: Path) -> LiveAB:
    """Replay the traffic once per arm in interleaved blocks on one fresh server.

    Arm A is the baseline model, arm B the candidate (the prepared model's served copy),
    loaded as ``<name>__A`` and ``<name>__B`` from a temporary repository of hard links
    (config.pbtxt rewritten). Every block gets ``baseline.ab_block_warmup`` warm-up requests
    (the first block of each arm the traffic's full warm-up), discarded, so both arms start
    each block alike.
    """
    name = prep.model.name
    base_model = resolve_baseline_model(baseline_dir, name, str(config_path))
    _verify_baseline_model(run, prep, config_path, base_model)
    with ServerSession(run, prep) as session:
        repo = make_ab_repository(session.work, name, base_model, prep.model.served_dir)
        with session.server("(A/B)", log_name="server-ab.log", repository=repo):
            with run.stage("model load (A/B)"):
                mbs = 0
                for arm in ("A", "B"):
                    loaded = session.load(name + ARM_SUFFIX[arm])
                    session.check_traffic(loaded, prefix=f"arm {arm}: ")
                    mbs = loaded.max_batch_size
                env = session.fingerprint("ab-blocks")
            with run.stage("replay (A/B)") as st:
                info = ABInfo(
                    model_a=name + ARM_SUFFIX["A"],
                    model_b=name + ARM_SUFFIX["B"],
                    baseline_model_dir=str(base_model),
                    baseline_digest=model_digest(base_model),
                    block_size=prep.cfg.baseline.ab_block_size,
                    block_warmup=prep.cfg.baseline.ab_block_warmup,
                )
                info = _replay_blocks(session, info, mbs)
                st.detail = (
                    f"{len(info.latencies_a_us)} requests x 2 arms in {len(info.blocks)} "
                    f"blocks of {info.block_size}"
                ) + retry_note([r for b in info.blocks for r in b.retries])
    candidate = LatencyRun(
        index=0,
        started_at=info.blocks[0].started_at if info.blocks else now_iso(),
        latencies_us=info.latencies_b_us,
        server_log=str(run.log_dir / "server-ab.log"),
    )
    return LiveAB(info, candidate, env)


def _verify_baseline_model(run: Run, prep: Prepared, config_path: Path, base_model: Path) -> None:
    """The baseline model is code too: verified by the same policy before it is loaded."""
    if run.result.signatures is None:
        return
    from gate.signing.interface import SignaturesBlocked
    from gate.signing.stage import verify_for_run

    cfg = prep.cfg
    with run.stage("signatures (baseline model)") as st:
        try:
            _, warns, st.detail = verify_for_run(
                cfg, config_path, prep.policy, cfg.policy, base_model
            )
        except SignaturesBlocked as e:
            e.message = f"baseline model {base_model}: {e.message}"
            raise
        run.warn(*(f"baseline model: {w}" for w in warns))


def _replay_blocks(session: ServerSession, info: ABInfo, max_batch_size: int) -> ABInfo:
    """Every block of the schedule, each arm's latencies in request order."""
    cfg, traffic = session.cfg, session.prep.traffic
    n = len(traffic.requests)
    lat = {"A": [0.0] * n, "B": [0.0] * n}
    blocks: list[ABBlock] = []
    for k, (arm, start, stop) in enumerate(ab_schedule(n, info.block_size)):
        first = not any(b.arm == arm for b in blocks)
        warm = cfg.traffic.warmup_requests if first else info.block_warmup
        sub = dataclasses.replace(traffic, requests=traffic.requests[start:stop])
        inputs = session.inputs(
            f"block-{start}-{warm}", sub, warmup=warm, max_batch_size=max_batch_size
        )
        started = now_iso()
        lr = session.replay(info.model_a if arm == "A" else info.model_b, inputs, index=k)
        lat[arm][start:stop] = lr.latencies_us
        pa = lr.perf_analyzer
        blocks.append(
            ABBlock(
                arm="A" if arm == "A" else "B",
                start=start,
                stop=stop,
                started_at=started,
                attempts=pa.attempts if pa else 1,
                retries=pa.retries if pa else [],
                server_stats=lr.server_stats,
            )
        )
    return info.model_copy(
        update={"blocks": blocks, "latencies_a_us": lat["A"], "latencies_b_us": lat["B"]}
    )


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
