"""The interval that decides a verdict when each case is sampled K times, and the Holm
adjustment across candidates: checked against Tango's published interval, a generic
optimizer (scipy), statsmodels' Holm, hand derivations and seeded simulation."""

from __future__ import annotations

import random
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from migrate.evals.stats import (
    CLUSTERED,
    TANGO,
    Z95,
    Interval,
    clustered_score_interval,
    holm_decisions,
    null_variance,
    paired_difference,
    score_statistic,
    support,
    tango_interval,
)
from tests.support.second_stats import optimizer_variance


def differences_of(better: int, worse: int, n: int) -> list[float]:
    return [1.0] * better + [-1.0] * worse + [0.0] * (n - better - worse)


@st.composite
def sampled_cases(draw: st.DrawFn, min_cases: int = 1) -> tuple[list[float], list[float], int]:
    """Per-case pass fractions of two models, K samples a case."""
    k = draw(st.integers(1, 6))
    n = draw(st.integers(min_cases, 60))
    counts = st.integers(0, k)
    base = [draw(counts) / k for _ in range(n)]
    cand = [draw(counts) / k for _ in range(n)]
    return base, cand, k


def per_case_differences(
    cases: tuple[list[float], list[float], int],
) -> list[float]:
    base, cand, _ = cases
    return [c - b for b, c in zip(base, cand, strict=True)]


# --- one sample per case: it is Tango's interval ------------------------------------------


@pytest.mark.parametrize(
    ("better", "worse", "n", "low", "high"),
    [
        (9, 3, 32, -0.027, 0.390),  # Tango (1998) section 6.2
        (6, 16, 161, -0.1240, -0.0054),  # Fagerland, Lydersen & Laake (2017), Cavo et al.
    ],
)
def test_on_single_samples_it_reproduces_published_tango_intervals(
    better: int, worse: int, n: int, low: float, high: float
) -> None:
    interval = clustered_score_interval(differences_of(better, worse, n))
    places = 5e-4 if n == 32 else 5e-5
    assert interval.low == pytest.approx(low, abs=places)
    assert interval.high == pytest.approx(high, abs=places)


def paired_counts() -> st.SearchStrategy[tuple[int, int, int]]:
    return st.integers(1, 300).flatmap(
        lambda n: st.integers(0, n).flatmap(
            lambda better: st.tuples(st.just(better), st.integers(0, n - better), st.just(n))
        )
    )


@settings(max_examples=300, deadline=None)
@given(paired_counts())
def test_on_single_samples_it_is_tango(counts: tuple[int, int, int]) -> None:
    # Two implementations: Tango's closed-form constrained MLE with bisection, and the
    # multinomial fit on the observed values with a different root finder.
    better, worse, n = counts
    tango = tango_interval(better, worse, n)
    clustered = clustered_score_interval(differences_of(better, worse, n))
    assert clustered.low == pytest.approx(tango.low, abs=1e-9)
    assert clustered.high == pytest.approx(tango.high, abs=1e-9)


# --- the constrained fit, against a generic optimizer ---------------------------------------


@settings(max_examples=120, deadline=None)
@given(sampled_cases(), st.floats(-0.95, 0.95))
def test_null_variance_is_the_constrained_maximum_likelihood_fit(
    cases: tuple[list[float], list[float], int], delta: float
) -> None:
    differences = per_case_differences(cases)
    expected = optimizer_variance(differences, delta)
    assert null_variance(delta, *support(differences)) == pytest.approx(expected, abs=2e-6)


@settings(max_examples=40, deadline=None)
@given(sampled_cases(min_cases=5))
def test_at_each_bound_the_optimizer_statistic_equals_z(
    cases: tuple[list[float], list[float], int],
) -> None:
    differences = per_case_differences(cases)
    n = len(differences)
    mean = sum(differences) / n
    interval = clustered_score_interval(differences)
    for bound in (interval.low, interval.high):
        if -1 < bound < 1 and abs(bound - mean) > 1e-9:
            statistic = abs(mean - bound) * np.sqrt(n / optimizer_variance(differences, bound))
            assert statistic == pytest.approx(Z95, abs=1e-3)


