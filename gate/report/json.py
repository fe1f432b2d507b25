"""JSON: the canonical report, ``RunResult`` exactly as stored, and reading it back.

``render_json`` writes ``run.json``; ``load_run`` is the one way any command (``gate report``,
``report merge``, ``baseline promote``, ``notify``) reads one, so a bad file is always the
same exit 2 naming the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from gate.config.yaml import validation_message
from gate.errors import ConfigError
from gate.result import RUN_SCHEMA, RunResult

__all__ = ["load_run", "render_json"]

_HINT = "pass a run.json written by gate (gate check writes it into reports.dir)"


def _jsonable(value: Any) -> Any:
    """Last resort for a value pydantic cannot serialise (a numpy scalar in ``details``)."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


def render_json(result: RunResult) -> str:
    """The run as the canonical ``gate-run/1`` JSON document (``load_run`` reads it).

    ``CheckResult.details`` is free-form; should a stage leave a value there that JSON cannot
    hold (a numpy scalar or array), it is converted rather than losing the whole record.
    """
    try:
        return result.to_json()
    except PydanticSerializationError:
        return result.to_json(fallback=_jsonable)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a run.json", hint=_HINT) from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: cannot read: file not found", hint=_HINT) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}", hint=_HINT) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not a text file (byte {e.start} is not UTF-8)", hint=_HINT
        ) from None


def _schema_error(path: Path, text: str) -> ConfigError | None:
    """Why a valid-JSON document that failed validation is no run.json of this gate, if the
    ``schema`` field says so (then its other fields are not worth naming)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        kind = {list: "array", str: "string", bool: "boolean"}.get(type(doc), "number or null")
        return ConfigError(
            f"{path}: not a gate run record (a JSON {kind}, not an object)",
            hint=_HINT,
        )
    schema = doc.get("schema", RUN_SCHEMA)
    if schema == RUN_SCHEMA:
        return None
    if isinstance(schema, str) and schema.startswith("gate-run/"):
        return ConfigError(
            f"{path}: field 'schema': {schema!r} was written by another version of gate (this "
            f"one reads {RUN_SCHEMA!r})",
            hint="read it with the gate version that wrote it (gate_version in the file)",
        )
    return ConfigError(
        f"{path}: field 'schema': not a gate run record (expected {RUN_SCHEMA!r}, got {schema!r})",
        hint=_HINT,
    )


def load_run(path: Path) -> RunResult:
    """The ``RunResult`` saved in ``path``, or a ``ConfigError`` (exit 2) naming the file and
    what is wrong: unreadable, a folder, binary, not JSON, another schema, or a bad field."""
    text = _read_text(path)
    try:
        return RunResult.from_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        if first["type"] == "json_invalid":
            where = first.get("ctx", {}).get("error", first["msg"])
            raise ConfigError(f"{path}: not valid JSON: {where}", hint=_HINT) from None
        raise _schema_error(path, text) or validation_message(
            path, e, RunResult, hint=_HINT
        ) from None
