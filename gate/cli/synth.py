"""``gate traffic synth``: first traffic for a model that has none recorded (a stop-gap)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gate.cli import options
from gate.errors import ConfigError

if TYPE_CHECKING:
    from gate.inputs.synth import ArrivalKind


def _pairs(values: tuple[str, ...], option: str, parse: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = parse(raw)
        except ValueError:
            example = "INPUT0=-1:1" if option == "--range" else "INPUT0=16,16"
            raise ConfigError(
                f"{option} {item!r}: expected NAME=…", hint=f"e.g. {example}"
            ) from None
    return out


def _range(raw: str) -> tuple[float, float]:
    low, sep, high = raw.partition(":")
    lo, hi = float(low), float(high)
    if not sep or not lo <= hi:
        raise ValueError
    return lo, hi


def _shape(raw: str) -> tuple[int, ...]:
    dims = tuple(int(d) for d in raw.split(","))
    if not dims or any(d < 1 for d in dims):
        raise ValueError
    return dims


def _target(
    model: Path | None, config: Path | None, out: Path | None
) -> tuple[Path, str | None, Path | None]:
    """(model path, model name, output file) from the arguments or the config."""
    if model is not None:
        return model, None, out
    from gate.config.config import load_config

    path = config or Path("gate.yaml")
    if config is None and not path.is_file():
        raise ConfigError(
            "no MODEL given and no gate.yaml here",
            hint="gate traffic synth MODEL_REPOSITORY -o traffic.jsonl.gz, or --config gate.yaml",
        )
    cfg = load_config(path)
    return cfg.model.repository, cfg.model.name, out or cfg.traffic.path


@click.command("synth")
@click.argument("model", type=options.FOLDER, required=False)
@options.file_option(
    "-o",
    "--out",
    help="Traffic file (default: traffic.path of --config, else traffic/MODEL.jsonl.gz).",
)
@options.config_file("gate.yaml naming the model and traffic.path (default ./gate.yaml).")
@options.MODEL_FOLDER
@options.SERVER_URL
@click.option("-n", "--requests", type=int, default=1000, show_default=True)
@click.option("--rate", type=float, default=100.0, show_default=True, help="Mean requests/s.")
@click.option(
    "--arrival",
    type=click.Choice(["poisson", "constant", "burst"]),
    default="poisson",
    show_default=True,
)
@click.option(
    "--burst-size",
    type=int,
    default=10,
    show_default=True,
    help="Requests per burst (--arrival burst).",
)
@click.option("--batch", type=int, default=1, show_default=True, help="Batch size per request.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--range",
    "ranges",
    multiple=True,
    metavar="NAME=LOW:HIGH",
    help="Range of random values for an input (default 0:1 floats, 0:100 integers).",
)
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    metavar="NAME=D1,D2",
    help="Size of an input's variable (-1) dimensions.",
)
@options.file_option(
    "--from-eval", "eval_set", help="Payloads from an eval set's samples (gate-eval/1)."
)
@options.file_option(
    "--from-perf-json", "perf_json", help="Payloads from a perf_analyzer --input-data JSON."
)
@options.force("Overwrite an existing traffic file.")
def synth(
    model: Path | None,
    out: Path | None,
    config: Path | None,
    name: str | None,
    url: str | None,
    requests: int,
    rate: float,
    arrival: ArrivalKind,
    burst_size: int,
    batch: int,
    seed: int,
    ranges: tuple[str, ...],
    shapes: tuple[str, ...],
    eval_set: Path | None,
    perf_json: Path | None,
    force: bool,
) -> None:
    """Write synthetic traffic (gate-traffic/1) for a model with none recorded yet.

    A STOP-GAP: the gate is meant to replay real traffic (gate traffic import). Payloads are
    random from the model's config.pbtxt (or --url's metadata), an eval set's samples, or a
    perf_analyzer input JSON; arrivals are Poisson at --rate, constant, or bursts. Seeded."""
    from gate.inputs.model_config import find_model_dir, read_model_config, read_served_model
    from gate.inputs.synth import SynthSpec, synthesize
    from gate.inputs.traffic import write_traffic

    where, model_name, target = _target(model, config, out)
    if url is not None:
        spec = read_served_model(url, name or model_name or where.resolve().name)
    else:
        spec = read_model_config(find_model_dir(where, name or model_name))
    target = target or Path("traffic") / f"{spec.name}.jsonl.gz"
    options.refuse_overwrite(
        [target] if target.exists() else [], force, "pass --force to overwrite it"
    )
    synth_spec = SynthSpec(  # the arrivals, then the payloads
        requests=requests,
        rate_rps=rate,
        arrival=arrival,
        burst_size=burst_size,
        ranges=_pairs(ranges, "--range", _range),
        shapes=_pairs(shapes, "--shape", _shape),
        batch=batch,
        seed=seed,
    )
    traffic = synthesize(spec, synth_spec, eval_set=eval_set, perf_json=perf_json)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_traffic(target, traffic)
    click.echo(
        f"wrote {len(traffic.requests)} synthetic requests over {traffic.duration_s:.1f} s to "
        f"{target}\n{traffic.source}",
        err=True,
    )