# --- what the interval promises --------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 8, 20, 80, 500])
@pytest.mark.parametrize("samples", [1, 3, 5])
def test_with_no_disagreement_the_bound_is_z2_over_n_plus_z2_whatever_k(
    n: int, samples: int
) -> None:
    # By hand: all differences 0, so the most likely law with mean d puts |d| on one extreme
    # and the rest on 0; variance |d| (1 - |d|); n d^2 = z^2 |d| (1 - |d|) at the bound.
    bound = Z95**2 / (n + Z95**2)
    ties = [[1.0] * n, [0.0] * n] + ([[0.6] * n] if samples > 1 else [])
    for base in ties:  # the models tie case by case
        result = paired_difference(base, list(base), samples)
        assert result.interval.low == pytest.approx(-bound, abs=1e-9)
        assert result.interval.high == pytest.approx(bound, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(sampled_cases())
def test_contains_the_estimate_and_mirrors_under_swapping_models(
    cases: tuple[list[float], list[float], int],
) -> None:
    base, cand, k = cases
    forward = paired_difference(base, cand, k)
    backward = paired_difference(cand, base, k)
    assert -1 <= forward.interval.low <= forward.estimate <= forward.interval.high <= 1
    assert forward.interval.high - forward.interval.low > 0
    assert forward.interval.low == pytest.approx(-backward.interval.high, abs=1e-9)
    assert forward.interval.high == pytest.approx(-backward.interval.low, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(sampled_cases(min_cases=2), st.integers(2, 5))
def test_more_cases_at_the_same_rates_narrow_it(
    cases: tuple[list[float], list[float], int], factor: int
) -> None:
    differences = per_case_differences(cases)
    small = clustered_score_interval(differences)
    large = clustered_score_interval(differences * factor)
    assert large.high - large.low < small.high - small.low


@settings(max_examples=60, deadline=None)
@given(sampled_cases(min_cases=3))
def test_the_score_statistic_falls_as_the_hypothesised_difference_rises(
    cases: tuple[list[float], list[float], int],
) -> None:
    # The bounds are found as crossings of +-z, which needs a statistic that falls with delta.
    differences = per_case_differences(cases)
    values, shares = support(differences)
    grid = [-0.99 + 0.03 * i for i in range(67)]
    statistics = [score_statistic(d, values, shares, len(differences)) for d in grid]
    assert all(a >= b - 1e-9 for a, b in zip(statistics, statistics[1:], strict=False))


def test_the_chooser_names_its_method_and_checks_its_input() -> None:
    one = paired_difference([1.0, 0.0, 1.0], [1.0, 1.0, 0.0], 1)
    assert one.method == TANGO and one.estimate == 0.0 and one.cases == 3
    assert one.interval == tango_interval(1, 1, 3)
    many = paired_difference([1.0, 0.4, 0.6], [1.0, 0.6, 0.6], 5)
    assert many.method == CLUSTERED and many.estimate == pytest.approx(0.2 / 3)
    assert paired_difference([], [], 3).interval == Interval(-1.0, 1.0)
    with pytest.raises(ValueError, match="same cases"):
        paired_difference([1.0], [1.0, 0.0], 1)
    with pytest.raises(ValueError, match="0 or 1"):
        paired_difference([0.5], [1.0], 1)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        clustered_score_interval([1.5])


# --- samples sharpen it: seeded simulation -----------------------------------------------------


def coin_suites(
    rng: random.Random, n: int, k: int, p_base: float, p_cand: float
) -> tuple[list[float], list[float]]:
    """Two models right at random, every sample independent of the case."""
    base = [sum(rng.random() < p_base for _ in range(k)) / k for _ in range(n)]
    cand = [sum(rng.random() < p_cand for _ in range(k)) / k for _ in range(n)]
    return base, cand


def test_five_samples_narrow_the_interval_of_two_coin_flipping_models() -> None:
    # The acceptance: both right 85% of the time at random, 80 cases; K = 5 must be
    # at most 0.70 times as wide as K = 1 (the within-case variance allows about 0.45).
    rng = random.Random(12)
    widths = {}
    for k in (1, 5):
        total = 0.0
        for _ in range(300):
            interval = paired_difference(*coin_suites(rng, 80, k, 0.85, 0.85), k).interval
            total += interval.high - interval.low
        widths[k] = total / 300
    assert widths[5] / widths[1] <= 0.70
    assert widths[5] / widths[1] == pytest.approx(0.45, abs=0.05)


@pytest.mark.slow
@pytest.mark.parametrize(("k", "p_base", "p_cand"), [(3, 0.85, 0.85), (5, 0.9, 0.8)])
def test_coverage_of_the_true_difference_stays_near_95_percent(
    k: int, p_base: float, p_cand: float
) -> None:
    rng = random.Random(2024 + k)
    truth = p_cand - p_base
    reps = 1500
    covered = sum(
        paired_difference(*coin_suites(rng, 50, k, p_base, p_cand), k).interval.contains(truth)
        for _ in range(reps)
    )
    # 1500 runs: a standard error of 0.56 points around 95%.
    assert covered / reps >= 0.935


# --- several candidates: Holm ---------------------------------------------------------------


def suites_with(better: int, worse: int, n: int) -> tuple[list[float], list[float]]:
    base = [0.0] * better + [1.0] * worse + [1.0] * (n - better - worse)
    cand = [1.0] * better + [0.0] * worse + [1.0] * (n - better - worse)
    return base, cand


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 12)).map(lambda t: suites_with(*t, 200)),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([0.02, 0.05]),
)
def test_holm_matches_statsmodels_and_its_intervals_agree_with_its_decisions(
    suites: list[tuple[list[float], list[float]]], margin: float
) -> None:
    candidates = {f"model-{i}": suite for i, suite in enumerate(suites)}
    decisions = holm_decisions(candidates, 1, margin)
    names = list(candidates)
    raw = [decisions[name].p_value for name in names]
    reject, adjusted, _, _ = multipletests(raw, alpha=0.05, method="holm")
    for name, expected_reject, expected_adjusted in zip(names, reject, adjusted, strict=True):
        decision = decisions[name]
        assert decision.adjusted_p_value == pytest.approx(expected_adjusted, abs=1e-12)
        assert (decision.status != "unclear") == bool(expected_reject)
        interval = decision.difference.interval
        assert decision.status != "holds" or interval.low > -margin
        assert decision.status != "broken" or interval.high < -margin
        assert decision.status != "unclear" or interval.contains(-margin)
        assert decision.level >= 0.95


