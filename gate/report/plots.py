"""The report's figures: matplotlib (Agg, no display), plain arrays in, PNG bytes out.

Each function takes numbers, not a ``RunResult``, so other stages (memory, accuracy, trends)
reuse them and tests can feed known data. matplotlib is imported inside ``_figure`` only:
importing this module costs nothing until a figure is drawn. Figures use the object API
(``Figure`` + ``FigureCanvasAgg``), never ``pyplot``, so no global state leaks between
renders and nothing tries to open a window.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BASELINE_COLOR",
    "CANDIDATE_COLOR",
    "accuracy_change_png",
    "accuracy_deltas_png",
    "ecdf_png",
    "log_ratio_histogram_png",
    "memory_timeline_png",
    "percentile_ratio_png",
    "trend_png",
]

BASELINE_COLOR = "#1f77b4"
CANDIDATE_COLOR = "#d62728"
_BAND_COLOR = "#2ca02c"
_SIZE = (9.0, 3.8)
_DPI = 100

ArrayLike = Sequence[float] | npt.NDArray[Any]


def _figure(size: tuple[float, float] = _SIZE) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
    return fig


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _finite(x: ArrayLike) -> npt.NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64).ravel()
    out: npt.NDArray[np.float64] = a[np.isfinite(a)]
    return out


def ecdf_png(
    baseline_runs: Sequence[ArrayLike], candidate_runs: Sequence[ArrayLike], *, unit: str = "µs"
) -> bytes:
    """ECDF of latency per run, baseline (blue) against candidate (red), log x axis."""
    fig = _figure()
    ax = fig.add_subplot()
    for side, runs, color in (
        ("baseline", baseline_runs, BASELINE_COLOR),
        ("candidate", candidate_runs, CANDIDATE_COLOR),
    ):
        for i, run in enumerate(runs):
            x = np.sort(_finite(run))
            x = x[x > 0]
            if x.size == 0:
                continue
            y = np.arange(1, x.size + 1) / x.size
            label = f"{side} ({len(runs)} run{'s' if len(runs) != 1 else ''})" if i == 0 else None
            ax.step(
                x, y, where="post", color=color, alpha=0.85 if i == 0 else 0.45, lw=1.2, label=label
            )
    ax.set_xscale("log")
    ax.set_xlabel(f"latency ({unit}, log scale)")
    ax.set_ylabel("fraction of requests ≤ x")
    ax.set_ylim(0, 1.005)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Latency distribution (ECDF)")
    return _png(fig)


def log_ratio_histogram_png(
    log_ratios: ArrayLike,
    *,
    tolerance: float | None = None,
    effect: float | None = None,
    ci: tuple[float | None, float | None] | None = None,
) -> bytes:
    """Histogram of paired ln(candidate / baseline) per request, with the tolerance band.

    ``tolerance`` (relative, 0.05 for 5%) shades ±ln(1 + τ); ``effect`` and ``ci`` (relative,
    from the latency shift check) mark the estimated shift and its interval.
    """
    r = _finite(log_ratios)
    fig = _figure()
    ax = fig.add_subplot()
    if r.size:
        lo, hi = np.percentile(r, [0.5, 99.5])
        if tolerance is not None:
            t = math.log1p(tolerance)
            lo, hi = min(lo, -1.5 * t), max(hi, 1.5 * t)
        if hi <= lo:
            lo, hi = lo - 0.01, hi + 0.01
        ax.hist(np.clip(r, lo, hi), bins=60, range=(lo, hi), color="#7f7f7f", alpha=0.8)
    if tolerance is not None:
        t = math.log1p(tolerance)
        ax.axvspan(-t, t, color=_BAND_COLOR, alpha=0.12, label=f"tolerance ±{tolerance * 100:.3g}%")
        ax.axvline(t, color=_BAND_COLOR, lw=1.2, ls="--")
    ax.axvline(0.0, color="black", lw=0.8)
    if effect is not None and math.isfinite(effect) and effect > -1:
        ax.axvline(
            math.log1p(effect),
            color=CANDIDATE_COLOR,
            lw=1.6,
            label=f"estimated shift {effect * 100:+.1f}%",
        )
        a, b = ci if ci is not None else (None, None)
        ok = a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
        if ok and a is not None and b is not None and a > -1 and b > -1:
            ax.axvspan(
                math.log1p(a), math.log1p(b), color=CANDIDATE_COLOR, alpha=0.15, label="its CI"
            )
    ax.set_xlabel("ln(candidate / baseline) per request")
    ax.set_ylabel("requests")
    ax.set_title(f"Paired log latency ratios (n = {r.size})")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")
    return _png(fig)


def percentile_ratio_png(
    percentiles: Sequence[float],
    ratios: ArrayLike,
    lows: ArrayLike,
    highs: ArrayLike,
    *,
    tolerances: Mapping[float, float] | None = None,
    confidence: float | None = None,
) -> bytes:
    """Candidate/baseline ratio per percentile as a change in %, with CI error bars.

    ``tolerances`` maps a percentile to its policy tolerance, drawn as a dashed tick.
    """
    q = [float(p) for p in percentiles]
    ratio = np.asarray(ratios, dtype=np.float64) - 1
    low = np.asarray(lows, dtype=np.float64) - 1
    high = np.asarray(highs, dtype=np.float64) - 1
    x = np.arange(len(q))
    fig = _figure()
    ax = fig.add_subplot()
    yerr = np.vstack([np.maximum(ratio - low, 0), np.maximum(high - ratio, 0)]) * 100
    label = f"ratio − 1 with {confidence:.0%} CI" if confidence else "ratio − 1 with CI"
    ax.errorbar(
        x, ratio * 100, yerr=yerr, fmt="o", color=CANDIDATE_COLOR, capsize=6, lw=1.5, label=label
    )
    ax.axhline(0, color="black", lw=0.8)
    if tolerances:
        first = True
        for i, p in enumerate(q):
            tol = tolerances.get(p)
            if tol is None:
                continue
            ax.hlines(
                tol * 100,
                i - 0.3,
                i + 0.3,
                colors=_BAND_COLOR,
                linestyles="--",
                label="tolerance" if first else None,
            )
            first = False
    ax.set_xticks(x, [f"p{p:g}" for p in q])
    ax.set_xlim(-0.6, len(q) - 0.4)
    ax.set_ylabel("candidate vs baseline (%)")
    ax.set_title("Latency percentiles: change with paired bootstrap CI")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _png(fig)


def memory_timeline_png(
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    unit: str = "MiB",
    levels: Mapping[str, float] | None = None,
) -> bytes:
    """Memory over time, one line per series: ``{"candidate host": (t_s, values), ...}``;
    ``levels`` are horizontal lines (the baseline's level, the allowed limit): a label
    starting with ``baseline`` is drawn dashed in the baseline colour, others dotted grey."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, level in (levels or {}).items():
        if not math.isfinite(level):
            continue
        base = name.startswith("baseline")
        ax.axhline(
            level,
            color=BASELINE_COLOR if base else "#57606a",
            ls="--" if base else ":",
            lw=1.4,
            label=f"{name}: {level:,.1f} {unit}",
        )
    for label, (t, y) in series.items():
        tt = np.asarray(t, dtype=np.float64)
        yy = np.asarray(y, dtype=np.float64)
        n = min(tt.size, yy.size)
        color = (
            BASELINE_COLOR
            if label.startswith("baseline")
            else CANDIDATE_COLOR
            if label.startswith("candidate")
            else None
        )
        ax.plot(tt[:n], yy[:n], lw=1.2, label=label, color=color)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"memory ({unit})")
    ax.set_title("Memory over time")
    ax.grid(True, alpha=0.3)
    if series or levels:
        ax.legend(loc="best", fontsize="small")
    return _png(fig)


