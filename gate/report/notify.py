"""Notifications: tell people when a nightly or post-merge gate blocks, errs or recovers.

Two channels, each a webhook whose URL is a secret read from an environment variable that
the config names (``notify.slack_webhook_env``, ``notify.webhook_env``): a Slack incoming
webhook (Block Kit message with a plain-text fallback) and a generic JSON webhook
(``gate-notify/1``, for PagerDuty/Teams/chat bridges or your own service).

Two promises shape this module:

* **A notification never changes a verdict.** Every failure (timeout, HTTP 5xx, connection
  refused, a bug here) becomes a warning; ``send_notifications`` does not raise.
  Attempts are bounded (``timeout_s`` per attempt, ``retries`` extra attempts with urllib3's
  ``Retry``, only for timeouts, connection errors, 408, 429 and 5xx, honouring a capped
  ``Retry-After``).
* **The URL never leaks.** It is read from the environment at send time, never stored in
  the RunResult, and every message that could carry it is passed through ``redact``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gate import __version__
from gate.config.config import NotifyConfig
from gate.errors import ConfigError
from gate.result import CheckStatus, RunResult, Verdict

NOTIFY_SCHEMA = "gate-notify/1"
MAX_CHECKS_LISTED = 10
_BAD_VERDICTS = {Verdict.BLOCKED.value, Verdict.INCONCLUSIVE.value, Verdict.ERROR.value}
_ICON = {"blocked": "⛔", "inconclusive": "⚠️", "error": "💥", "recovery": "✅"}


@dataclass(frozen=True)
class Notice:
    """One line about what notifying did; warnings go into the run's warnings."""

    level: Literal["info", "warning"]
    message: str


class NotifyError(Exception):
    """A webhook could not be reached or refused the message (message already redacted)."""


# --------------------------------------------------------------------------------------
# what to say
# --------------------------------------------------------------------------------------


def event_for(result: RunResult, previous: str | None, events: Iterable[str]) -> str | None:
    """The event this run raises (``blocked``, ``inconclusive``, ``error``, ``recovery``)."""
    wanted = set(events)
    verdict = shown_verdict(result)
    if verdict == Verdict.BLOCKED.value and "blocked" in wanted:
        return "blocked"
    if verdict == Verdict.INCONCLUSIVE.value and "inconclusive" in wanted:
        return "inconclusive"
    if verdict == Verdict.ERROR.value and "error" in wanted:
        return "error"
    if verdict == Verdict.PASS.value and previous in _BAD_VERDICTS and "recovery" in wanted:
        return "recovery"
    return None


def report_url_from_env(env: Mapping[str, str]) -> str | None:
    """The GitHub Actions run page, where the reports are uploaded as artifacts."""
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    repo = env.get("GITHUB_REPOSITORY", "")
    run = env.get("GITHUB_RUN_ID", "")
    if server and repo and run:
        return f"{server}/{repo}/actions/runs/{run}"
    return None


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{x * 100:+.1f}%"


def check_line(c: Any) -> str:
    """One failing check as text: name, effect with CI, tolerance, reason."""
    parts = [f"{c.name}: {c.status.value}"]
    if c.effect is not None:
        eff = _pct(c.effect)
        if c.ci_low is not None and c.ci_high is not None:
            eff += f" (CI {_pct(c.ci_low)} … {_pct(c.ci_high)})"
        parts.append(eff)
    if c.tolerance is not None:
        parts.append(f"tolerance {c.tolerance * 100:.1f}%")
    line = ", ".join(parts)
    return f"{line} — {c.reason}" if c.reason else line


def failing_checks(result: RunResult) -> list[Any]:
    return [c for c in result.checks if c.status in (CheckStatus.FAIL, CheckStatus.ERROR)]


def _model(result: RunResult) -> str:
    return result.model.name if result.model is not None else "(unknown model)"


def shown_verdict(result: RunResult) -> str:
    """The verdict a notification names: ERROR whenever the run recorded an error."""
    return Verdict.ERROR.value if result.error is not None else result.verdict.value


