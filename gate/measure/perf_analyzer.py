"""perf_analyzer: the one module that knows its input files, flags, process and export.

* **Inputs**: ``--input-data`` JSON and ``--request-intervals`` files written from recorded
  traffic (so the traffic format, ``gate.inputs.traffic``, knows nothing of the tool).
* **Flags**: :class:`Invocation` builds the argument list (never a shell string) for a
  latency replay (the recorded schedule, or a fixed concurrency) and a throughput level.
* **Running**: each attempt runs in its own process group and is killed with it on timeout.
  perf_analyzer hangs now and then (no output, no exit), so a hang, a crash or an unreadable
  export is retried a bounded number of times, each attempt with a fresh export path (it
  refuses an existing one). An attempt's timeout follows from the work it was given
  (:func:`attempt_timeout`), so one hang in a half-second block costs seconds, not the
  whole ``measure.timeout_s``; every failed attempt is kept as a ``PerfAnalyzerRetry`` in
  the evidence and turned into a run warning by :func:`retry_warnings`.
* **Export**: the profile export's send and response timestamps per request. It embeds raw
  output bytes that are not UTF-8 (read with ``errors="replace"``), and perf_analyzer prints
  a JSON-datatype warning once per request (filtered out of the kept stderr).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from gate.errors import InfraError, InputError, MeasurementError
from gate.evidence import PerfAnalyzerRetry
from gate.files import atomic_open
from gate.inputs.parsing import raw_bytes
from gate.inputs.traffic import Request, TensorSpec, Traffic
from gate.signals import deferred_signals

if TYPE_CHECKING:
    from gate.result import RunResult
    from gate.tools import Tool

#: perf_analyzer's first request waits this long after start (µs), so the first measured
#: request is not sent while the client is still setting up.
START_GAP_US = 1000

#: An attempt may take FACTOR times the work it was given, and never less than FLOOR_S
#: (perf_analyzer's own start, a cold first request); see attempt_timeout.
FLOOR_S = 10.0
FACTOR = 3.0

_NOISE = ("is not supported with JSON",)

T = TypeVar("T")


@dataclass(frozen=True)
class PerfAnalyzerInputs:
    """Files for one perf_analyzer replay and the counts to pass with them.

    Run ``perf_analyzer --input-data input_data --request-count total_requests -b batch_size``
    plus ``--request-intervals intervals`` when it is set. The first ``warmup_requests``
    results (by send timestamp) are warm-up and are discarded.
    """

    input_data: Path
    intervals: Path | None
    total_requests: int
    warmup_requests: int
    batch_size: int
    #: the ``--request-intervals`` lines (µs), warm-up first; empty for untimed traffic
    intervals_us: tuple[int, ...] = ()

    @property
    def schedule_s(self) -> float:
        """Seconds the schedule spans (0.0 untimed): the least time the replay can take."""
        return sum(self.intervals_us) / 1e6


def _pa_entry(req: Request, specs: Sequence[TensorSpec], batched: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for spec in specs:
        arr = req.inputs[spec.name]
        shape = list(arr.shape[1:] if batched else arr.shape)
        if spec.datatype == "BYTES":
            flat = arr.ravel().tolist()
            entry[spec.name] = {"content": [bytes(b).decode("utf-8") for b in flat], "shape": shape}
        else:
            b64 = base64.b64encode(raw_bytes(arr, spec.datatype)).decode("ascii")
            entry[spec.name] = {"b64": b64, "shape": shape}
    return entry


def _intervals_us(t_us: Sequence[int], warmup: int) -> list[int]:
    """One positive gap per request, warm-up first; see write_perf_analyzer_inputs."""
    gaps = [b - a for a, b in itertools.pairwise(t_us)]
    median = max(1, round(float(np.median(gaps)))) if gaps else START_GAP_US
    # Warm-up: a start gap, then the median gap; the first measured request follows at the
    # median gap too (without warm-up it is request 0 and gets the start gap).
    out = [START_GAP_US] + [median] * warmup
    # Measured requests keep their recorded offsets: each is scheduled at
    # max(recorded offset, previous + 1 µs), so gaps of 0 (simultaneous arrivals) become
    # 1 µs without the schedule drifting: it catches up at the next gap wide enough.
    sched = 0
    for t in t_us[1:]:
        target = t - t_us[0]
        nxt = max(sched + 1, target)
        out.append(nxt - sched)
        sched = nxt
    return out


def write_perf_analyzer_inputs(
    traffic: Traffic, out_dir: Path, *, warmup: int, max_batch_size: int
) -> PerfAnalyzerInputs:
    """Write perf_analyzer's ``--input-data`` JSON (and ``--request-intervals`` when timed).

    ``input_data.json`` is ``{"data": [entry, ...]}``, one entry per request sent: first
    ``warmup`` warm-up copies of the first requests (cycled if the traffic is shorter), then
    every recorded request in order, so one perf_analyzer process warms the server up and then
    replays the measured requests. Numeric tensors are ``{"b64", "shape"}``, BYTES
    ``{"content": [str, ...], "shape"}``. For a batching model (``max_batch_size > 0``) the
    shape omits the batch dim and every request must have batch size 1 (InputError
    otherwise: mixed or larger batches are not supported by this replay yet); for
    ``max_batch_size == 0`` the full shape is written.

    ``request_intervals.txt`` (timed traffic only) holds one positive integer µs per line,
    ``total_requests`` lines. perf_analyzer sends request k at the cumulative sum of lines
    0..k: line 0 is a 1000 µs start gap, warm-up lines and the first measured request use the
    median recorded inter-arrival gap, and measured request i > 0 gets
    ``t_us[i] - t_us[i-1]`` (at least 1 µs: perf_analyzer needs positive values; a zero gap
    borrows from the next so offsets do not drift). Hence, for measured requests, the sum up
    to line ``warmup + i`` minus the sum up to line ``warmup`` is ``t_us[i] - t_us[0]``.

    Facts this relies on (the tests check them against the real tool): with
    ``--request-intervals`` perf_analyzer's stability loop fails, so run it with
    ``--request-count total_requests``; it sends request k with data step k, so its results
    sorted by send timestamp pair with the data entries by index, and entry ``warmup + i`` is
    recorded request ``i``.
    """
    if warmup < 0:
        raise ValueError("warmup must be >= 0")
    batched = max_batch_size > 0
    if batched:
        for i, req in enumerate(traffic.requests):
            for spec in traffic.inputs:
                b = req.inputs[spec.name].shape[0]
                if b != 1:
                    raise InputError(
                        f"request {i}: input '{spec.name}' has batch size {b}; mixed or larger "
                        "batch sizes are not supported by this replay yet",
                        hint="record one request per batch-1 item",
                    )
    reqs = traffic.requests
    order = [reqs[k % len(reqs)] for k in range(warmup)] + list(reqs)
    input_data = out_dir / "input_data.json"
    intervals: Path | None = None
    lines: list[int] = []
    try:
        data = {"data": [_pa_entry(r, traffic.inputs, batched) for r in order]}
        with atomic_open(input_data) as f:
            f.write(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        if traffic.timed:
            t_us = [r.t_us for r in reqs if r.t_us is not None]
            lines = _intervals_us(t_us, warmup)
            intervals = out_dir / "request_intervals.txt"
            with atomic_open(intervals) as f:
                f.write("".join(f"{g}\n" for g in lines).encode("ascii"))
    except OSError as e:
        raise InfraError(
            f"{out_dir}: cannot write perf_analyzer inputs: {e.strerror or e}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(
            "a BYTES element is not UTF-8 text", hint="perf_analyzer JSON carries strings only"
        ) from None
    return PerfAnalyzerInputs(
        input_data=input_data,
        intervals=intervals,
        total_requests=len(order),
        warmup_requests=warmup,
        batch_size=1,
        intervals_us=tuple(lines),
    )


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
    )


# --------------------------------------------------------------------------------------
# Running, with a timeout that follows the work, and bounded retries
# --------------------------------------------------------------------------------------


def clean(text: str, limit: int = 4000) -> str:
    """perf_analyzer's output without its once-per-request JSON warning, last ``limit`` chars."""
    lines = [ln for ln in text.splitlines() if not any(n in ln for n in _NOISE)]
    return "\n".join(lines)[-limit:]


