"""Honest statistics for small eval suites. Pure functions, standard library only.

- Pass rates get Wilson score intervals.
- The paired pass-rate difference (candidate - baseline) gets Tango's score interval, which
  stays honest when there are few or no disagreements: with none at all over n cases the
  interval is +-z^2/(n + z^2), about 4.6% at 80 cases. The exact McNemar test gives the
  p-value for K = 1.
- With K > 1 samples per case, a seeded paired bootstrap over cases is computed as well,
  and the verdict uses whichever interval is wider.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963...


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson(successes: float, n: float, z: float = Z95) -> Interval:
    """Wilson score interval for a proportion; (0, 1) when n is 0."""
    if n <= 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave 3e-17 and a report
    # would say the interval excludes a rate it contains.
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(low, high)


def _tango_z(delta: float, better: float, worse: float, n: float) -> float:
    """Tango's score statistic for H0: p(better) - p(worse) = delta."""
    a = 2 * n
    b = -better - worse + (2 * n - better + worse) * delta
    c = -worse * delta * (1 - delta)
    # Constrained MLE of p(worse) under H0 (Tango 1998, eq. 3); delta = p_better - p_worse.
    disc = max(0.0, b * b - 4 * a * c)
    q_worse = (math.sqrt(disc) - b) / (2 * a)
    variance = n * (2 * q_worse + delta * (1 - delta))
    if variance <= 0:
        return math.inf if (better - worse - n * delta) > 0 else -math.inf
    return (better - worse - n * delta) / math.sqrt(variance)


def tango_interval(better: float, worse: float, n: float, z: float = Z95) -> Interval:
    """Score interval for the paired difference p(better) - p(worse) over n pairs.

    `better` counts pairs where the candidate passes and the baseline fails, `worse` the
    reverse (fractional counts are allowed: per-case averages over K samples).
    """
    if n <= 0:
        return Interval(-1.0, 1.0)
    observed = (better - worse) / n

    def solve(lo: float, hi: float, target: float) -> float:
        for _ in range(100):
            mid = (lo + hi) / 2
            if _tango_z(mid, better, worse, n) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = (
        -1.0 if _tango_z(-1.0 + 1e-12, better, worse, n) <= z else solve(-1.0 + 1e-12, observed, z)
    )
    high = (
        1.0 if _tango_z(1.0 - 1e-12, better, worse, n) >= -z else solve(observed, 1.0 - 1e-12, -z)
    )
    return Interval(max(-1.0, min(low, observed)), min(1.0, max(high, observed)))


def mcnemar_exact_p(better: int, worse: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    m = better + worse
    if m == 0:
        return 1.0
    k = min(better, worse)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2**m
    return float(min(1.0, 2 * tail))


def paired_bootstrap(
    differences: Sequence[float], seed: int = 20240601, resamples: int = 4000
) -> Interval:
    """Percentile interval of the mean per-case difference, resampling cases."""
    n = len(differences)
    if n == 0:
        return Interval(-1.0, 1.0)
    rng = random.Random(seed)
    means = sorted(
        sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples)
    )
    return Interval(means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile (q in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return ordered[lower]
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def cases_to_settle(
    observed: float, discordance: float, n: int, margin: float, z: float = Z95
) -> int | None:
    """Roughly how many cases (at the observed rates) would put the interval clear of the
    non-inferiority margin on one side or the other; None when no number would."""
    gap = observed + margin  # distance of the estimate from the margin
    if abs(gap) < 1e-9:
        return None
    if discordance <= 0:
        # No disagreements seen: the interval is about +-z^2/(n + z^2).
        if observed < -margin:
            return None
        return max(n + 1, math.ceil(z * z / margin - z * z) + 1)
    variance = max(discordance - observed * observed, 1e-9)
    return max(n + 1, math.ceil(z * z * variance / (gap * gap)))