def headline(result: RunResult, event: str) -> str:
    bad = failing_checks(result)
    what = {
        "recovery": "recovered: PASS",
        "error": "ERROR (no verdict)",
    }.get(event, shown_verdict(result))
    line = f"gate {what} — {_model(result)}"
    if bad:
        line += f" ({len(bad)} failing check{'s' if len(bad) != 1 else ''})"
    return line


def _ci_info(env: Mapping[str, str]) -> dict[str, str]:
    keys = {
        "repository": "GITHUB_REPOSITORY",
        "sha": "GITHUB_SHA",
        "ref": "GITHUB_REF_NAME",
        "workflow": "GITHUB_WORKFLOW",
        "run_id": "GITHUB_RUN_ID",
    }
    return {k: env[v] for k, v in keys.items() if env.get(v)}


@dataclass(frozen=True)
class Message:
    """What one notification is about, gathered once for every channel; ``slack_payload``
    and ``webhook_payload`` each lay it out for theirs."""

    result: RunResult
    event: str
    previous: str | None
    report_url: str | None
    ci: dict[str, str]


def webhook_payload(msg: Message) -> dict[str, Any]:
    """The generic JSON webhook body (``gate-notify/1``)."""
    result = msg.result
    return {
        "schema": NOTIFY_SCHEMA,
        "event": msg.event,
        "text": headline(result, msg.event),
        "verdict": shown_verdict(result),
        "previous_verdict": msg.previous,
        "exit_code": result.exit_code,
        "model": _model(result),
        "model_digest": result.model.digest if result.model is not None else None,
        "run_id": result.run_id,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "failing_checks": [
            {
                "name": c.name,
                "metric": c.metric,
                "status": c.status.value,
                "effect": c.effect,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "tolerance": c.tolerance,
                "p_adjusted": c.p_adjusted,
                "reason": c.reason,
            }
            for c in failing_checks(result)
        ],
        "error": (
            {"kind": result.error.kind, "message": result.error.message}
            if result.error is not None
            else None
        ),
        "report_url": msg.report_url,
        "ci": msg.ci,
        "gate_version": __version__,
    }


def _esc(text: str) -> str:
    """Escape Slack mrkdwn control characters in text we did not write."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(msg: Message) -> dict[str, Any]:
    """A Slack Block Kit message, within Slack's block limits, with a text fallback."""
    result, report_url = msg.result, msg.report_url
    head = headline(result, msg.event)
    fields = [
        {"type": "mrkdwn", "text": f"*Verdict*\n{shown_verdict(result)}"},
        {"type": "mrkdwn", "text": f"*Model*\n{_esc(_model(result))}"},
    ]
    if msg.previous:
        fields.append({"type": "mrkdwn", "text": f"*Previous*\n{_esc(msg.previous)}"})
    ci = msg.ci
    if ci.get("repository"):
        where = ci["repository"] + (f"@{ci['sha'][:10]}" if ci.get("sha") else "")
        fields.append({"type": "mrkdwn", "text": f"*Commit*\n{_esc(where)}"})
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cap(f"{_ICON.get(msg.event, '')} {head}", 150)},
        },
        {"type": "section", "fields": fields},
    ]
    bad = failing_checks(result)
    if bad:
        lines = [f"• {_esc(check_line(c))}" for c in bad[:MAX_CHECKS_LISTED]]
        if len(bad) > MAX_CHECKS_LISTED:
            lines.append(f"… and {len(bad) - MAX_CHECKS_LISTED} more")
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cap("*Failing checks*\n" + "\n".join(lines), 3000),
                },
            }
        )
    if result.error is not None:
        err = f"*{_esc(result.error.kind)}*: {_esc(result.error.message)}"
        if result.error.hint:
            err += f"\n_{_esc(result.error.hint)}_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cap(err, 3000)}})
    if report_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the report"},
                        "url": report_url,
                    }
                ],
            }
        )
    text = head + (f" — {report_url}" if report_url else "")
    return {"text": text, "blocks": blocks}