def accuracy_change_png(
    both_right: int,
    newly_wrong: int,
    newly_right: int,
    both_wrong: int,
    classes: Sequence[tuple[int, int, int]] = (),
    *,
    metric: str = "top1",
) -> bytes:
    """Where accuracy changed: the paired 2x2 table (baseline right/wrong x candidate
    right/wrong, the counts the paired test uses) and, when ``classes`` is given as
    ``(label, newly_wrong, newly_right)``, the change per class (wrong down, right up)."""
    fig = _figure((9.0, 3.6) if classes else (5.0, 3.6))
    grid = fig.add_gridspec(1, 3) if classes else fig.add_gridspec(1, 1)
    ax = fig.add_subplot(grid[0, 0])
    table = np.array([[both_right, newly_wrong], [newly_right, both_wrong]], dtype=float)
    shade = np.log1p(table)
    ax.imshow(shade, cmap="Purples", vmin=0)
    for (i, j), v in np.ndenumerate(table):
        color = _BAND_COLOR if (i, j) == (1, 0) else CANDIDATE_COLOR if (i, j) == (0, 1) else "k"
        if color == "k" and shade[i, j] > 0.6 * shade.max():
            color = "white"
        ax.text(j, i, f"{int(v):,}", ha="center", va="center", color=color, fontweight="bold")
    ax.set_xticks([0, 1], ["candidate right", "candidate wrong"])
    ax.set_yticks([0, 1], ["baseline right", "baseline wrong"])
    ax.set_title(f"{metric}: {newly_wrong} newly wrong, {newly_right} newly right")
    if classes:
        bx = fig.add_subplot(grid[0, 1:])
        labels = [str(c[0]) for c in classes]
        x = np.arange(len(classes))
        bx.bar(x, [c[2] for c in classes], color=_BAND_COLOR, label="newly right")
        bx.bar(x, [-c[1] for c in classes], color=CANDIDATE_COLOR, label="newly wrong")
        net = [c[2] - c[1] for c in classes]
        bx.plot(x, net, "k_", ms=14, mew=2, label="net change")
        bx.axhline(0, color="black", lw=0.8)
        bx.set_xticks(x, labels if len(labels) <= 30 else [""] * len(labels))
        bx.set_xlabel("class (label)")
        bx.set_ylabel("samples")
        bx.set_title("Per class: samples that changed")
        bx.grid(True, axis="y", alpha=0.3)
        bx.legend(loc="best", fontsize="small")
    return _png(fig)


