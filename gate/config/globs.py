"""The glob grammar of the gate's files: signature rules' ``files``/``ignore`` and the
``configs``/``watch``/``trust`` paths of ``gate-plan.yaml``.

``*`` and ``?`` stay inside one folder, ``**`` crosses folders (``**/`` also matches no
folder at all). Translated by hand because ``PurePath.match`` has no recursive ``**``
before Python 3.13; each caller anchors the expression the way its files read it.
"""

from __future__ import annotations

import re


def glob_to_regex(pattern: str) -> str:
    """The regular expression (unanchored) that ``pattern`` stands for."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return out
