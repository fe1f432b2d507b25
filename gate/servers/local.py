"""The local launcher: a ``tritonserver`` child process on free loopback ports.

The server runs in its own process group (it spawns one python-backend stub per model
instance), so teardown signals the whole group: SIGTERM, a grace period, then SIGKILL.
Teardown runs on normal exit, on any exception and on Ctrl-C (``__exit__`` always runs);
the CLI turns SIGTERM into the same path.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from gate.errors import ServerError
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


class LocalServer:
    """Context manager: start tritonserver, wait until ready, always stop the process group."""

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
    ) -> None:
        self.tool = tritonserver
        self.repository = repository
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.load_timeout_s = load_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port = self.grpc_port = self.metrics_port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> LocalServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _argv(self) -> list[str]:
        argv = [
            str(self.tool.path),
            f"--model-repository={self.repository.resolve()}",
            "--model-control-mode=explicit",
            "--strict-readiness=true",
            "--exit-on-error=true",
            f"--http-port={self.http_port}",
            "--http-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--grpc-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--metrics-address=127.0.0.1",
            "--allow-metrics=true",
            "--log-verbose=0",
        ]
        if self.tool.backend_dir is not None:
            argv.append(f"--backend-directory={self.tool.backend_dir}")
        argv += list(self.extra_args)
        return argv

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
                    with deferred_signals():  # self.proc must be set before Ctrl-C lands
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
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"tritonserver exited with code {self.proc.returncode} during startup: "
                    f"{self.last_error() or 'see the server log'}",
                    hint=f"read the server log {self.log_path}",
                    details=self.log_tail(),
                )
            if self._http("GET", "/v2/health/ready", timeout=1.0)[0] == 200:
                return
            time.sleep(_READY_POLL_S)
        raise ServerError(
            f"tritonserver did not become ready within {self.startup_timeout_s:g}s",
            hint="raise launcher.startup_timeout_s or read the server log " + str(self.log_path),
            details=self.log_tail(),
        )

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

    def _http(
        self, method: str, path: str, *, timeout: float, body: bytes | None = None
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(f"http://{self.http_url}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()
        except (urllib.error.URLError, OSError, TimeoutError):
            return 0, b""

    def _client(self, timeout: float) -> Any:
        import tritonclient.http as httpclient

        return httpclient.InferenceServerClient(
            self.http_url, connection_timeout=timeout, network_timeout=timeout
        )

    def load_model(self, name: str) -> None:
        """Load through tritonclient; a failure carries the server's own error message."""
        from tritonclient.utils import InferenceServerException

        client = self._client(self.load_timeout_s)
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
        if not self._model_ready(name):
            raise ServerError(
                f"model '{name}' is not ready after loading: {self.last_error()}",
                details=self.log_tail(),
            )

    def _model_ready(self, name: str) -> bool:
        return self._http("GET", f"/v2/models/{name}/ready", timeout=5.0)[0] == 200

    def unload_model(self, name: str) -> None:
        self._http("POST", f"/v2/repository/models/{name}/unload", timeout=30.0, body=b"{}")

    def _get_json(self, path: str) -> dict[str, Any]:
        code, body = self._http("GET", path, timeout=10.0)
        if code != 200:
            raise ServerError(
                f"GET {path} answered {code}: {body[:200].decode(errors='replace')}",
                details=self.log_tail(),
            )
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ServerError(f"GET {path}: unexpected answer")
        return data

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        v = f"/versions/{version}" if version else ""
        return self._get_json(f"/v2/models/{name}{v}")

    def model_config(self, name: str, version: str = "") -> dict[str, Any]:
        v = f"/versions/{version}" if version else ""
        return self._get_json(f"/v2/models/{name}{v}/config")

    def server_metadata(self) -> dict[str, Any]:
        return self._get_json("/v2")

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
