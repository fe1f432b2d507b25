"""Secrets out of every message: the one redaction every error and report goes through.

A gate run's text ends up in CI logs, PR comments, artifacts and chat: places readable by
more people than the secrets it may have come near (a webhook URL typed into gate.yaml, a
token in a store URL, a key in the environment). ``redact`` replaces, in any text:

* the **values of secret-looking environment variables** (names containing TOKEN, SECRET,
  PASSWORD, WEBHOOK, API_KEY, CREDENTIAL, PRIVATE_KEY, or ``GATE_RUN_KEY``), wherever they
  appear, whatever they look like;
* **credentials in URLs** (``scheme://user:password@host``), secret query parameters
  (``?token=…``, ``&sig=…``), and the paths of **webhook URLs** (Slack, Discord, Teams),
  whose path is the secret;
* **tokens with a known shape**: GitHub (``ghp_…``, ``github_pat_…``), Slack (``xoxb-…``),
  AWS access key ids (``AKIA…``), GitLab (``glpat-…``), ``Bearer …`` headers.

Used by ``GateError`` (so every error line and ``run.json``'s ``error``), by every report
renderer and by ``RunResult.to_json``. It is deliberately conservative about shapes (no
"long random string" rule): run records carry base64 sample arrays and digests that such a
rule would destroy.
"""

from __future__ import annotations

import io
import os
import re
from typing import Final, TextIO

MASK: Final = "***"

_SECRET_ENV = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|WEBHOOK|API_?KEY|CREDENTIAL|PRIVATE_?KEY|GATE_RUN_KEY",
    re.IGNORECASE,
)
#: shorter values are too likely to be ordinary words ("true", "none", a port number)
_MIN_SECRET_LEN: Final = 8

_CHARS = r"[^\s/?#@\"'\\<>]"  # one character of a URL part, quotes and markup excluded
_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # scheme://user:password@host → scheme://***@host (also 'https:/…': a URL that went
    # through a path normalisation, which folds '//')
    (re.compile(rf"(?i)\b([a-z][a-z0-9+.\-]*:/+){_CHARS}+:{_CHARS}*@"), rf"\1{MASK}@"),
    # webhook URLs: the path is the credential
    (
        re.compile(
            r"(?i)\b(https?:/+(?:hooks\.slack\.com|(?:[a-z0-9-]+\.)?discord(?:app)?\.com/api"
            r"/webhooks|[a-z0-9.-]*webhook\.office\.com|outlook\.office\.com/webhook))"
            r"[^\s\"'\\<>]*"
        ),
        rf"\1/{MASK}",
    ),
    # ?token=… &sig=… (presigned URLs, API keys in query strings)
    (
        re.compile(
            r"(?i)([?&](?:access_token|token|api_?key|key|secret|password|passwd|sig|signature"
            r"|x-amz-signature|x-amz-credential|x-amz-security-token|code)=)[^&\s\"'\\<>#]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{12,}=*"), rf"\1{MASK}"),
)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of the environment's secret-looking variables, longest first."""
    env = os.environ if environ is None else environ
    found = {
        v for k, v in env.items() if _SECRET_ENV.search(k) and len(v.strip()) >= _MIN_SECRET_LEN
    }
    return sorted(found, key=len, reverse=True)


def redact(text: str, environ: dict[str, str] | None = None) -> str:
    """``text`` with every secret it holds replaced by ``***`` (see the module docstring)."""
    if not text:
        return text
    for value in secret_values(environ):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that redacts what is written to it, then passes it on: the command
    line wraps stdout and stderr in it, so a line printed outside an error (a store URL in
    "no baselines in …", a path) is covered too."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    @property
    def buffer(self) -> object:
        """Binary writes bypass redaction: gate writes none to the terminal."""
        return getattr(self._inner, "buffer", None)
