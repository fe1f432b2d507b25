"""JSON: the canonical report, ``RunResult`` exactly as stored (``gate report`` reads it back)."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticSerializationError

from gate.result import RunResult

__all__ = ["render_json"]


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
    """The run as the canonical ``gate-run/1`` JSON document (``RunResult.from_json`` reads it).

    ``CheckResult.details`` is free-form; should a stage leave a value there that JSON cannot
    hold (a numpy scalar or array), it is converted rather than losing the whole record.
    """
    try:
        return result.to_json()
    except PydanticSerializationError:
        return result.model_dump_json(by_alias=True, indent=2, fallback=_jsonable)
