"""Honest statistics for small eval suites. Pure functions, standard library only.

- Pass rates get Wilson score intervals.
- The paired pass-rate difference (candidate - baseline) gets a score interval with the case
  as the unit (`paired_difference`): Tango's interval with one sample per case, and its
  generalisation to per-case differences of pass fractions with K > 1 samples, which
  narrows as far as samples disagree at random within a case. Both stay honest with few or
  no disagreements: with none at all over n cases the interval is +-z^2/(n + z^2), about
  4.6 points at 80 cases, whatever K is. The exact McNemar test gives the p-value for K = 1.
- Several candidates get Holm's adjustment of their margin tests (`holm_decisions`).
- What a suite of a given size can decide lives in `power`. docs/statistics.md says why
  these methods and shows the simulation behind them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
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


def support(differences: Sequence[float]) -> tuple[list[float], list[float]]:
    """The distinct per-case differences and the share of cases at each."""
    counts: dict[float, int] = {}
    for difference in differences:
        # Rounding merges 0.6 - 0.4 with 0.2; a difference outside [-1, 1] is not a pass rate's.
        value = round(difference, 12) + 0.0
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"a per-case difference must lie in [-1, 1], got {difference}")
        counts[value] = counts.get(value, 0) + 1
    n = len(differences)
    values = sorted(counts)
    return values, [counts[v] / n for v in values]


def _root(f: Callable[[float], float], lo: float, hi: float, tol: float = 1e-12) -> float:
    """A root of f between lo and hi, where f changes sign (Illinois regula falsi)."""
    f_lo, f_hi = f(lo), f(hi)
    side = 0
    for _ in range(200):
        mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < mid < hi:  # rounding at the end of the bracket: bisect instead
            mid = (lo + hi) / 2
        f_mid = f(mid)
        if f_mid == 0 or hi - lo < tol:
            return mid
        if (f_mid > 0) == (f_hi > 0):
            hi, f_hi = mid, f_mid
            if side == -1:
                f_lo /= 2
            side = -1
        else:
            lo, f_lo = mid, f_mid
            if side == 1:
                f_hi /= 2
            side = 1
    return (lo + hi) / 2


def _slope(lam: float, offsets: Sequence[float], shares: Sequence[float]) -> float:
    return sum(w * x / (1 + lam * x) for w, x in zip(shares, offsets, strict=True))


def _multiplier(
    offsets: Sequence[float], shares: Sequence[float], lo: float, hi: float, start: float
) -> float:
    """The root of the decreasing _slope between lo and hi: Newton's method from `start`,
    bisecting whenever a step would leave the bracket."""
    lam = start if lo < start < hi else 0.0
    for _ in range(200):
        value = derivative = 0.0
        for w, x in zip(shares, offsets, strict=True):
            t = 1 / (1 + lam * x)
            value += w * x * t
            derivative += w * x * x * t * t
        if value == 0 or derivative == 0:
            return lam
        if value > 0:
            lo = lam
        else:
            hi = lam
        step = lam + value / derivative
        if not lo < step < hi:
            step = (lo + hi) / 2
        if abs(step - lam) <= 1e-14 * max(1.0, abs(lam)):
            return step
        lam = step
    return lam


def null_variance(delta: float, values: Sequence[float], shares: Sequence[float]) -> float:
    """Variance of a per-case difference if its mean were `delta`, at the most likely
    distribution with that mean on the observed values and the extremes -1 and 1.

    That distribution is the constrained maximum-likelihood multinomial of Tango's score
    test: with differences in {-1, 0, 1} (one sample per case) this is Tango's variance.
    Mass the constraint needs beyond the observed values goes to an extreme, so the variance
    never collapses to zero: with no disagreement at all it is |delta| (1 - |delta|).
    `values` are sorted and distinct, `shares` their shares of the cases (see `support`).
    """
    return _null_fit(delta, values, shares, 0.0)[0]


def _null_fit(
    delta: float, values: Sequence[float], shares: Sequence[float], start: float
) -> tuple[float, float]:
    """null_variance and the Lagrange multiplier that gave it (a start for the next fit)."""
    if not -1 < delta < 1:
        return 0.0, start  # all the mass sits at that extreme
    offsets = [v - delta for v in values]
    # The multiplier keeps every probability w / (1 + lam * x) positive, including those of
    # the unobserved extremes: -1/(1 - delta) < lam < 1/(1 + delta).
    lam_lo, lam_hi = -1 / (1 - delta), 1 / (1 + delta)
    extreme = 0.0
    if values[0] > -1 and _slope(lam_hi, offsets, shares) >= 0:
        lam, extreme = lam_hi, -1.0
    elif values[-1] < 1 and _slope(lam_lo, offsets, shares) <= 0:
        lam, extreme = lam_lo, 1.0
    else:
        lam = _multiplier(offsets, shares, lam_lo, lam_hi, start)
    probabilities = [w / (1 + lam * x) for w, x in zip(shares, offsets, strict=True)]
    variance = sum(p * x * x for p, x in zip(probabilities, offsets, strict=True))
    return variance + max(0.0, 1 - sum(probabilities)) * (extreme - delta) ** 2, lam


def score_statistic(
    delta: float, values: Sequence[float], shares: Sequence[float], n: int
) -> float:
    """The score statistic for H0: mean per-case difference = delta, over n cases."""
    mean = sum(v * w for v, w in zip(values, shares, strict=True))
    if mean == delta:
        return 0.0
    variance = null_variance(delta, values, shares)
    if variance <= 0:
        return math.inf if mean > delta else -math.inf
    return (mean - delta) * math.sqrt(n / variance)


def clustered_score_interval(differences: Sequence[float], z: float = Z95) -> Interval:
    """Score interval for the mean of per-case differences in [-1, 1], the case as the unit.

    With K samples per case each difference is candidate minus baseline pass fraction. The
    interval holds the means whose score statistic stays within +-z; with differences in
    {-1, 0, 1} it is Tango's interval, and with none different from 0 it is
    +-z^2/(n + z^2) whatever K is.
    """
    n = len(differences)
    if n == 0:
        return Interval(-1.0, 1.0)
    values, shares = support(differences)
    mean = sum(v * w for v, w in zip(values, shares, strict=True))
    edge = 1 - 1e-12

    last = 0.0  # successive fits start from the previous multiplier

    def excess(delta: float) -> float:
        # n (mean - delta)^2 - z^2 V(delta): the statistic's square against z^2, without
        # dividing by a variance that vanishes at the extremes.
        nonlocal last
        variance, last = _null_fit(delta, values, shares, last)
        return n * (mean - delta) ** 2 - z * z * variance

    # A trial point a little beyond the Wald bound narrows the bracket for the root.
    spread = sum(w * (v - mean) ** 2 for v, w in zip(values, shares, strict=True))
    reach = 1.5 * z * math.sqrt(spread / n) + z * z / n
    low, high = -1.0, 1.0
    trial = max(-edge, mean - reach)
    if trial < mean and excess(trial) > 0:
        low = _root(excess, trial, mean)
    elif mean > -edge and excess(-edge) > 0:
        low = _root(excess, -edge, max(-edge, trial))
    trial = min(edge, mean + reach)
    if trial > mean and excess(trial) > 0:
        high = _root(excess, mean, trial)
    elif mean < edge and excess(edge) > 0:
        high = _root(excess, min(edge, trial), edge)
    return Interval(max(-1.0, min(low, mean)), min(1.0, max(high, mean)))


@dataclass(frozen=True)
class PairedDifference:
    """Candidate minus baseline pass rate over the cases scored on both, with its interval."""

    estimate: float
    interval: Interval
    method: str
    cases: int


TANGO = "Tango score interval"
CLUSTERED = "clustered score interval (case as the unit)"


def paired_difference(
    baseline: Sequence[float], candidate: Sequence[float], samples: int, z: float = Z95
) -> PairedDifference:
    """The paired pass-rate difference and the interval that decides the verdict.

    `baseline` and `candidate` hold each case's pass fraction (passing samples / scored
    samples) on the two models, case by case. With one sample per case that is Tango's
    interval on the discordant pairs; with more, the clustered score interval on the per-case
    differences, which gains from samples as far as they disagree within a case and falls
    back to Tango's bound when no case differs at all.
    """
    if len(baseline) != len(candidate):
        raise ValueError("baseline and candidate must hold the same cases")
    if samples < 1:
        raise ValueError("samples must be at least 1")
    differences = [c - b for b, c in zip(baseline, candidate, strict=True)]
    n = len(differences)
    estimate = sum(differences) / n if n else 0.0
    if samples > 1:
        return PairedDifference(estimate, clustered_score_interval(differences, z), CLUSTERED, n)
    if any(f not in (0.0, 1.0) for f in (*baseline, *candidate)):
        raise ValueError("with one sample per case every pass fraction is 0 or 1")
    better = sum(1 for d in differences if d > 0)
    worse = sum(1 for d in differences if d < 0)
    return PairedDifference(estimate, tango_interval(better, worse, n, z), TANGO, n)


@dataclass(frozen=True)
class AdjustedDecision:
    """One candidate's pass-rate decision when several candidates are compared at once."""

    difference: PairedDifference  # with the interval at `level`
    level: float  # confidence level of that interval, after the adjustment
    p_value: float  # two-sided score test of "difference = -margin", unadjusted
    adjusted_p_value: float  # Holm's adjusted p-value
    status: str  # "holds" (above -margin), "broken" (below it) or "unclear"


