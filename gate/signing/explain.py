"""Signature failures in the user's terms: one short line, the library's text kept apart.

sigstore-python's messages are written for its developers ("failed to build timestamp
certificate chain: …", an inclusion proof printed as bytes, a Python object repr for a log
time); the person reading a BLOCKED verdict needs to know what to do. ``explain`` maps the
known messages to a reason that names the cause; the verbatim text goes into ``run.json``
(``SignedArtifact.details``). ``one_line`` bounds any line a report prints.
"""

from __future__ import annotations

import re

#: The longest line a signature failure prints (console, JUnit, Markdown).
MAX_LINE = 200


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line of at most ``limit`` characters (cut with an ellipsis)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def explain(msg: str, *, root_label: str = "the trusted root", trusted: str = "") -> str:
    """sigstore's ``msg`` as a short reason a person can act on (never the raw bytes)."""
    low = msg.lower()
    for needle, reason in _RULES:
        if needle in low:
            return reason.format(root=root_label, trusted=trusted, got=_got(msg))
    if "expired at time of signing" in low:
        return _expired(msg)
    return one_line(msg, 150)


_RULES: tuple[tuple[str, str], ...] = (
    (
        "failed to build timestamp certificate chain",
        "certificate not issued under {root} (another Sigstore instance?)",
    ),
    ("inclusion proof", "inclusion proof does not match the log (entry or proof altered)"),
    (
        "checkpoint",
        "log checkpoint is not signed by a log of {root} (another instance, or altered)",
    ),
    ("inclusion promise", "log entry's signed timestamp is not from a log of {root}"),
    ("sct", "certificate's SCT is not from a CT log of {root} (another Sigstore instance?)"),
    (
        "not enough sources of verified time",
        "no trusted time: no verifiable log entry or timestamp",
    ),
    (
        "invalid for input",
        "signature does not match the file (changed after signing, or another artifact's bundle)",
    ),
    ("digest mismatch", "bundle is for another artifact, or the file changed after signing"),
    ("oidcissuer does not match", "certificate's OIDC issuer is {got}, not the trusted issuer"),
    ("log entry is inconsistent", "the log entry records another signature or artifact"),
    ("log entry payload hash", "the log entry records another DSSE payload"),
    ("log entry signatures do not match", "the log entry records another signature"),
    ("dsse: invalid signature", "DSSE signature does not verify (payload changed after signing)"),
)


def _got(msg: str) -> str:
    """The value sigstore says it found (an issuer), shortened."""
    m = re.search(r"\(got '?([^',)]+)", msg)
    return one_line(m.group(1).strip(), 80) if m else "another issuer"


def wrong_identity(signed_by: list[str], trusted: str) -> str:
    """Who signed versus whom the policy trusts, both shortened to fit one line: long
    workflow URIs that share a prefix are shown from shortly before they differ."""
    who = ", ".join(signed_by) or "no identity"
    if len(signed_by) == 1 and len(who) + len(trusted) > 120:
        same = next((i for i, (a, b) in enumerate(zip(who, trusted, strict=False)) if a != b), 0)
        cut = max(0, same - 25)
        if cut > 3:
            who, trusted = "…" + who[cut:], "…" + trusted[cut:]
    return (
        f"signed by {one_line(who, 75)}, not by {one_line(trusted, 70)} "
        "(the identity the policy trusts)"
    )


def _expired(msg: str) -> str:
    import datetime as dt

    m = re.search(r"time=datetime\.datetime\(([0-9, ]+)", msg)
    if m:
        y, mo, d, h, mi, sec = ([int(x) for x in m.group(1).split(",")] + [0] * 6)[:6]
        when = dt.datetime(y, mo, d, h, mi, sec, tzinfo=dt.timezone.utc)
        if when > dt.datetime.now(dt.timezone.utc):
            return f"log entry time is in the future ({when:%Y-%m-%d %H:%M} UTC)"
        return f"certificate was not valid at the signing time ({when:%Y-%m-%d %H:%M} UTC)"
    return "certificate was not valid at the signing time"
