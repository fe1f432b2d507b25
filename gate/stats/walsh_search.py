"""Where a Walsh-average selection places its counting passes (``gate.stats.walsh``).

Passes are the whole cost at large n (~10 ms each at n = 10^6), so they go where the
previous ones say the wanted ranks are, and every bracket is closed from exact counts only:
the placing decides the cost, never the result.

* From n = ``APPROX_MIN_N``: a value per cluster of wanted ranks is located on *estimated*
  counts (every 15th row: 1/15 of a pass, error sd ~1e4 at n = 10^6) by secant steps from a
  sampled guess, and two exact passes are placed just outside the cluster: 2 passes per
  cluster (the HL estimate and its two CI bounds: 6; bisection on the value took ~50).
* Below, or when a bracket is still too wide: interpolation on the exact counts made so far
  (the count function is nearly linear at the scale of a bracket, relative deviations
  ~1/sqrt(n)) and one pass just past the target on the far side of the nearest count.
* Ties (a value repeated more than ``ENUMERATE_MAX`` times): a value the sample repeats is
  tested outright (two passes); otherwise, or with a count function too rough to
  interpolate, the next count change above the lower end, and bisection on the value.

Sequential looks: ``hint`` (the values a previous look found, ``WalshAverages.select``'s
``guesses``) replaces the sampled first guesses; on a sample grown by one round they are a
few ranks per million off and locating them takes one or two estimated counts.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gate.stats.common import FloatArray, IntArray

#: Averages left in a bracket at which they are listed and partitioned.
ENUMERATE_MAX = 2_000_000
#: From this size the first passes are placed on estimated counts.
APPROX_MIN_N = 100_000
_MAX_ROUNDS = 200
#: Relative error assumed for a value interpolated on exact counts / on the sample's density
#: before the search has seen its own (measured at n = 10^6: exact counts ~1e-5..4e-4).
_REL_EXACT = 1e-3
_REL_SAMPLE = 0.05
#: Ranks added on each side of a closing pass beyond the expected error.
_MARGIN = ENUMERATE_MAX / 16
#: Error bound of an estimated count, in ranks (measured sd ~8e3 at n = 10^6, max 2.8e4).
APPROX_ERROR = 3.0e4
_LOCATE_STEPS = 8
#: A sampled value drawn this many times is tested as the answer first (a point mass: e.g.
#: log ratio 0 of whole-microsecond latencies, held by ~1e9 averages at n = 10^6).
_MASS_REPEATS = 3
#: Averages drawn inside a bracket that interpolation does not shrink.
_INSIDE_SAMPLE = 20_000


@dataclass
class Probe:
    """The count at one value: ``le`` averages are <= v. ``found`` is the pass's raw result
    (the counter reads each row's first average above v from it); it is dropped once the
    probe can no longer end a bracket."""

    v: float
    le: int
    found: IntArray | None


class Counter(Protocol):
    """What the search needs from a sorted sample (``gate.stats.walsh.WalshAverages``)."""

    n: int
    m: int
    xs: FloatArray

    def probe(self, v: float) -> Probe: ...
    def approx_count(self, v: float) -> float: ...
    def sample_quantile(self, rank: float) -> float: ...
    def sample_density(self, v: float) -> float: ...
    def sample_mode_near(self, rank: float) -> tuple[float, int]: ...
    def sample_between(self, low: Probe, high: Probe, size: int) -> FloatArray: ...
    def count_le(self, v: float) -> int: ...
    def count_lt(self, v: float) -> int: ...
    def next_above(self, p: Probe) -> float: ...
    def enumerate(self, low: Probe, high: Probe, ks: list[int]) -> dict[int, float]: ...


@dataclass
class _Track:
    """What the search learnt about one cluster: how far off its last predictions were."""

    rel_error: float = 0.05
    predicted: list[tuple[float, float, float]] = field(default_factory=list)
    last_size: int = 0
    stalls: int = 0


def search(w: Counter, ranks: Sequence[int], hint: dict[int, float]) -> dict[int, float]:
    """The exact values at ``ranks`` (sorted, distinct); ``hint``: rank -> a value near it."""
    clusters = _clusters(sorted(ranks))
    x0 = float(w.xs[0])
    probes = [
        Probe(x0 - 1.0 - abs(x0), 0, np.empty(0, dtype=np.intp)),  # below every average
        Probe(float(w.xs[-1]), w.m, np.ones(w.n, dtype=np.intp)),  # starts all n
    ]
    found: dict[int, float] = {}
    for c in clusters if w.m > ENUMERATE_MAX else []:  # a value repeated by a good share
        v, repeats = w.sample_mode_near(_center(c))  # of all averages: test it outright
        if repeats >= _MASS_REPEATS:
            found.update(_held_by(w, v, c, any_size=False))
    clusters = [[k for k in c if k not in found] for c in clusters]
    clusters = [c for c in clusters if c]
    if not clusters:
        return found
    starts = [float(np.mean([hint[k] for k in c])) for c in clusters] if hint else []
    if w.n >= APPROX_MIN_N:  # place two exact passes per cluster from estimated counts
        first = [
            v for i, c in enumerate(clusters) for v in _closing(w, c, starts[i] if starts else None)
        ]
    elif starts:
        first = starts
    else:  # the outermost clusters; those between interpolate on their exact counts
        outer = [clusters[0], clusters[-1]] if len(clusters) > 1 else clusters
        first = [w.sample_quantile(_center(c)) for c in outer]
    _add(w, probes, first)
    tracks = [_Track() for _ in clusters]
    for _ in range(_MAX_ROUNDS):
        pending = [i for i, c in enumerate(clusters) if c]
        if not pending:
            return found
        new: list[float] = []
        ends: dict[int, tuple[int, int]] = {}
        for i in pending:
            lo, hi = _bracket(probes, clusters[i])
            ends[i] = (lo, hi)
            if probes[hi].le - probes[lo].le > ENUMERATE_MAX:
                move = _propose(w, probes, lo, hi, clusters[i], tracks[i])
                if isinstance(move, dict):  # ranks held by one repeated value (ties)
                    found.update(move)
                else:
                    new.extend(move)
        for i in pending:
            lo, hi = ends[i]
            if probes[hi].le - probes[lo].le <= ENUMERATE_MAX:
                found.update(w.enumerate(probes[lo], probes[hi], clusters[i]))
            clusters[i] = [k for k in clusters[i] if k not in found]
        _add(w, probes, new)
        _forget(probes, [c for c in clusters if c])
    raise ArithmeticError("Walsh-average selection did not converge")


def _add(w: Counter, probes: list[Probe], values: Sequence[float]) -> None:
    """One pass at each new value strictly between the two end probes, kept in order."""
    for v in sorted(set(values)):
        i = bisect.bisect_left([p.v for p in probes], v)
        if 0 < i < len(probes) and probes[i].v != v and math.isfinite(v):
            probes.insert(i, w.probe(v))


def _propose(
    w: Counter, probes: list[Probe], lo: int, hi: int, ranks: list[int], track: _Track
) -> list[float] | dict[int, float]:
    """Values to probe next for a cluster of ranks bracketed by probes[lo], probes[hi], or
    the answers of the ranks a repeated value holds."""
    low, high = probes[lo], probes[hi]
    size = high.le - low.le
    track.stalls = track.stalls + 1 if track.last_size and 2 * size > track.last_size else 0
    track.last_size = size
    by_v = {p.v: p.le for p in probes}
    errs = [abs(by_v[v] - c) / d for v, c, d in track.predicted if v in by_v]
    if errs:
        track.rel_error = min(1.0, max(1e-4, 2.0 * max(errs)))
    track.predicted = []
    if track.stalls >= (1 if w.n >= APPROX_MIN_N else 2):
        track.stalls = 0  # ties, or a count function too rough to interpolate
        return _inside(w, low, high, ranks)
    tau = _center(ranks)
    i = min(range(lo, hi + 1), key=lambda j: abs(probes[j].le - tau))
    near = probes[i]
    if i in (0, len(probes) - 1):  # only the far ends: guess from the sample
        return [w.sample_quantile(tau)]
    rho, exact = _slope(w, probes, i)
    if not (rho > 0 and math.isfinite(rho)):
        return [0.5 * (low.v + high.v)]
    d = tau - near.le
    rel = max(track.rel_error, _REL_EXACT) if exact else max(track.rel_error, _REL_SAMPLE)
    margin = abs(d) * rel + _MARGIN
    width = ranks[-1] - ranks[0]
    if width + 2 * margin > 0.75 * ENUMERATE_MAX:  # refine: one pass at the target
        steps = [d]
    else:  # close: a pass just past each end of the cluster not already close
        room = 0.375 * ENUMERATE_MAX - width / 2
        steps = [] if ranks[0] - low.le <= room else [ranks[0] - 0.5 - margin - near.le]
        steps += [] if high.le - ranks[-1] <= room else [ranks[-1] + margin - near.le]
    out = []
    for s in steps:
        v = near.v + s / rho
        if not low.v < v < high.v:
            v = 0.5 * (low.v + high.v)
        out.append(v)
        track.predicted.append((v, near.le + s, max(abs(s), 1.0)))
    return out


def _inside(
    w: Counter, low: Probe, high: Probe, ranks: list[int]
) -> list[float] | dict[int, float]:
    """A bracket interpolation does not shrink: sample the averages inside it. The values
    the sample repeats most may hold wanted ranks (tested: two passes each); otherwise the
    sample's quantiles around the wanted ones, a bracket ~50 times narrower in count."""
    vals = w.sample_between(low, high, _INSIDE_SAMPLE)
    size = high.le - low.le
    p0, p1 = (ranks[0] - low.le) / size, (ranks[-1] - low.le) / size
    half = 4.0 * math.sqrt(vals.size * max(p0 * (1 - p0), p1 * (1 - p1))) + 2
    i0, i1 = max(0, int(p0 * vals.size - half)), min(vals.size - 1, int(p1 * vals.size + half))
    near = vals[i0 : i1 + 1]
    edges = np.flatnonzero(np.concatenate([[True], near[1:] != near[:-1], [True]]))
    runs = np.diff(edges)
    held: dict[int, float] = {}
    for j in np.argsort(-runs, kind="stable")[:2]:  # the two most repeated values
        if runs[j] >= _MASS_REPEATS:
            held.update(_held_by(w, float(near[edges[j]]), ranks, any_size=True))
    if held:
        return held
    nxt = w.next_above(low)  # progress even when the sample holds one value
    if nxt >= high.v:  # no count change strictly inside: every average there is the top
        return {k: high.v for k in ranks}
    return [float(vals[i0]), float(vals[i1]), nxt, 0.5 * (low.v + high.v)]


def _held_by(w: Counter, v: float, ranks: list[int], *, any_size: bool) -> dict[int, float]:
    """The wanted ranks whose average is v: the count crosses them at v (two passes).

    The answer is then v to the last bit (averages equal in exact arithmetic may differ
    there), so unless ``any_size`` (a bracket that will not shrink) only a value held more
    times than a bracket can list is taken; a smaller repeat is left to the exact listing."""
    lt = w.count_lt(v)
    if lt >= ranks[-1]:
        return {}
    le = w.count_le(v)
    if le - lt <= ENUMERATE_MAX // 2 and not any_size:
        return {}
    return {k: v for k in ranks if lt < k <= le}


def _slope(w: Counter, probes: list[Probe], i: int) -> tuple[float, bool]:
    """Averages per unit of value near probes[i], and whether it comes from exact counts
    (the nearest other probe) rather than from the sample."""
    p = probes[i]
    best = math.inf
    rho = math.nan
    for j in range(1, len(probes) - 1):  # the two end probes are far away, not local
        q = probes[j]
        if j == i:
            continue
        dl, dv = abs(q.le - p.le), abs(q.v - p.v)
        if dl > 0 and dv > 0 and dl < best:
            best, rho = dl, dl / dv
    if math.isfinite(rho):
        return rho, True
    return w.sample_density(p.v), False


def _locate(w: Counter, tau: float, start: float | None) -> tuple[float, float, float]:
    """A value whose estimated count is tau (secant steps on estimated counts), the
    estimate there, and the local slope (averages per unit value)."""
    lo, hi = float(w.xs[0]), float(w.xs[-1])
    v = start if start is not None and lo < start < hi else w.sample_quantile(tau)
    pts = [(v, w.approx_count(v))]
    for _ in range(_LOCATE_STEPS):
        v1, c1 = pts[-1]
        far = max(pts[:-1], key=lambda p: abs(p[1] - c1), default=None)
        if far is not None and abs(far[1] - c1) > 20 * APPROX_ERROR:
            rho = (far[1] - c1) / (far[0] - v1)
        else:
            rho = w.sample_density(v1)
        if (abs(c1 - tau) <= APPROX_ERROR and far is not None) or not rho > 0:
            return v1, c1, rho
        v = min(hi, max(lo, v1 + (tau - c1) / rho))
        pts.append((v, w.approx_count(v)))
    v1, c1 = pts[-1]
    return v1, c1, math.nan


def _closing(w: Counter, ranks: list[int], start: float | None) -> list[float]:
    """Two values whose exact counts should bracket the cluster with room to spare."""
    v, c, rho = _locate(w, _center(ranks), start)
    if not (rho > 0 and math.isfinite(rho)):
        return [v]
    spare = 3 * APPROX_ERROR + _MARGIN / 4 + 0.05 * abs(_center(ranks) - c)
    return [v + (ranks[0] - 0.5 - spare - c) / rho, v + (ranks[-1] + spare - c) / rho]


def _clusters(targets: list[int]) -> list[list[int]]:
    """Sorted ranks grouped where they are close enough to share one bracket."""
    out = [[targets[0]]]
    for k in targets[1:]:
        if k - out[-1][0] <= ENUMERATE_MAX // 8:
            out[-1].append(k)
        else:
            out.append([k])
    return out


def _center(ranks: list[int]) -> float:
    """Where the count crosses the middle of a cluster (between two averages)."""
    return 0.5 * (ranks[0] + ranks[-1]) - 0.5


def _bracket(probes: list[Probe], ranks: list[int]) -> tuple[int, int]:
    """Indices of the tightest probes with fewer than ranks[0] / at least ranks[-1] below."""
    les = [p.le for p in probes]
    return bisect.bisect_left(les, ranks[0]) - 1, bisect.bisect_left(les, ranks[-1])


def _forget(probes: list[Probe], pending: list[list[int]]) -> None:
    """Drop the row arrays of probes outside every pending cluster's bracket: brackets only
    shrink, so only a bracket's ends and the probes between them (which split a cluster
    whose ranks are not all found yet) can end one later."""
    keep: set[int] = set()
    for ranks in pending:
        lo, hi = _bracket(probes, ranks)
        keep |= set(range(lo, hi + 1))
    for i, p in enumerate(probes):
        if i not in keep:
            p.found = None