# --------------------------------------------------------------------------------------
# how to send it
# --------------------------------------------------------------------------------------


def redact(text: str, secret: str) -> str:
    """``text`` without ``secret`` or the parts of it that identify the webhook."""
    if not secret:
        return text
    out = text.replace(secret, "<redacted>")
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(secret)
        for piece in (parts.netloc + parts.path, parts.path, parts.query):
            if len(piece) > 1:
                out = out.replace(piece, "<redacted>")
    return out


#: Statuses worth a second try: timeouts, rate limits and server errors.
RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
#: The longest a ``Retry-After`` header may make one wait (a notification must never hold a
#: CI job for long; a longer request is cut to this).
RETRY_AFTER_CAP_S = 30.0


def _describe(exc: BaseException) -> str:
    """A short, URL-free description of a failed attempt (urllib3 names host and port)."""
    from urllib3 import exceptions as ux

    if isinstance(exc, ux.MaxRetryError) and exc.reason is not None:
        return _describe(exc.reason)
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: ask it first
    if isinstance(exc, ux.NewConnectionError | ConnectionError):
        low = str(exc).lower()
        if "refused" in low:
            return "connection refused"
        if "name or service" in low or "resolution" in low or "nodename" in low:
            return "the host name does not resolve"
        return "cannot connect"
    if isinstance(exc, ux.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, ux.ProtocolError):
        return "the connection broke"
    if isinstance(exc, ux.SSLError):
        return "TLS error"
    return type(exc).__name__


