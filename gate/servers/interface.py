"""What every launcher gives the measuring stages: URLs, model control, metadata, logs."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, TypeVar

_S = TypeVar("_S", bound="ServerBase")


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

    def model_statistics(self, name: str, version: str = "") -> dict[str, Any]:
        """Triton's cumulative per-model statistics (``/v2/models/<name>/stats``)."""
        ...

    def is_alive(self) -> bool: ...

    def log_tail(self, lines: int = 80) -> str: ...

    def last_error(self) -> str: ...

    def environment(self) -> dict[str, str]:
        """Fingerprint keys the launcher adds (the docker image digest); may be empty."""
        ...


class Launcher(ServerHandle, Protocol):
    """A server not yet started: ``__enter__`` starts it (tearing down on failure), ``stop``
    tears it down and may be called any number of times, on any path."""

    def __enter__(self) -> Launcher: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def stop(self) -> None: ...


class ServerBase:
    """What every launcher does on ``with``: enter starts the server (and tears down what a
    failed start left), exit stops it, whatever happened inside."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
