"""GitHub Actions expressions (``${{ … }}``) for the local workflow harness.

The subset the example workflows use, with GitHub's semantics: contexts and property
access (``github.event.pull_request.base.sha``, ``needs.plan.outputs['trust-changes']``;
a missing property is null), literals, ``! == != < <= > >= && ||`` (``&&``/``||`` return an
operand, not a boolean; ``==`` compares strings case-insensitively and coerces mixed types
to numbers), and the functions ``success() failure() always() cancelled() fromJSON()
toJSON() format() contains() startsWith() endsWith()``. Anything else raises, so a
workflow the harness cannot read fails the test instead of being half-run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read expression at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v != 0 and not math.isnan(v)
    return not (isinstance(v, str) and v == "")


def _number(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if type(a) is type(b) and not isinstance(a, int | float | str):
        return a is b or a == b
    return _number(a) == _number(b)


def to_string(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


def _index(obj: Any, key: Any) -> Any:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if str(k).lower() == str(key).lower():
                return v
        return None
    if isinstance(obj, list) and isinstance(key, int | float) and 0 <= int(key) < len(obj):
        return obj[int(key)]
    return None


class _Parser:
    def __init__(self, text: str, ctx: Mapping[str, Any], funcs: Mapping[str, Callable[..., Any]]):
        self.toks = _tokens(text)
        self.i = 0
        self.ctx = ctx
        self.funcs = funcs

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise ValueError("unexpected end of expression")
        tok = self.toks[self.i]
        if want is not None and tok[1] != want:
            raise ValueError(f"expected {want!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        v = self.or_()
        if self.i != len(self.toks):
            raise ValueError(f"unexpected {self.toks[self.i][1]!r}")
        return v

    def or_(self) -> Any:
        v = self.and_()
        while self.peek() == "||":
            self.take()
            w = self.and_()
            v = v if truthy(v) else w
        return v

    def and_(self) -> Any:
        v = self.cmp()
        while self.peek() == "&&":
            self.take()
            w = self.cmp()
            v = w if truthy(v) else v
        return v

    def cmp(self) -> Any:
        v = self.unary()
        op = self.peek()
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            w = self.unary()
            if op == "==":
                return _equal(v, w)
            if op == "!=":
                return not _equal(v, w)
            a, b = _number(v), _number(w)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return v

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        v = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                v = _index(v, self.take()[1])
            else:
                key = self.or_()
                self.take("]")
                v = _index(v, key)
        return v

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            v = self.or_()
            self.take(")")
            return v
        if kind != "id":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == "(":
            self.take("(")
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            fn = {k.lower(): f for k, f in self.funcs.items()}.get(text.lower())
            if fn is None:
                raise ValueError(f"function {text}() is not known to the harness")
            return fn(*args)
        return _index(self.ctx, text)


def _format(fmt: str, *args: Any) -> str:
    return re.sub(r"\{(\d+)\}", lambda m: to_string(args[int(m.group(1))]), fmt)


def functions(status: str) -> dict[str, Callable[..., Any]]:
    """The built-in functions; ``status`` is the job's or step's status so far."""
    return {
        "success": lambda: status == "success",
        "failure": lambda: status == "failure",
        "always": lambda: True,
        "cancelled": lambda: False,
        "fromJSON": lambda s: json.loads(s),
        "toJSON": lambda v: json.dumps(v),
        "format": _format,
        "contains": lambda a, b: (
            any(_equal(x, b) for x in a)
            if isinstance(a, list)
            else to_string(b).lower() in to_string(a).lower()
        ),
        "startsWith": lambda a, b: to_string(a).lower().startswith(to_string(b).lower()),
        "endsWith": lambda a, b: to_string(a).lower().endswith(to_string(b).lower()),
    }


def evaluate(text: str, ctx: Mapping[str, Any], status: str = "success") -> Any:
    """The value of one expression (without ``${{ }}``)."""
    return _Parser(text, ctx, functions(status)).parse()


_INTERP = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value: Any, ctx: Mapping[str, Any], status: str = "success") -> Any:
    """A workflow value with its ``${{ }}`` evaluated: a lone expression keeps its type
    (a matrix, a list of runner labels), otherwise the parts are joined as a string."""
    if isinstance(value, dict):
        return {k: interpolate(v, ctx, status) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, ctx, status) for v in value]
    if not isinstance(value, str):
        return value
    whole = _INTERP.fullmatch(value.strip()) if value.count("${{") == 1 else None
    if whole:
        return evaluate(whole.group(1), ctx, status)
    return _INTERP.sub(lambda m: to_string(evaluate(m.group(1), ctx, status)), value)


def condition(text: Any, ctx: Mapping[str, Any], status: str) -> bool:
    """A job's or step's ``if:``: ``success() &&`` is implied unless a status function is
    named, as GitHub does."""
    if text is None:
        return status == "success"
    if isinstance(text, bool):
        return text and status == "success"
    expr = str(text).strip()
    m = _INTERP.fullmatch(expr)
    expr = m.group(1) if m else expr
    if not re.search(r"\b(success|failure|always|cancelled)\s*\(", expr):
        expr = f"success() && ({expr})"
    return truthy(evaluate(expr, ctx, status))
