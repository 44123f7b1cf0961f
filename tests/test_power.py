"""What a suite of a given size can decide, against Tango's interval (published-checked),
scipy's binomial distribution, hand counts and seeded reruns."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from migrate.evals.power import (
    LIMIT,
    _exact_chance,
    _sample_binomial,
    _simulated_chance,
    cases_to_rule_out,
    cases_to_settle,
    settle_chance,
    size_at_observed_rates,
    smallest_drop_ruled_out,
)
from migrate.evals.stats import Z95, clustered_score_interval, support, tango_interval


def observed(better: int, worse: int, n: int) -> list[float]:
    return [1.0] * better + [-1.0] * worse + [0.0] * (n - better - worse)


def settles(interval_low: float, interval_high: float, margin: float) -> bool:
    return interval_low > -margin or interval_high < -margin


# --- power before paying ----------------------------------------------------------------------


def test_eight_cases_can_rule_out_only_a_32_point_drop() -> None:
    # By hand: 1.96^2 / (8 + 1.96^2) = 3.8415 / 11.8415.
    assert smallest_drop_ruled_out(8) == pytest.approx(0.3244, abs=5e-5)


@pytest.mark.parametrize("n", [1, 8, 40, 80, 189, 1000])
def test_the_smallest_drop_is_tangos_bound_with_no_disagreement(n: int) -> None:
    assert smallest_drop_ruled_out(n) == pytest.approx(-tango_interval(0, 0, n).low, abs=1e-9)


@pytest.mark.parametrize(("margin", "cases"), [(0.05, 73), (0.02, 189), (0.10, 35)])
def test_cases_to_rule_out_a_margin(margin: float, cases: int) -> None:
    # Hand count: z^2 (1 - m) / m = 3.8415 * 19 = 72.99 for 5 points, 188.2 for 2, 34.6 for 10.
    assert cases_to_rule_out(margin) == cases
    assert tango_interval(0, 0, cases).low > -margin
    assert tango_interval(0, 0, cases - 1).low <= -margin


@given(st.floats(0.001, 1.0))
def test_cases_to_rule_out_is_the_first_suite_whose_bound_clears(margin: float) -> None:
    cases = cases_to_rule_out(margin)
    assert smallest_drop_ruled_out(cases) < margin
    assert cases == 0 or smallest_drop_ruled_out(cases - 1) >= margin


def test_power_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(ValueError):
        cases_to_rule_out(0.0)
    with pytest.raises(ValueError):
        smallest_drop_ruled_out(-1)


# --- cases to settle at the observed rates ------------------------------------------------------


def test_one_improvement_in_80_at_two_points_needs_116_cases_at_those_rates() -> None:
    settlement = cases_to_settle(observed(1, 0, 80), 0.02)
    assert settlement is not None
    assert settlement.direction == "holds"
    assert settlement.at_observed_rates == 116
    # Independent check: Tango's interval on counts scaled to the suite size.
    assert tango_interval(116 / 80, 0, 116).low > -0.02
    assert tango_interval(115 / 80, 0, 115).low <= -0.02


def test_the_chance_of_one_improvement_is_a_binomial_tail() -> None:
    # At 116 cases the interval clears 2 points with 2 improvements but not with 1 (Tango),
    # and improvements are Binomial(116, 1/80) at the observed rate: P(X >= 2) from scipy.
    assert tango_interval(2, 0, 116).low > -0.02 >= tango_interval(1, 0, 116).low
    expected = binom.sf(1, 116, 1 / 80)
    assert settle_chance(observed(1, 0, 80), 116, 0.02) == pytest.approx(expected, abs=1e-12)
    settlement = cases_to_settle(observed(1, 0, 80), 0.02)
    assert settlement is not None
    assert settlement.chance_at_observed_rates == pytest.approx(expected, abs=1e-12)
    assert settlement.exact


def brute_force_chance(differences: list[float], cases: int, margin: float) -> float:
    """Every count of the rerun, weighted by scipy's binomial probabilities, judged by
    Tango's interval: a second path to the exact chance for one sample per case."""
    n = len(differences)
    p_better = differences.count(1.0) / n
    p_worse = differences.count(-1.0) / n
    total = 0.0
    for worse in range(cases + 1):
        p_w = binom.pmf(worse, cases, p_worse)
        if p_w < 1e-15:
            continue
        rest = cases - worse
        q = p_better / (1 - p_worse) if p_worse < 1 else 0.0
        for better in range(rest + 1):
            p_b = binom.pmf(better, rest, q)
            if p_b < 1e-15:
                continue
            interval = tango_interval(better, worse, cases)
            total += p_w * p_b * settles(interval.low, interval.high, margin)
    return total