def _retry(retries: int, sleep: Callable[[float], None]) -> Any:
    """urllib3's ``Retry``: ``retries`` extra attempts on connection errors, timeouts and
    ``RETRY_STATUSES``, for POST too; ``Retry-After`` honoured (capped at
    ``RETRY_AFTER_CAP_S``), else exponential backoff 0.5, 1, 2, 4 s; ``sleep`` is injectable."""
    from urllib3.util.retry import Retry

    class _Retry(Retry):
        def get_backoff_time(self) -> float:
            n = len(self.history)
            return 0.0 if n == 0 else min(self.backoff_max, self.backoff_factor * 2 ** (n - 1))

        def sleep_for_retry(self, response: Any = None) -> bool:
            seconds = self.get_retry_after(response) if response is not None else None
            if seconds is None:
                return False
            sleep(min(seconds, RETRY_AFTER_CAP_S))
            return True

        def _sleep_backoff(self) -> None:
            backoff = self.get_backoff_time()
            if backoff > 0:
                sleep(backoff)

    return _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=None,  # POST too: a webhook that failed did not act
        status_forcelist=RETRY_STATUSES,
        backoff_factor=0.5,
        backoff_max=4.0,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as JSON; return the attempts it took, or raise ``NotifyError``.

    Retries are urllib3's ``Retry`` (bounded): only what may pass on a second try —
    timeouts, refused or reset connections, 408, 429 and 5xx — waiting as ``Retry-After``
    asks (at most ``RETRY_AFTER_CAP_S``) or backing off exponentially. ``timeout`` bounds
    each attempt. Error messages never carry the URL.
    """
    import urllib3

    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise NotifyError("the webhook URL is not http(s)")
    attempts = retries + 1
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"triton-gate/{__version__}"}
    with urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout)) as http:
        try:
            resp = http.request(
                "POST", url, body=body, headers=headers, retries=_retry(retries, sleep)
            )
        except urllib3.exceptions.HTTPError as e:
            raise NotifyError(redact(f"{_describe(e)} after {attempts} attempt(s)", url)) from None
    tries = len(resp.retries.history) + 1 if resp.retries is not None else 1
    if resp.status < 300:
        return tries
    last = f"HTTP {resp.status} {resp.reason or ''}".rstrip()
    if resp.status not in RETRY_STATUSES:
        raise NotifyError(redact(f"{last} (not retried)", url))
    raise NotifyError(redact(f"{last} after {tries} attempt(s)", url))


_Poster = Callable[..., int]


def send_notifications(
    result: RunResult,
    cfg: NotifyConfig,
    *,
    previous: str | None = None,
    report_url: str | None = None,
    env: Mapping[str, str] | None = None,
    events: Iterable[str] | None = None,
    dry_run: Callable[[str, dict[str, Any]], None] | None = None,
    poster: _Poster = post_json,
) -> list[Notice]:
    """Notify the configured channels about ``result`` if its event is wanted. Never raises.

    ``dry_run``, when given, receives ``(channel, payload)`` instead of anything being sent.
    """
    env = os.environ if env is None else env
    notices: list[Notice] = []
    try:
        event = event_for(result, previous, cfg.events if events is None else events)
        if event is None:
            verdict = result.verdict.value
            return [Notice("info", f"no notification for verdict {verdict}")]
        url = report_url or report_url_from_env(env)
        message = Message(result, event, previous, url, _ci_info(env))
        channels = [
            ("slack", cfg.slack_webhook_env, slack_payload),
            ("webhook", cfg.webhook_env, webhook_payload),
        ]
        sent_any = False
        for channel, var, build in channels:
            if not var:
                continue
            hook = env.get(var, "").strip()
            if not hook and dry_run is None:
                notices.append(Notice("info", f"${var} is not set: no {channel} notification"))
                continue
            payload = build(message)
            if dry_run is not None:
                dry_run(channel, payload)
                sent_any = True
                continue
            try:
                tries = poster(hook, payload, timeout=cfg.timeout_s, retries=cfg.retries)
            except NotifyError as e:
                notices.append(
                    Notice(
                        "warning", f"{channel} notification (${var}) failed: {redact(str(e), hook)}"
                    )
                )
            except Exception as e:  # a bug here must not cost the verdict
                msg = redact(f"{type(e).__name__}: {e}", hook)
                notices.append(Notice("warning", f"{channel} notification (${var}) failed: {msg}"))
            else:
                sent_any = True
                extra = f" after {tries} attempts" if tries > 1 else ""
                notices.append(Notice("info", f"{channel} notified ({event}){extra}"))
        if not sent_any and not any(n.level == "warning" for n in notices):
            names = ", ".join(f"${v}" for _, v, _ in channels if v) or "none configured"
            notices.append(Notice("warning", f"{event} not notified: no webhook is set ({names})"))
    except Exception as e:  # never let notifying change the outcome
        notices.append(Notice("warning", f"notification failed: {type(e).__name__}: {e}"))
    return notices


# --------------------------------------------------------------------------------------
# the previous verdict (for recovery)
# --------------------------------------------------------------------------------------


def _record_model(rec: Mapping[str, Any]) -> str | None:
    m = rec.get("model")
    if isinstance(m, Mapping):
        name = m.get("name")
        return str(name) if name is not None else None
    return str(m) if m is not None else None


def previous_verdict(path: Path, model: str | None) -> str | None:
    """The last verdict for ``model`` in a run.json or a JSONL history; None if absent.

    A missing file means "no previous run" (the first nightly). A file that is there but
    unreadable is bad input (exit 2): a broken history must not silently hide a recovery.
    """
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--previous {path}: cannot read: {e}") from None
    records: list[Any]
    try:
        whole = json.loads(text)
        records = whole if isinstance(whole, list) else [whole]
    except json.JSONDecodeError:
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(
                    f"--previous {path}: line {n} is not JSON ({e.msg})",
                    hint="pass a run.json written by gate or a JSON-lines history",
                ) from None
    found: str | None = None
    for rec in records:
        if not isinstance(rec, Mapping) or "verdict" not in rec:
            continue
        rec_model = _record_model(rec)
        if model is not None and rec_model is not None and rec_model != model:
            continue
        found = str(rec["verdict"])
    if found is not None and found not in {v.value for v in Verdict}:
        raise ConfigError(
            f"--previous {path}: unknown verdict {found!r}",
            hint=f"expected one of {', '.join(v.value for v in Verdict)}",
        )
    return found
