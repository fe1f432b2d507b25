"""The docker launcher: tritonserver in a throwaway container (the production path).

What the container gets, and why:
* ``--network host`` and ports picked free on 127.0.0.1 (or fixed ones from the config):
  perf_analyzer on the host reaches the server without a bridge, and nothing listens on
  other interfaces;
* the model repository mounted read-only at ``/models``: the verified files are what Triton
  reads, and a model cannot write into the repository;
* ``--model-control-mode=explicit``: the gate loads exactly the model it judges;
* a ``/dev/shm`` large enough for the python backend's stubs (``shm_size``);
* GPUs through device requests (:func:`device_requests`);
* with ``launcher.image_signature``, the image by the digest the signature stage verified
  (``HOST/REPO@sha256:…``), never by a tag that could move after verification;
* labels: ``gate.run_id`` and the owning process (pid, start time, host), so
  ``gate doctor --cleanup`` can find and remove what a killed gate left behind.

Teardown always runs: ``stop()`` is called from ``__exit__`` and from the pipeline's
``finally`` (the CLI turns SIGTERM into an exception, Ctrl-C is one already); it saves the
container's log to the run's log folder and removes the container, even when the container
was created but its handle never came back (it is then found by its name).
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import InfraError, ServerError
from gate.servers.affinity import format_cpus
from gate.servers.local import LocalServer, free_port
from gate.servers.tritonserver import flags

if TYPE_CHECKING:
    from gate.config.config import LauncherConfig

#: Labels on everything the docker launcher creates.
LABEL_MANAGED = "gate.managed"
LABEL_RUN_ID = "gate.run_id"
LABEL_PID = "gate.owner_pid"
LABEL_PID_START = "gate.owner_start"
LABEL_HOST = "gate.owner_host"

_CONTAINER_REPO = "/models"
_PORT_ATTEMPTS = 3


class DockerError(InfraError):
    """The Docker daemon, an image or a container failed (exit 3)."""


# --------------------------------------------------------------------------------------
# GPUs
# --------------------------------------------------------------------------------------

GpuSpec = str | int | tuple[str | int, ...]


def host_has_gpus() -> bool:
    """True when nvidia-smi lists at least one GPU (the gate's one GPU query)."""
    from gate.tools import query_gpus

    q = query_gpus()
    return q.error is None and bool(q.gpus)


def device_requests(gpus: GpuSpec, *, host_gpus: bool) -> list[Any]:
    """The Docker device requests for ``launcher.gpus``.

    ``"all"``: every GPU; an int N: N GPUs; a tuple: those device ids or UUIDs; ``"none"``:
    none; ``"auto"``: all when the host has GPUs (``host_gpus``), none on CPU-only hosts.
    The request is what ``docker run --gpus`` sends (driver ``nvidia``, capability ``gpu``);
    it is tested by inspecting a real container created with it on a real daemon. Only what
    the NVIDIA runtime then does with it cannot be shown without a GPU (benchmarks/gpu_check.sh).
    """
    from docker.types import DeviceRequest

    if gpus == "none" or (gpus == "auto" and not host_gpus):
        return []
    caps = [["gpu"]]
    if gpus in ("all", "auto"):
        return [DeviceRequest(driver="nvidia", count=-1, capabilities=caps)]
    if isinstance(gpus, int):
        return [DeviceRequest(driver="nvidia", count=gpus, capabilities=caps)]
    if isinstance(gpus, tuple):
        ids = [str(g) for g in gpus]
        return [DeviceRequest(driver="nvidia", device_ids=ids, capabilities=caps)]
    raise ValueError(f"unknown gpus value {gpus!r}")


# --------------------------------------------------------------------------------------
# Daemon, images, ownership labels
# --------------------------------------------------------------------------------------


def connect(docker_host: str | None = None, timeout: float = 60) -> Any:
    """A docker client that has answered a ping, or DockerError saying the daemon is down."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise DockerError(
            "the docker launcher needs the docker Python SDK",
            hint="pip install 'triton-gate[docker]'",
        ) from None
    where = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=where, timeout=int(timeout))
        client.ping()
    except (DockerException, OSError) as e:
        raise DockerError(
            f"the Docker daemon at {where} is not reachable: {_short(e)}",
            hint="start dockerd, or set launcher.docker_host / DOCKER_HOST to a running one",
        ) from None
    return client


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def ensure_image(client: Any, ref: str, pull: str) -> Any:
    """The local image ``ref``, pulled first when the policy says so."""
    from docker.errors import APIError, ImageNotFound

    image = None
    if pull != "always":
        with contextlib.suppress(ImageNotFound):
            image = client.images.get(ref)
    if image is not None:
        return image
    if pull == "never":
        raise DockerError(
            f"image {ref} is not present locally and launcher.pull is 'never'",
            hint=f"docker pull {ref} (or docker load it) on this runner, or set pull: missing",
        )
    try:
        return client.images.pull(ref)
    except (APIError, ImageNotFound) as e:
        raise DockerError(
            f"image {ref} is missing locally and could not be pulled: {_short(e)}",
            hint="check the image name, registry access (docker login nvcr.io), "
            "or pre-load the image on the runner",
        ) from None


def image_digest(image: Any) -> str:
    """The registry digest when the image came from one, else the local image id."""
    digests = image.attrs.get("RepoDigests") or []
    return str(digests[0]) if digests else str(image.id)


def _proc_start(pid: int) -> str:
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


def owner_labels(run_id: str) -> dict[str, str]:
    pid = os.getpid()
    return {
        LABEL_MANAGED: "true",
        LABEL_RUN_ID: run_id,
        LABEL_PID: str(pid),
        LABEL_PID_START: _proc_start(pid),
        LABEL_HOST: socket.gethostname(),
    }


def owner_gone(labels: dict[str, str]) -> bool:
    """True when the gate process that created a container on this host no longer runs."""
    if labels.get(LABEL_HOST) != socket.gethostname():
        return False  # another machine's run: not ours to judge
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return True
    start = _proc_start(pid)
    return not start or start != labels.get(LABEL_PID_START)


@dataclass(frozen=True)
class Leftover:
    id: str
    name: str
    run_id: str
    status: str
    removed: bool
    note: str


def cleanup(docker_host: str | None = None, *, dry_run: bool = False) -> list[Leftover]:
    """Remove containers of gate runs whose process is gone (found by label)."""
    client = connect(docker_host)
    out: list[Leftover] = []
    try:
        for c in client.containers.list(all=True, filters={"label": f"{LABEL_MANAGED}=true"}):
            labels = dict(c.labels or {})
            run_id = labels.get(LABEL_RUN_ID, "?")
            if not owner_gone(labels):
                out.append(Leftover(c.id, c.name, run_id, c.status, False, "owner still runs"))
                continue
            if dry_run:
                out.append(Leftover(c.id, c.name, run_id, c.status, False, "would remove"))
                continue
            try:
                c.remove(force=True)
                out.append(Leftover(c.id, c.name, run_id, c.status, True, "removed"))
            except Exception as e:
                out.append(Leftover(c.id, c.name, run_id, c.status, False, _short(e)))
    finally:
        client.close()
    return out


# --------------------------------------------------------------------------------------
# The launcher
# --------------------------------------------------------------------------------------


class DockerServer(LocalServer):
    """Context manager: run tritonserver in a labelled container, always remove it.

    Reuses the local launcher's control (load, metadata, readiness) unchanged: with host
    networking the container's server is just another server on 127.0.0.1.
    """

    what = "the tritonserver container"
    log_name = "container log"
    log_lines_in_errors = 20
    ready_poll_s = 0.2

    def __init__(
        self,
        launcher: LauncherConfig,
        repository: Path,
        log_path: Path,
        *,
        run_id: str,
        index: int = 1,
    ) -> None:
        self.launcher = launcher
        self.repository = repository
        self.log_path = log_path
        self.startup_timeout_s = launcher.startup_timeout_s
        self.load_timeout_s = launcher.load_timeout_s
        self.stop_timeout_s = launcher.stop_timeout_s
        self.extra_args = launcher.extra_args
        self.cpus: tuple[int, ...] = ()  # the container's cpuset (gate.servers.affinity)
        self.run_id = run_id
        self.name = f"gate-{run_id}-{index}"
        self.proc = None
        self.http_port = self.grpc_port = self.metrics_port = 0
        self.client: Any = None
        self.container: Any = None
        self.image: Any = None
        self._log_cache = ""

    # -- lifecycle ---------------------------------------------------------------------

    def command(self) -> list[str]:
        """tritonserver's arguments inside the container."""
        return [
            "tritonserver",
            *flags(
                repository=_CONTAINER_REPO,
                http_port=self.http_port,
                grpc_port=self.grpc_port,
                metrics_port=self.metrics_port,
            ),
            *self.extra_args,
        ]

    def run_kwargs(self, host_gpus: bool) -> dict[str, Any]:
        """Everything ``containers.run`` gets besides the image (tested as a value)."""
        return {
            "command": self.command(),
            "name": self.name,
            "detach": True,
            "network_mode": "host",
            "volumes": {str(self.repository.resolve()): {"bind": _CONTAINER_REPO, "mode": "ro"}},
            "shm_size": self.launcher.shm_size,
            "device_requests": device_requests(self.launcher.gpus, host_gpus=host_gpus),
            "labels": owner_labels(self.run_id),
            "init": True,
            "stop_signal": "SIGTERM",
            **({"cpuset_cpus": format_cpus(self.cpus)} if self.cpus else {}),
        }

    def _ports(self) -> None:
        lc = self.launcher
        self.http_port = lc.http_port or free_port()
        self.grpc_port = lc.grpc_port or free_port()
        self.metrics_port = lc.metrics_port or free_port()

    def start(self) -> None:
        if self.launcher.image_signature is not None and "@sha256:" not in self.launcher.image_ref:
            # the signature stage pins a verified image to its digest; never run it by a tag
            # that could have moved since (a launcher opened without that stage refuses)
            raise DockerError(
                f"launcher.image_signature is set but {self.launcher.image_ref} is not pinned "
                "to a verified digest",
                hint="run through gate check / gate baseline record, which verify it first",
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.client = connect(self.launcher.docker_host, timeout=max(60, self.stop_timeout_s + 30))
        from docker.errors import APIError, DockerException

        self.image = ensure_image(self.client, self.launcher.image_ref, self.launcher.pull)
        gpus = self.launcher.gpus == "auto" and host_has_gpus()
        fixed = any((self.launcher.http_port, self.launcher.grpc_port, self.launcher.metrics_port))
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._ports()
            kwargs = self.run_kwargs(host_gpus=gpus)
            self._note(
                f"### gate: docker run {self.launcher.image_ref} {' '.join(kwargs['command'])}"
            )
            try:
                self.container = self.client.containers.run(self.image.id, **kwargs)
            except (APIError, DockerException) as e:
                raise DockerError(
                    f"docker could not start {self.launcher.image_ref}: {_short(e)}",
                    hint="a GPU request on a host without the NVIDIA container runtime fails "
                    "here: set launcher.gpus: none, or install nvidia-container-toolkit",
                ) from None
            try:
                self._wait_ready()
                return
            except ServerError as e:
                taken = "already in use" in self.log_text()
                self.stop()
                if taken and fixed:
                    raise DockerError(
                        "a configured port is taken on 127.0.0.1 (http "
                        f"{self.http_port}, grpc {self.grpc_port}, metrics {self.metrics_port}): "
                        f"{self.last_error() or e.message}",
                        hint="free the port or drop launcher.*_port to pick free ports",
                        details=e.details,
                    ) from None
                if taken and attempt < _PORT_ATTEMPTS:
                    continue
                raise

    def _exit_code(self) -> int | str | None:
        status, code = self._status()
        if status in ("exited", "dead", "gone"):
            return code if code is not None else status
        return None

    def _status(self) -> tuple[str, int | None]:
        if self.container is None:
            return "gone", None
        try:
            self.container.reload()
        except Exception:
            return "gone", None
        state = self.container.attrs.get("State", {})
        return str(state.get("Status", "?")), state.get("ExitCode")

    def stop(self) -> None:
        """Stop and remove the container (found by name if its handle never came back),
        keeping its log. Idempotent; never raises."""
        client = self.client
        if client is None:
            return
        container = self.container
        if container is None:
            with contextlib.suppress(Exception):
                container = client.containers.get(self.name)
        if container is not None:
            with contextlib.suppress(Exception):
                container.stop(timeout=int(self.stop_timeout_s))
            self._save_logs(container)
            with contextlib.suppress(Exception):
                container.remove(force=True)
        self.container = None

    def _save_logs(self, container: Any) -> None:
        try:
            text = container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
        except Exception:
            return
        self._log_cache = text
        self._note(text.rstrip("\n"))

    def _note(self, text: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None

    # -- state -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The host PID of the container's first process (its init; tritonserver and the
        python-backend stubs are its children), so memory sampling reads the same process
        tree RSS as for the local launcher. None when the container is not running."""
        if self.container is None:
            return None
        try:
            self.container.reload()
            pid = int(self.container.attrs.get("State", {}).get("Pid") or 0)
        except Exception:
            return None
        return pid or None

    @property
    def metrics_url(self) -> str:
        """Triton's metrics endpoint (host networking): GPU memory on GPU hosts."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def is_alive(self) -> bool:
        return self._status()[0] == "running"

    def log_text(self) -> str:
        """The live container log while it exists, else what was saved at teardown."""
        if self.container is not None:
            with contextlib.suppress(Exception):
                raw = self.container.logs(stdout=True, stderr=True)
                return str(raw.decode("utf-8", errors="replace"))
        return self._log_cache or super().log_text()

    def environment(self) -> dict[str, str]:
        """Fingerprint keys this launcher adds: the image and its digest."""
        if self.image is None:
            return {}
        return {"image": self.launcher.image_ref, "image_digest": image_digest(self.image)}
