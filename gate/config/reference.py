"""JSON Schema and the configuration reference page, both generated from the pydantic models.

``gate.yaml`` (``GateConfig``) and policies (``Policy``) are described once, by their models:
field types, defaults, bounds and the ``description=`` texts. ``gate schema`` prints the JSON
Schema an editor uses to complete and check the files (the ``yaml-language-server`` line
that ``gate init`` writes points at it), and ``markdown_reference`` renders
``docs/configuration.md``; ``tests/test_schema.py`` fails when that page differs from what
the models say, so documentation cannot drift from the code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

SCHEMA_FILES: Final = {"gate": "gate.schema.json", "policy": "policy.schema.json"}
"""The file names ``gate schema --out DIR`` and ``gate init`` write."""

_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``gate.yaml`` (``kind="gate"``) or of a policy (``"policy"``)."""
    from pydantic import BaseModel

    from gate.config.config import GateConfig
    from gate.config.policy import Policy

    models: dict[str, type[BaseModel]] = {"gate": GateConfig, "policy": Policy}
    if kind not in models:
        raise ValueError(f"unknown schema {kind!r}: choose from {', '.join(models)}")
    schema = models[kind].model_json_schema()
    title = "gate.yaml" if kind == "gate" else "gate policy"
    return {"$schema": _DRAFT, **schema, "title": title}


def schema_text(kind: str) -> str:
    """``json_schema(kind)`` as stable, indented JSON ending with a newline."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


# --------------------------------------------------------------------------------------
# The reference page
# --------------------------------------------------------------------------------------


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return dict(defs[ref.rsplit("/", 1)[-1]])
    return node


def _object_in(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a field holds (directly, by reference, or as ``X | null``)."""
    node = _resolve(node, defs)
    if node.get("type") == "object" and "properties" in node:
        return node
    objects = [
        o
        for o in (_object_in(a, defs) for a in node.get("anyOf", []))
        if o is not None and "discriminator" not in node
    ]
    return objects[0] if len(objects) == 1 else None


def _type(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _resolve(node, defs)
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " \\| ".join(json.dumps(v) for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            parts = [_type(a, defs) for a in node[key]]
            return " \\| ".join(dict.fromkeys(parts))
    kind = node.get("type")
    if kind == "array":
        items = node.get("items")
        if isinstance(items, dict) and items:
            return f"list of {_type(items, defs)}"
        return "list"
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"map of {_type(extra, defs)}"
        title = node.get("title")
        return f"`{title}`" if "properties" in node and title else "mapping"
    if kind == "string" and node.get("format") == "path":
        return "path"
    return str(kind or "any")


_BOUNDS: Final = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length ≥ {}"),
    ("pattern", "pattern `{}`"),
)


def _constraints(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _resolve(node, defs)
    found = [fmt.format(node[k]) for k, fmt in _BOUNDS if k in node]
    for alt in node.get("anyOf", []):
        found += [fmt.format(alt[k]) for k, fmt in _BOUNDS if k in alt]
    return ", ".join(dict.fromkeys(found))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(field: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in field:
        return ""
    value = field["default"]
    if value is None:
        return "unset"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _sections(
    path: str, node: dict[str, Any], defs: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, object schema) for ``node`` and every object below it, depth first."""
    yield path, node
    for name, field in node.get("properties", {}).items():
        child = _object_in(field, defs)
        if child is None:
            items = _resolve(field, defs).get("items")
            child = _object_in(items, defs) if isinstance(items, dict) else None
            name = f"{name}[]" if child is not None else name
        if child is not None:
            yield from _sections(f"{path}.{name}" if path else name, child, defs)


def _variants(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas of a discriminated list (``signatures.rules``)."""
    items = _resolve(node, defs).get("items", {})
    return [_resolve(v, defs) for v in items.get("oneOf", [])] if isinstance(items, dict) else []


def _table(path: str, node: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    required = set(node.get("required", []))
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, field in node.get("properties", {}).items():
        full = f"{path}.{name}" if path else name
        kind, default = _type(field, defs), _default(field, name in required)
        items = _resolve(field, defs).get("items")
        if _object_in(field, defs) is not None:
            kind = f"mapping (`{full}` below)" + (" or null" if "anyOf" in field else "")
            default = "**required**" if name in required else "see below"
        elif isinstance(items, dict) and (_object_in(items, defs) or "oneOf" in items):
            kind = f"list (`{full}[]` below)"
        lines.append(
            f"| `{full}` | {kind} | {default} | "
            f"{_cell(_constraints(field, defs))} | {_cell(field.get('description', ''))} |"
        )
    return lines


def _render(kind: str, heading: str, intro: str, done: dict[str, str]) -> list[str]:
    """The sections of one file; an object already described (``done``: model title ->
    where) gets a pointer instead of a second copy."""
    schema = json_schema(kind)
    defs: dict[str, Any] = schema.get("$defs", {})
    out = [f"## {heading}", "", intro, ""]
    skip: tuple[str, ...] = ()
    for path, node in _sections("", schema, defs):
        if skip and path.startswith(skip):
            continue
        title = f"`{path}`" if path else "top level"
        out += [f"### {title}", ""]
        model = str(node.get("title", ""))
        if path and model in done:
            out += [f"The same keys as {done[model]} above.", ""]
            skip = (f"{path}.", f"{path}[")
            continue
        if path and model:
            done[model] = f"`{path}` in {heading}"
        if path and node.get("description"):
            out += [_cell(node["description"]), ""]
        out += [*_table(path, node, defs), ""]
        for name, field in node.get("properties", {}).items():
            for variant in _variants(field, defs):
                method = variant.get("properties", {}).get("method", {}).get("const")
                sub = f"{path}.{name}[]" if path else f"{name}[]"
                out += [f"#### `{sub}` with `method: {method}`", ""]
                if variant.get("description"):
                    out += [_cell(variant["description"]), ""]
                out += [*_table(sub, variant, defs), ""]
    return out


_HEADER: Final = """\
<!-- Generated from the pydantic models by `gate schema --markdown`; do not edit by hand.
     tests/test_schema.py fails when this page and the models differ. -->
# Configuration reference

Every key of `gate.yaml` and of a policy file, with its type, default, allowed values and
meaning. Unknown keys are errors (exit 2) naming the file, the key and the keys allowed
there. Relative paths are relative to the file that holds them.

For editors: `gate schema --out .gate/schema` writes `gate.schema.json` and
`policy.schema.json`; a first line `# yaml-language-server: $schema=.gate/schema/gate.schema.json`
(which `gate init` writes) gives completion and checking in editors that use the YAML language
server. The built-in policy with its comments: `gate policy show`.
"""


def markdown_reference() -> str:
    """``docs/configuration.md``: both files' keys, section by section."""
    lines = [_HEADER]
    done: dict[str, str] = {}
    lines += _render(
        "gate",
        "`gate.yaml`",
        "What to gate and how to run it: the model, where Triton comes from, the traffic, "
        "the baseline, the reports. `gate init` writes a commented one for your model.",
        done,
    )
    lines += _render(
        "policy",
        "Policy",
        "What counts as a regression and how sure the gate must be. Named by `policy:` in "
        "`gate.yaml`; without it the built-in policy applies (`gate policy show`).",
        done,
    )
    return "\n".join(lines).rstrip("\n") + "\n"
