"""The local launcher: a ``tritonserver`` child process on free loopback ports.

The server runs in its own process group (it spawns one python-backend stub per model
instance), so teardown signals the whole group: SIGTERM, a grace period, then SIGKILL.
Teardown runs on normal exit, on any exception and on Ctrl-C (``__exit__`` always runs);
the CLI turns SIGTERM into the same path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gate.errors import ServerError
from gate.servers.affinity import inherited_affinity
from gate.servers.interface import ServerBase
from gate.servers.tritonserver import Control, flags
from gate.signals import deferred_signals
from gate.tools import Tool

_READY_POLL_S = 0.1
_PORT_ATTEMPTS = 3


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the server's bind is the real test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _error_lines(log: str, limit: int = 6) -> str:
    """The server's own error lines (Triton prefixes them with E), newest last."""
    errs = [
        ln
        for ln in log.splitlines()
        if ln.startswith("E")
        or "unrecognized option" in ln
        or ("error" in ln.lower() and not ln.lstrip().startswith("-"))  # not --help text
    ]
    return "\n".join(errs[-limit:])


class LocalServer(ServerBase):
    """Context manager: start tritonserver, wait until ready, always stop the process group."""

    #: how messages name the server and its log, and how much of the log they carry
    what = "tritonserver"
    log_name = "server log"
    log_lines_in_errors = 80
    ready_poll_s = _READY_POLL_S

    def __init__(
        self,
        tritonserver: Tool,
        repository: Path,
        log_path: Path,
        *,
        startup_timeout_s: float = 60,
        load_timeout_s: float = 180,
        stop_timeout_s: float = 15,
        extra_args: tuple[str, ...] = (),
        cpus: tuple[int, ...] = (),
    ) -> None:
        self.tool = tritonserver
        self.repository = repository
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.load_timeout_s = load_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_args = extra_args
        self.cpus = cpus  # the cores it runs on (gate.servers.affinity); empty: any
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port = self.grpc_port = self.metrics_port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def _argv(self) -> list[str]:
        return [
            str(self.tool.path),
            *flags(
                repository=str(self.repository.resolve()),
                http_port=self.http_port,
                grpc_port=self.grpc_port,
                metrics_port=self.metrics_port,
                backend_dir=self.tool.backend_dir,
            ),
            *self.extra_args,
        ]

    def _env(self) -> dict[str, str]:
        env = self.tool.environ()
        # python-backend models import packages (numpy, onnxruntime) from the Python on PATH:
        # put this interpreter's environment first so the models see what the gate sees.
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        return env

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.http_port, self.grpc_port, self.metrics_port = (
                free_port(),
                free_port(),
                free_port(),
            )
            try:
                log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed below
            except OSError as e:
                raise ServerError(
                    f"cannot write the server log {self.log_path}: {e.strerror}",
                    hint="make sure the reports directory is writable and has free space",
                ) from None
            with log:
                with contextlib.suppress(OSError):  # a full disk: the server still runs
                    log.write(f"### gate: starting {' '.join(self._argv())}\n".encode())
                    log.flush()
                try:
                    # self.proc must be set before Ctrl-C lands; the server, its threads
                    # and the stubs it starts inherit the CPU mask of this thread
                    with deferred_signals(), inherited_affinity(self.cpus):
                        self.proc = subprocess.Popen(
                            self._argv(),
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                            env=self._env(),
                            start_new_session=True,
                        )
                except OSError as e:
                    raise ServerError(
                        f"cannot execute {self.tool.path}: {e.strerror}",
                        hint="check the tritonserver path with 'gate doctor'",
                    ) from None
            try:
                self._wait_ready()
                return
            except ServerError:
                log_text = self.log_text()
                self.stop()
                if "already in use" in log_text and attempt < _PORT_ATTEMPTS:
                    continue
                raise

    def _wait_ready(self) -> None:
        """Until the server says it is ready (tritonclient's ``is_server_ready``), it exits
        (ServerError with its own error lines), or the startup timeout passes."""
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            code = self._exit_code()
            if code is not None:
                raise ServerError(
                    f"{self.what} exited with code {code} during startup: "
                    f"{self.last_error() or 'see its log'}",
                    hint=f"read the {self.log_name} {self.log_path}",
                    details=self.log_tail(self.log_lines_in_errors),
                )
            if self.control.asks("is_server_ready", timeout=1.0):
                return
            time.sleep(self.ready_poll_s)
        raise ServerError(
            f"{self.what} did not become ready within {self.startup_timeout_s:g}s",
            hint=f"raise launcher.startup_timeout_s or read the {self.log_name} {self.log_path}",
            details=self.log_tail(self.log_lines_in_errors),
        )

    def _exit_code(self) -> int | str | None:
        """The server's exit code once it has exited during startup, else None."""
        assert self.proc is not None
        return self.proc.poll()

    def stop(self) -> None:
        """SIGTERM the process group, wait, then SIGKILL it. Idempotent."""
        proc = self.proc
        if proc is None:
            return
        pgid = proc.pid
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.stop_timeout_s)
        # the group may hold stubs that outlive the server: always sweep it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        self._wait_group_gone(pgid)
        self.proc = None

    @staticmethod
    def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                return
            time.sleep(0.05)

    # -- requests ----------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def is_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def control(self) -> Control:
        """tritonclient calls to this server (its ports are known once it started)."""
        return Control(self.http_url, timeout_s=10.0)

    def load_model(self, name: str) -> None:
        """Load through tritonclient; a failure carries the server's own error message."""
        from tritonclient.utils import InferenceServerException

        client = self.control.client(self.load_timeout_s)
        try:
            client.load_model(name)
        except InferenceServerException as e:
            raise ServerError(
                f"model '{name}' failed to load: {e.message()}",
                hint=f"fix the model; the server log is {self.log_path}",
                details=self.log_tail(),
            ) from None
        except Exception as e:  # socket timeouts and the like from the HTTP client
            raise ServerError(
                f"loading model '{name}' did not finish: {e}",
                hint="raise launcher.load_timeout_s or read the server log",
                details=self.log_tail(),
            ) from None
        finally:
            client.close()
        if not self.control.asks("is_model_ready", name):
            raise ServerError(
                f"model '{name}' is not ready after loading: {self.last_error()}",
                details=self.log_tail(),
            )

    def unload_model(self, name: str) -> None:
        with contextlib.suppress(ServerError):  # teardown: the server may be gone already
            self.control.call(f"unloading model '{name}'", "unload_model", name, timeout=30.0)

    def _json(self, what: str, fn: str, *args: str) -> dict[str, Any]:
        try:
            return self.control.json(what, fn, *args)
        except ServerError as e:
            e.details = self.log_tail()
            raise

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        return self._json(f"metadata of model '{name}'", "get_model_metadata", name, version)

    def model_config(self, name: str, version: str = "") -> dict[str, Any]:
        return self._json(f"config of model '{name}'", "get_model_config", name, version)

    def server_metadata(self) -> dict[str, Any]:
        return self._json("server metadata", "get_server_metadata")

    def model_statistics(self, name: str, version: str = "") -> dict[str, Any]:
        return self.control.json(
            f"statistics of model '{name}'", "get_inference_statistics", name, version
        )

    # -- logs --------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def environment(self) -> dict[str, str]:
        """The local launcher adds no fingerprint keys (the binary's version is reported)."""
        return {}

    def last_error(self) -> str:
        errs = _error_lines(self.log_text(), 3)
        return " | ".join(ln.strip() for ln in errs.splitlines()) if errs else ""