def accuracy_deltas_png(deltas: ArrayLike, *, label: str = "candidate − baseline score") -> bytes:
    """Histogram of per-sample accuracy deltas; how many got worse, same, better."""
    d = _finite(deltas)
    fig = _figure()
    ax = fig.add_subplot()
    if d.size:
        ax.hist(d, bins=min(60, max(10, int(math.sqrt(d.size)))), color="#9467bd", alpha=0.85)
    ax.axvline(0, color="black", lw=0.8)
    worse, same, better = int(np.sum(d < 0)), int(np.sum(d == 0)), int(np.sum(d > 0))
    ax.set_title(f"Accuracy per sample: {worse} worse, {same} unchanged, {better} better")
    ax.set_xlabel(label)
    ax.set_ylabel("samples")
    ax.grid(True, alpha=0.3)
    return _png(fig)


def trend_png(
    times: Sequence[Any],
    panels: Sequence[tuple[str, str, Mapping[str, Sequence[float | None]]]],
    *,
    title: str,
    markers: Sequence[str] | None = None,
) -> bytes:
    """Values over time, one panel per (title, y label, {series: values}); ``None`` = gap.

    ``times`` are datetimes shared by every series; ``markers`` (one verdict per time)
    marks runs that did not pass with a red cross on every line.
    """
    n = max(1, len(panels))
    fig = _figure((9.0, 2.6 * n + 0.6))
    fig.suptitle(title)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    x = list(times)
    bad = [i for i, m in enumerate(markers or []) if m not in ("PASS", "MEASURED")]
    for ax, (panel_title, ylabel, series) in zip(axes, panels, strict=False):
        for label, values in series.items():
            y = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
            ax.plot(x, y, marker="o", ms=3, lw=1.2, label=label)
            if bad:
                ax.plot(
                    [x[i] for i in bad], y[bad], ls="none", marker="x", ms=8, color=CANDIDATE_COLOR
                )
        ax.set_title(panel_title, fontsize="medium")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if series:
            ax.legend(loc="best", fontsize="small")
    for label in axes[-1].get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")
    return _png(fig)
