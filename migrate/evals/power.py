"""What a suite of a given size can decide. Pure functions, standard library only.

- Before paying: with perfect agreement over n cases the interval is +-z^2/(n + z^2), so
  that is the smallest drop a suite of n cases can ever rule out. Samples do not change it:
  when every sample agrees, K samples of one case may be K copies of one answer, so they say
  nothing more about how often the models disagree between cases.
- After a run that did not settle: the smallest suite whose interval, at the observed rates,
  clears the margin, and the chance that a suite of a given size drawn at those rates
  settles it. The chance is exact (binomial sums) when the per-case differences take at most
  three values, which covers one sample per case and suites where zero, one or two cases
  differ, and a seeded simulation otherwise. Where the counts of a rerun would spread over
  so many values that summing or simulating them costs seconds (thousands of cases with
  frequent disagreement), the statistic's normal approximation is used instead: there the
  lattice of small counts, which the exact sums exist for, no longer shows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from migrate.evals.stats import Z95, score_statistic, support

HOLDS, BROKEN = "holds", "broken"
LIMIT = 1_000_000  # no suite larger than this is worth stating
# Past this many grid points (exact) or binomial steps (simulation) per chance, the normal
# approximation answers instead: either would take seconds, and at that spread of counts
# the approximation is within the simulation's own error.
WORK_LIMIT = 60_000
SPREAD_SDS = 8  # binomial mass beyond 8 standard deviations (plus a margin) is below 1e-12


def smallest_drop_ruled_out(cases: int, z: float = Z95) -> float:
    """The smallest drop in pass rate that a suite of `cases` cases can rule out: the
    interval's lower bound with no disagreement at all, z^2/(n + z^2), whatever K is."""
    if cases < 0:
        raise ValueError("cases must not be negative")
    return z * z / (cases + z * z)


def cases_to_rule_out(drop: float, z: float = Z95) -> int:
    """The fewest cases with which perfect agreement rules out a drop of `drop`:
    the smallest n with z^2/(n + z^2) < drop."""
    if not 0 < drop <= 1:
        raise ValueError("the drop must lie in (0, 1]")
    n = max(0, math.floor(z * z * (1 - drop) / drop))
    while smallest_drop_ruled_out(n, z) >= drop:
        n += 1
    while n > 0 and smallest_drop_ruled_out(n - 1, z) < drop:
        n -= 1
    return n


@dataclass(frozen=True)
class Settlement:
    """How large a suite would settle the pass-rate gate, at the observed rates."""

    direction: str  # "holds" or "broken": the side of the margin the observed rates are on
    at_observed_rates: int  # smallest suite whose interval, at exactly these rates, clears
    chance_at_observed_rates: float  # chance that a suite of that size settles it
    for_even_chance: int | None  # smallest larger suite that settles it at least half the time
    for_likely: int | None  # ... at least 80% of the time
    exact: bool  # every chance from binomial sums (True), or some simulated or approximated


def size_at_observed_rates(
    differences: Sequence[float], margin: float, z: float = Z95
) -> int | None:
    """The smallest suite whose interval clears the margin (on either side) if its cases
    differed at exactly the observed rates; None when the estimate sits on the margin, or so
    close to it (rounding apart) that no suite of up to LIMIT cases would clear it."""
    if not differences:
        return None
    per_case = score_statistic(-margin, *support(differences), 1)
    # Past LIMIT the search below would step through sizes whose square roots rounding no
    # longer tells apart: an estimate a rounding error off the margin looped for ever.
    if not math.isfinite(per_case) or z * z / (per_case * per_case or 1e-300) > LIMIT:
        return None
    # At fixed rates the statistic grows as sqrt(N): the first N past z^2 / per_case^2.
    size = math.floor(z * z / (per_case * per_case)) + 1
    while size > 1 and math.sqrt(size - 1) * abs(per_case) > z:
        size -= 1
    while math.sqrt(size) * abs(per_case) <= z:
        size += 1
    return size