@pytest.mark.parametrize(
    ("better", "worse", "n", "cases", "margin"),
    [(1, 0, 80, 134, 0.02), (0, 1, 80, 300, 0.02), (3, 2, 40, 90, 0.05), (1, 6, 50, 70, 0.05)],
)
def test_exact_chance_matches_brute_force_enumeration(
    better: int, worse: int, n: int, cases: int, margin: float
) -> None:
    differences = observed(better, worse, n)
    expected = brute_force_chance(differences, cases, margin)
    assert settle_chance(differences, cases, margin) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("counts", "cases", "margin"),
    [({-0.4: 3, 0.0: 30, 0.2: 7}, 50, 0.05), ({0.2: 5, 0.6: 2, 0.8: 33}, 45, 0.05)],
)
def test_exact_chance_with_fractional_differences_matches_brute_force(
    counts: dict[float, int], cases: int, margin: float
) -> None:
    # Every rerun of `cases` cases over three values, weighted by the multinomial law from
    # scipy and judged by the interval itself.
    values = sorted(counts)
    n = sum(counts.values())
    p = [counts[v] / n for v in values]
    expected = 0.0
    for low in range(cases + 1):
        for high in range(cases - low + 1):
            middle = cases - low - high
            weight = binom.pmf(low, cases, p[0]) * binom.pmf(high, cases - low, p[2] / (1 - p[0]))
            if weight < 1e-13:
                continue
            rerun = [values[0]] * low + [values[1]] * middle + [values[2]] * high
            interval = clustered_score_interval(rerun)
            expected += weight * settles(interval.low, interval.high, margin)
    differences = [v for v, c in counts.items() for _ in range(c)]
    assert settle_chance(differences, cases, margin) == pytest.approx(expected, abs=1e-6)


def rerun_share(
    differences: list[float], cases: int, margin: float, seed: int, reps: int = 2000
) -> float:
    """Reruns of `cases` cases drawn at the observed rates, judged by the interval itself."""
    rng = random.Random(seed)
    settled = 0
    for _ in range(reps):
        interval = clustered_score_interval([rng.choice(differences) for _ in range(cases)])
        settled += settles(interval.low, interval.high, margin)
    return settled / reps


@pytest.mark.slow
@pytest.mark.parametrize(
    ("differences", "margin"),
    [
        (observed(1, 0, 80), 0.02),  # one improvement
        (observed(0, 1, 80), 0.02),  # one regression
        ([0.2] + [0.0] * 79, 0.02),  # one case a fifth better, K = 5
        ([-0.4] + [0.0] * 39, 0.05),  # one case two fifths worse
    ],
)
def test_with_one_disagreeing_case_the_stated_size_settles_half_the_reruns(
    differences: list[float], margin: float
) -> None:
    settlement = cases_to_settle(differences, margin)
    assert settlement is not None and settlement.for_even_chance is not None
    assert settlement.for_even_chance > len(differences)
    share = rerun_share(differences, settlement.for_even_chance, margin, seed=11)
    assert share >= 0.5 - 0.02  # 2000 reruns: a standard error of 1.1 points
    assert settlement.for_likely is not None
    likely = rerun_share(differences, settlement.for_likely, margin, seed=12, reps=1000)
    assert likely >= 0.8 - 0.03  # 1000 reruns: a standard error of 1.3 points


def test_one_improvement_in_80_settles_half_the_time_at_134_cases() -> None:
    settlement = cases_to_settle(observed(1, 0, 80), 0.02)
    assert settlement is not None
    # P(at least 2 improvements in 134 at 1/80) = 0.50; at 133 it is below one half.
    assert settlement.for_even_chance == 134
    assert binom.sf(1, 134, 1 / 80) >= 0.5 > binom.sf(1, 133, 1 / 80)
    assert rerun_share(observed(1, 0, 80), 116, 0.02, seed=3) < 0.5


def test_with_no_disagreement_it_is_the_power_bound() -> None:
    settlement = cases_to_settle([0.0] * 80, 0.02)
    assert settlement is not None
    assert settlement.at_observed_rates == cases_to_rule_out(0.02) == 189
    assert settlement.chance_at_observed_rates == 1.0  # at a rate of no disagreement at all
    assert settlement.for_even_chance == settlement.for_likely == 189


def test_a_regression_past_the_margin_points_to_broken() -> None:
    # 4 worse of 80 at a 2-point margin: -5 points, but Tango's upper bound is -0.2 points.
    assert tango_interval(0, 4, 80).contains(-0.02)
    settlement = cases_to_settle(observed(0, 4, 80), 0.02)
    assert settlement is not None and settlement.direction == "broken"
    size = settlement.at_observed_rates
    assert size == 131
    assert tango_interval(0, 4 * size / 80, size).high < -0.02
    assert tango_interval(0, 4 * (size - 1) / 80, size - 1).high >= -0.02


