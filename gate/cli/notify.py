"""``gate notify``: post a saved run's verdict to Slack or a JSON webhook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gate.cli import options


@click.command("notify")
@click.argument("run_json", type=options.RUN_FILE)
@options.config_file("gate.yaml whose notify: section to use (default: the built-in defaults).")
@options.REPORT_URL
@options.PREVIOUS
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(["blocked", "inconclusive", "error", "recovery"]),
    help="Notify on these outcomes (repeatable; overrides notify.events).",
)
@click.option("--dry-run", is_flag=True, help="Print the payloads instead of sending them.")
def notify(
    run_json: Path,
    config: Path | None,
    report_url: str | None,
    previous: Path | None,
    events: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Post a saved run's verdict to Slack / a JSON webhook (URLs from the environment).

    A failed notification is a warning: the exit code is 0 unless the input is bad (2)."""
    from gate.config.config import NotifyConfig, load_config
    from gate.report.json import load_run
    from gate.report.notify import previous_verdict, send_notifications

    result = load_run(run_json)
    ncfg = load_config(config).notify if config is not None else NotifyConfig()
    model = result.model.name if result.model else None
    prev = previous_verdict(previous, model) if previous is not None else None

    def show(channel: str, payload: dict[str, Any]) -> None:
        click.echo(
            json.dumps({"channel": channel, "payload": payload}, indent=2, ensure_ascii=False)
        )

    for notice in send_notifications(
        result,
        ncfg,
        previous=prev,
        report_url=report_url,
        events=events or None,
        dry_run=show if dry_run else None,
    ):
        level = "warning: " if notice.level == "warning" else ""
        click.echo(f"gate: {level}{notice.message}", err=True)
