"""Finding and installing the external tools: ``tritonserver`` and ``perf_analyzer``.

Finding order for each tool: the path given in the config, then ``PATH``, then the embedded
or cached copy. Nothing is ever written into site-packages: the embedded server's backend
directory is a folder of symlinks in the gate's cache, and perf_analyzer is unpacked from the
``tritonclient`` wheel (2.60.0 and older carry the binary) into that cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from gate.errors import ToolNotFoundError
from gate.files import file_lock

#: perf_analyzer builds that run on a given glibc: 2.52–2.60 need glibc 2.38;
#: 2.48 runs on glibc 2.36 given libb64.so.0d and libcudart.so.12 (no GPU needed).
PA_VERSION_NEW_GLIBC = "2.60.0"
PA_VERSION_OLD_GLIBC = "2.48.0"
_PA_MARKER = "Perf Analyzer Version"


@dataclass(frozen=True)
class Tool:
    """A located executable, with the extra environment it needs to run."""

    name: str
    path: Path
    version: str
    source: str  # "config", "PATH", "embedded", "cache"
    env: dict[str, str] = field(default_factory=dict)
    backend_dir: Path | None = None  # tritonserver only

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The process environment to run this tool with."""
        env = dict(os.environ if base is None else base)
        for key, value in self.env.items():
            if key == "LD_LIBRARY_PATH" and env.get(key):
                env[key] = f"{value}:{env[key]}"
            else:
                env[key] = value
        return env


