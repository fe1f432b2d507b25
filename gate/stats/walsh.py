"""Order statistics of Walsh averages without building all n(n+1)/2 of them.

The Hodges–Lehmann estimate and the signed-rank confidence interval are order statistics of
the Walsh averages (x_i + x_j)/2, i <= j. Up to ``BRUTE_FORCE_MAX_N`` values they are listed
and partitioned. Above, ``WalshAverages`` sorts the sample once and counts the averages at or
below any value v with one binary search per row: a *pass*, O(n log n), ~20 ms at n = 10^6.
A k-th average is found by placing passes until a bracket (lo, hi] holds it and at most
``ENUMERATE_MAX`` averages, which are then listed and partitioned. Exact: a bracket is only
ever formed from exact counts; where the passes go decides the cost, not the result.

Where the passes go (passes are the whole cost at large n): a first guess per target from a
random sample of averages, then interpolation on the exact counts already made (the count
function is nearly linear at the scale of a bracket, relative deviations ~1/sqrt(n)), and
last one pass just beyond the target on the far side of the nearest count, which closes the
bracket with one pass instead of two. The estimate and both CI bounds of one sample are
selected together and share passes: ~3 passes per target at n = 10^6, where bisection on
the value took ~17.

Sequential looks: ``select(ks, guesses=...)`` starts from the values the previous look found.
On a sample grown by one round they are a few ranks-per-million off, so a target costs ~2
passes and no sample; this is where a look after every round of replay plugs in.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import FloatArray, IntArray, as_1d

#: Up to this many values every Walsh average is listed (n = 1500: 1.1 M averages).
BRUTE_FORCE_MAX_N = 1500
#: Averages left in a bracket at which they are listed and partitioned.
ENUMERATE_MAX = 2_000_000
#: Averages drawn for the first guesses and for density estimates.
SAMPLE = 50_000
#: Sample values on each side of a point for the density estimate (~2% relative error).
_DENSITY_WINDOW = 1_000
_MAX_ROUNDS = 200
#: Relative error assumed for a value interpolated on exact counts / on the sample's density
#: before the search has seen its own (measured at n = 10^6: exact counts ~1e-5..4e-4).
_REL_EXACT = 1e-3
_REL_SAMPLE = 0.05
#: Ranks added on each side of a closing pass beyond the expected error.
_MARGIN = ENUMERATE_MAX / 16
#: From this size the first passes are placed on estimated counts (``_approx_count``).
APPROX_MIN_N = 100_000
_STRIDE = 15  # odd: the middle row of each stratum is a row
_APPROX_ERROR = 3.0e4  # ranks; measured sd ~8e3 at n = 10^6, max 2.8e4
_LOCATE_STEPS = 8


@functools.lru_cache(maxsize=4)
def _triu(n: int) -> tuple[IntArray, IntArray]:
    return np.triu_indices(n)


def all_walsh(xs: FloatArray) -> FloatArray:
    """Every Walsh average of ``xs`` (unsorted order), for small samples."""
    i, j = _triu(xs.size)
    return np.asarray((xs[i] + xs[j]) / 2.0, dtype=np.float64)


@dataclass
class _Probe:
    """The count at one value: ``le`` averages are <= v. ``found`` is the pass's raw result
    (``WalshAverages._starts`` reads where each row's averages above v start from it); it
    is dropped once the probe can no longer end a bracket."""

    v: float
    le: int
    found: IntArray | None


@dataclass
class _Track:
    """What the search learnt about one target: how far off its last predictions were."""

    rel_error: float = 0.05
    predicted: list[tuple[float, float, float]] = field(default_factory=list)
    last_size: int = 0
    stalls: int = 0


class WalshAverages:
    """The Walsh averages of one sample: sorted once, counted and selected on demand."""

    def __init__(self, x: ArrayLike, *, is_sorted: bool = False) -> None:
        a = as_1d(x)
        self.xs: FloatArray = a if is_sorted else np.sort(a)
        self.n = int(a.size)
        self.m = self.n * (self.n + 1) // 2
        #: passes made so far (benchmarks and tests read it)
        self.passes = 0
        self._rows: IntArray = np.arange(self.n, dtype=np.intp)
        self._rowsum = self.n * (self.n - 1) // 2
        self._sample: FloatArray | None = None

    # -- counting ---------------------------------------------------------------------

    def _active(self, v: float, strict: bool) -> int:
        """Rows i < this have an average <= v (< v when ``strict``), the others none: row i
        does iff x_i <= 2v - x_i (x_i is its smallest partner), a condition monotone in i.
        Near the median that is about half the rows, so a pass searches only those."""
        xs, i = self.xs, int(np.searchsorted(self.xs, v, side="left" if strict else "right"))

        def has(j: int) -> bool:
            t = 2.0 * v - float(xs[j])
            return bool(xs[j] < t) if strict else bool(xs[j] <= t)

        while i < self.n and has(i):
            i += 1
        while i > 0 and not has(i - 1):
            i -= 1
        return i

    def _search(self, v: float, side: str) -> IntArray:
        """One pass. For the a active rows, last first, how many x_j (j >= a - 1) are
        <= 2v - x_i (side "right") or < (side "left"); every partner lies at or after the
        last active row. Raw, to save the work of turning it into per-row starts."""
        self.passes += 1
        a = self._active(v, side == "left")
        if a == 0:
            return np.empty(0, dtype=np.intp)
        keys = 2.0 * v - self.xs[a - 1 :: -1]  # increasing: numpy's search reuses its last hit
        found = np.searchsorted(self.xs[a - 1 :], keys, side=side)  # type: ignore[call-overload]
        return np.asarray(found, dtype=np.intp)

    @staticmethod
    def _count(found: IntArray) -> int:
        """Averages counted by a pass: sum over active rows of (start_i - i)."""
        a = found.size
        return int(found.sum()) + a * (a - 1) // 2

    def _starts(self, p: _Probe) -> IntArray:
        """Per active row i, the first partner j >= i whose average is above p.v."""
        assert p.found is not None
        return np.asarray(p.found[::-1] + (p.found.size - 1), dtype=np.intp)

    def probe(self, v: float) -> _Probe:
        found = self._search(v, "right")
        return _Probe(v, self._count(found), found)

    def count_le(self, v: float) -> int:
        """Number of Walsh averages <= v."""
        return self.probe(v).le

    def count_lt(self, v: float) -> int:
        """Number of Walsh averages < v."""
        return self._count(self._search(v, "left"))

    # -- selection --------------------------------------------------------------------

    def select(self, ks: Sequence[int], guesses: Sequence[float] = ()) -> list[float]:
        """The ks-th smallest (1-based) Walsh averages, exactly.

        ``guesses``: one value per k near the wanted one (e.g. the previous look's), probed
        first instead of guesses from a sample; any values are safe, good ones save passes."""
        for k in ks:
            if not 1 <= k <= self.m:
                raise ValueError(f"k={k} outside 1..{self.m}")
        if self.n <= BRUTE_FORCE_MAX_N:
            w = np.partition(all_walsh(self.xs), sorted({k - 1 for k in ks}))
            return [float(w[k - 1]) for k in ks]
        hint: dict[int, float] = {}
        if len(guesses) == len(ks):
            hint = {k: float(g) for k, g in zip(ks, guesses, strict=True)}
        found = self._select(_clusters(sorted(set(ks))), hint)
        return [found[k] for k in ks]

    def _select(self, clusters: list[list[int]], hint: dict[int, float]) -> dict[int, float]:
        x0 = float(self.xs[0])
        probes = [
            _Probe(x0 - 1.0 - abs(x0), 0, np.empty(0, dtype=np.intp)),  # below every average
            _Probe(float(self.xs[-1]), self.m, np.ones(self.n, dtype=np.intp)),  # starts all n
        ]
        starts = [float(np.mean([hint[k] for k in c])) for c in clusters] if hint else []
        if self.n >= APPROX_MIN_N:  # place two exact passes per cluster from estimated counts
            first = [
                v
                for i, c in enumerate(clusters)
                for v in self._closing(c, starts[i] if starts else None)
            ]
        elif starts:
            first = starts
        else:  # the outermost clusters; those between interpolate on their exact counts
            outer = [clusters[0], clusters[-1]] if len(clusters) > 1 else clusters
            first = [self._sample_quantile(_center(c)) for c in outer]
        self._add(probes, first)
        tracks = [_Track() for _ in clusters]
        found: dict[int, float] = {}
        for _ in range(_MAX_ROUNDS):
            pending = [i for i, c in enumerate(clusters) if c[0] not in found]
            if not pending:
                return found
            new: list[float] = []
            ends: dict[int, tuple[int, int]] = {}
            for i in pending:
                lo, hi = _bracket(probes, clusters[i])
                ends[i] = (lo, hi)
                if probes[hi].le - probes[lo].le > ENUMERATE_MAX:
                    move = self._propose(probes, lo, hi, clusters[i], tracks[i])
                    if move is None:  # no average strictly inside: all equal its top (ties)
                        found.update({k: probes[hi].v for k in clusters[i]})
                    else:
                        new.extend(move)
            for i in pending:
                lo, hi = ends[i]
                if probes[hi].le - probes[lo].le <= ENUMERATE_MAX:
                    found.update(self._enumerate(probes[lo], probes[hi], clusters[i]))
            self._add(probes, new)
            _forget(probes, [clusters[i] for i in pending if clusters[i][0] not in found])
        raise ArithmeticError("Walsh-average selection did not converge")

    def _add(self, probes: list[_Probe], values: Sequence[float]) -> None:
        for v in sorted(set(values)):
            i = bisect.bisect_left([p.v for p in probes], v)
            if 0 < i < len(probes) and probes[i].v != v and math.isfinite(v):
                probes.insert(i, self.probe(v))

    def _propose(
        self, probes: list[_Probe], lo: int, hi: int, ranks: list[int], track: _Track
    ) -> list[float] | None:
        """Values to probe next for a cluster of ranks bracketed by probes[lo], probes[hi];
        None when the bracket holds one repeated value (then it is the answer)."""
        low, high = probes[lo], probes[hi]
        size = high.le - low.le
        track.stalls = track.stalls + 1 if track.last_size and 2 * size > track.last_size else 0
        track.last_size = size
        by_v = {p.v: p.le for p in probes}
        errs = [abs(by_v[v] - c) / d for v, c, d in track.predicted if v in by_v]
        if errs:
            track.rel_error = min(1.0, max(1e-4, 2.0 * max(errs)))
        track.predicted = []
        if track.stalls >= 2:  # ties, or a count function too rough to interpolate
            track.stalls = 0
            nxt = self._next_above(low)
            return None if nxt >= high.v else [nxt, 0.5 * (low.v + high.v)]
        tau = _center(ranks)
        i = min(range(lo, hi + 1), key=lambda j: abs(probes[j].le - tau))
        near = probes[i]
        if i in (0, len(probes) - 1):  # only the far ends: guess from the sample
            return [self._sample_quantile(tau)]
        rho, exact = self._slope(probes, i)
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

    def _slope(self, probes: list[_Probe], i: int) -> tuple[float, bool]:
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
        return self._sample_density(p.v), False

    def _next_above(self, p: _Probe) -> float:
        """The smallest Walsh average above probe p (O(n), no search)."""
        start = self._starts(p)
        a = start.size
        ok = start < self.n
        rows = self._rows[:a][ok]
        least = float(np.min((self.xs[rows] + self.xs[start[ok]]) / 2.0)) if rows.size else math.inf
        # rows past the active ones: their smallest average is their diagonal, x_a the least
        return min(least, float(self.xs[a])) if a < self.n else least

    def _enumerate(self, low: _Probe, high: _Probe, ks: list[int]) -> dict[int, float]:
        """List the averages in (low.v, high.v] and partition them at the wanted ranks.

        Worked in the passes' raw order (rows last first, ``_search``): for t = a_hi - 1 - i,
        row i holds start_hi - start_lo averages, where start_lo is the diagonal for rows
        not active at low.v."""
        assert low.found is not None and high.found is not None
        a_lo, a_hi = low.found.size, high.found.size
        gap = a_hi - a_lo
        counts = high.found.copy()  # + (a_hi - 1) - start_lo, in raw order
        counts[:gap] += np.arange(gap)
        counts[gap:] += gap - low.found
        t = np.flatnonzero(counts)
        c = counts[t]
        total = int(c.sum())
        rows = (a_hi - 1) - t
        first = np.where(t < gap, rows, 0)  # where each row's listed partners begin
        late = t >= gap
        first[late] = low.found[t[late] - gap] + (a_lo - 1)
        cols = np.repeat(first - (np.cumsum(c) - c), c) + np.arange(total)
        vals = (np.repeat(self.xs[rows], c) + self.xs[cols]) / 2.0
        kth = sorted({k - low.le - 1 for k in ks})
        part = np.partition(vals, kth)
        return {k: float(part[k - low.le - 1]) for k in ks}

    # -- estimated counts ---------------------------------------------------------------

    def _approx_count(self, v: float) -> float:
        """Averages <= v estimated from the middle row of every ``_STRIDE`` active rows (a
        systematic sample of a smooth per-row count): 1/15 of a pass; at n = 10^6 its error
        has sd ~1e4 (measured), against the 10^6 averages a bracket may hold."""
        a = self._active(v, False)
        rows = self._rows[_STRIDE // 2 : a : _STRIDE]
        found = np.searchsorted(self.xs, 2.0 * v - self.xs[rows], side="right")
        return _STRIDE * float(np.sum(found - rows))

    def _locate(self, tau: float, start: float | None) -> tuple[float, float, float]:
        """A value whose estimated count is tau (secant steps on estimated counts), the
        estimate there, and the local slope (averages per unit value)."""
        lo, hi = float(self.xs[0]), float(self.xs[-1])
        v = start if start is not None and lo < start < hi else self._sample_quantile(tau)
        pts = [(v, self._approx_count(v))]
        for _ in range(_LOCATE_STEPS):
            v1, c1 = pts[-1]
            far = max(pts[:-1], key=lambda p: abs(p[1] - c1), default=None)
            if far is not None and abs(far[1] - c1) > 20 * _APPROX_ERROR:
                rho = (far[1] - c1) / (far[0] - v1)
            else:
                rho = self._sample_density(v1)
            if (abs(c1 - tau) <= _APPROX_ERROR and far is not None) or not rho > 0:
                return v1, c1, rho
            v = min(hi, max(lo, v1 + (tau - c1) / rho))
            pts.append((v, self._approx_count(v)))
        v1, c1 = pts[-1]
        return v1, c1, math.nan

    def _closing(self, ranks: list[int], start: float | None) -> list[float]:
        """Two values whose exact counts should bracket the cluster with room to spare."""
        v, c, rho = self._locate(_center(ranks), start)
        if not (rho > 0 and math.isfinite(rho)):
            return [v]
        spare = 3 * _APPROX_ERROR + _MARGIN / 4 + 0.05 * abs(_center(ranks) - c)
        return [v + (ranks[0] - 0.5 - spare - c) / rho, v + (ranks[-1] + spare - c) / rho]

    # -- the sample -------------------------------------------------------------------

    def _draw(self) -> FloatArray:
        if self._sample is None:
            rng = np.random.default_rng(0x5EED)  # fixed: the work done is reproducible
            size = min(SAMPLE, 20 * self.n)
            i = rng.integers(0, self.n, size=size)
            j = rng.integers(0, self.n, size=size)
            self._sample = np.sort((self.xs[i] + self.xs[j]) / 2.0)
        return self._sample

    def _sample_quantile(self, rank: float) -> float:
        """The sample's guess at the value whose count of averages below is ``rank``."""
        w = self._draw()
        return float(w[min(w.size - 1, max(0, int(rank / self.m * w.size)))])

    def _sample_density(self, v: float) -> float:
        w = self._draw()
        i = int(np.searchsorted(w, v))
        a, b = max(0, i - _DENSITY_WINDOW), min(w.size - 1, i + _DENSITY_WINDOW)
        width = float(w[b] - w[a])
        return (b - a) / w.size * self.m / width if width > 0 else math.nan


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


def _bracket(probes: list[_Probe], ranks: list[int]) -> tuple[int, int]:
    """Indices of the tightest probes with fewer than ranks[0] / at least ranks[-1] below."""
    les = [p.le for p in probes]
    return bisect.bisect_left(les, ranks[0]) - 1, bisect.bisect_left(les, ranks[-1])


def _forget(probes: list[_Probe], pending: list[list[int]]) -> None:
    """Drop the row arrays of probes that no longer end a pending cluster's bracket: only a
    probe inside a bracket could become an end later, and the tightest ends are kept."""
    keep: set[int] = set()
    for ranks in pending:
        keep |= set(_bracket(probes, ranks))
    for i, p in enumerate(probes):
        if i not in keep:
            p.found = None


def walsh_kths(x: ArrayLike, ks: Sequence[int]) -> list[float]:
    """Several Walsh-average order statistics of ``x`` at once (1-based ranks)."""
    return WalshAverages(x).select(ks)


def walsh_kth(x: ArrayLike, k: int) -> float:
    """The k-th smallest (1-based) of the n(n+1)/2 Walsh averages of ``x``."""
    return walsh_kths(x, [k])[0]


def hodges_lehmann(x: ArrayLike) -> float:
    """Hodges–Lehmann estimate of the pseudo-median: the median of the Walsh averages."""
    w = WalshAverages(x)
    return median_of(w, w.select(median_ranks(w.m)))


def median_ranks(m: int) -> list[int]:
    """The rank(s) whose value(s) make the median of m ordered values."""
    return [(m + 1) // 2, m // 2 + 1]


def median_of(w: WalshAverages, values: Sequence[float]) -> float:
    """The median from the values at ``median_ranks`` (their mean when m is even)."""
    return values[0] if w.m % 2 else 0.5 * (values[0] + values[1])
