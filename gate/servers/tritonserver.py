"""tritonserver: the flags every launcher starts it with, and the calls the gate makes to it.

The local and docker launchers start the same server the same way (explicit model control,
strict readiness, every port on 127.0.0.1); only the binary, the repository path and the
backend directory differ, so the flags are written here once. Every call to a running server
(readiness, model control, metadata) goes through tritonclient, whichever launcher started
it, so its errors read the same everywhere.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from gate.errors import ServerError


def flags(
    *,
    repository: str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    backend_dir: Path | None = None,
) -> list[str]:
    """tritonserver's arguments (after the binary) for one gate run.

    Explicit model control so the gate loads exactly the model it judges; strict readiness
    and exit on error so a model that fails to load is an error, not a half-ready server;
    every endpoint on 127.0.0.1 so nothing listens on other interfaces.
    """
    argv = [
        f"--model-repository={repository}",
        "--model-control-mode=explicit",
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--http-port={http_port}",
        "--http-address=127.0.0.1",
        f"--grpc-port={grpc_port}",
        "--grpc-address=127.0.0.1",
        f"--metrics-port={metrics_port}",
        "--metrics-address=127.0.0.1",
        "--allow-metrics=true",
        "--log-verbose=0",
    ]
    if backend_dir is not None:
        argv.append(f"--backend-directory={backend_dir}")
    return argv


class Control:
    """tritonclient calls to one server (HTTP, or gRPC), each failure a ServerError that says
    what was asked of which server."""

    def __init__(self, address: str, *, grpc: bool = False, timeout_s: float = 30) -> None:
        self.address = address
        self.grpc = grpc
        self.timeout_s = timeout_s

    def client(self, timeout: float) -> Any:
        """A new tritonclient client (the caller closes it)."""
        if self.grpc:
            import tritonclient.grpc as grpcclient

            return grpcclient.InferenceServerClient(self.address)
        import tritonclient.http as httpclient

        return httpclient.InferenceServerClient(
            self.address, connection_timeout=timeout, network_timeout=timeout
        )

    def call(self, what: str, fn: str, *args: Any, timeout: float | None = None, **kw: Any) -> Any:
        """``client.<fn>(*args, **kw)``; any failure is ``ServerError("<what> on <address>…")``."""
        from tritonclient.utils import InferenceServerException

        timeout = timeout or self.timeout_s
        client = self.client(timeout)
        try:
            if self.grpc:
                kw.setdefault("client_timeout", timeout)
            return getattr(client, fn)(*args, **kw)
        except InferenceServerException as e:
            raise ServerError(f"{what} on {self.address}: {e.message()}") from None
        except Exception as e:  # refused connections, socket timeouts from the client
            raise ServerError(f"{what} on {self.address} failed: {e}") from None
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def asks(self, fn: str, *args: Any, timeout: float = 5.0) -> bool:
        """A yes/no question (``is_server_ready``, ``is_model_ready``…); no answer is no."""
        try:
            return bool(self.call(fn, fn, *args, timeout=timeout))
        except ServerError:
            return False

    def repository_index(self) -> list[dict[str, Any]]:
        """The models the server knows, each ``{"name", "version", "state"}`` as the HTTP
        client lists them (the gRPC client answers a protobuf message holding ``models``)."""
        if not self.grpc:
            return [dict(m) for m in self.call("repository index", "get_model_repository_index")]
        got = self.call("repository index", "get_model_repository_index", as_json=True)
        return [dict(m) for m in dict(got).get("models", [])]

    def json(self, what: str, fn: str, *args: Any) -> dict[str, Any]:
        """An answer as the HTTP client gives it (gRPC's protobuf as JSON, shapes as ints)."""
        if not self.grpc:
            return dict(self.call(what, fn, *args))
        out = dict(self.call(what, fn, *args, as_json=True))
        # protobuf JSON writes int64 shapes as strings: make them look like the HTTP answer
        for key in ("inputs", "outputs"):
            for t in out.get(key, []):
                t["shape"] = [int(d) for d in t.get("shape", [])]
        return dict(out.get("config", out)) if fn == "get_model_config" else out
