"""The import graph of ``gate``: no cycles, and no module importing a layer above its own.

The layers (ARCHITECTURE.md), top to bottom; a module may import its own layer and any
layer below, never one above:

    cli → app → inputs · signing · servers · measure · baselines · report · tools
        → judge → config · stats → result · evidence · errors · files · progress · signals · redact

Every import counts, function-level and ``TYPE_CHECKING`` ones included: a lazy import is
still a dependency. Read with ``ast`` from the source, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "gate"

LAYERS: list[tuple[str, ...]] = [
    (
        "gate.errors",
        "gate.evidence",
        "gate.result",
        "gate.files",
        "gate.progress",
        "gate.signals",
        "gate.redact",
        "gate.threads",
    ),
    ("gate.config", "gate.stats"),
    ("gate.judge",),
    (
        "gate.inputs",
        "gate.signing",
        "gate.servers",
        "gate.measure",
        "gate.baselines",
        "gate.report",
        "gate.tools",
    ),
    ("gate.app",),
    ("gate.cli", "gate.__main__"),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _rank(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in layer):
            return i
    return None


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = _module_name(path)
    if path.name != "__init__.py":
        pkg = pkg.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("gate"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if not mod.startswith("gate"):
                continue
            # `from gate.judge import resource_slo` imports a module, not a name
            for a in node.names:
                sub = f"{mod}.{a.name}"
                yield sub if _exists(sub) else mod


def _exists(module: str) -> bool:
    p = ROOT.parent / module.replace(".", "/")
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        out[name] = {m for m in _imports(path) if m != name and _exists(m) and m != "gate"}
    return out


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in graph() if m != "gate" and _rank(m) is None)
    assert not unplaced, f"modules outside every layer (add them to LAYERS): {unplaced}"


def test_no_import_goes_up_a_layer() -> None:
    ups = []
    for mod, deps in graph().items():
        r = _rank(mod)
        for d in sorted(deps):
            rd = _rank(d)
            if r is not None and rd is not None and rd > r:
                ups.append(f"{mod} -> {d}")
    assert not ups, "imports against the layers:\n" + "\n".join(ups)


#: Cycles still being taken apart; an entry that no longer exists fails the test (remove it).
KNOWN_CYCLES: list[list[str]] = []


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles() -> None:
    cycles = _cycles(graph())
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    gone = [c for c in KNOWN_CYCLES if c not in cycles]
    assert not new, f"import cycles: {new}"
    assert not gone, f"cycles no longer there, remove them from KNOWN_CYCLES: {gone}"


def _package(module: str) -> str:
    """The top-level part a module belongs to: ``gate.signing.stage`` -> ``gate.signing``."""
    return ".".join(module.split(".")[:2])


def test_no_cycles_between_packages() -> None:
    """Siblings of one layer may import each other, but only one way: two packages that
    import each other (even through different modules) are one tangle, not two parts."""
    g: dict[str, set[str]] = {}
    for mod, deps in graph().items():
        g.setdefault(_package(mod), set()).update(
            _package(d) for d in deps if _package(d) != _package(mod)
        )
    assert not _cycles(g), f"packages importing each other: {_cycles(g)}"
