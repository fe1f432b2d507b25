"""Running perf_analyzer: its flags, its process group, a timeout that follows the work,
bounded retries kept as evidence, and the profile export it leaves."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from gate.errors import MeasurementError
from gate.evidence import PerfAnalyzerRetry
from gate.servers.affinity import inherited_affinity
from gate.signals import deferred_signals

if TYPE_CHECKING:
    from gate.tools import Tool

#: An attempt may take FACTOR times the work it was given, and never less than FLOOR_S
#: (perf_analyzer's own start, a cold first request); see attempt_timeout. measured here:
#: 3 hangs in 60 sessions of benchmarks/decisive.py, each in a live A/B round of ~7 s of
#: schedule, cost 20.7-21.6 s at a FACTOR of 3 (a sixth of the default 120 s budget; two of
#: the four sessions that ended undecided had one). A timed replay ends with its schedule
#: plus a drain, so twice the schedule only cuts off a model that queues as long again as
#: it was given; that one costs a retry (timeout doubled; a live A/B round's last
#: repetition gets the whole ``measure.timeout_s``), never the measurement.
FLOOR_S = 10.0
FACTOR = 2.0

_NOISE = ("is not supported with JSON",)

T = TypeVar("T")


# --------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One perf_analyzer job: what to send, where, and how many requests in flight.

    With ``intervals`` the requests follow the recorded schedule (``--request-intervals``:
    its stability loop then fails, so exactly ``--request-count`` requests are sent);
    without, ``concurrency`` requests are kept in flight (1: in recorded order).
    """

    model: str
    version: str | None
    url: str
    protocol: str
    input_data: Path
    requests: int
    batch_size: int
    max_threads: int
    intervals: Path | None = None
    concurrency: int = 1
    cpus: tuple[int, ...] = ()  # the cores perf_analyzer runs on (empty: any)

    def argv(self, pa: Tool, export: Path) -> list[str]:
        """perf_analyzer's argument list, writing its profile export to ``export``."""
        argv = [
            str(pa.path),
            "-m",
            self.model,
            "-u",
            self.url,
            "-i",
            self.protocol,
            "--input-data",
            str(self.input_data),
            "--request-count",
            str(self.requests),
            "--profile-export-file",
            str(export),
            "-b",
            str(self.batch_size),
            "--max-threads",
            str(self.max_threads),
        ]
        if self.version:
            argv += ["-x", self.version]
        if self.intervals is not None:
            argv += ["--request-intervals", str(self.intervals)]
        else:
            argv += ["--concurrency-range", str(self.concurrency)]
        return argv


