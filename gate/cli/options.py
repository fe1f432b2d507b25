"""Options several commands share, spelt once so ``--help`` reads the same everywhere.

A constant is an option that means the same in every command that takes it; a function
makes an option whose name, type and destination are shared while its help says what
this command reads it for (``--config``, ``--out``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click
from click.decorators import FC

from gate.errors import ConfigError

FILE = click.Path(path_type=Path, dir_okay=False)
"""A file argument or option (a folder given for it is a usage error)."""

FOLDER = click.Path(path_type=Path, file_okay=False)
"""A folder argument or option (a file given for it is a usage error)."""

RUN_FILE = click.Path(path_type=Path)
"""The type of a run.json argument: ``gate.report.json.load_run`` checks it (a folder too)
and says what is wrong on one line, where click would print its usage."""


def config_file(help: str) -> Callable[[FC], FC]:
    """``--config FILE``: the gate.yaml a command reads; ``help`` says what it reads there."""
    return click.option("--config", "config", type=FILE, help=help)


def out_folder(help: str, *, required: bool = False) -> Callable[[FC], FC]:
    """``--out FOLDER`` (parameter ``out_dir``): where a command writes its files."""
    return click.option("--out", "out_dir", type=FOLDER, required=required, help=help)


def file_option(*decls: str, help: str) -> Callable[[FC], FC]:
    """An optional ``FILE`` option (``decls``: its name and, where it differs, its parameter)."""
    return click.option(*decls, type=FILE, help=help)


def folder_here(*decls: str, help: str) -> Callable[[FC], FC]:
    """A ``FOLDER`` option that defaults to the current folder, shown in ``--help``."""
    return click.option(*decls, type=FOLDER, default=".", show_default=True, help=help)


def force(help: str) -> Callable[[FC], FC]:
    """``--force``: do what a command otherwise refuses; ``help`` says what that is here."""
    return click.option("--force", is_flag=True, help=help)


def refuse_overwrite(paths: Sequence[Path], force: bool, hint: str) -> None:
    """The one error of a command that would overwrite ``paths`` without ``--force``."""
    if paths and not force:
        raise ConfigError(f"{', '.join(str(p) for p in paths)}: already exists", hint=hint)


def max_chars(help: str) -> Callable[[FC], FC]:
    """``--max-chars``: the size a Markdown report must fit (a PR comment holds 65,536)."""
    return click.option(
        "--max-chars", type=click.IntRange(1000, None), default=60000, show_default=True, help=help
    )


CONFIG = click.argument("config", type=FILE, default="gate.yaml", required=False)
CONFIG_OPTION = config_file("gate.yaml whose baseline.store to use (default gate.yaml).")
STORE = click.option(
    "--store",
    help="Baseline store: a folder or an fsspec URL (default: baseline.store of --config).",
)
REPO = click.option(
    "--model-repository",
    "repository",
    type=FOLDER,
    help="Candidate model repository (overrides model.repository in the config).",
)
REPORT_DIR = click.option(
    "--report-dir", type=FOLDER, help="Where reports go (overrides reports.dir in the config)."
)
QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
SET = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field, e.g. --set launcher.kind=docker (repeatable; YAML value).",
)
NOTIFY = click.option(
    "--notify",
    is_flag=True,
    help="Send the notifications configured under notify: (Slack / JSON webhook).",
)
REPORT_URL = click.option(
    "--report-url",
    metavar="URL",
    help="Link to the report in notifications (default: this GitHub Actions run).",
)
PREVIOUS = click.option(
    "--previous", type=FILE, help="The previous run.json or history JSONL, to notify on recovery."
)
GITHUB = click.option(
    "--github/--no-github",
    "github",
    default=None,
    help="Write GitHub annotations, $GITHUB_OUTPUT keys and the job summary "
    "(default: on when GITHUB_ACTIONS=true).",
)
MODEL_FOLDER = click.option(
    "--model", "name", help="The model's folder, when the repository holds several."
)
SERVER_URL = click.option(
    "--url", help="Read the model's interface from a running server (http://HOST:PORT)."
)
ONLY_MODEL = click.option("--model", help="Only this model.")
