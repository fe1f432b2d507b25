"""The error hierarchy and the exit codes it maps to.

A verdict of BLOCKED is not an error: it is a result (exit 1). Errors are what stopped the
gate from reaching a verdict, and the gate fails closed on every one of them: bad input is
exit 2 (the user must fix something), infrastructure is exit 3 (worth a retry).
"""

from __future__ import annotations

from enum import IntEnum

from gate.redact import redact


class ExitCode(IntEnum):
    """Documented process exit codes of every ``gate`` command."""

    PASS = 0
    BLOCKED = 1
    USAGE = 2
    INFRA = 3
    #: the change edits the gate's own rules (``gate check --trusted-config-from``): it
    #: passed under the base branch's rules, and a person must review and merge it
    REVIEW = 4


class GateError(Exception):
    """Root of every error the gate raises on purpose.

    ``message`` is one line saying what is wrong (naming the file and field where there is
    one); ``hint`` says what to do about it. ``diagnostics()`` joins both for the user.
    """

    exit_code: ExitCode = ExitCode.INFRA

    def __init__(self, message: str, *, hint: str | None = None, details: str | None = None):
        # secrets never travel in an error (gate.redact): not to a log, not into run.json
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint
        self.details = redact(details) if details else details

    def diagnostics(self) -> str:
        """One line for the terminal: the problem, then the fix (redacted again: a caller
        may have extended ``message`` since)."""
        if self.hint:
            return redact(f"{self.message} — {self.hint}")
        return redact(self.message)

    @property
    def kind(self) -> str:
        return type(self).__name__


class ConfigError(GateError):
    """Bad usage, config, policy or input file (exit 2)."""

    exit_code = ExitCode.USAGE


class InputError(ConfigError):
    """A data file (traffic, baseline) is malformed or does not match the model (exit 2)."""


class InfraError(GateError):
    """The server, perf_analyzer, docker or the disk failed (exit 3)."""

    exit_code = ExitCode.INFRA


class ToolNotFoundError(InfraError):
    """A required external tool (tritonserver, perf_analyzer) cannot be found or installed."""


class ServerError(InfraError):
    """tritonserver did not start, did not become ready, or failed to load the model."""


class MeasurementError(InfraError):
    """perf_analyzer crashed, hung past its retries, or produced unusable output.

    ``attempts`` are the failed attempts (``gate.evidence.PerfAnalyzerRetry``) when the
    error comes from the retry loop: a caller that repeats the work itself (a live A/B
    round) records them as its own retries, so none goes unreported."""

    attempts: tuple[object, ...] = ()
