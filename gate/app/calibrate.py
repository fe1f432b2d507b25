"""``gate calibrate``: how noisy is this machine, and what tolerance can it support?

A/A runs of the baseline model against itself, in both latency modes side by side:

* **stored baseline**: K replays, each on a freshly started server (how ``gate baseline
  record`` measures). Each run is judged as a candidate against the other K-1, so the
  spread of those shift estimates is the run-to-run noise the stored-baseline judge faces;
* **live A/B**: K interleaved A/B replays with the same model in both arms (how
  ``gate check`` measures when ``baseline.model_dir`` is set).

For each mode and latency check it reports the spread (sd) of the A/A shift estimates, how
many A/A runs the judge blocked (false alarms) or called inconclusive, and the smallest
tolerance the environment supports: the smallest τ for which the check's noise term at the
policy's power is <= τ (so a check with that tolerance is not INCONCLUSIVE and detects a 2τ
regression with the policy's power). Nothing is written to the baseline store.

Each live A/B run is a whole sequential session (``gate check``'s), so it also says, for
every check of the policy, the **budget this machine needs** to decide an unchanged model at
the policy's τ (``budget_s``): the measuring time at which the check decided, or, for a check
still undecided when the session's budget ran out, the time its interval would need to fit
within the tolerance (the interval narrows as one over the square root of the time, and a
late look tests at about half the alpha: what the spending leaves it). Compare it with
``ab.max_duration_s``.

The model measured is the baseline model: ``baseline.model_dir`` when set (prepared, and its
signatures verified, in place of the configured model), else the configured model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from gate.app.live_ab import block_size, measure_ab
from gate.app.prepare import Prepared, prepare
from gate.app.replays import measure_runs
from gate.app.run import Progress, Run, new_run
from gate.config.config import GateConfig
from gate.errors import ConfigError
from gate.evidence import Sampling
from gate.inputs.model import resolve_baseline_model
from gate.judge.decide import decide_policy
from gate.judge.latency import latency_checks
from gate.judge.live_ab import ab_checks
from gate.result import CheckResult, CheckStatus, Verdict


def smallest_tolerance(check: CheckResult) -> float | None:
    """Smallest τ at which this check (same data, same noise) would be conclusive.

    The judge's MDE is ``(1+τ)·e^noise − 1``; it is conclusive when MDE − τ <= τ, i.e.
    ``τ >= (e^noise − 1) / (2 − e^noise)``; none when e^noise >= 2.
    """
    if check.mde is None or check.tolerance is None:
        return None
    if not math.isfinite(check.mde):
        return math.inf
    noise = math.log1p(check.mde) - math.log1p(check.tolerance)
    g = math.exp(noise)
    return (g - 1) / (2 - g) if g < 2 else math.inf


def _summary(judged: list[tuple[list[CheckResult], Verdict]]) -> dict[str, Any]:
    by_metric: dict[str, dict[str, Any]] = {}
    for checks, _ in judged:
        for c in checks:
            d = by_metric.setdefault(
                c.metric, {"effects": [], "smallest_tolerance": [], "mde": [], "status": []}
            )
            d["effects"].append(c.effect)
            d["smallest_tolerance"].append(smallest_tolerance(c))
            d["mde"].append(c.mde)
            d["status"].append(c.status.value)
    out: dict[str, Any] = {}
    for metric, d in by_metric.items():
        eff = np.array([e for e in d["effects"] if e is not None], dtype=np.float64)
        tol = [t for t in d["smallest_tolerance"] if t is not None]
        out[metric] = {
            "aa_effects": [float(e) for e in eff],
            "aa_effect_sd": float(np.std(eff, ddof=1)) if eff.size > 1 else None,
            "aa_effect_max_abs": float(np.max(np.abs(eff))) if eff.size else None,
            "false_alarms": sum(s == CheckStatus.FAIL.value for s in d["status"]),
            "inconclusive": sum(s == CheckStatus.INCONCLUSIVE.value for s in d["status"]),
            "smallest_tolerance_median": float(np.median(tol)) if tol else None,
            "smallest_tolerance_max": float(np.max(tol)) if tol else None,
        }
    return out


def calibrate(
    cfg: GateConfig,
    config_path: Path,
    runs: int,
    *,
    progress: Progress,
    report_dir: Path,
    ab: bool = True,
) -> dict[str, Any]:
    """Measure and summarise; raises GateError on bad input or infrastructure failure."""
    run = new_run("calibrate", config_path, progress, report_dir / "logs")
    prep = prepare(run, cfg, config_path, _baseline_repository(cfg, config_path))
    policy = prep.policy
    stored = measure_runs(run, prep, runs, label="calibrate")
    lat = [r.latencies_us for r in stored.runs]
    judged_stored = []
    for i in range(runs):
        others = [x for j, x in enumerate(lat) if j != i]
        checks, _ = latency_checks(policy, others, [lat[i]])
        checks, verdict, _ = decide_policy(checks, policy)
        judged_stored.append((checks, verdict))
    out: dict[str, Any] = {
        "schema": "gate-calibrate/1",
        "config": str(config_path),
        "model_dir": str(prep.model.model_dir),
        "runs": runs,
        "alpha": policy.alpha,
        "power": policy.power,
        "tolerances": {
            "latency.shift": policy.latency.shift.tolerance,
            **{f"latency.p{t.percentile:g}": t.tolerance for t in policy.latency.tails},
        },
        "environment": stored.environment,
        "stored_baseline": {
            "run_medians_us": [float(np.median(x)) for x in lat],
            "run_p95_us": [float(np.percentile(x, 95)) for x in lat],
            "note": f"each run judged against the other {runs - 1}",
            "checks": _summary(judged_stored),
        },
    }
    if ab:
        out["live_ab"] = _live_ab(run, prep, config_path, runs)
    out["stages"] = [s.model_dump() for s in run.result.stages]
    return out


def _baseline_repository(cfg: GateConfig, config_path: Path) -> Path | None:
    """The repository of ``baseline.model_dir`` when set (the model calibrate measures),
    else None (the configured model is the baseline)."""
    if cfg.baseline.model_dir is None:
        return None
    base_dir = resolve_baseline_model(cfg.baseline.model_dir, cfg.model.name, str(config_path))
    if base_dir.name != cfg.model.name:
        raise ConfigError(
            f"{config_path}: field 'baseline.model_dir': calibrate replays the baseline "
            f"model on fresh servers, so its folder must be named '{cfg.model.name}' "
            f"(got {base_dir.name})",
            hint="point baseline.model_dir at a repository holding the model's folder",
        )
    return base_dir.parent


def budget_needed(check: CheckResult, sampling: Sampling, alpha: float) -> float | None:
    """Seconds of measuring this check needs to decide, from one sequential session: when it
    decided, the time of that look; undecided, the time at its last look scaled by how much
    narrower its interval must get (``(q·se / gap)²``, ``q`` at ``alpha / 2``). None when
    the check was not judged sequentially or had no estimate."""
    from scipy.special import ndtri

    seq = check.details.get("sequential")
    if not isinstance(seq, dict) or "look" not in seq or not sampling.looks:
        return None
    seconds = sampling.looks[min(int(seq["look"]), len(sampling.looks)) - 1].seconds
    if seq.get("decided"):
        return seconds
    se, gap = float(seq.get("se", 0.0)), abs(float(seq["margin"]) - float(seq["estimate"]))
    if se <= 0.0:
        return seconds
    if gap == 0.0:
        return math.inf
    return seconds * max(1.0, (float(ndtri(1.0 - alpha / 2.0)) * se / gap) ** 2)


def _budgets(sessions: list[tuple[list[CheckResult], Sampling]], alpha: float) -> dict[str, Any]:
    """Per check: the median, over the A/A sessions, of the budget it needed."""
    need: dict[str, list[float]] = {}
    for checks, sampling in sessions:
        for c in checks:
            b = budget_needed(c, sampling, alpha)
            if b is not None:
                need.setdefault(c.name, []).append(b)
    return {name: float(np.median(v)) for name, v in need.items()}


def _live_ab(run: Run, prep: Prepared, config_path: Path, runs: int) -> dict[str, Any]:
    """K live A/B sessions of the prepared model against itself, each judged on its own."""
    policy = prep.policy
    judged = []
    infos = []
    sessions = []
    for _ in range(runs):
        live = measure_ab(run, prep, prep.model.model_dir)
        info = live.info
        infos.append(info)
        sessions.append((list(live.judgement.checks), live.sampling))
        checks = ab_checks(
            policy, info.latencies_a_us, info.latencies_b_us, block_size=info.block_size
        )
        checks, verdict, _ = decide_policy(checks, policy)
        judged.append((checks, verdict))
    return {
        "block_size": block_size(prep.cfg.baseline.ab_block_size, prep.traffic),
        "test": policy.ab.test,
        "batch": policy.ab.batch,
        "arm_medians_us": [
            [float(np.median(i.latencies_a_us)), float(np.median(i.latencies_b_us))] for i in infos
        ],
        "checks": _summary(judged),
        "max_duration_s": policy.ab.max_duration_s,
        "budget_s": _budgets(sessions, policy.alpha),
    }


def render(res: dict[str, Any]) -> str:
    """The console table: one line per mode and check."""
    lines = [
        f"gate calibrate: {res['runs']} A/A runs per mode of {res['model_dir']} "
        f"(alpha {res['alpha']:g}, power {res['power']:.0%})",
        "",
        f"{'mode':<16} {'check':<15} {'A/A shift sd':>12} {'max |shift|':>12} "
        f"{'false alarms':>12} {'inconcl.':>8} {'smallest tol.':>13} {'policy tol.':>11}",
    ]

    def pct(v: float | None) -> str:
        if v is None:
            return "n/a"
        return "inf" if not math.isfinite(v) else f"{v * 100:.1f}%"

    for mode, key in (("stored baseline", "stored_baseline"), ("live A/B", "live_ab")):
        if key not in res:
            continue
        for metric, d in res[key]["checks"].items():
            lines.append(
                f"{mode:<16} {metric:<15} {pct(d['aa_effect_sd']):>12} "
                f"{pct(d['aa_effect_max_abs']):>12} "
                f"{d['false_alarms']:>6}/{res['runs']:<5} {d['inconclusive']:>8} "
                f"{pct(d['smallest_tolerance_median']):>13} "
                f"{pct(res['tolerances'].get(metric)):>11}"
            )
    lines.append("")
    lines.append(
        "smallest tol.: median over runs of the smallest tolerance at which the check is "
        "conclusive (detects a 2x-tolerance change at the policy's power) on this machine"
    )
    budgets = res.get("live_ab", {}).get("budget_s", {})
    if budgets:
        cap = res["live_ab"]["max_duration_s"]
        lines += [
            "",
            f"live A/B budget to decide an unchanged model (ab.max_duration_s {cap:g} s):",
        ]
        for name, sec in budgets.items():
            verdict = "within" if sec <= cap else "OVER"
            shown = "unbounded" if not math.isfinite(sec) else f"{sec:.0f} s"
            lines.append(f"  {name:<24} {shown:>10}  {verdict} the budget")
    return "\n".join(lines)
