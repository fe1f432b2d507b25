"""What a Triton model takes and returns, read from its ``config.pbtxt`` or a running server.

``gate init`` and ``gate traffic synth`` start from this: the inputs' names, datatypes and
shapes (batch dimension excluded, as in ``gate-traffic/1``), the outputs, and
``max_batch_size``. ``config.pbtxt`` is protobuf text format; it is parsed with the
``ModelConfig`` message that ``tritonclient`` ships and protobuf's own ``text_format``,
not by hand, so every field Triton accepts parses here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import ConfigError, InfraError
from gate.inputs.traffic import TensorSpec


@dataclass(frozen=True)
class ModelSpec:
    """A model's interface. Shapes exclude the batch dimension when ``max_batch_size > 0``."""

    name: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    backend: str = ""
    source: str = ""

    @property
    def batched(self) -> bool:
        return self.max_batch_size > 0


def _dtype(value: str) -> str:
    text = value.removeprefix("TYPE_")
    return "BYTES" if text == "STRING" else text


def find_model_dir(path: Path, name: str | None = None) -> Path:
    """The model's own folder: ``path`` if it holds ``config.pbtxt``, else the one folder of
    the repository ``path`` that does (or the folder ``name``). ConfigError otherwise."""
    if not path.is_dir():
        raise ConfigError(f"{path}: folder not found", hint="give a Triton model repository")
    if (path / "config.pbtxt").is_file():
        return path
    if name is not None:
        if (path / name / "config.pbtxt").is_file():
            return path / name
        raise ConfigError(
            f"{path}: no {name}/config.pbtxt", hint="check --model and the repository path"
        )
    found = sorted(p.parent for p in path.glob("*/config.pbtxt"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            f"{path}: no model folder with a config.pbtxt",
            hint="a Triton repository holds <model>/config.pbtxt and <model>/1/…",
        )
    names = ", ".join(p.name for p in found)
    raise ConfigError(f"{path}: several models ({names})", hint="choose one with --model NAME")


def _specs(items: Sequence[Any], where: str, field: str) -> tuple[TensorSpec, ...]:
    from tritonclient.grpc import model_config_pb2 as mc

    out: list[TensorSpec] = []
    for i, t in enumerate(items):
        # what a client sends is `dims` (a `reshape` is the server's business)
        shape = tuple(int(d) for d in t.dims)
        if not t.name or not shape:
            raise ConfigError(
                f"{where}: field '{field}[{i}]': needs a name and dims",
                hint='e.g. input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]',
            )
        out.append(TensorSpec(t.name, _dtype(mc.DataType.Name(t.data_type)), shape))
    return tuple(out)


def read_model_config(model_dir: Path) -> ModelSpec:
    """``model_dir/config.pbtxt`` as a ``ModelSpec``; ConfigError naming the file otherwise.

    A config without a ``name`` takes the folder's name (as Triton does). Inputs need
    explicit ``dims``: a config that leaves them to auto-complete from the model file cannot be
    read without a server (use ``gate init --url``).
    """
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    path = model_dir / "config.pbtxt"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}", hint="check the model folder") from None
    try:
        cfg = text_format.Parse(text, mc.ModelConfig())
    except text_format.ParseError as e:
        raise ConfigError(
            f"{path}: not a Triton model config: {e}", hint="fix the protobuf text syntax"
        ) from None
    where = str(path)
    inputs = _specs(cfg.input, where, "input")
    if not inputs:
        raise ConfigError(
            f"{path}: field 'input': no inputs declared",
            hint="declare them, or let a running server say: gate init --url http://HOST:8000",
        )
    return ModelSpec(
        name=cfg.name or model_dir.name,
        max_batch_size=int(cfg.max_batch_size),
        inputs=inputs,
        outputs=_specs(cfg.output, where, "output"),
        backend=cfg.backend or cfg.platform,
        source=where,
    )


def spec_from_metadata(metadata: Mapping[str, Any], config: Mapping[str, Any]) -> ModelSpec:
    """A ``ModelSpec`` from a served model's metadata and config (tritonclient's HTTP dicts).

    Metadata shapes include the batch dimension (``-1``) when ``max_batch_size > 0``; it is
    dropped here, as in traffic files.
    """
    max_batch = int(config.get("max_batch_size", 0) or 0)

    def specs(items: Sequence[Mapping[str, Any]]) -> tuple[TensorSpec, ...]:
        out = []
        for t in items:
            shape = tuple(int(d) for d in t.get("shape", []))
            if max_batch > 0 and shape:
                shape = shape[1:]
            out.append(TensorSpec(str(t["name"]), _dtype(str(t["datatype"])), shape))
        return tuple(out)

    return ModelSpec(
        name=str(metadata["name"]),
        max_batch_size=max_batch,
        inputs=specs(metadata.get("inputs", [])),
        outputs=specs(metadata.get("outputs", [])),
        backend=str(config.get("backend") or config.get("platform") or ""),
        source="served metadata",
    )


def read_served_model(url: str, name: str, *, timeout_s: float = 10.0) -> ModelSpec:
    """Ask a running Triton (``http://HOST:PORT``) for a model's metadata and config."""
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    host = url.removeprefix("http://").rstrip("/")
    try:
        client = httpclient.InferenceServerClient(
            host, connection_timeout=timeout_s, network_timeout=timeout_s
        )
        meta = client.get_model_metadata(name)
        cfg = client.get_model_config(name)
    except InferenceServerException as e:
        raise InfraError(
            f"{url}: cannot read model '{name}': {e.message()}",
            hint="is the server up and the model loaded? (curl URL/v2/models/NAME)",
        ) from None
    except OSError as e:
        raise InfraError(f"{url}: cannot connect: {e}", hint="check the URL") from None
    spec = spec_from_metadata(meta, cfg)
    return ModelSpec(
        spec.name, spec.max_batch_size, spec.inputs, spec.outputs, spec.backend, f"{url} ({name})"
    )
