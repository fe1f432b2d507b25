"""``gate schema``: JSON Schema of gate.yaml and policies, and the configuration reference."""

from __future__ import annotations

from pathlib import Path

import click

from gate.cli import options


@click.command("schema")
@click.argument("kind", type=click.Choice(["gate", "policy"]), default="gate")
@options.out_folder("Write gate.schema.json and policy.schema.json into this folder instead.")
@click.option(
    "--markdown",
    is_flag=True,
    help="Print the configuration reference (docs/configuration.md) instead.",
)
def schema(kind: str, out_dir: Path | None, markdown: bool) -> None:
    """Print the JSON Schema of gate.yaml (KIND gate) or of a policy (KIND policy).

    Both come from the same models that validate the files, so an editor checks what the
    gate checks. Point your editor at them with a first line
    `# yaml-language-server: $schema=.gate/schema/gate.schema.json` (gate init writes it)."""
    from gate.config.reference import SCHEMA_FILES, markdown_reference, schema_text
    from gate.files import atomic_write

    if markdown:
        click.echo(markdown_reference(), nl=False)
        return
    if out_dir is None:
        click.echo(schema_text(kind), nl=False)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, filename in SCHEMA_FILES.items():
        atomic_write(out_dir / filename, schema_text(name))
        click.echo(f"written: {out_dir / filename}", err=True)