def test_holm_p_value_is_the_score_test_behind_the_interval() -> None:
    # 6 better, 16 worse of 161 (Cavo et al.): Tango's 95% interval ends at -0.1240, so the
    # test of "difference = -0.1240" sits at p = 0.05.
    base, cand = suites_with(6, 16, 161)
    decision = holm_decisions({"only": (base, cand)}, 1, 0.1240)["only"]
    assert decision.p_value == pytest.approx(0.05, abs=2e-3)


def test_one_candidate_gets_the_plain_interval_and_several_get_wider_ones() -> None:
    clear = suites_with(0, 0, 300)  # perfect agreement over 300 cases: bound 1.3 points
    alone = holm_decisions({"a": clear}, 1, 0.02)["a"]
    assert alone.level == pytest.approx(0.95)
    assert alone.status == "holds"
    assert alone.difference.interval == paired_difference(*clear, 1).interval
    three = holm_decisions({"a": clear, "b": suites_with(5, 5, 300), "c": clear}, 1, 0.02)
    # a and c are tested at 0.05/3 and 0.05/2, or the reverse; b stops the procedure.
    levels = sorted([three["a"].level, three["c"].level])
    assert levels == pytest.approx([1 - 0.05 / 2, 1 - 0.05 / 3])
    assert three["a"].status == three["c"].status == "holds"
    assert three["b"].status == "unclear" and three["b"].level == pytest.approx(0.95)
    widest = three["a"] if three["a"].level > three["c"].level else three["c"]
    z = NormalDist().inv_cdf(1 - 0.05 / 6)
    assert widest.difference.interval == tango_interval(0, 0, 300, z)