class Target(Protocol):
    """Where a job sends its requests (``ReplaySpec`` and ``ThroughputSpec`` both say)."""

    @property
    def model(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def url(self) -> str: ...
    @property
    def protocol(self) -> str: ...


def invocation(
    target: Target,
    input_data: Path,
    requests: int,
    *,
    batch_size: int,
    max_threads: int,
    intervals: Path | None = None,
    concurrency: int = 1,
    cpus: tuple[int, ...] = (),
) -> Invocation:
    """The job sending ``requests`` of ``input_data`` to ``target``."""
    return Invocation(
        target.model,
        target.version,
        target.url,
        target.protocol,
        input_data,
        requests,
        batch_size,
        max_threads,
        intervals,
        concurrency,
        cpus,
    )


# --------------------------------------------------------------------------------------
# Running, with a timeout that follows the work, and bounded retries
# --------------------------------------------------------------------------------------


def clean(text: str, limit: int = 4000) -> str:
    """perf_analyzer's output without its once-per-request JSON warning, last ``limit`` chars."""
    lines = [ln for ln in text.splitlines() if not any(n in ln for n in _NOISE)]
    return "\n".join(lines)[-limit:]


def run_once(
    argv: list[str], env: dict[str, str], timeout_s: float, cpus: tuple[int, ...] = ()
) -> tuple[int | None, str, str]:
    """Run perf_analyzer in its own process group (on ``cpus`` when given); on timeout kill
    the group. rc None = hang."""
    # a Ctrl-C inside Popen would leave an unreachable child
    with deferred_signals(), inherited_affinity(cpus):
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Pace:
    """The slowest wall seconds per request perf_analyzer has taken so far (0.0: none yet).

    Shared by the jobs on one server, it estimates the work in a job whose traffic has no
    schedule (untimed traffic, a throughput level), and in a timed one the model cannot keep
    up with.
    """

    def __init__(self) -> None:
        self.seconds_per_request = 0.0

    def observe(self, requests: int, seconds: float) -> None:
        self.seconds_per_request = max(self.seconds_per_request, seconds / max(1, requests))

    def work_s(self, requests: int, schedule_s: float = 0.0) -> float | None:
        """Expected seconds for ``requests``; None when nothing says (no schedule, no pace)."""
        work = max(schedule_s, requests * self.seconds_per_request)
        return work if work > 0 else None


def attempt_timeout(
    work_s: float | None, cap_s: float, *, timeouts_so_far: int, last: bool
) -> float:
    """How long one attempt may run before it counts as hung and its process group is killed.

    ``FACTOR × work_s``, at least ``FLOOR_S``, doubled for each earlier attempt of the same
    job that timed out, never above ``cap_s`` (``measure.timeout_s``). The last attempt, and
    any attempt whose work is unknown, gets the whole cap: an estimate that is too low then
    costs a retry, never the measurement.
    """
    if last or work_s is None:
        return cap_s
    return float(min(cap_s, max(FLOOR_S, FACTOR * work_s) * 2**timeouts_so_far))


@dataclass
class Measured(Generic[T]):
    """The attempt that worked: what its export gave, and what it took to get there."""

    value: T
    argv: list[str]
    attempts: int
    seconds: float
    timeout_s: float
    stdout: str
    stderr: str
    retries: list[PerfAnalyzerRetry] = field(default_factory=list)


def _failure(rc: int | None, out: str, err: str, timeout_s: float) -> str | None:
    if rc is None:
        return f"no exit within {timeout_s:g}s (killed)"
    if rc != 0:
        last = clean(err or out, 600).strip().splitlines()[-1:] or [f"exit code {rc}"]
        return f"exit code {rc}: {last[0]}"
    return None


def run_with_retries(
    pa: Tool,
    job: Invocation,
    work_dir: Path,
    parse: Callable[[Path], T],
    *,
    name: str,
    retries: int,
    cap_s: float,
    pace: Pace | None = None,
    schedule_s: float = 0.0,
    what: str = "",
    cap_last: bool = True,
) -> Measured[T]:
    """Run ``job`` until an attempt exits 0 and ``parse`` reads its export, at most
    ``retries + 1`` times; MeasurementError (with every attempt's reason) when none does.

    ``cap_last``: the last attempt gets the whole cap. False where the caller repeats the
    job itself (a live A/B round with ``retries=0``): its attempt is then bounded by the
    work like any other, and only the caller's last repetition gets the cap."""
    env = pa.environ()
    pace = pace or Pace()
    failed: list[PerfAnalyzerRetry] = []
    timeouts = 0
    total = retries + 1
    for attempt in range(1, total + 1):
        timeout = attempt_timeout(
            pace.work_s(job.requests, schedule_s),
            cap_s,
            timeouts_so_far=timeouts,
            last=cap_last and attempt == total,
        )
        export = work_dir / f"{name}-{attempt}-{time.monotonic_ns()}.json"
        argv = job.argv(pa, export)
        t0 = time.monotonic()
        rc, out, err = run_once(argv, env, timeout, job.cpus)
        seconds = round(time.monotonic() - t0, 3)
        try:
            reason = _failure(rc, out, err, timeout)
            if reason is None:
                value = parse(export)
        except MeasurementError as e:
            reason = e.message
        finally:
            with contextlib.suppress(OSError):
                export.unlink()
        if reason is None:
            pace.observe(job.requests, seconds)
            return Measured(value, argv, attempt, seconds, timeout, out, err, failed)
        timeouts += rc is None
        failed.append(
            PerfAnalyzerRetry(attempt=attempt, reason=reason, seconds=seconds, timeout_s=timeout)
        )
    error = MeasurementError(
        f"{what}perf_analyzer failed {total} time(s): attempt {total}: {failed[-1].reason}",
        hint="read the server log and perf_analyzer's stderr in the report; "
        "exit 3 is worth a retry",
        details="\n".join(f"attempt {r.attempt}: {r.reason}" for r in failed),
    )
    error.attempts = tuple(failed)
    raise error


# --------------------------------------------------------------------------------------
# The profile export
# --------------------------------------------------------------------------------------


def read_export(path: Path, total: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(send, last response) timestamps in ns per request, in export order.

    MeasurementError unless the export is readable and holds exactly ``total`` requests,
    each with a response: a request that failed or was dropped must not go unnoticed.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MeasurementError(f"perf_analyzer wrote no profile export at {path}: {e}") from None
    try:
        data: dict[str, Any] = json.loads(raw.decode("utf-8", errors="replace"))
        reqs = [r for exp in data["experiments"] for r in exp["requests"]]
        sent = np.array([int(r["timestamp"]) for r in reqs], dtype=np.int64)
    except (ValueError, KeyError, TypeError) as e:
        raise MeasurementError(
            f"perf_analyzer's profile export {path} is unreadable: {e}"
        ) from None
    if len(reqs) != total:
        raise MeasurementError(
            f"perf_analyzer exported {len(reqs)} requests, expected {total}",
            hint="a request failed or the server dropped it; read perf_analyzer's stderr",
        )
    try:
        done = np.array([int(r["response_timestamps"][-1]) for r in reqs], dtype=np.int64)
    except (IndexError, KeyError, TypeError, ValueError):
        raise MeasurementError("a request in the profile export has no response") from None
    return sent, done


def client_summary(stdout: str) -> str:
    """The lines of perf_analyzer's own summary worth keeping beside the raw samples."""
    keep = (
        "Request count",
        "Throughput",
        "Avg latency",
        "p50",
        "p90",
        "p95",
        "p99",
        "Avg send",
        "[WARNING]",
    )
    return "\n".join(ln.strip() for ln in stdout.splitlines() if ln.strip().startswith(keep))