def cache_dir() -> Path:
    """``$GATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/triton-gate``, else ``~/.cache/triton-gate``."""
    if os.environ.get("GATE_CACHE_DIR"):
        return Path(os.environ["GATE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "triton-gate"


def glibc_version() -> tuple[int, int] | None:
    lib, ver = platform.libc_ver()
    if lib != "glibc" or not ver:
        return None
    m = re.match(r"(\d+)\.(\d+)", ver)
    return (int(m.group(1)), int(m.group(2))) if m else None


def perf_analyzer_version_for_this_host() -> str:
    g = glibc_version()
    return PA_VERSION_NEW_GLIBC if g is not None and g >= (2, 38) else PA_VERSION_OLD_GLIBC


# --------------------------------------------------------------------------------------
# tritonserver
# --------------------------------------------------------------------------------------


def _pytriton_root() -> Path | None:
    """The ``pytriton/tritonserver`` folder of the nvidia-pytriton wheel, without importing it."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        root = Path(loc) / "tritonserver"
        if (root / "bin" / "tritonserver").is_file():
            return root
    return None


def _pytriton_libs() -> Path | None:
    root = _pytriton_root()
    if root is None:
        return None
    libs = root.parent.parent / "nvidia_pytriton.libs"
    return libs if libs.is_dir() else None


def _pytriton_version() -> str:
    try:
        from importlib.metadata import version

        return version("nvidia-pytriton")
    except Exception:
        return "unknown"


def embedded_backend_dir(root: Path) -> Path:
    """Assemble (once) a backend directory of symlinks for the embedded python backend.

    Triton looks for ``<backend-dir>/python/libtriton_python.so`` and the stub beside it;
    the wheel keeps one stub per Python version, so we link the one for this interpreter.
    """
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / py / "triton_python_backend_stub"
    if not stub.is_file():
        have = sorted(p.name for p in (root / "python_backend_stubs").iterdir())
        raise ToolNotFoundError(
            f"the embedded tritonserver has no python backend stub for Python {py} "
            f"(it has {', '.join(have)})",
            hint="run the gate with one of those Python versions, or set launcher.tritonserver",
        )
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    target = cache_dir() / "backends" / f"{key}-py{py}"
    links = {
        "libtriton_python.so": root / "backends" / "python" / "libtriton_python.so",
        "triton_python_backend_utils.py": root
        / "backends"
        / "python"
        / "triton_python_backend_utils.py",
        "triton_python_backend_stub": stub,
    }
    ok = all(
        (target / "python" / name).is_symlink()
        and os.readlink(target / "python" / name) == str(src)
        for name, src in links.items()
    )
    if ok:
        return target
    with file_lock(cache_dir() / "backends.lock", what="tool cache lock"):
        (cache_dir() / "backends").mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir() / "backends"))
        (tmp / "python").mkdir()
        for name, src in links.items():
            os.symlink(src, tmp / "python" / name)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    return target


def find_tritonserver(configured: Path | None = None) -> Tool:
    """Config path, then ``tritonserver`` on PATH, then the one in the nvidia-pytriton wheel."""
    if configured is not None:
        if not (configured.is_file() and os.access(configured, os.X_OK)):
            raise ToolNotFoundError(
                f"launcher.tritonserver: {configured} is not an executable file",
                hint="fix the path in gate.yaml or remove it to use PATH / the embedded server",
            )
        return Tool("tritonserver", configured, "unknown (reported at start)", "config")
    on_path = shutil.which("tritonserver")
    if on_path:
        return Tool("tritonserver", Path(on_path), "unknown (reported at start)", "PATH")
    root = _pytriton_root()
    if root is not None:
        return Tool(
            "tritonserver",
            root / "bin" / "tritonserver",
            f"Triton from nvidia-pytriton {_pytriton_version()}",
            "embedded",
            backend_dir=embedded_backend_dir(root),
        )
    raise ToolNotFoundError(
        "tritonserver not found (not configured, not on PATH, nvidia-pytriton not installed)",
        hint="pip install 'triton-gate[embedded]' or set launcher.tritonserver in gate.yaml",
    )


# --------------------------------------------------------------------------------------
# perf_analyzer
# --------------------------------------------------------------------------------------


def _probe_pa(path: Path, env: dict[str, str]) -> str | None:
    """The version perf_analyzer reports, or None if it does not run or is not the real one."""
    return _probe_pa_output(path, env)[0]


def _probe_pa_output(path: Path, env: dict[str, str]) -> tuple[str | None, str]:
    """(version or None, the last line it printed) of ``perf_analyzer --version``."""
    try:
        proc = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    out = proc.stdout + proc.stderr
    m = re.search(_PA_MARKER + r"\s+(\S+)", out)
    last = out.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
    return (m.group(1) if m else None), last[0]


def _pa_cache_root(version: str) -> Path:
    return cache_dir() / "perf_analyzer" / version


def _lib_candidates(soname: str) -> list[Path]:
    """Where a library perf_analyzer 2.48 needs can come from, best first."""
    stem = soname.split(".so")[0]
    found: list[Path] = []
    libs = _pytriton_libs()
    if libs is not None:
        found += sorted(libs.glob(f"{stem}-*.so*"))
    spec = importlib.util.find_spec("nvidia")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            found += sorted(Path(loc).glob(f"*/lib/{soname}*"))
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/lib"):
        p = Path(d) / soname
        if p.exists():
            found.append(p)
    return found


def _assemble_libs(lib_dir: Path) -> None:
    lib_dir.mkdir(parents=True, exist_ok=True)
    for soname in ("libb64.so.0d", "libcudart.so.12"):
        link = lib_dir / soname
        if link.exists():
            continue
        cands = _lib_candidates(soname)
        if not cands:
            raise ToolNotFoundError(
                f"perf_analyzer needs {soname} and none was found",
                hint="pip install nvidia-pytriton (bundles it), or apt-get install libb64-0d /"
                " pip install nvidia-cuda-runtime-cu12",
            )
        if link.is_symlink():
            link.unlink()
        os.symlink(cands[0], link)


def _cached_pa(version: str) -> Tool | None:
    root = _pa_cache_root(version)
    binary = root / "bin" / "perf_analyzer"
    if not binary.is_file():
        return None
    env = {"LD_LIBRARY_PATH": str(root / "lib")}
    with contextlib.suppress(ToolNotFoundError):
        _assemble_libs(root / "lib")  # repair links if a wheel moved
    tool = Tool("perf_analyzer", binary, "", "cache", env=env)
    got = _probe_pa(binary, tool.environ())
    if got is None:
        return None
    return Tool("perf_analyzer", binary, got, "cache", env=env)


def install_perf_analyzer(version: str | None = None, wheel: Path | None = None) -> Tool:
    """Unpack perf_analyzer from the ``tritonclient`` wheel into the cache and check it runs.

    The wheel is fetched with ``pip download`` from the package index (the only download the
    gate ever makes), or taken from ``wheel`` for air-gapped runners. Atomic: unpacked into
    a temporary folder and renamed, under a lock, so parallel first runs do not collide.
    """
    version = version or perf_analyzer_version_for_this_host()
    root = _pa_cache_root(version)
    with file_lock(cache_dir() / "perf_analyzer.lock", what="tool cache lock"):
        cached = _cached_pa(version)
        if cached is not None:
            return cached
        root.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root.parent))
        try:
            _unpack_pa(wheel or _download_wheel(version, work / "dl"), version, work)
            _assemble_libs(work / "lib")
            if root.exists():
                shutil.rmtree(root)
            os.replace(work, root)  # lib links are absolute: the rename keeps them valid
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        env = {"LD_LIBRARY_PATH": str(root / "lib")}
        binary = root / "bin" / "perf_analyzer"
        got, said = _probe_pa_output(binary, Tool("perf_analyzer", binary, "", "", env).environ())
        if got is None:
            raise ToolNotFoundError(
                f"perf_analyzer {version} was installed but does not run: {said}",
                hint="run 'gate doctor' for details; glibc >= 2.38 needs 2.60.0, older 2.48.0",
            )
        return Tool("perf_analyzer", binary, got, "cache", env=env)


def _download_wheel(version: str, dest: Path) -> Path:
    """``tritonclient==version`` from the package index, through pip."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            f"tritonclient=={version}",
            "-d",
            str(dest),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wheels = sorted(dest.glob("tritonclient-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        raise ToolNotFoundError(
            f"could not download tritonclient=={version} to get perf_analyzer: {tail[0]}",
            hint="check access to the package index, or pass a downloaded wheel: "
            "gate doctor --install --wheel tritonclient-X.whl",
        )
    return wheels[0]


def _unpack_pa(wheel: Path, version: str, work: Path) -> None:
    """The wheel's perf_analyzer binary into ``work/bin``, executable."""
    member = f"tritonclient-{version}.data/data/bin/perf_analyzer"
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            if member not in names:
                alt = [n for n in names if n.endswith("/data/bin/perf_analyzer")]
                if not alt:
                    raise ToolNotFoundError(
                        f"{wheel} holds no perf_analyzer binary",
                        hint=f"use a tritonclient wheel <= 2.60.0 (this host: {version})",
                    )
                member = alt[0]
            (work / "bin").mkdir()
            with zf.open(member) as src, open(work / "bin" / "perf_analyzer", "wb") as dst:
                shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile:
        raise ToolNotFoundError(f"{wheel} is not a valid wheel") from None
    os.chmod(work / "bin" / "perf_analyzer", 0o755)
    os.chmod(work, 0o755)


def find_perf_analyzer(configured: Path | None = None, *, install: bool = True) -> Tool:
    """Config path, then ``perf_analyzer`` on PATH, then the cache (installing on first need)."""
    if configured is not None:
        version = _probe_pa(configured, dict(os.environ))
        if version is None:
            raise ToolNotFoundError(
                f"measure.perf_analyzer: {configured} does not run as perf_analyzer",
                hint="fix the path in gate.yaml, or remove it to use PATH / the cached copy",
            )
        return Tool("perf_analyzer", configured, version, "config")
    on_path = shutil.which("perf_analyzer")
    if on_path:
        version = _probe_pa(Path(on_path), dict(os.environ))
        if version is not None:
            return Tool("perf_analyzer", Path(on_path), version, "PATH")
    version = perf_analyzer_version_for_this_host()
    cached = _cached_pa(version)
    if cached is not None:
        return cached
    if not install:
        raise ToolNotFoundError(
            "perf_analyzer not found (not configured, not on PATH, not in the cache)",
            hint="run 'gate doctor --install' (downloads tritonclient from the package index)",
        )
    return install_perf_analyzer(version)


# --------------------------------------------------------------------------------------
# doctor
# --------------------------------------------------------------------------------------


_CUDA = re.compile(r"CUDA Version\s*:\s*([0-9][0-9.]*)")


def cuda_version() -> str:
    """The CUDA version the NVIDIA driver supports, as ``nvidia-smi`` prints it; ``""``
    without a driver. (A container's own CUDA runtime is part of its image digest.)"""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ""
    try:
        out = subprocess.run([smi], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = _CUDA.search(out.stdout)
    return m.group(1) if m else ""


@dataclass(frozen=True)
class GpuQuery:
    """What ``nvidia-smi`` says: no tool (smi None), a failure (error), or the GPUs found."""

    smi: str | None
    gpus: tuple[tuple[str, str], ...] = ()  # (name, driver version) per GPU
    error: str | None = None


def query_gpus() -> GpuQuery:
    """Ask nvidia-smi for each GPU's name and driver; the one place the gate does so."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return GpuQuery(None)
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return GpuQuery(smi, error=str(e))
    rows = [r.split(",") for r in out.stdout.strip().splitlines() if r.strip()]
    if out.returncode != 0:
        return GpuQuery(smi)
    return GpuQuery(smi, tuple((r[0].strip(), r[-1].strip()) for r in rows))
