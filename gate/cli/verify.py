"""``gate verify``: the signatures of a model folder, alone (a cheap first CI step)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate.cli import options
from gate.errors import ConfigError


@click.command()
@click.argument("model_dir", type=options.FOLDER, required=False)
@options.config_file(
    "gate.yaml: its signatures: section (or its policy's); MODEL_DIR defaults to its model."
)
@click.option(
    "--policy",
    "policy_path",
    type=options.FILE,
    help="A policy file whose signatures: section applies (instead of --config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(
    model_dir: Path | None, config: Path | None, policy_path: Path | None, as_json: bool
) -> None:
    """Verify the signatures of a model directory only (a cheap first CI step).

    With --config and no MODEL_DIR, also the container image (launcher.image_signature) and
    an oci:// model (model.signature), by digest, as gate check does.

    Exit codes: 0 verified, 1 blocked (unsigned, tampered or untrusted), 2 bad policy or
    usage, 3 infrastructure (a registry or Sigstore trusted root could not be reached)."""
    from gate.config.config import check_model_dir, load_config
    from gate.config.policy import load_policy
    from gate.signing.interface import SignaturesBlocked
    from gate.signing.stage import signatures_for_run, verify_for_run
    from gate.signing.text import render_signatures

    if config is not None and policy_path is not None:
        raise ConfigError("give --config or --policy, not both", hint="drop one of them")
    cfg = load_config(config) if config is not None else None
    if policy_path is None and cfg is not None:
        policy_path = cfg.policy
    policy = load_policy(policy_path) if policy_path is not None else None
    if model_dir is None:
        if cfg is None or config is None:
            raise ConfigError(
                "no MODEL_DIR given", hint="gate verify MODEL_DIR, or --config gate.yaml"
            )
    elif not model_dir.is_dir():
        raise ConfigError(f"{model_dir}: model directory does not exist", hint="check the path")
    try:
        if model_dir is None and cfg is not None and config is not None:
            # the whole stage of a run: image and oci:// model by digest, then the files
            own = None if cfg.model.artifact else check_model_dir(cfg, config)
            _, res, warns, _, _, _ = signatures_for_run(cfg, config, policy, own, snapshot=False)
        else:
            assert model_dir is not None
            res, warns, _ = verify_for_run(cfg, config, policy, policy_path, model_dir)
        code = 0
    except SignaturesBlocked as e:
        if e.result is None:
            raise
        res, warns, code = e.result, [], 1
    if as_json:
        click.echo(res.model_dump_json(indent=2) if res is not None else "null")
    else:
        click.echo(render_signatures(res, warns) if res is not None else "\n".join(warns), nl=False)
    sys.exit(code)
