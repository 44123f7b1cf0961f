"""The statistics behind a verdict, against published values, statsmodels, scipy and numpy,
and their defining properties."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from migrate.evals.stats import (
    Z95,
    Interval,
    mcnemar_exact_p,
    quantile,
    tango_interval,
    wilson,
)

Z90 = NormalDist().inv_cdf(0.95)

# --- Wilson ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_intervals(
    successes: int, n: int, low: float, high: float
) -> None:
    interval = wilson(successes, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_is_exactly_zero_or_one_at_the_edges() -> None:
    assert wilson(0, 10).low == 0.0
    assert wilson(10, 10).high == 1.0
    assert wilson(0, 0) == Interval(0.0, 1.0)


@given(st.integers(1, 2000), st.data())
def test_wilson_matches_statsmodels(n: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(0, n))
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    interval = wilson(successes, n)
    assert interval.low == pytest.approx(low, abs=1e-12)
    assert interval.high == pytest.approx(high, abs=1e-12)


@given(st.integers(1, 2000), st.data())
def test_wilson_contains_the_observed_rate(n: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(0, n))
    interval = wilson(successes, n)
    assert 0.0 <= interval.low <= successes / n <= interval.high <= 1.0


# --- Tango's score interval for the paired difference -----------------------------------


def test_tango_matches_tango_1998_sleep_example() -> None:
    # Tango (1998) section 6.2: 32 pairs, discordant counts 9 and 3: 95% CI -0.027 to 0.390.
    interval = tango_interval(9, 3, 32)
    assert interval.low == pytest.approx(-0.027, abs=5e-4)
    assert interval.high == pytest.approx(0.390, abs=5e-4)


def test_tango_matches_tango_1998_contact_lens_example() -> None:
    # Tango (1998) section 6.1: 44 pairs, discordant counts 0 and 1: 90% lower limit -0.096.
    interval = tango_interval(0, 1, 44, z=Z90)
    assert interval.low == pytest.approx(-0.096, abs=5e-4)


def test_tango_matches_fagerland_lydersen_laake_cavo_example() -> None:
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8:
    # complete response before and after consolidation therapy (Cavo et al. 2012),
    # n12 = 6, n21 = 16, N = 161: estimate -0.0621, Tango score CI -0.1240 to -0.0054.
    interval = tango_interval(6, 16, 161)
    assert interval.low == pytest.approx(-0.1240, abs=5e-5)
    assert interval.high == pytest.approx(-0.0054, abs=5e-5)


@pytest.mark.parametrize("n", [20, 80, 200, 1000])
def test_tango_with_no_disagreement_is_z_squared_over_n_plus_z_squared(n: int) -> None:
    bound = Z95**2 / (n + Z95**2)
    interval = tango_interval(0, 0, n)
    assert interval.low == pytest.approx(-bound, abs=1e-6)
    assert interval.high == pytest.approx(bound, abs=1e-6)


def test_tango_with_no_disagreement_at_80_cases_is_about_4_6_points() -> None:
    assert tango_interval(0, 0, 80).low == pytest.approx(-0.0458, abs=5e-5)


def test_tango_at_the_extremes_stays_inside_minus_one_to_one() -> None:
    assert tango_interval(10, 0, 10).high == 1.0
    assert tango_interval(0, 10, 10).low == -1.0
    assert tango_interval(0, 0, 0) == Interval(-1.0, 1.0)


def paired_counts() -> st.SearchStrategy[tuple[int, int, int]]:
    return st.integers(1, 400).flatmap(
        lambda n: st.integers(0, n).flatmap(
            lambda better: st.tuples(st.just(better), st.integers(0, n - better), st.just(n))
        )
    )


@settings(max_examples=300, deadline=None)
@given(paired_counts())
def test_tango_contains_the_observed_difference(counts: tuple[int, int, int]) -> None:
    better, worse, n = counts
    interval = tango_interval(better, worse, n)
    assert -1.0 <= interval.low <= (better - worse) / n <= interval.high <= 1.0


@settings(max_examples=300, deadline=None)
@given(paired_counts())
def test_tango_is_symmetric_under_swapping_better_and_worse(
    counts: tuple[int, int, int],
) -> None:
    better, worse, n = counts
    forward, backward = tango_interval(better, worse, n), tango_interval(worse, better, n)
    assert forward.low == pytest.approx(-backward.high, abs=1e-7)
    assert forward.high == pytest.approx(-backward.low, abs=1e-7)


@settings(max_examples=200, deadline=None)
@given(paired_counts(), st.integers(2, 10))
def test_tango_widens_as_the_number_of_cases_shrinks(
    counts: tuple[int, int, int], factor: int
) -> None:
    better, worse, n = counts
    small = tango_interval(better, worse, n)
    large = tango_interval(better * factor, worse * factor, n * factor)  # same rates
    assert small.high - small.low > large.high - large.low


@settings(max_examples=200, deadline=None)
@given(paired_counts())
def test_tango_at_its_bounds_the_score_statistic_equals_z(counts: tuple[int, int, int]) -> None:
    # The interval is the set of differences the score test does not reject: at each finite
    # bound strictly inside (-1, 1) the statistic is +-z.
    from migrate.evals.stats import _tango_z

    better, worse, n = counts
    interval = tango_interval(better, worse, n)
    observed = (better - worse) / n
    if -1 < interval.low < observed:
        assert _tango_z(interval.low, better, worse, n) == pytest.approx(Z95, abs=1e-4)
    if observed < interval.high < 1:
        assert _tango_z(interval.high, better, worse, n) == pytest.approx(-Z95, abs=1e-4)


def test_tango_accepts_fractional_counts_of_averaged_samples() -> None:
    # K > 1: per-case pass fractions give fractional discordant counts, and half a case worse
    # lies between none and one.
    none, half, one = (tango_interval(0, worse, 30) for worse in (0.0, 0.5, 1.0))
    assert one.low < half.low < none.low
    assert one.high < half.high < none.high
    assert half.contains(-0.5 / 30)


# --- exact McNemar -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("better", "worse", "p"),
    [
        # Hand counts: all 6 (or 5) discordant pairs one way, 2 * 0.5^6 (or 2 * 0.5^5).
        (6, 0, 0.03125),
        (0, 6, 0.03125),
        (0, 5, 0.0625),
        (0, 0, 1.0),
        (1, 1, 1.0),
        # 3 against 10: 2 * (1 + 13 + 78 + 286) / 8192 = 756 / 8192.
        (3, 10, 0.0922851562),
        (6, 16, 0.0525),  # Cavo et al. in Fagerland et al. (2017): exact conditional P
    ],
)
def test_mcnemar_exact_p(better: int, worse: int, p: float) -> None:
    assert mcnemar_exact_p(better, worse) == pytest.approx(p, abs=5e-5)


@given(st.integers(0, 150), st.integers(0, 150))
def test_mcnemar_matches_statsmodels(better: int, worse: int) -> None:
    table = [[10, better], [worse, 10]]
    expected = mcnemar(table, exact=True).pvalue
    assert mcnemar_exact_p(better, worse) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_is_a_probability_and_symmetric(better: int, worse: int) -> None:
    p = mcnemar_exact_p(better, worse)
    assert 0.0 < p <= 1.0
    assert p == mcnemar_exact_p(worse, better)


# --- quantiles ------------------------------------------------------------------------------


def test_quantile_interpolates_linearly() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0], 0.95) == 3.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.95) == pytest.approx(3.85)
    assert quantile(list(map(float, range(101))), 0.95) == pytest.approx(95.0)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50), st.floats(0, 1))
def test_quantile_matches_numpy_linear_quantile(values: list[float], q: float) -> None:
    result = quantile(values, q)
    assert result == pytest.approx(float(np.quantile(values, q)), rel=1e-9, abs=1e-6)