def test_no_size_settles_an_estimate_on_the_margin() -> None:
    assert cases_to_settle(observed(0, 1, 50), 0.02) is None  # exactly -2 points
    assert cases_to_settle([], 0.02) is None
    # 2 better and 5 worse of 60 is -5 points, but the score statistic comes out 2e-17, a
    # rounding error off the margin, which no suite settles (this search once never ended).
    assert size_at_observed_rates(observed(2, 5, 60), 0.05) is None
    assert cases_to_settle(observed(2, 5, 60), 0.05) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 6), st.integers(0, 6), st.integers(30, 120), st.sampled_from([0.02, 0.05]))
def test_at_observed_rates_is_the_first_scaled_suite_that_clears(
    better: int, worse: int, n: int, margin: float
) -> None:
    size = size_at_observed_rates(observed(better, worse, n), margin)

    def clears(m: int) -> bool:
        interval = tango_interval(better * m / n, worse * m / n, m)
        return settles(interval.low, interval.high, margin)

    if size is None:  # on the margin, or so near that no suite up to LIMIT clears it
        assert better - worse == pytest.approx(-margin * n) or not clears(LIMIT)
        return

    assert clears(size)
    assert size == 1 or not clears(size - 1)


# --- the simulated chance, for many distinct differences ---------------------------------------


def test_simulated_chance_agrees_with_the_exact_one() -> None:
    differences = [0.2] * 6 + [-0.6] * 3 + [0.0] * 71
    values, shares = support(differences)
    exact = _exact_chance(values, shares, 150, 0.05, Z95)
    simulated = _simulated_chance(values, shares, 150, 0.05, Z95, seed=5, draws=4000)
    assert simulated == pytest.approx(exact, abs=0.025)  # 3 standard errors


@pytest.mark.slow
def test_many_distinct_differences_are_simulated_and_seeded() -> None:
    rng = random.Random(8)
    differences = [(rng.randint(0, 5) - rng.randint(0, 5)) / 5 for _ in range(60)]
    first = cases_to_settle(differences, 0.05)
    assert first is not None and not first.exact
    assert cases_to_settle(differences, 0.05) == first
    assert first.for_even_chance is not None and first.for_likely is not None
    assert first.for_likely >= first.for_even_chance
    share = rerun_share(differences, first.for_even_chance, 0.05, seed=9)
    assert share == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize(("m", "q"), [(10, 0.3), (400, 0.02), (1000, 0.5), (50, 0.97)])
def test_binomial_sampler_follows_the_binomial_law(m: int, q: float) -> None:
    rng = random.Random(m)
    draws = 20000
    counts = Counter(_sample_binomial(rng, m, q) for _ in range(draws))
    mean = sum(k * c for k, c in counts.items()) / draws
    assert mean == pytest.approx(m * q, abs=4 * (m * q * (1 - q) / draws) ** 0.5 + 1e-9)
    # Total variation distance from scipy's law, small for 20000 draws.
    support_ = range(m + 1)
    distance = sum(abs(counts.get(k, 0) / draws - binom.pmf(k, m, q)) for k in support_) / 2
    assert distance < 0.03


# --- the normal approximation, for thousands of cases with frequent disagreement ----------------


def tango_rerun_share(p_better: float, p_worse: float, cases: int, margin: float) -> float:
    """Reruns of `cases` cases drawn by numpy's multinomial law, judged by Tango's interval."""
    rng = np.random.default_rng(17)
    counts = rng.multinomial(cases, [p_better, p_worse, 1 - p_better - p_worse], size=3000)
    settled = 0
    for better, worse, _ in counts:
        interval = tango_interval(int(better), int(worse), cases)
        settled += settles(interval.low, interval.high, margin)
    return settled / len(counts)


@pytest.mark.parametrize(("better", "worse", "n"), [(1, 1, 4), (2, 3, 40)])
def test_thousands_of_cases_are_settled_by_the_normal_approximation(
    better: int, worse: int, n: int
) -> None:
    # A regression and an improvement in four cases needs thousands of cases: summing every
    # count of such reruns took a run 15 to 21 seconds, so the statistic's normal law answers.
    differences = observed(better, worse, n)
    settlement = cases_to_settle(differences, 0.02)
    assert settlement is not None and not settlement.exact
    assert settlement.for_even_chance is not None and settlement.for_even_chance > 4000
    assert settlement.for_likely is not None
    even = tango_rerun_share(better / n, worse / n, settlement.for_even_chance, 0.02)
    likely = tango_rerun_share(better / n, worse / n, settlement.for_likely, 0.02)
    assert even == pytest.approx(0.5, abs=0.035)  # 3000 reruns: 3.8 standard errors
    assert likely == pytest.approx(0.8, abs=0.03)
