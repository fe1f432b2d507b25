"""The ``gate`` command line: the root group and the one place every command is registered.

Exit codes: 0 pass · 1 blocked · 2 bad usage, config or input · 3 infrastructure error
(server, perf_analyzer, timeout) · 130 interrupted (Ctrl-C or SIGTERM). Errors become
their line and exit code in one place, ``gate.cli.group.GateGroup``.

Each command group lives in its own module and imports what is heavy (pydantic, numpy,
yaml, rich, tritonclient…) inside its commands, so ``gate --help`` stays fast;
``tests/test_cli_startup.py`` fails if a module imported here pulls one of them in. A new
command: a ``click.Command`` in a module of ``gate/cli/`` (or on one of its groups), added
to ``COMMANDS`` below.
"""

from __future__ import annotations

import click

from gate import __version__
from gate.cli.baseline import baseline
from gate.cli.doctor import doctor
from gate.cli.group import GateGroup
from gate.cli.init import init
from gate.cli.notify import notify
from gate.cli.plan import plan
from gate.cli.policy import policy
from gate.cli.report import report
from gate.cli.run import calibrate, check, replay
from gate.cli.schema import schema
from gate.cli.traffic import traffic
from gate.cli.verify import verify
from gate.signals import sigterm_as_interrupt

COMMANDS: tuple[click.Command, ...] = (
    init,
    check,
    replay,
    verify,
    calibrate,
    baseline,
    traffic,
    report,
    notify,
    plan,
    doctor,
    policy,
    schema,
)


@click.group(cls=GateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gate")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Admission gate for models served by NVIDIA Triton: replay recorded traffic, compare
    with stored baselines using paired statistics, and block regressions in CI.

    Exit codes: 0 pass, 1 blocked, 2 bad input, 3 infrastructure error, 130 interrupted."""
    ctx.call_on_close(sigterm_as_interrupt())


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """The ``gate`` executable."""
    cli.main(prog_name="gate")


if __name__ == "__main__":
    main()
