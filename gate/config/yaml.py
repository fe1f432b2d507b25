"""Reading YAML config files and turning pydantic errors into one-line ConfigErrors.

``read_yaml`` is shared by ``gate.yaml``, policies and plan files; ``validation_message`` by
every file validated with pydantic (those, ``run.json``, baselines, history lines), so an
error always names the file, the field and the fix the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from gate.errors import ConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_FIXES: dict[str, str] = {
    "extra_forbidden": "remove it or correct its spelling",
    "missing": "add it",
}

_SHOWN_CHARS = 80
"""How much of a bad value an error repeats: enough to recognise it, never a whole payload."""


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def _shown(value: object) -> str:
    """A bad input value as the error repeats it: containers by type, long text cut short."""
    if isinstance(value, dict | list):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _describe(err: ErrorDetails, model: type[BaseModel] | None) -> tuple[str, str]:
    """The first problem of a validation error as (what is wrong, how to fix it)."""
    field = _format_loc(_walk(model, tuple(err["loc"]))[0])
    kind = err["type"]
    if kind == "extra_forbidden":
        fix = _FIXES[kind]
        allowed = _allowed_keys(model, tuple(err["loc"])[:-1]) if model is not None else []
        if allowed:
            fix += f" (allowed here: {', '.join(allowed)})"
        return f"unknown key '{field}'", fix
    if kind == "missing":
        return f"required field '{field}' is missing", _FIXES[kind]
    if kind == "launcher_kind":
        return (
            f"field '{field}': {err['msg']}",
            "remove the key or change launcher.kind (see docs/usage.md: Launchers)",
        )
    if kind == "launcher_url":
        return f"field '{field}': {err['msg']}", "add launcher.url, e.g. url: http://127.0.0.1:8000"
    text = str(err["msg"]).removeprefix("Value error, ")
    if kind == "value_error":  # a validator's own words already say what to give
        return f"field '{field}': {text}", "change the field as the message says"
    return f"field '{field}': {text} (got {_shown(err.get('input'))})", "correct the value"


def problem(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The first problem of ``exc`` (and how many more), for a message that names the file
    itself, e.g. a warning about one line of a history file."""
    what, _ = _describe(exc.errors()[0], model)
    more = exc.error_count() - 1
    if more:
        what += f" (and {more} more problem{'s' if more > 1 else ''})"
    return what


def validation_message(
    where: Path | str,
    exc: ValidationError,
    model: type[BaseModel] | None = None,
    *,
    hint: str | None = None,
    error: type[ConfigError] = ConfigError,
) -> ConfigError:
    """The one-line error (exit 2) for user input that failed pydantic validation.

    Names the file (``where``), the field and the fix: ``hint`` when given (e.g. "record the
    baseline again" for a file gate wrote), else one for the kind of problem; for an unknown
    key, the keys ``model`` allows there. Every file the gate validates goes through here.
    Several problems are all listed, each with its own fix (not the first one's fix for all).
    """
    items: list[tuple[str, str]] = []
    for err in exc.errors():
        item = _describe(err, model)
        if item not in items:
            items.append(item)
    if len(items) == 1:
        what, fix = items[0]
        return error(f"{where}: {what}", hint=hint or fix)
    listed = "; ".join(f"({i}) {what} — {fix}" for i, (what, fix) in enumerate(items, 1))
    return error(f"{where}: {len(items)} problems: {listed}", hint=hint or "fix each one")


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    found = _walk(model, loc)[1]
    return sorted(found.model_fields) if found is not None else []


def _walk(
    model: type[BaseModel] | None, loc: tuple[int | str, ...]
) -> tuple[tuple[int | str, ...], type[BaseModel] | None]:
    """``loc`` without the tags pydantic inserts for a discriminated union (``rules[0].
    sigstore-bundle.key`` → ``rules[0].key``), and the model the location ends in."""
    out: list[int | str] = []
    candidates: list[type[BaseModel]] = [model] if model is not None else []
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            continue
        owner = next((c for c in candidates if part in c.model_fields), None)
        if owner is None:
            tagged = next((c for c in candidates if _has_tag(c, part)), None)
            if tagged is not None and len(candidates) > 1:
                candidates, current = [tagged], tagged  # a union's tag: not a key
                continue
            out.append(part)
            current = None
            candidates = []
            continue
        out.append(part)
        candidates = _models_in(owner.model_fields[part].annotation)
        current = candidates[0] if len(candidates) == 1 else None
    return tuple(out), current


def _has_tag(model: type[BaseModel], tag: str) -> bool:
    return any(tag in getattr(f.annotation, "__args__", ()) for f in model.model_fields.values())


def _models_in(ann: object) -> list[type[BaseModel]]:
    """Every pydantic model inside an annotation (``Foo``, ``Foo | Bar``, ``list[Foo]``)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out: list[type[BaseModel]] = []
    for arg in getattr(ann, "__args__", ()) or ():
        out += [m for m in _models_in(arg) if m not in out]
    return out


def read_yaml(path: Path, what: str, *, allow_empty: bool = True) -> dict[str, Any]:
    """Read a YAML mapping, turning every failure into a one-line ConfigError.

    Parsed by ``gate.config.loader`` (duplicate keys and alias bombs refused). An empty
    document is ``{}`` unless ``allow_empty`` is false (a policy: empty must not silently
    mean the defaults).
    """
    from gate.config.loader import MAX_BYTES, DuplicateKeyError, load_yaml

    try:
        if path.exists() and not path.is_file():  # a folder, or a FIFO that would block
            raise ConfigError(
                f"{path}: {what} file is not a regular file", hint="point at the YAML file"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} file not found", hint="check the path or create the file"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} file: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"{path}: {what} file is {len(raw)} bytes, over the {MAX_BYTES}-byte limit",
            hint=f"point at the {what} YAML file, not a data file",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: {what} file is not UTF-8 text (byte {e.start}: a binary file?)",
            hint=f"point at the {what} YAML file",
        ) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        fix = (
            "remove one of them: YAML would silently keep only the last"
            if isinstance(e, DuplicateKeyError)
            else "fix the YAML syntax"
        )
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}", hint=fix) from None
    except RecursionError:
        raise ConfigError(
            f"{path}: not valid YAML: nested too deeply", hint="fix the YAML structure"
        ) from None
    if data is None:
        if not allow_empty:
            raise ConfigError(
                f"{path}: the {what} file is empty",
                hint="write 'version: 1' to use the built-in defaults explicitly, or fill it in",
            )
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: {what} must be a YAML mapping, got {type(data).__name__}",
            hint="write 'key: value' pairs at the top level",
        )
    return data