def cases_to_settle(
    differences: Sequence[float],
    margin: float,
    z: float = Z95,
    *,
    seed: int = 20240601,
    draws: int = 1000,
) -> Settlement | None:
    """How many cases would settle the verdict, from the observed per-case differences
    (candidate minus baseline pass fraction); None when the estimate sits on the margin."""
    n = len(differences)
    if n == 0:
        return None
    values, shares = support(differences)
    per_case = score_statistic(-margin, values, shares, 1)
    at_rates = size_at_observed_rates(differences, margin, z)
    if at_rates is None:
        return None
    known: dict[int, float] = {}
    exact = True

    def chance(cases: int) -> float:
        nonlocal exact
        if cases not in known:
            known[cases] = settle_chance(differences, cases, margin, z, seed=seed, draws=draws)
            exact = exact and _method(values, shares, cases, draws) == "exact"
        return known[cases]

    # Where a normal approximation puts 80%: the statistic's spread under the observed rates,
    # relative to its null spread, widens the step from 50% to 80%.
    mean = sum(v * w for v, w in zip(values, shares, strict=True))
    spread = sum(w * (v - mean) ** 2 for v, w in zip(values, shares, strict=True))
    ratio = math.sqrt(spread) * abs(per_case) / abs(mean + margin)  # sd(T) under those rates
    guess = math.ceil(((z + 0.8416 * ratio) / per_case) ** 2)
    # A simulated or approximated chance is only good to a point or so.
    tolerance = 0.0 if _method(values, shares, max(at_rates, guess), draws) == "exact" else 0.01
    at_observed_rates = chance(at_rates)
    for_even_chance = _smallest_with_chance(chance, 0.5, n, at_rates, tolerance)
    for_likely = _smallest_with_chance(chance, 0.8, n, guess, tolerance)
    return Settlement(
        direction=HOLDS if per_case > 0 else BROKEN,
        at_observed_rates=at_rates,
        chance_at_observed_rates=at_observed_rates,
        for_even_chance=for_even_chance,
        for_likely=for_likely,
        exact=exact,
    )


