"""``gate traffic inspect|import|sample``: recorded traffic (gate-traffic/1 JSONL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gate.cli import options
from gate.cli.group import GateGroup
from gate.cli.synth import synth
from gate.errors import ConfigError

if TYPE_CHECKING:
    from gate.inputs.traffic import TensorSpec, Traffic


@click.group(cls=GateGroup)
def traffic() -> None:
    """Inspect and convert recorded traffic (gate-traffic/1 JSONL)."""


@traffic.command("inspect")
@click.argument("file", type=options.FILE)
def traffic_inspect(file: Path) -> None:
    """Print count, duration, rate and a tensor summary of a traffic file."""
    from gate.inputs.summary import format_summary, summarize
    from gate.inputs.traffic import read_traffic

    click.echo(format_summary(summarize(read_traffic(file)), file))


def _specs(inputs: tuple[str, ...]) -> list[TensorSpec]:
    from gate.inputs.traffic import TensorSpec

    specs = []
    for spec in inputs:
        try:
            name, dtype, dims = spec.split(":")
            shape = tuple(int(d) for d in dims.split(",") if d)
        except ValueError:
            raise ConfigError(
                f"--input {spec!r}: expected NAME:DTYPE:D1,D2", hint="e.g. --input INPUT0:FP32:16"
            ) from None
        specs.append(TensorSpec(name, dtype.upper(), shape))
    return specs


def _detect(src: Path) -> str:
    """'triton-trace' for a JSON list, 'pa-json' for a {"data": …} object."""
    try:
        with open(src, "rb") as fh:
            head = fh.read(4096).lstrip()
    except OSError as e:
        raise ConfigError(f"{src}: cannot read: {e.strerror}") from None
    if head.startswith(b"["):
        return "triton-trace"
    if head.startswith(b"{"):
        return "pa-json"
    raise ConfigError(
        f"{src}: neither a Triton trace nor perf_analyzer input JSON", hint="pass --from"
    )


def _import(
    src: tuple[Path, ...],
    kind: str,
    model: str | None,
    inputs: tuple[str, ...],
    rate: float | None,
    payloads: Path | None,
) -> tuple[Traffic, list[str]]:
    """The imported traffic and the importer's warnings."""
    from gate.inputs.importers import import_perf_analyzer_json
    from gate.inputs.trace import import_triton_trace
    from gate.inputs.traffic import read_traffic

    if (_detect(src[0]) if kind == "auto" else kind) == "triton-trace":
        pay = read_traffic(payloads) if payloads else None
        return import_triton_trace(list(src), model=model, payloads=pay)
    if len(src) != 1:
        raise ConfigError("pa-json: give one input file")
    if not model or not inputs:
        raise ConfigError(
            f"{src[0]}: perf_analyzer input JSON has no model name or datatypes",
            hint="pass --model NAME and --input NAME:DTYPE:DIMS for each input",
        )
    specs = _specs(inputs)
    return import_perf_analyzer_json(src[0], model=model, rate_rps=rate, inputs=specs), []


@traffic.command("import")
@click.argument("src", nargs=-1, required=True, type=options.FILE)
@click.argument("dest", type=options.FILE)
@click.option(
    "--from",
    "kind",
    type=click.Choice(["auto", "triton-trace", "pa-json"]),
    default="auto",
    show_default=True,
)
@click.option("--model", help="Model name (required for pa-json; picks one model of a trace).")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME:DTYPE:D1,D2",
    help="pa-json input spec without batch dim, e.g. INPUT0:FP32:16 (repeatable).",
)
@click.option(
    "--rate", type=float, help="pa-json: assign arrival times at this constant rate (req/s)."
)
@click.option(
    "--payloads",
    type=options.FILE,
    help="triton-trace: take payloads from this gate-traffic file (for level=TIMESTAMPS traces).",
)
def traffic_import(
    src: tuple[Path, ...],
    dest: Path,
    kind: str,
    model: str | None,
    inputs: tuple[str, ...],
    rate: float | None,
    payloads: Path | None,
) -> None:
    """Convert Triton trace file(s) or perf_analyzer --input-data JSON into gate-traffic/1.

    Triton trace: run tritonserver with --trace-config mode=triton --trace-config
    triton,file=F --trace-config level=TIMESTAMPS --trace-config level=TENSORS
    --trace-config rate=1; arrival times and payloads come from the trace."""
    from gate.inputs.traffic import write_traffic

    t, warnings = _import(src, kind, model, inputs, rate, payloads)
    write_traffic(dest, t)
    for w in warnings:
        click.echo(f"gate: warning: {w}", err=True)
    timing = f"{t.duration_s:.3f} s of arrivals" if t.timed else "untimed"
    click.echo(f"wrote {len(t.requests)} requests of '{t.model}' ({timing}) to {dest}")


@traffic.command("sample")
@click.argument("src", type=options.FILE)
@click.argument("dest", type=options.FILE)
@click.option(
    "-n",
    "--requests",
    "count",
    type=click.IntRange(2, None),
    required=True,
    help="Requests to keep.",
)
@click.option(
    "--start",
    type=click.IntRange(0, None),
    help="First request of the window (default: the most representative window).",
)
def traffic_sample(src: Path, dest: Path, count: int, start: int | None) -> None:
    """Cut a recording down to N requests, keeping its arrival process.

    Takes a contiguous window (real gaps and bursts, unlike thinning, which stretches every
    gap), by default the one whose inter-arrival distribution is closest (KS distance) to
    the whole recording's."""
    from gate.inputs.trace import sample_window
    from gate.inputs.traffic import read_traffic, write_traffic

    t = read_traffic(src)
    out, info = sample_window(t, count, start=start)
    write_traffic(dest, out)
    msg = f"wrote requests {info.start}..{info.start + info.n - 1} of {len(t.requests)} to {dest}"
    if info.ks is not None:
        rf = f"{info.rate_full:.1f}" if info.rate_full else "?"
        rw = f"{info.rate_window:.1f}" if info.rate_window else "?"
        msg += f" (inter-arrival KS distance {info.ks:.3f}; rate {rw} req/s vs {rf} overall)"
    click.echo(msg)


traffic.add_command(synth)  # gate traffic synth: its own module
