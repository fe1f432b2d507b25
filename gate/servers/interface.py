"""What every launcher gives the measuring stages: URLs, model control, metadata, logs."""

from __future__ import annotations

from typing import Any, Protocol


class ServerHandle(Protocol):
    """A running Triton server, ready for requests. Launchers are context managers that
    yield one and tear everything down on exit, whatever happened inside."""

    @property
    def http_url(self) -> str: ...

    @property
    def grpc_url(self) -> str: ...

    def load_model(self, name: str) -> None: ...

    def unload_model(self, name: str) -> None: ...

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]: ...

    def model_config(self, name: str, version: str = "") -> dict[str, Any]: ...

    def server_metadata(self) -> dict[str, Any]: ...

    def is_alive(self) -> bool: ...

    def log_tail(self, lines: int = 80) -> str: ...