def _smallest_with_chance(
    chance: Callable[[int], float], target: float, n: int, guess: int, tolerance: float
) -> int | None:
    """The smallest suite larger than n whose chance reaches target (to within a share
    `tolerance` of its size): bracket around the guess, then bisect. The chance rises with
    the suite, apart from the saw-tooth of small counts."""
    high = min(LIMIT, max(n + 1, guess))
    if chance(high) >= target:
        low = high
        while low > n and chance(low) >= target:
            high, low = low, max(n, min(low - 1, math.floor(low * 0.8)))
    else:
        low = high
        while chance(high) < target:
            if high >= LIMIT:
                return None
            low, high = high, min(LIMIT, max(high + 1, math.ceil(high * 1.25)))
    while high - low > max(1.0, tolerance * high):
        middle = (low + high) // 2
        if chance(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def settle_chance(
    differences: Sequence[float],
    cases: int,
    margin: float,
    z: float = Z95,
    *,
    seed: int = 20240601,
    draws: int = 1000,
) -> float:
    """The chance that a suite of `cases` cases, each drawn from the observed per-case
    differences, gives an interval clear of the margin on either side."""
    values, shares = support(differences)
    if cases <= 0:
        return 0.0
    method = _method(values, shares, cases, draws)
    if method == "exact":
        return _exact_chance(values, shares, cases, margin, z)
    if method == "simulated":
        return _simulated_chance(values, shares, cases, margin, z, seed, draws)
    return _normal_chance(values, shares, cases, margin, z)


def _count_spread(cases: int, share: float) -> float:
    """How many counts of a Binomial(cases, share) `_binomial` sums over."""
    if share <= 0 or share >= 1:
        return 1.0
    return min(cases + 1, 2 * (SPREAD_SDS * math.sqrt(cases * share * (1 - share)) + 12) + 1)


def _method(values: Sequence[float], shares: Sequence[float], cases: int, draws: int) -> str:
    """exact, simulated or normal: the first that answers within WORK_LIMIT steps."""
    if len(values) <= 3:
        # As `_exact_chance` sums: the lowest value's count, then the highest's among the rest.
        low = shares[0] if len(values) > 1 else 0.0
        high = shares[2] / (1 - low) if len(values) == 3 else 0.0
        grid = _count_spread(cases, low) * _count_spread(round(cases * (1 - low)), high)
        return "exact" if grid <= WORK_LIMIT else "normal"
    steps = sum(math.sqrt(cases * w * (1 - w)) for w in shares) * draws
    return "simulated" if steps <= 30 * WORK_LIMIT else "normal"


def _normal_chance(
    values: Sequence[float], shares: Sequence[float], cases: int, margin: float, z: float
) -> float:
    """The score statistic of a suite of `cases` drawn at these rates is close to normal,
    with mean sqrt(cases) times its one-case value and a spread that is the observed
    standard deviation over the one under the margin (1 when the rates sit on the margin)."""
    per_case = score_statistic(-margin, values, shares, 1)
    mean = sum(v * w for v, w in zip(values, shares, strict=True))
    spread = math.sqrt(sum(w * (v - mean) ** 2 for v, w in zip(values, shares, strict=True)))
    ratio = 1.0 if mean + margin == 0 else spread * abs(per_case) / abs(mean + margin)
    shift = math.sqrt(cases) * per_case
    if ratio == 0:
        return float(abs(shift) > z)
    return _normal_cdf((shift - z) / ratio) + _normal_cdf((-z - shift) / ratio)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _statistic(values: Sequence[float], counts: Sequence[int], margin: float) -> float:
    total = sum(counts)
    kept = [(v, c / total) for v, c in zip(values, counts, strict=True) if c > 0]
    return score_statistic(-margin, [v for v, _ in kept], [w for _, w in kept], total)


def _binomial(m: int, q: float) -> tuple[int, list[float]]:
    """Probabilities of Binomial(m, q) over the counts that carry any (first count, list)."""
    if q <= 0 or m == 0:
        return 0, [1.0]
    if q >= 1:
        return m, [1.0]
    spread = SPREAD_SDS * math.sqrt(m * q * (1 - q)) + 12
    first, last = max(0, math.floor(m * q - spread)), min(m, math.ceil(m * q + spread))
    # The first probability from the log-gamma function, the rest by the ratio of neighbours.
    odds = q / (1 - q)
    probabilities = [math.exp(_log_pmf(m, first, q))]
    for k in range(first, last):
        probabilities.append(probabilities[-1] * (m - k) / (k + 1) * odds)
    return first, probabilities


def _log_pmf(m: int, k: int, q: float) -> float:
    """log P(Binomial(m, q) = k), for 0 < q < 1."""
    return (
        math.lgamma(m + 1)
        - math.lgamma(k + 1)
        - math.lgamma(m - k + 1)
        + k * math.log(q)
        + (m - k) * math.log1p(-q)
    )


def _threshold(settles: Callable[[int], bool], low: int, high: int) -> int:
    """The first count in [low, high] where the monotone predicate holds (high + 1 if none)."""
    if not settles(high):
        return high + 1
    while low < high:
        middle = (low + high) // 2
        if settles(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _exact_chance(
    values: Sequence[float], shares: Sequence[float], cases: int, margin: float, z: float
) -> float:
    """Sum over the counts of the lowest value; given it, the count of the highest is
    binomial and the statistic rises with it, so two thresholds split settled from not."""
    # Three slots, lowest, middle and highest; a slot no value fills carries no probability
    # (its count is always 0, so its placeholder value never reaches the statistic).
    if len(values) == 3:
        padded, probability = list(values), list(shares)
    elif len(values) == 2:
        padded, probability = [values[0], 2.0, values[1]], [shares[0], 0.0, shares[1]]
    else:
        padded, probability = [2.0, values[0], 2.0], [0.0, 1.0, 0.0]
    total = 0.0
    first_a, lows = _binomial(cases, probability[0])
    rest = probability[1] + probability[2]
    for a, p_a in enumerate(lows, start=first_a):
        m = cases - a
        first_c, highs = _binomial(m, probability[2] / rest if rest > 0 else 0.0)
        last_c = first_c + len(highs) - 1

        def statistic(c: int, a: int = a, m: int = m) -> float:
            return _statistic(padded, [a, m - c, c], margin)

        passes = _threshold(lambda c: statistic(c) > z, first_c, last_c)
        fails = _threshold(lambda c: statistic(c) >= -z, first_c, last_c)  # first not failing
        settled = sum(highs[passes - first_c :]) + sum(highs[: fails - first_c])
        total += p_a * settled
    return min(1.0, total)


def _sample_binomial(rng: random.Random, m: int, q: float) -> int:
    """One Binomial(m, q) draw by inversion, walking out from the mode: exact, O(sd) steps."""
    if q <= 0 or m == 0:
        return 0
    if q >= 1:
        return m
    mode = min(m, math.floor((m + 1) * q))
    log_pmf = _log_pmf(m, mode, q)
    u = rng.random() - math.exp(log_pmf)
    down = up = mode
    p_down = p_up = math.exp(log_pmf)
    odds = q / (1 - q)
    while u > 0:
        # Take the more likely of the two neighbours next; any fixed order is exact.
        next_up = p_up * (m - up) / (up + 1) * odds if up < m else 0.0
        next_down = p_down * down / (m - down + 1) / odds if down > 0 else 0.0
        if next_up == 0 and next_down == 0:
            return mode  # rounding left a sliver of probability unassigned
        if next_up >= next_down:
            up, p_up = up + 1, next_up
            u -= next_up
            if u <= 0:
                return up
        else:
            down, p_down = down - 1, next_down
            u -= next_down
            if u <= 0:
                return down
    return mode


def _simulated_chance(
    values: Sequence[float],
    shares: Sequence[float],
    cases: int,
    margin: float,
    z: float,
    seed: int,
    draws: int,
) -> float:
    rng = random.Random(f"{seed}:{cases}")
    settled = 0
    for _ in range(draws):
        counts, remaining, rest = [], cases, 1.0
        for share in shares[:-1]:
            count = _sample_binomial(rng, remaining, min(1.0, share / rest) if rest > 0 else 0)
            counts.append(count)
            remaining -= count
            rest -= share
        counts.append(remaining)
        settled += abs(_statistic(values, counts, margin)) > z
    return settled / draws


@dataclass(frozen=True)
class SuiteReach:
    """What a suite can show against its pass-rate margin before any run, whatever the
    models do (`asdict` of it is `suite` in `migrate status --json`)."""

    cases: int
    samples: int
    margin: float
    smallest_drop_ruled_out: float  # with perfect agreement on every case
    cases_needed: int | None  # the fewest that rule out the margin (None: a margin of 0)
    can_pass: bool

    def shortfall(self) -> str | None:
        """Why the suite can never reach PASS and how to fix it; None when it can."""
        if self.can_pass:
            return None
        drop = f"{self.smallest_drop_ruled_out * 100:.1f}"
        grow = (
            f"grow the suite to {self.cases_needed} cases"
            if self.cases_needed is not None
            else "no suite rules out every drop: set a margin above 0"
        )
        return (
            f"its {self.cases}-case suite cannot rule out a drop smaller than {drop} points "
            f"even if the models agree on every case, so its pass_rate_drop of "
            f"{self.margin * 100:g} points can never PASS: {grow}"
        )


def suite_reach(cases: int, margin: float, samples: int = 1) -> SuiteReach:
    """The smallest drop `cases` cases can rule out against `margin`, and the cases the
    margin needs; samples do not change either (see `smallest_drop_ruled_out`)."""
    smallest = smallest_drop_ruled_out(cases)
    needed = cases_to_rule_out(margin) if margin > 0 else None
    return SuiteReach(cases, samples, margin, smallest, needed, smallest < margin)