def holm_decisions(
    candidates: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    samples: int,
    margin: float,
    alpha: float = 0.05,
) -> dict[str, AdjustedDecision]:
    """Holm's step-down adjustment of the margin tests across candidates.

    `candidates` maps each candidate to (baseline, candidate) per-case pass fractions over
    the cases scored on both. Each candidate's test is the score test behind its interval:
    the margin lies outside the interval exactly when the test rejects "difference =
    -margin", and the side says holds or broken. Holm tests the smallest p-value at
    alpha/m, the next at alpha/(m - 1), and so on, stopping at the first it cannot reject;
    each interval is shown at the level its decision was made at (the stopping level for
    those not settled), so the interval and the status never disagree. With one candidate
    this is the plain 95% interval.
    """
    if not candidates:
        return {}
    m = len(candidates)
    tests: dict[str, tuple[float, float]] = {}
    for name, (baseline, candidate) in candidates.items():
        differences = [c - b for b, c in zip(baseline, candidate, strict=True)]
        if differences:
            values, shares = support(differences)
            statistic = score_statistic(-margin, values, shares, len(differences))
        else:
            statistic = 0.0
        tests[name] = (statistic, 2 * (1 - NormalDist().cdf(abs(statistic))))
    order = sorted(tests, key=lambda name: tests[name][1])
    adjusted: dict[str, float] = {}
    step_level: dict[str, float] = {}
    running, rejected = 0.0, 0
    for step, name in enumerate(order):
        running = max(running, min(1.0, (m - step) * tests[name][1]))
        adjusted[name] = running
        if running <= alpha and rejected == step:
            rejected += 1
            step_level[name] = alpha / (m - step)
    decisions = {}
    for name in candidates:
        level = step_level.get(name, alpha / (m - rejected) if rejected < m else alpha)
        z = NormalDist().inv_cdf(1 - level / 2)
        statistic, p_value = tests[name]
        status = "unclear"
        if name in step_level:
            status = "holds" if statistic > 0 else "broken"
        baseline, candidate = candidates[name]
        decisions[name] = AdjustedDecision(
            paired_difference(baseline, candidate, samples, z),
            1 - level,
            p_value,
            adjusted[name],
            status,
        )
    return decisions


def mcnemar_exact_p(better: int, worse: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    m = better + worse
    if m == 0:
        return 1.0
    k = min(better, worse)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2**m
    return float(min(1.0, 2 * tail))


def level_text(level: float) -> str:
    """A confidence level as a report says it: `95%`, `97.5%`, `98.33%`."""
    return f"{level * 100:.4g}%"


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
