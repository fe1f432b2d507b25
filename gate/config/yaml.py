"""Reading YAML config files and turning pydantic errors into one-line ConfigErrors.

Shared by ``gate.yaml``, policies and every other YAML file the gate reads, so an error always
names the file, the field and the fix the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gate.errors import ConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_FIXES: dict[str, str] = {
    "extra_forbidden": "remove it or correct its spelling",
    "missing": "add it",
}


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def validation_message(path: Path, exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    err = exc.errors()[0]
    field = _format_loc(tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = f"{path}: unknown key '{field}'"
        fix = _FIXES[kind]
        allowed = _allowed_keys(model, tuple(err["loc"])[:-1])
        if allowed:
            fix += f" (allowed here: {', '.join(allowed)})"
    elif kind == "missing":
        msg = f"{path}: required field '{field}' is missing"
        fix = "add it"
    elif kind == "launcher_kind":
        msg = f"{path}: field '{field}': {err['msg']}"
        fix = "remove the key or change launcher.kind (see README: Launchers)"
    elif kind == "launcher_url":
        msg = f"{path}: field '{field}': {err['msg']}"
        fix = "add launcher.url, e.g. url: http://127.0.0.1:8000"
    else:
        got = err.get("input")
        got_s = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        msg = f"{path}: field '{field}': {err['msg']} (got {got_s})"
        fix = "correct the value"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(msg, hint=fix)


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        current = _model_in(ann)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _model_in(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def read_yaml(path: Path, what: str) -> dict[str, Any]:
    """Read a YAML mapping, turning every failure into a one-line ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} file not found", hint="check the path or create the file"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} file: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(
            f"{path}: not valid YAML{where}: {problem}", hint="fix the YAML syntax"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: {what} must be a YAML mapping, got {type(data).__name__}",
            hint="write 'key: value' pairs at the top level",
        )
    return data
