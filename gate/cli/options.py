"""Options several commands share, spelt once so ``--help`` reads the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG = click.argument(
    "config", type=click.Path(path_type=Path, dir_okay=False), default="gate.yaml", required=False
)
CONFIG_OPTION = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="gate.yaml whose baseline.store to use (default gate.yaml).",
)
STORE = click.option(
    "--store",
    help="Baseline store: a folder or an fsspec URL (default: baseline.store of --config).",
)
REPO = click.option(
    "--model-repository",
    "repository",
    type=click.Path(path_type=Path, file_okay=False),
    help="Candidate model repository (overrides model.repository in the config).",
)
REPORT_DIR = click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where reports go (overrides reports.dir in the config).",
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
    "--previous",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The previous run.json or history JSONL, to notify on recovery.",
)
GITHUB = click.option(
    "--github/--no-github",
    "github",
    default=None,
    help="Write GitHub annotations, $GITHUB_OUTPUT keys and the job summary "
    "(default: on when GITHUB_ACTIONS=true).",
)

RUN_FILE = click.Path(path_type=Path)
"""The type of a run.json argument: ``gate.report.json.load_run`` checks it (a folder too)
and says what is wrong on one line, where click would print its usage."""
