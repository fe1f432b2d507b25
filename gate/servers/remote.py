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
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from gate.errors import ServerError

_NOT_EXPLICIT = "not allowed"


class RemoteServer:
    """Context manager over an existing server; enter checks it is live, exit unloads what
    this run loaded (explicit mode only) and nothing else."""

    def __init__(self, url: str, *, load_timeout_s: float = 180, timeout_s: float = 30) -> None:
        parts = urlsplit(url)
        self.url = url
        self.scheme = parts.scheme
        self.address = parts.netloc
        self.load_timeout_s = load_timeout_s
        self.timeout_s = timeout_s
        self.explicit: bool | None = None
        self.loaded_by_us: list[str] = []
        self.notes: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> RemoteServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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

    # -- client ------------------------------------------------------------------------

    def _client(self, timeout: float) -> Any:
        if self.scheme == "grpc":
            import tritonclient.grpc as grpcclient

            return grpcclient.InferenceServerClient(self.address)
        import tritonclient.http as httpclient

        return httpclient.InferenceServerClient(
            self.address, connection_timeout=timeout, network_timeout=timeout
        )

    def _call(self, what: str, fn: str, *args: Any, timeout: float | None = None, **kw: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        client = self._client(timeout or self.timeout_s)
        try:
            if self.scheme == "grpc":
                kw.setdefault("client_timeout", timeout or self.timeout_s)
            return getattr(client, fn)(*args, **kw)
        except InferenceServerException as e:
            raise ServerError(f"{what} on {self.url}: {e.message()}") from None
        except Exception as e:
            raise ServerError(f"{what} on {self.url} failed: {e}") from None
        finally:
            with contextlib.suppress(Exception):
                client.close()

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
        try:
            return bool(self._call("liveness", "is_server_live", timeout=5))
        except ServerError:
            return False

    def _ready(self, name: str) -> bool:
        try:
            return bool(self._call("readiness", "is_model_ready", name, timeout=5))
        except ServerError:
            return False

    def load_model(self, name: str) -> None:
        was_ready = self._ready(name)
        try:
            self._call(f"loading model '{name}'", "load_model", name, timeout=self.load_timeout_s)
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
            self._call(f"unloading model '{name}'", "unload_model", name)

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        if self.scheme != "grpc":
            return dict(self._call("model metadata", "get_model_metadata", name, version))
        out = dict(self._call("model metadata", "get_model_metadata", name, version, as_json=True))
        # protobuf JSON writes int64 shapes as strings: make them look like the HTTP answer
        for key in ("inputs", "outputs"):
            for t in out.get(key, []):
                t["shape"] = [int(d) for d in t.get("shape", [])]
        return out

    def model_config(self, name: str, version: str = "") -> dict[str, Any]:
        if self.scheme == "grpc":
            out = self._call("model config", "get_model_config", name, version, as_json=True)
            return dict(out.get("config", out))
        return dict(self._call("model config", "get_model_config", name, version))

    def server_metadata(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"as_json": True} if self.scheme == "grpc" else {}
        return dict(self._call("server metadata", "get_server_metadata", **kw))

    def log_tail(self, lines: int = 80) -> str:
        return ""  # the remote server's log is not ours to read

    def last_error(self) -> str:
        return ""

    def environment(self) -> dict[str, str]:
        return {}
