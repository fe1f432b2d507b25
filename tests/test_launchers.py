"""Launcher selection and its config: strict keys per kind, one-line errors, the factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.config.config import load_config
from gate.errors import ConfigError, ExitCode

BASE = """\
version: 1
model: {{name: demo, repository: models}}
traffic: {{path: t.jsonl}}
launcher:
{launcher}
"""


def load(tmp_path: Path, launcher: str) -> object:
    p = tmp_path / "gate.yaml"
    p.write_text(BASE.format(launcher=launcher))
    return load_config(p)


def error(tmp_path: Path, launcher: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, launcher)
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in info.value.message
    return info.value


def test_docker_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "  kind: docker")
    lc = cfg.launcher  # type: ignore[attr-defined]
    assert lc.image_ref == "nvcr.io/nvidia/tritonserver:24.10-py3"
    assert lc.gpus == "auto" and lc.pull == "missing" and lc.shm_size == "256m"
    cfg = load(tmp_path, "  kind: docker\n  triton_tag: '25.01'\n  gpus: [0, GPU-1a2b]")
    assert cfg.launcher.image_ref.endswith(":25.01-py3")  # type: ignore[attr-defined]
    assert cfg.launcher.gpus == (0, "GPU-1a2b")  # type: ignore[attr-defined]
    assert load(tmp_path, "  kind: docker\n  gpus: 2").launcher.gpus == 2  # type: ignore[attr-defined]


def test_key_of_another_kind_is_an_error(tmp_path: Path) -> None:
    err = error(tmp_path, "  kind: local\n  image: nvcr.io/x:1")
    assert (
        "gate.yaml: field 'launcher': 'image' applies to launcher.kind docker only" in err.message
    )
    err = error(tmp_path, "  kind: docker\n  url: http://h:8000")
    assert "'url' applies to launcher.kind remote only (kind is docker)" in err.message
    err = error(tmp_path, "  kind: remote\n  url: http://h:8000\n  tritonserver: /bin/ts")
    assert "'tritonserver' applies to launcher.kind local only" in err.message


def test_remote_needs_a_url(tmp_path: Path) -> None:
    err = error(tmp_path, "  kind: remote")
    assert "needs 'url'" in err.message and err.hint and "url: http://" in err.hint


@pytest.mark.parametrize(
    ("launcher", "field"),
    [
        ("  kind: kubernetes", "launcher.kind"),
        ("  kind: remote\n  url: triton:8000", "launcher.url"),
        ("  kind: docker\n  gpus: -1", "launcher.gpus"),
        ("  kind: docker\n  gpus: some", "launcher.gpus"),
        ("  kind: docker\n  shm_size: 1 GB", "launcher.shm_size"),
        ("  kind: docker\n  pull: sometimes", "launcher.pull"),
        ("  kind: docker\n  http_port: 70000", "launcher.http_port"),
        ("  kind: docker\n  imagee: x", "launcher.imagee"),
    ],
)
def test_bad_launcher_values(tmp_path: Path, launcher: str, field: str) -> None:
    assert f"'{field}" in error(tmp_path, launcher).message


def test_factory_picks_the_launcher(tmp_path: Path) -> None:
    from gate.servers import LocalServer, open_server
    from gate.servers.docker import DockerServer
    from gate.servers.remote import RemoteServer
    from gate.tools import Tool

    ts = Tool("tritonserver", Path("/bin/true"), "x", "config")
    log = tmp_path / "log"
    for launcher, cls in (
        ("  kind: local", LocalServer),
        ("  kind: docker", DockerServer),
        ("  kind: remote\n  url: http://127.0.0.1:8000", RemoteServer),
    ):
        cfg = load(tmp_path, launcher)
        srv = open_server(cfg, ts, tmp_path, log, run_id="r1")  # type: ignore[arg-type]
        assert type(srv) is cls
    cfg = load(tmp_path, "  kind: remote\n  url: grpc://127.0.0.1:8001")
    with pytest.raises(ConfigError, match="speaks grpc but measure"):
        open_server(cfg, None, tmp_path, log, run_id="r1")  # type: ignore[arg-type]
