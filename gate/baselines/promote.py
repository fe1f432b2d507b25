"""``gate baseline promote``: a run becomes the baseline only on its evidence, never its fields.

A ``run.json`` reaching the post-merge job was written by a job that ran the PR's code, so
nothing in it is trusted on its word:

1. **Where to write** comes from the configuration (``baseline.store``) or ``--store``,
   never from the run (its ``baseline.path`` is only a record of what it was judged
   against).
2. **That it is unedited**: its integrity block (``gate.result.Integrity``) must match its
   contents, and where ``GATE_RUN_KEY`` is set, carry a valid HMAC under that key.
3. **That it passed**: the verdict is decided again from the recorded checks' statistics
   with the policy (``gate.judge.decide``); a verdict field that the checks do not give, a
   check status its p-value does not give, or an alpha other than the policy's, is refused.

Every refusal is an ``InputError`` (exit 2) naming the file and what does not match.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from gate.baselines.store import Baseline, baseline_from_runs, save_baseline
from gate.config.policy import Policy, load_policy
from gate.errors import InputError
from gate.judge.decide import decide
from gate.report.json import load_run
from gate.result import (
    RUN_KEY_ENV,
    CheckResult,
    CheckStatus,
    RunResult,
    Verdict,
    verify_integrity,
)

_EDITED = (
    "promote the run.json exactly as gate wrote it (from the job's artifact); "
    f"set {RUN_KEY_ENV} to the same secret in the job that ran gate check and in this one"
)


def check_integrity(result: RunResult, source: str, key: bytes | None) -> None:
    """Refuse a run whose integrity block does not match its contents (or the key)."""
    problems = verify_integrity(result, key)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{source}: {problems[0]}{more}", hint=_EDITED)


def _undecided(c: CheckResult) -> CheckResult:
    """A check as its family produced it, before the verdict: a check with a p-value gets
    its status from ``decide`` again; one without keeps the status its own CI gave it."""
    if c.p_value is None or c.status is CheckStatus.ERROR:
        return c
    return c.model_copy(update={"p_adjusted": None, "status": CheckStatus.PASS})


def rederive(result: RunResult, policy: Policy, source: str, policy_source: str) -> None:
    """Refuse a run whose recorded verdict (or a check's status) is not what its checks'
    statistics give under ``policy``."""
    where = f"{source}: field"
    if result.alpha is not None and not math.isclose(result.alpha, policy.alpha):
        raise InputError(
            f"{where} 'alpha': the run was judged with alpha={result.alpha:g}, the policy "
            f"({policy_source}) says {policy.alpha:g}",
            hint="promote with the configuration the run was judged with (--config)",
        )
    checks, verdict = decide(
        [_undecided(c) for c in result.checks], policy.alpha, inconclusive=policy.inconclusive
    )
    for i, (recorded, fresh) in enumerate(zip(result.checks, checks, strict=True)):
        if recorded.status is not fresh.status:
            raise InputError(
                f"{where} 'checks[{i}].status': '{recorded.status.value}' but its p-value "
                f"gives '{fresh.status.value}' under the policy ({policy_source}) "
                f"({recorded.name})",
                hint=_EDITED,
            )
    if verdict is not result.verdict:
        raise InputError(
            f"{where} 'verdict': {result.verdict.value}, but its {len(checks)} check(s) give "
            f"{verdict.value} under the policy ({policy_source})",
            hint="only a run whose checks pass is promoted; " + _EDITED,
        )


def promote_policy(config: Path | None, store: str | None) -> tuple[Policy, str]:
    """The policy promote re-derives verdicts with, and where it came from: the policy of
    ``config``, else of ``./gate.yaml`` (always read when no ``--store`` names the store),
    else the built-in default."""
    from gate.config.config import load_config

    path = config or (Path("gate.yaml") if store is None or Path("gate.yaml").is_file() else None)
    policy_path = load_config(path).policy if path is not None else None
    return load_policy(policy_path), str(policy_path or "built-in default policy")


def promote(
    run_paths: Sequence[Path],
    *,
    store: str,
    policy: Policy,
    policy_source: str,
    force: bool,
    key: bytes | None,
) -> tuple[Path | str, Baseline]:
    """Check every run (integrity always; the verdict unless ``force``), merge them into a
    baseline and store it as the current one in ``store``. Returns (location, baseline)."""
    results = [load_run(p) for p in run_paths]
    sources = [str(p) for p in run_paths]
    for res, src in zip(results, sources, strict=True):
        check_integrity(res, src, key)
        # a run that claims PASS must have earned it; any other verdict is refused below
        # (unless --force) with the reason its own verdict gives
        if not force and res.error is None and res.verdict is Verdict.PASS:
            rederive(res, policy, src, policy_source)
    b = baseline_from_runs(results, force=force, sources=sources)
    if len(b.runs) < 2:
        raise InputError(
            f"{sources[0]}: field 'runs': {len(b.runs)} run; a baseline needs at least 2 to "
            "see the drift between runs",
            hint="set measure.runs >= 2 for the check you promote, or pass several run.json",
        )
    return save_baseline(store, b), b
