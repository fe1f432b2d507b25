"""The remote launcher: a Triton server that already runs (HTTP or gRPC URL).

Nothing is started or stopped. Triton does not say which model-control mode it runs in, so
the launcher asks it to load the model: in explicit mode that (re)loads it from the server's
own repository; in ``none``/``poll`` mode Triton answers "explicit model load / unload is not
allowed", and the configured model must then already be READY (a clear error if not). The
launcher unloads at the end only what it loaded itself, so a shared server is left as found.

``model.repository`` in the gate config is still read locally (model digest, signatures):
point it at the same model files the server serves.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

from gate.errors import ServerError
from gate.servers.interface import ServerBase
from gate.servers.tritonserver import Control

_NOT_EXPLICIT = "not allowed"


class RemoteServer(ServerBase):
    """Context manager over an existing server; enter checks it is live, exit unloads what
    this run loaded (explicit mode only) and nothing else."""

    def __init__(self, url: str, *, load_timeout_s: float = 180, timeout_s: float = 30) -> None:
        parts = urlsplit(url)
        self.url = url
        self.scheme = parts.scheme
        self.address = parts.netloc
        self.load_timeout_s = load_timeout_s
        self.control = Control(self.address, grpc=self.scheme == "grpc", timeout_s=timeout_s)
        self.explicit: bool | None = None
        self.loaded_by_us: list[str] = []
        self.notes: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if not self.is_alive():
            raise ServerError(
                f"the remote Triton server at {self.url} does not answer (not live)",
                hint="check launcher.url and that the server runs and is reachable",
            )

    def stop(self) -> None:
        """Unload the models this run loaded; the server itself keeps running."""
        for name in self.loaded_by_us:
            with contextlib.suppress(Exception):
                self.unload_model(name)
        self.loaded_by_us = []

    # -- ServerHandle ------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return self.address

    @property
    def grpc_url(self) -> str:
        return self.address

    @property
    def protocol(self) -> str:
        """The protocol the URL speaks; perf_analyzer must use the same."""
        return "grpc" if self.scheme == "grpc" else "http"

    def is_alive(self) -> bool:
        return self.control.asks("is_server_live")

    def _ready(self, name: str) -> bool:
        return self.control.asks("is_model_ready", name)

    def load_model(self, name: str) -> None:
        was_ready = self._ready(name)
        try:
            self.control.call(
                f"loading model '{name}'", "load_model", name, timeout=self.load_timeout_s
            )
            self.explicit = True
        except ServerError as e:
            if _NOT_EXPLICIT not in e.message:
                raise ServerError(
                    f"model '{name}' failed to load: {e.message}",
                    hint="fix the model in the server's repository",
                ) from None
            self.explicit = False
            self.notes.append(
                f"remote server at {self.url} is not in explicit model-control mode: "
                f"model '{name}' was used as loaded"
            )
            if not was_ready:
                raise ServerError(
                    f"model '{name}' is not ready on the remote server {self.url}, and the "
                    "server does not allow loading it (not started with "
                    "--model-control-mode=explicit)",
                    hint="load the model on the server, or run it in explicit mode",
                ) from None
            return
        if not was_ready:
            self.loaded_by_us.append(name)
        if not self._ready(name):
            raise ServerError(f"model '{name}' is not ready on {self.url} after loading")

    def unload_model(self, name: str) -> None:
        if self.explicit:
            self.control.call(f"unloading model '{name}'", "unload_model", name)

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        return self.control.json("model metadata", "get_model_metadata", name, version)

    def model_config(self, name: str, version: str = "") -> dict[str, Any]:
        return self.control.json("model config", "get_model_config", name, version)

    def server_metadata(self) -> dict[str, Any]:
        return self.control.json("server metadata", "get_server_metadata")

    def model_statistics(self, name: str, version: str = "") -> dict[str, Any]:
        return self.control.json("model statistics", "get_inference_statistics", name, version)

    def log_tail(self, lines: int = 80) -> str:
        return ""  # the remote server's log is not ours to read

    def last_error(self) -> str:
        return ""

    def environment(self) -> dict[str, str]:
        return {}
