"""One run's record and its timed stages: what every command writes into as it goes.

Every stage is timed into the ``RunResult``; whatever stops the run (bad input, a server that
does not start, perf_analyzer hanging past its retries, Ctrl-C) is recorded as the run's
error (``record_error``) and the reports are still written. Library code never prints:
progress goes to a callback.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gate import __version__
from gate.errors import GateError
from gate.result import ErrorInfo, RunResult, StageResult, StageStatus, Verdict, now_iso
from gate.signing.interface import SignaturesBlocked

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default progress callback: says nothing."""
    return None


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: the run stops, servers are torn down, reports are still written."""


@dataclass
class Run:
    """One command in progress: its RunResult, where progress goes, where server logs go."""

    result: RunResult
    progress: Progress
    log_dir: Path

    @contextlib.contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[StageResult]:
        """Time a stage into the result; a failure marks it failed and propagates."""
        t0 = time.perf_counter()
        st = StageResult(name=name, status=StageStatus.OK, seconds=0.0, detail=detail)
        self.progress(f"{name}…")
        try:
            yield st
        except BaseException as e:
            st.status = StageStatus.FAILED
            msg = e.message if isinstance(e, GateError) else (str(e) or type(e).__name__)
            st.detail = (st.detail + "; " if st.detail else "") + msg
            raise
        finally:
            st.seconds = round(time.perf_counter() - t0, 4)
            self.result.stages.append(st)

    def warn(self, *warnings: str) -> None:
        self.result.warnings.extend(warnings)


def new_run(command: str, config_path: Path | None, progress: Progress, log_dir: Path) -> Run:
    """A fresh run of ``command`` with a unique, sortable run id."""
    result = RunResult(
        run_id=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
        command=command,
        gate_version=__version__,
        started_at=now_iso(),
        config_path=str(config_path) if config_path else None,
    )
    return Run(result, progress, log_dir)


#: What a command catches to record it in the result: everything but a bare ``SystemExit``.
CAUGHT = (Exception, Interrupted, KeyboardInterrupt)


def record_error(result: RunResult, exc: BaseException) -> None:
    """The run's error (or a signature verdict) in the result, with its exit code."""
    if isinstance(exc, SignaturesBlocked):
        # A verdict, not an error: the model may not be loaded (exit 1), nothing was started.
        from gate.signing.stage import blocked_check

        result.checks = [blocked_check(exc.message)]
        result.signatures = exc.result
        result.verdict = Verdict.BLOCKED
        return
    if isinstance(exc, GateError):
        result.error = ErrorInfo(
            kind=exc.kind,
            message=exc.message,
            hint=exc.hint,
            details=exc.details,
            exit_code=int(exc.exit_code),
        )
    elif isinstance(exc, Interrupted | KeyboardInterrupt):
        result.error = ErrorInfo(
            kind="Interrupted",
            message="the run was interrupted (Ctrl-C or SIGTERM); servers were stopped",
            exit_code=130,
        )
    else:
        result.error = ErrorInfo(
            kind=type(exc).__name__,
            message=f"unexpected error: {exc}",
            hint="this is a bug in gate; please report it with the RunResult JSON",
            exit_code=3,
        )
    result.verdict = Verdict.ERROR


def finish(run: Run) -> RunResult:
    """The result, with a warning per retried perf_analyzer job, stamped with its end time."""
    from gate.measure.perf_analyzer import retry_warnings

    run.result.warnings.extend(retry_warnings(run.result))
    run.result.finished_at = now_iso()
    return run.result
