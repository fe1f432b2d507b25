"""The YAML loader every config file goes through: safe, and strict about what YAML forgives.

``yaml.safe_load`` never runs code, but it forgives two things a gate must not:

* **duplicate keys**: the last one silently wins, so a policy with ``tolerance: 0.05`` and,
  further down, a second ``tolerance: 5`` (a typo, a bad merge) judges with 5 — the
  misspelt-tolerance trap strict config exists to close. Here a repeated key is an error
  naming both lines. Keys brought in by a merge (``<<: *defaults``) may still be overridden:
  that is what a merge is for.
* **unbounded aliases**: a few lines of nested ``*alias`` expand to billions of nodes when
  walked (the "billion laughs"); a document with more than ``MAX_ALIASES`` aliases is
  refused before anything walks it.
"""

from __future__ import annotations

from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

#: more aliases than any hand-written config uses; far fewer than an expansion attack needs
MAX_ALIASES: Final = 100
#: a config file larger than this is not a config file
MAX_BYTES: Final = 4 * 1024 * 1024


class DuplicateKeyError(ConstructorError):
    """A mapping names the same key twice (``problem_mark`` is the second one)."""


class TooManyAliasesError(yaml.YAMLError):
    """More than ``MAX_ALIASES`` aliases in one document."""

    problem = f"more than {MAX_ALIASES} aliases (*name): refused, an alias expansion attack?"

    def __init__(self) -> None:
        super().__init__(self.problem)


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and more than ``MAX_ALIASES`` aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise TooManyAliasesError()
        return super().compose_node(parent, index)  # type: ignore[no-any-return]

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so with its mark
                continue
            if first is not None:
                raise DuplicateKeyError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {str(key)[:60]!r} (first at line {first + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


def load_yaml(text: str) -> Any:
    """Parse one YAML document with ``StrictLoader`` (``yaml.YAMLError`` on any problem;
    ``RecursionError`` for absurd nesting)."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
