"""The one error path of the command line: every command's errors become a line and an exit code.

Commands raise; they never print an error or exit for one. :class:`GateGroup` catches around
the invoked command, for ``main()`` and for click's ``CliRunner`` alike:

* a :class:`~gate.errors.GateError` → ``gate: error: <problem> — <fix>`` on one line, exit 2
  (bad input) or 3 (infrastructure);
* Ctrl-C or SIGTERM (:class:`~gate.signals.Terminated` is a ``KeyboardInterrupt``) →
  ``gate: interrupted``, exit 130 (click alone would print "Aborted!" and exit 1, which CI
  reads as BLOCKED);
* any other exception is a bug: its traceback, one line saying so, exit 3 — never 1;
* click's usage errors (an unknown option, a bad value) → ``gate: error: <problem> — see
  '<command> --help'``, one line, exit 2, rather than click's three.

Everything the commands print goes through ``gate.redact.RedactingStream``: no secret
reaches the terminal or a CI log, whichever line printed it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from gate.errors import ExitCode, GateError

INTERRUPTED = 130
"""Exit code of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)."""


def one_line(text: str) -> str:
    """``text`` on one line: a path with a newline must not start a line of its own in a CI
    log, where a line beginning with ``::`` is a workflow command."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def error_line(exc: GateError) -> str:
    """What the user sees for ``exc``: the problem, then the fix, on one line."""
    return f"gate: error: {one_line(exc.diagnostics())}"


class GateGroup(click.Group):
    """A click group that maps errors raised by any of its commands to a line and exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        from gate.redact import RedactingStream

        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, RedactingStream):
                setattr(sys, name, RedactingStream(stream))
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "gate"
            click.echo(
                f"gate: error: {one_line(e.format_message())} — see '{where} --help'", err=True
            )
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"gate: error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("gate: interrupted", err=True)
            sys.exit(INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GateError as e:
            click.echo(error_line(e), err=True)
            ctx.exit(int(e.exit_code))
        except KeyboardInterrupt:
            click.echo("gate: interrupted", err=True)
            ctx.exit(INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors (exit 2) and explicit exits
        except Exception as e:
            import traceback

            traceback.print_exc()
            click.echo(
                f"gate: error: unexpected {type(e).__name__}: {one_line(str(e))} — this is a "
                "bug in gate; please report it with the traceback above",
                err=True,
            )
            ctx.exit(int(ExitCode.INFRA))