def run_once(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[int | None, str, str]:
    """Run perf_analyzer in its own process group; on timeout kill the group. rc None = hang."""
    with deferred_signals():  # a Ctrl-C inside Popen would leave an unreachable child
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
) -> Measured[T]:
    """Run ``job`` until an attempt exits 0 and ``parse`` reads its export, at most
    ``retries + 1`` times; MeasurementError (with every attempt's reason) when none does."""
    env = pa.environ()
    pace = pace or Pace()
    failed: list[PerfAnalyzerRetry] = []
    total = retries + 1
    for attempt in range(1, total + 1):
        timeouts = sum(1 for r in failed if r.reason.startswith("no exit"))
        timeout = attempt_timeout(
            pace.work_s(job.requests, schedule_s),
            cap_s,
            timeouts_so_far=timeouts,
            last=attempt == total,
        )
        export = work_dir / f"{name}-{attempt}-{time.monotonic_ns()}.json"
        argv = job.argv(pa, export)
        t0 = time.monotonic()
        rc, out, err = run_once(argv, env, timeout)
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
        failed.append(
            PerfAnalyzerRetry(attempt=attempt, reason=reason, seconds=seconds, timeout_s=timeout)
        )
    raise MeasurementError(
        f"{what}perf_analyzer failed {total} time(s): attempt {total}: {failed[-1].reason}",
        hint="read the server log and perf_analyzer's stderr in the report; "
        "exit 3 is worth a retry",
        details="\n".join(f"attempt {r.attempt}: {r.reason}" for r in failed),
    )


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


