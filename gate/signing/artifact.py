"""A model published as an OCI artifact (``model.repository: oci://HOST/REPO@sha256:…``), unpacked.

Called only after ``gate.signing.oci.verify_oci`` proved the manifest's signature: the
manifest is the verified bytes, and every layer is fetched by the digest that manifest names
and checked against it before anything of it is unpacked. Two layouts are read:

* ORAS style: a layer per file, its path in ``org.opencontainers.image.title`` (whatever its
  media type: ORAS labels plain files ``…layer.v1.tar``), or a folder as a gzipped tar with
  ``io.deis.oras.content.unpack: "true"`` (``oras push DIR``; oras-py marks it by the
  ``…tar+gzip`` media type alone);
* image-style tar layers without a title, e.g. a KServe modelcar's model folder.

Either holds the model's folder (``config.pbtxt`` at the top) or a repository holding
``<model.name>/``. Unpacking is into a fresh private folder (removed at exit) and refuses,
before writing anything: absolute paths, ``..``, links of any kind, devices and other
special files, and two entries for one path. Such an artifact is unsafe whoever signed it:
the caller blocks the run.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from gate.signing.interface import SignatureFailure
from gate.signing.registry import DigestMismatch, Registry, download_blob

TITLE = "org.opencontainers.image.title"
UNPACK = "io.deis.oras.content.unpack"
_MAX_ENTRIES = 100_000


class UnsafeArtifact(SignatureFailure):
    """An artifact whose content would escape or abuse the folder it is unpacked into."""


def safe_path(name: str, where: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside the folder, or UnsafeArtifact."""
    p = PurePosixPath(name.replace("\\", "/"))
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or p.is_absolute() or ".." in parts or "\0" in name:
        raise UnsafeArtifact(f"{where}: path {name[:80]!r} leaves the model folder (refused)")
    return PurePosixPath(*parts)


def fetch_model(reg: Registry, manifest: bytes, model_name: str, *, label: str) -> Path:
    """Unpack the verified artifact ``manifest``; returns the repository folder to serve."""
    try:
        layers = [dict(x) for x in json.loads(manifest).get("layers") or []]
    except (ValueError, AttributeError, TypeError):
        raise SignatureFailure(f"{label}: manifest has no layers (not a model artifact)") from None
    if not layers:
        raise SignatureFailure(f"{label}: artifact has no layers (nothing to serve)")
    root = Path(tempfile.mkdtemp(prefix="gate-oci-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    stage = root / "unpack"
    stage.mkdir()
    blobs = root / "blobs"
    blobs.mkdir()
    seen: set[PurePosixPath] = set()
    for i, layer in enumerate(layers):
        digest = str(layer.get("digest", ""))
        where = f"{label} layer {i + 1}"
        media = str(layer.get("mediaType", ""))
        ann = dict(layer.get("annotations") or {})
        title = str(ann.get(TITLE, ""))
        folder = str(ann.get(UNPACK, "")).lower() == "true" or media.endswith("tar+gzip")
        is_tar = folder or not title  # oras-py marks a folder by its media type only
        if is_tar and not title and "tar" not in media:
            raise SignatureFailure(f"{where}: a layer of type {media[:60]} without a path")
        dest = None if is_tar else safe_path(title, where)
        tmp = blobs / f"{i}.blob"
        try:
            download_blob(reg, digest, tmp)
        except DigestMismatch:
            raise SignatureFailure(
                f"{where} does not match the digest the signed manifest names "
                "(altered in the registry?)"
            ) from None
        if is_tar:
            _untar(tmp, stage, where, seen)
        else:
            assert dest is not None
            _claim(dest, seen, where)
            _place(stage, dest)
            os.replace(tmp, stage / dest)
    shutil.rmtree(blobs, ignore_errors=True)
    return _repository(root, stage, model_name, label)


def _claim(path: PurePosixPath, seen: set[PurePosixPath], where: str) -> None:
    if path in seen:
        raise UnsafeArtifact(f"{where}: {str(path)[:80]} appears twice (refused)")
    seen.add(path)


def _place(stage: Path, rel: PurePosixPath) -> None:
    """Create ``rel``'s parent folders inside ``stage``; nothing on the way may be a link."""
    cur = stage
    for part in rel.parts[:-1]:
        cur = cur / part
        if cur.is_symlink() or (cur.exists() and not cur.is_dir()):
            raise UnsafeArtifact(f"{rel}: a parent is not a folder (refused)")
        cur.mkdir(exist_ok=True)


def _untar(blob: Path, stage: Path, where: str, seen: set[PurePosixPath]) -> None:
    """Check every member first, then write the regular files and folders."""
    try:
        with tarfile.open(blob, "r:*") as tar:
            members = tar.getmembers()
            if len(members) > _MAX_ENTRIES:
                raise UnsafeArtifact(f"{where}: more than {_MAX_ENTRIES} entries (refused)")
            plan: list[tuple[tarfile.TarInfo, PurePosixPath]] = []
            for m in members:
                rel = safe_path(m.name, where)
                if m.issym() or m.islnk():
                    raise UnsafeArtifact(
                        f"{where}: {str(rel)[:80]} is a link (→ {m.linkname[:60]}); links are "
                        "refused in model artifacts"
                    )
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArtifact(f"{where}: {str(rel)[:80]} is not a file or folder")
                if m.isfile():
                    _claim(rel, seen, where)
                plan.append((m, rel))
            for m, rel in plan:
                _write_member(tar, m, stage, rel)
    except tarfile.TarError as e:
        raise SignatureFailure(f"{where}: not a readable tar ({e})") from None


def _write_member(
    tar: tarfile.TarFile, m: tarfile.TarInfo, stage: Path, rel: PurePosixPath
) -> None:
    if m.isdir():
        _place(stage, rel / "x")
        return
    _place(stage, rel)
    src = tar.extractfile(m)
    assert src is not None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    mode = 0o755 if m.mode & stat.S_IXUSR else 0o644
    with src, os.fdopen(os.open(stage / rel, flags, mode), "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _repository(root: Path, stage: Path, model_name: str, label: str) -> Path:
    if (stage / "config.pbtxt").is_file():  # the model's own folder
        repo = root / "repository"
        repo.mkdir()
        os.replace(stage, repo / model_name)
        return repo
    if (stage / model_name / "config.pbtxt").is_file():
        return stage
    raise SignatureFailure(
        f"{label}: the artifact holds neither config.pbtxt nor {model_name}/config.pbtxt "
        "(is model.name right?)"
    )


def layer_files(repo: Path) -> list[str]:
    """The unpacked files, relative POSIX paths (what the signature covered)."""
    return sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())


def describe(manifest: bytes) -> dict[str, Any]:
    """artifactType and layer count, for the run record."""
    try:
        doc = json.loads(manifest)
    except ValueError:
        return {}
    return {"artifactType": doc.get("artifactType"), "layers": len(doc.get("layers") or [])}
