"""Order statistics of Walsh averages without building all n(n+1)/2 of them.

The Hodges–Lehmann estimate and the signed-rank confidence interval are order statistics of
the Walsh averages (x_i + x_j)/2, i <= j. Up to ``BRUTE_FORCE_MAX_N`` values they are listed
and partitioned. Above, ``WalshAverages`` sorts the sample once and counts the averages at or
below any value v with one binary search per row that has any (a *pass*: O(n log n), about
half the rows near the median, ~10 ms at n = 10^6). A k-th average is found by passes that
bracket it between two exact counts holding at most ``ENUMERATE_MAX`` averages, which are
then listed and partitioned: exact. Where the passes go is ``gate.stats.walsh_search``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import FloatArray, IntArray, as_1d
from gate.stats.walsh_search import Probe, search

#: Up to this many values every Walsh average is listed (n = 1500: 1.1 M averages).
BRUTE_FORCE_MAX_N = 1500
#: Averages drawn for the first guesses and for density estimates.
SAMPLE = 50_000
#: Sample values on each side of a point for the density estimate (~2% relative error).
_DENSITY_WINDOW = 1_000
#: Estimated counts read every this many rows (odd: each stratum's middle is a row).
_STRIDE = 15


@functools.lru_cache(maxsize=4)
def _triu(n: int) -> tuple[IntArray, IntArray]:
    return np.triu_indices(n)


def all_walsh(xs: FloatArray) -> FloatArray:
    """Every Walsh average of ``xs`` (unsorted order), for small samples."""
    i, j = _triu(xs.size)
    return np.asarray((xs[i] + xs[j]) / 2.0, dtype=np.float64)


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

    def _starts(self, p: Probe) -> IntArray:
        """Per active row i, the first partner j >= i whose average is above p.v."""
        assert p.found is not None
        return np.asarray(p.found[::-1] + (p.found.size - 1), dtype=np.intp)

    def probe(self, v: float) -> Probe:
        """One pass at v: the number of averages <= v, kept with the pass's rows."""
        found = self._search(v, "right")
        return Probe(float(v), self._count(found), found)

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
        found = search(self, sorted(set(ks)), hint)
        return [found[k] for k in ks]

    def next_above(self, p: Probe) -> float:
        """The smallest value above p.v at which the count grows (O(n), no search).

        In the passes' terms: the least v at which some row's next partner j is counted,
        x_j <= 2v - x_i. That is (x_i + x_j)/2 up to rounding, nudged up until the pass
        agrees, so a probe there counts at least one more average: with values repeated
        more than a bracket can list, the search still moves."""
        start = self._starts(p)
        a = start.size
        rows = self._rows[:a][start < self.n]
        xi, xj = self.xs[rows], self.xs[start[rows]]
        v = (xi + xj) / 2.0
        for _ in range(4):
            short = 2.0 * v - xi < xj
            if not short.any():
                break
            v[short] = np.nextafter(v[short], math.inf)
        least = float(np.min(v)) if v.size else math.inf
        if a < self.n:  # rows past the active ones start at their diagonal: x_a is counted at x_a
            least = min(least, float(self.xs[a]))
        return max(least, math.nextafter(p.v, math.inf))

    def _between(self, low: Probe, high: Probe) -> tuple[IntArray, IntArray, IntArray]:
        """The averages in (low.v, high.v] by row: rows i, each row's first partner, and
        how many partners. Worked in the passes' raw order (rows last first, ``_search``):
        for t = a_hi - 1 - i, row i holds start_hi - start_lo, where start_lo is the
        diagonal for rows not active at low.v."""
        assert low.found is not None and high.found is not None
        a_lo, a_hi = low.found.size, high.found.size
        gap = a_hi - a_lo
        counts = high.found.copy()  # + (a_hi - 1) - start_lo, in raw order
        counts[:gap] += np.arange(gap)
        counts[gap:] += gap - low.found
        t = np.flatnonzero(counts)
        rows = (a_hi - 1) - t
        first = np.where(t < gap, rows, 0)
        late = t >= gap
        first[late] = low.found[t[late] - gap] + (a_lo - 1)
        return rows, first, counts[t]

    def enumerate(self, low: Probe, high: Probe, ks: list[int]) -> dict[int, float]:
        """List the averages in (low.v, high.v] and partition them at the wanted ranks."""
        rows, first, c = self._between(low, high)
        total = int(c.sum())
        cols = np.repeat(first - (np.cumsum(c) - c), c) + np.arange(total)
        vals = (np.repeat(self.xs[rows], c) + self.xs[cols]) / 2.0
        kth = sorted({k - low.le - 1 for k in ks})
        part = np.partition(vals, kth)
        return {k: float(part[k - low.le - 1]) for k in ks}

    def sample_between(self, low: Probe, high: Probe, size: int) -> FloatArray:
        """Averages drawn uniformly from those in (low.v, high.v], sorted."""
        rows, first, c = self._between(low, high)
        cum = np.cumsum(c)
        rng = np.random.default_rng(0x5EED + low.le)  # fixed: the work done is reproducible
        picks = np.sort(rng.integers(0, int(cum[-1]), size=size))
        at = np.searchsorted(cum, picks, side="right")
        cols = first[at] + picks - (cum[at] - c[at])
        return np.sort((self.xs[rows[at]] + self.xs[cols]) / 2.0)

    # -- estimated counts and the sample ---------------------------------------------

    def approx_count(self, v: float) -> float:
        """Averages <= v estimated from the middle row of every ``_STRIDE`` active rows (a
        systematic sample of a smooth per-row count): 1/15 of a pass; at n = 10^6 its error
        has sd ~1e4 (measured), against the 10^6 averages a bracket may hold."""
        a = self._active(v, False)
        rows = self._rows[_STRIDE // 2 : a : _STRIDE]
        found = np.searchsorted(self.xs, 2.0 * v - self.xs[rows], side="right")
        return _STRIDE * float(np.sum(found - rows))

    def _draw(self) -> FloatArray:
        if self._sample is None:
            rng = np.random.default_rng(0x5EED)  # fixed: the work done is reproducible
            size = min(SAMPLE, 20 * self.n)
            i = rng.integers(0, self.n, size=size)
            j = rng.integers(0, self.n, size=size)
            self._sample = np.sort((self.xs[i] + self.xs[j]) / 2.0)
        return self._sample

    def sample_quantile(self, rank: float) -> float:
        """The sample's guess at the value whose count of averages below is ``rank``."""
        w = self._draw()
        return float(w[min(w.size - 1, max(0, int(rank / self.m * w.size)))])

    def sample_mode_near(self, rank: float) -> tuple[float, int]:
        """The sampled value drawn most often among those that could hold ``rank`` (three
        sampling sds either side), and how often."""
        w = self._draw()
        p = min(1.0, max(0.0, rank / self.m))
        half = 3.0 * math.sqrt(w.size * p * (1 - p)) + 2
        near = w[max(0, int(p * w.size - half)) : int(p * w.size + half) + 1]
        if near.size == 0:
            return math.nan, 0
        starts = np.flatnonzero(np.concatenate([[True], near[1:] != near[:-1]]))
        runs = np.diff(np.append(starts, near.size))
        i = int(np.argmax(runs))
        return float(near[starts[i]]), int(runs[i])

    def sample_density(self, v: float) -> float:
        """Averages per unit of value near v, from the sample (~3% relative error)."""
        w = self._draw()
        i = int(np.searchsorted(w, v))
        a, b = max(0, i - _DENSITY_WINDOW), min(w.size - 1, i + _DENSITY_WINDOW)
        width = float(w[b] - w[a])
        return (b - a) / w.size * self.m / width if width > 0 else math.nan


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