# --------------------------------------------------------------------------------------
# Retries as the run reports them
# --------------------------------------------------------------------------------------


def retry_note(retries: Sequence[PerfAnalyzerRetry]) -> str:
    """``""``, or ``"; "`` and how many attempts failed, the seconds they cost and the first
    reason: what a stage's detail adds when perf_analyzer was retried."""
    if not retries:
        return ""
    return "; " + _describe(retries)


def _describe(retries: Sequence[PerfAnalyzerRetry]) -> str:
    lost = sum(r.seconds for r in retries)
    first = retries[0]
    return (
        f"{len(retries)} failed attempt(s) retried, {lost:.1f} s lost "
        f"(attempt {first.attempt}: {first.reason})"
    )


def retry_warnings(result: RunResult) -> list[str]:
    """One warning per replay, throughput level or A/B block whose perf_analyzer was retried.

    A retry is not an error (the measurement that counts succeeded), but it is time lost and
    a sign of an unhealthy client or server that a reviewer should see.
    """
    out: list[str] = []
    for run in result.runs:
        if run.perf_analyzer is not None and run.perf_analyzer.retries:
            out.append(f"replay #{run.index + 1}: {_describe(run.perf_analyzer.retries)}")
    for tr in result.throughput:
        for lv in tr.levels:
            if lv.retries:
                where = f"throughput #{tr.index + 1} at concurrency {lv.concurrency}"
                out.append(f"{where}: {_describe(lv.retries)}")
    if result.ab is not None:
        for k, b in enumerate(result.ab.blocks):
            if b.retries:
                where = f"A/B block {k + 1} (arm {b.arm}, requests {b.start}-{b.stop - 1})"
                out.append(f"{where}: {_describe(b.retries)}")
    return [f"perf_analyzer was retried in {w}" for w in out]
