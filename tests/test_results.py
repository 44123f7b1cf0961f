"""From journal entries to metrics, paired diffs, gates and a verdict: known scenarios with
journal entries built by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import pytest
from scipy.stats import binom
from statsmodels.stats.multitest import multipletests

from migrate.evals.checks import is_refusal
from migrate.evals.judge import judge_extra, parse_judge
from migrate.evals.pairwise import (
    CasePreference,
    Preference,
    preference_fractions,
    preference_gate,
)
from migrate.evals.record import Entry, EntryKey, Verdict
from migrate.evals.results import Results, drift, evaluate
from migrate.evals.scoring import score_model
from migrate.evals.stats import holm_decisions, tango_interval
from migrate.evals.suite import Case, CheckSpec
from migrate.llm import CallRecord
from migrate.registry.schema import Gates
from tests.support.second_stats import optimizer_interval

BASE, CAND, OTHER, JUDGE = "vendor/old", "vendor/new", "vendor/other", "vendor/judge"
CHECKS = [CheckSpec(type="contains", value="{{ expected }}")]
PASS, FAIL, INCONCLUSIVE = Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE
ERROR, BASELINE = Verdict.ERROR, Verdict.BASELINE
ONLY_PASS_RATE = Gates(
    pass_rate_drop=0.02, refusal_rate_increase=None, p95_latency_increase=None, cost_increase=None
)


@dataclass(frozen=True)
class Out:
    """One sample's call: its text or error and what the call measured."""

    text: str | None = "ok"
    error: str | None = None
    latency: float = 1.0
    cost: float | None = 0.001
    tokens: int | None = 10
    cached: bool = False


OK, BAD = Out("ok"), Out("no")


def err(kind: str = "Timeout") -> Out:
    return Out(None, error=kind)


def entry(kind: str, model: str, case: str, sample: int, out: Out, extra: str = "") -> Entry:
    record = CallRecord(
        text=out.text,
        finish_reason=None if out.error else "stop",
        prompt_tokens=20,
        completion_tokens=out.tokens,
        cost=out.cost,
        latency=out.latency,
        error=out.error,
        error_message="read timed out" if out.error else None,
    )
    return Entry(kind=kind, model=model, case=case, sample=sample, extra=extra,
                 request=f"hash-{model}-{case}-{sample}", record=record,
                 at="2027-01-08T10:00:00+00:00", cached=out.cached)  # fmt: skip


def journal(outputs: dict[str, list[list[Out | None]]]) -> dict[EntryKey, Entry]:
    """model -> per case -> per sample output (None: never recorded)."""
    entries = {}
    for model, per_case in outputs.items():
        for index, samples in enumerate(per_case):
            for sample, out in enumerate(samples):
                if out is not None:
                    made = entry("generate", model, f"c{index:03d}", sample, out)
                    entries[made.key] = made
    return entries


def cases(n: int) -> list[Case]:
    return [Case(id=f"c{i:03d}", vars={}, expected="ok", line=i + 1) for i in range(n)]


def run(
    outputs: dict[str, list[list[Out | None]]],
    *,
    gates: Gates = ONLY_PASS_RATE,
    max_error_rate: float = 0.1,
    extra: dict[EntryKey, Entry] | None = None,
    checks: list[CheckSpec] | None = None,
    previous: tuple[str, dict[str, float | None]] | None = None,
) -> Results:
    n = len(outputs[BASE])
    samples = max(len(s) for s in outputs[BASE])
    suite = cases(n)
    return evaluate(
        baseline=BASE,
        candidates=[m for m in outputs if m != BASE],
        cases=suite,
        samples=samples,
        checks_for={c.id: list(checks or CHECKS) for c in suite},
        entries={**journal(outputs), **(extra or {})},
        judge_model=JUDGE,
        gates=gates,
        max_error_rate=max_error_rate,
        previous_baseline=previous,
    )


def same(n: int, out: Out = OK, k: int = 1) -> list[list[Out | None]]:
    return [[out] * k for _ in range(n)]


# --- the paired diff ------------------------------------------------------------------------


def test_regressions_improvements_flaky_and_unscored_with_one_sample() -> None:
    base = [[OK], [OK], [BAD], [BAD], [OK], [err()], [OK]]
    cand = [[BAD], [OK], [OK], [BAD], [err("RateLimited")], [OK], [BAD]]
    results = run({BASE: base, CAND: cand})
    comparison = results.comparisons[CAND]
    assert comparison.regressions == ["c000", "c006"]
    assert comparison.improvements == ["c002"]
    assert comparison.flaky == []
    assert comparison.unscored == ["c004", "c005"]  # an error on either side: not compared
    assert comparison.paired_cases == 5
    assert comparison.diff == pytest.approx(-1 / 5)
    assert comparison.mcnemar_p == pytest.approx(1.0)  # 1 better, 2 worse
    assert comparison.method == "Tango score interval"
    assert comparison.interval is not None
    low, high = score_interval_by_likelihood(better=1, worse=2, n=5)
    assert comparison.interval.low == pytest.approx(low, abs=1e-6)
    assert comparison.interval.high == pytest.approx(high, abs=1e-6)


def score_interval_by_likelihood(better: int, worse: int, n: int) -> tuple[float, float]:
    """A second implementation of the paired score interval (Tango 1998), from first
    principles: for each difference d = p(better) - p(worse), the restricted maximum
    likelihood p(worse) is found by a numeric search (not the closed form), the score
    statistic is (better - worse - n d) / sqrt(n (p(better) + p(worse) - d^2)), and the
    interval is the set of d where it lies within +-1.959964."""
    z95 = 1.959963984540054
    same = n - better - worse

    def log_likelihood(q: float, d: float) -> float:
        p_better, p_same = q + d, 1 - 2 * q - d
        return (better * math.log(p_better) + worse * math.log(q)
                + (same * math.log(p_same) if same else 0.0))  # fmt: skip

    def statistic(d: float) -> float:
        lo, hi = max(0.0, -d) + 1e-12, (1 - d) / 2 - 1e-12
        for _ in range(200):  # the log-likelihood is concave in q: a ternary search
            a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
            lo, hi = (a, hi) if log_likelihood(a, d) < log_likelihood(b, d) else (lo, b)
        q = (lo + hi) / 2
        return (better - worse - n * d) / math.sqrt(n * (2 * q + d - d * d))

    def solve(lo: float, hi: float, target: float) -> float:  # statistic falls as d rises
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if statistic(mid) > target else (lo, mid)
        return (lo + hi) / 2

    observed = (better - worse) / n
    return solve(-1 + 1e-9, observed, z95), solve(observed, 1 - 1e-9, -z95)


def test_flaky_cases_and_fractional_outcomes_with_three_samples() -> None:
    base = [[OK, OK, OK], [OK, OK, OK], [OK, BAD, OK], [BAD, BAD, BAD], [OK, OK, OK]]
    cand = [[OK, BAD, BAD], [OK, OK, OK], [OK, OK, OK], [OK, OK, BAD], [OK, err(), BAD]]
    results = run({BASE: base, CAND: cand})
    comparison = results.comparisons[CAND]
    # A drop of half the samples or more is a regression: c000 goes from 1 to 1/3 and c004
    # from 1 to 1/2 (its errored sample left out); c003 rises from 0 to 2/3.
    assert comparison.regressions == ["c000", "c004"]
    assert comparison.improvements == ["c003"]
    assert comparison.flaky == ["c000", "c002", "c003", "c004"]
    assert comparison.unscored == []
    # c004: one errored sample is left out, the other two split: 1/2.
    rows = {r.case.id: r for r in results.by_model[CAND]}
    assert rows["c004"].pass_fraction == pytest.approx(0.5)
    assert [s.status for s in rows["c004"].samples] == ["pass", "error", "fail"]
    differences = [1 / 3 - 1, 0, 1 - 2 / 3, 2 / 3 - 0, 0.5 - 1]
    assert comparison.diff == pytest.approx(sum(differences) / 5)
    assert comparison.mcnemar_p is None  # McNemar is for one sample per case
    # One interval decides: the clustered score interval on the per-case differences, here
    # from a second implementation (scipy's optimizer and root finder).
    assert comparison.method == "clustered score interval (case as the unit)"
    low, high = optimizer_interval(differences)
    assert comparison.interval is not None
    assert comparison.interval.low == pytest.approx(low, abs=1e-6)
    assert comparison.interval.high == pytest.approx(high, abs=1e-6)


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_by_model() -> None:
    refusal = Out("I'm sorry, but I can't help with that.", latency=0.5, tokens=12)
    assert is_refusal(refusal.text or "")
    base = [
        [Out('{"a": "ok"}', latency=1.0, tokens=10)],
        [Out("ok", latency=2.0, tokens=20, cached=True)],
        [refusal],
        [err("Timeout")],
        [Out("no", latency=4.0, tokens=40)],
    ]
    results = run({BASE: base, CAND: same(5)})
    metrics = results.metrics[BASE]
    assert (metrics.cases, metrics.samples, metrics.scored, metrics.errors) == (5, 5, 4, 1)
    assert metrics.error_rate == pytest.approx(0.2)
    assert metrics.errors_by_class == {"Timeout": 1}
    assert metrics.pass_rate == pytest.approx(0.5)  # errors are not failures: 2 of 4
    assert metrics.pass_rate_low == pytest.approx(0.1500, abs=1e-4)  # Wilson 2/4
    assert metrics.pass_rate_high == pytest.approx(0.8500, abs=1e-4)
    assert metrics.refusal_rate == pytest.approx(0.25)
    assert metrics.json_valid_rate == pytest.approx(0.25)
    assert metrics.output_tokens_median == 16.0  # of 10, 20, 12, 40
    assert metrics.output_tokens_p95 == pytest.approx(37.0)
    assert metrics.output_chars_median == pytest.approx((2 + 11) / 2)
    assert metrics.latency_p50 == pytest.approx(1.5)  # of 1.0, 2.0, 0.5, 4.0
    assert metrics.latency_p95 == pytest.approx(3.7)
    assert metrics.cost_known
    assert metrics.cost_total == pytest.approx(0.004)
    assert metrics.cost_per_case == pytest.approx(0.001)
    assert metrics.calls_cached == 1


def test_cost_is_unknown_when_any_call_has_no_price() -> None:
    cand = [[OK], [Out("ok", cost=None)], [OK]]
    results = run({BASE: same(3), CAND: cand}, gates=Gates(pass_rate_drop=0.5))
    assert not results.metrics[CAND].cost_known
    assert results.metrics[CAND].cost_total is None
    assert results.metrics[CAND].cost_per_case is None
    cost_gate = next(g for g in results.comparisons[CAND].gates if g.name == "cost_increase")
    assert cost_gate.status == "not measured"


def test_a_model_with_no_output_has_no_metrics_but_errors() -> None:
    results = run({BASE: same(4), CAND: [[err()], [err()], [None], [err("ServerError")]]},
                  max_error_rate=1.0)  # fmt: skip
    metrics = results.metrics[CAND]
    assert metrics.pass_rate is None and metrics.latency_p95 is None
    assert metrics.errors_by_class == {"Timeout": 2, "NotAttempted": 1, "ServerError": 1}
    assert results.comparisons[CAND].verdict == INCONCLUSIVE
    assert results.comparisons[CAND].explanation.startswith("No case was scored on both")


# --- verdicts ------------------------------------------------------------------------------


def test_pass_when_enough_cases_agree() -> None:
    results = run({BASE: same(400), CAND: same(400)})
    assert results.verdict == PASS and results.exit_code == 0
    comparison = results.comparisons[CAND]
    assert comparison.interval is not None
    assert comparison.interval.low == pytest.approx(-0.0095, abs=1e-4)
    assert [g.status for g in comparison.gates] == ["holds"]
    assert comparison.cases_to_settle is None
    assert "at worst -1.0 pts" in comparison.explanation


def test_zero_disagreement_on_80_cases_is_inconclusive_and_says_how_many_would_settle() -> None:
    results = run({BASE: same(80), CAND: same(80)})
    assert results.verdict == INCONCLUSIVE and results.exit_code == 3
    comparison = results.comparisons[CAND]
    assert comparison.gates[0].status == "unclear"
    # By hand: with no disagreement the bound is z^2/(n + z^2), under 2 points from
    # n > z^2 (1 - 0.02)/0.02 = 188.2; a suite of 189 drawn at these rates agrees again.
    assert comparison.cases_to_settle == 189
    assert comparison.settlement is not None
    assert comparison.settlement.for_likely == 189
    assert comparison.settlement.chance_at_observed_rates == 1.0
    assert comparison.explanation == (
        "The two models agreed on all 80 cases, but 80 cases cannot rule out a drop of up to "
        "4.6 pts (95% confidence), more than the 2.0 pts margin, however many samples each "
        "case has. A suite of 189 cases would settle it in at least 80% of reruns (the suite "
        "has 80; drawn at the observed rates, 1 sample per case)."
    )


def test_one_case_is_spoken_of_in_the_singular() -> None:
    comparison = run({BASE: same(1), CAND: same(1)}).comparisons[CAND]
    # By hand: 1.96^2 / (1 + 1.96^2) = 79.3 pts.
    assert comparison.explanation.startswith(
        "The two models agreed on the one case, but 1 case cannot rule out a drop of up to "
        "79.3 pts (95% confidence)"
    )


def tango_settles(better: int, worse: int, cases: int, margin: float) -> bool:
    interval = tango_interval(better, worse, cases)
    return interval.low > -margin or interval.high < -margin


def chance_of_one_improvement_rate(cases: int, rate: float, margin: float) -> float:
    """Reruns of `cases` cases whose improvements are Binomial(cases, rate) (scipy), each
    judged by Tango's interval (checked against published values in test_stats)."""
    return sum(
        binom.pmf(better, cases, rate)
        for better in range(cases + 1)
        if tango_settles(better, 0, cases, margin)
    )


def test_one_improvement_in_80_states_the_suite_that_settles_half_the_reruns() -> None:
    cand = same(80)
    base = same(80)
    base[3] = [BAD]  # one case improves
    comparison = run({BASE: base, CAND: cand}).comparisons[CAND]
    assert comparison.gates[0].status == "unclear"
    stated = comparison.cases_to_settle
    assert stated is not None
    # The stated size settles at least half of the reruns at the observed rate, and one case
    # fewer does not (scipy's binomial, Tango's interval).
    assert chance_of_one_improvement_rate(stated, 1 / 80, 0.02) >= 0.5
    assert chance_of_one_improvement_rate(stated - 1, 1 / 80, 0.02) < 0.5
    likely = comparison.settlement.for_likely if comparison.settlement else None
    assert likely is not None and chance_of_one_improvement_rate(likely, 1 / 80, 0.02) >= 0.8
    assert chance_of_one_improvement_rate(likely - 1, 1 / 80, 0.02) < 0.8
    assert (
        f"A suite of {stated} cases would settle it in at least half of reruns, {likely} in "
        "80% (the suite has 80; drawn at the observed rates, 1 sample per case)."
    ) in comparison.explanation


def test_one_case_worse_on_20_cases_is_inconclusive_not_fail() -> None:
    cand = same(20)
    cand[7] = [BAD]
    results = run({BASE: same(20), CAND: cand})
    comparison = results.comparisons[CAND]
    assert results.verdict == INCONCLUSIVE
    assert comparison.regressions == ["c007"]
    assert comparison.diff == pytest.approx(-0.05)
    assert comparison.mcnemar_p == pytest.approx(1.0)
    assert "straddles the -2.0 pts margin" in comparison.explanation


def test_fail_when_the_drop_is_clearly_past_the_margin() -> None:
    cand = same(40)
    for index in range(12):
        cand[index] = [BAD]
    results = run({BASE: same(40), CAND: cand})
    comparison = results.comparisons[CAND]
    assert results.verdict == FAIL and results.exit_code == 1
    assert comparison.gates[0].status == "broken"
    assert comparison.regressions == [f"c{i:03d}" for i in range(12)]
    assert comparison.mcnemar_p == pytest.approx(2 / 2**12)
    assert comparison.explanation.startswith("The data shows the candidate is worse")


def test_error_past_max_error_rate_is_an_infrastructure_error() -> None:
    cand = same(20)
    for index in range(3):
        cand[index] = [err("RateLimited")]
    results = run({BASE: same(20), CAND: cand}, max_error_rate=0.1)
    assert results.verdict == ERROR and results.exit_code == 4
    assert results.comparisons[CAND].verdict == ERROR
    assert results.comparisons[CAND].explanation == (
        "Too many calls failed to judge this candidate; the comparison below covers only the "
        "17 cases scored on both models."
    )
    assert results.infrastructure_failure == (
        'vendor/new: 3 of 20 calls failed (15% > 10% allowed): RateLimited x3 ("read timed out")'
    )


def test_errors_within_the_allowed_rate_are_never_failures() -> None:
    cand = same(400)
    cand[0] = [err("Timeout")]
    cand[1] = [err("ServerError")]
    results = run({BASE: same(400), CAND: cand}, max_error_rate=0.1)
    comparison = results.comparisons[CAND]
    assert results.verdict == PASS
    assert comparison.regressions == []
    assert comparison.unscored == ["c000", "c001"]
    assert results.metrics[CAND].pass_rate == 1.0
    assert results.infrastructure_failure is None


def test_the_run_verdict_is_the_best_candidates() -> None:
    bad = same(400)
    for index in range(40):
        bad[index] = [BAD]
    results = run({BASE: same(400), CAND: same(400), OTHER: bad})
    assert results.comparisons[CAND].verdict == PASS
    assert results.comparisons[OTHER].verdict == FAIL
    assert results.verdict == PASS  # there is a candidate one can migrate to


def test_several_candidates_are_holm_adjusted_and_the_pick_is_accounted_for() -> None:
    # Alone, 250 agreeing cases pass a 2-point margin: by hand, the margin test's statistic
    # is 0.02 sqrt(250 / (0.02 x 0.98)) = 2.259, p = 0.0239 < 0.05.
    alone = run({BASE: same(250), CAND: same(250)})
    assert alone.comparisons[CAND].verdict == PASS
    statistic = 0.02 * math.sqrt(250 / (0.02 * 0.98))
    p_alone = 2 * (1 - NormalDist().cdf(statistic))
    assert alone.comparisons[CAND].p_value == pytest.approx(p_alone, abs=1e-9)
    # Beside two candidates sitting exactly on the margin (5 regressions in 250: -2 points,
    # p = 1), Holm tests the smallest p-value at 0.05/3 and stops there: nothing is settled.
    on_margin = same(250)
    for index in range(5):
        on_margin[index] = [BAD]
    third = "vendor/third"
    results = run({BASE: same(250), CAND: same(250), OTHER: on_margin, third: on_margin})
    raw = [results.comparisons[m].p_value for m in (CAND, OTHER, third)]
    assert raw == pytest.approx([p_alone, 1.0, 1.0], abs=1e-9)
    _, adjusted, _, _ = multipletests([p_alone, 1.0, 1.0], alpha=0.05, method="holm")
    comparison = results.comparisons[CAND]
    assert comparison.adjusted_p_value == pytest.approx(adjusted[0], abs=1e-12)
    assert comparison.verdict == INCONCLUSIVE and results.verdict == INCONCLUSIVE
    assert comparison.family == 3
    assert comparison.level == pytest.approx(1 - 0.05 / 3)
    # Its interval is shown at that level: by hand, z = 2.394 and the bound is
    # z^2 / (250 + z^2) = 2.24 points, past the margin; a suite of more than
    # z^2 (1 - 0.02) / 0.02 = 280.9 cases would clear it.
    z = NormalDist().inv_cdf(1 - 0.05 / 6)
    assert comparison.interval is not None
    assert comparison.interval.low == pytest.approx(-(z * z) / (250 + z * z), abs=1e-9)
    assert comparison.cases_to_settle == 281
    detail = comparison.gates[0].detail
    assert detail.startswith("difference +0.0 pts, 98.33% interval [-2.2 pts, +2.2 pts]")
    assert "Holm-adjusted across 3 candidates" in detail
    assert "Holm-adjusted across 3 candidates" in comparison.explanation
    record = comparison.to_record().pass_rate_diff
    assert record is not None and record.adjusted_across == 3


def test_a_run_without_candidates_is_a_baseline() -> None:
    results = run({BASE: same(5)})
    assert results.verdict == BASELINE and results.exit_code == 0
    assert results.comparisons == {}


# --- the other gates -----------------------------------------------------------------------


def gate(results: Results, name: str) -> Any:
    return next(g for g in results.comparisons[CAND].gates if g.name == name)


def test_refusal_gate() -> None:
    refusal = Out("I'm sorry, but I can't help with that. ok")  # refuses, passes the check
    assert is_refusal(refusal.text or "")
    gates = Gates(pass_rate_drop=0.5, refusal_rate_increase=0.01, p95_latency_increase=None,
                  cost_increase=None)  # fmt: skip

    def with_refusals(count: int, n: int = 40) -> Results:
        cand = same(n)
        for index in range(count):
            cand[index] = [refusal]
        return run({BASE: same(n), CAND: cand}, gates=gates)

    assert gate(with_refusals(0), "refusal_rate_increase").status == "holds"
    unclear = gate(with_refusals(1), "refusal_rate_increase")  # +2.5 pts, could be noise
    assert unclear.status == "unclear" and unclear.observed == pytest.approx(0.025)
    assert with_refusals(1).verdict == INCONCLUSIVE
    broken = gate(with_refusals(10), "refusal_rate_increase")
    assert broken.status == "broken" and broken.observed == pytest.approx(0.25)
    assert "refusals 0.0% -> 25.0%" in broken.detail
    assert with_refusals(10).verdict == FAIL
    # The pass rate is unaffected: the refusals still contain the expected text.
    assert with_refusals(10).comparisons[CAND].regressions == []


def test_latency_gate() -> None:
    gates = Gates(pass_rate_drop=0.5, refusal_rate_increase=None, p95_latency_increase=0.25,
                  cost_increase=None)  # fmt: skip
    base = same(20, Out(latency=1.0))
    slower = run({BASE: base, CAND: same(20, Out(latency=2.0))}, gates=gates)
    assert gate(slower, "p95_latency_increase").status == "broken"
    assert gate(slower, "p95_latency_increase").observed == pytest.approx(1.0)
    assert slower.verdict == FAIL
    tail = same(20, Out(latency=1.0))
    tail[0] = [Out(latency=9.0)]
    tail[1] = [Out(latency=9.0)]
    noisy = run({BASE: base, CAND: tail}, gates=gates)
    assert gate(noisy, "p95_latency_increase").status == "unclear"
    assert gate(noisy, "p95_latency_increase").detail.endswith("so this may be noise")
    fine = run({BASE: base, CAND: same(20, Out(latency=1.2))}, gates=gates)
    assert gate(fine, "p95_latency_increase").status == "holds"


def test_a_latency_gate_does_not_fail_on_milliseconds() -> None:
    # 30 ms -> 45 ms is +50% against a 25% limit, but 15 ms is what a busy machine's own
    # scheduling moves a loopback call by; 30 ms -> 90 ms is not.
    gates = Gates(pass_rate_drop=0.5, refusal_rate_increase=None, p95_latency_increase=0.25,
                  cost_increase=None)  # fmt: skip
    base = same(20, Out(latency=0.03))
    jitter = run({BASE: base, CAND: same(20, Out(latency=0.045))}, gates=gates)
    assert gate(jitter, "p95_latency_increase").status == "holds"
    assert gate(jitter, "p95_latency_increase").detail.endswith("within timing noise")
    slower = run({BASE: base, CAND: same(20, Out(latency=0.09))}, gates=gates)
    assert gate(slower, "p95_latency_increase").status == "broken"
    # A slow tail (30 -> 110 ms) over a median only 10 ms slower (+33%): a busy machine's
    # scheduling, as CI met it; not shown to be a slower model.
    tail = same(20, Out(latency=0.04))
    tail[0] = [Out(latency=0.11)]
    tail[1] = [Out(latency=0.11)]
    noisy = run({BASE: base, CAND: tail}, gates=gates)
    assert gate(noisy, "p95_latency_increase").status == "unclear"


def test_cost_gate() -> None:
    gates = Gates(pass_rate_drop=0.5, refusal_rate_increase=None, p95_latency_increase=None,
                  cost_increase=0.15)  # fmt: skip
    base = same(10, Out(cost=0.002))
    pricier = run({BASE: base, CAND: same(10, Out(cost=0.003))}, gates=gates)
    assert gate(pricier, "cost_increase").status == "broken"
    assert gate(pricier, "cost_increase").observed == pytest.approx(0.5)
    assert pricier.verdict == FAIL
    cheaper = run({BASE: base, CAND: same(10, Out(cost=0.001))}, gates=gates)
    assert gate(cheaper, "cost_increase").status == "holds"
    assert cheaper.verdict == PASS
    free = run({BASE: same(10, Out(cost=0.0)), CAND: same(10, Out(cost=0.0))}, gates=gates)
    assert gate(free, "cost_increase").status == "holds"


# --- judges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "passed"),
    [
        ('{"verdict": "pass", "reasoning": "names the vendor"}', True),
        ('```json\n{"verdict": "FAIL", "reasoning": "no vendor"}\n```', False),
        ('{"pass": true, "reason": "fine"}', True),
        ("PASS - names the vendor", True),
        ("**FAIL**: three sentences", False),
        ("It depends.", None),
        ('{"verdict": "maybe"}', None),
        ("", None),
    ],
)
def test_parse_judge(reply: str, passed: bool | None) -> None:
    verdict = parse_judge(reply)
    assert (verdict.passed if verdict else None) is passed


def test_judged_checks_read_the_judges_journal_entries() -> None:
    checks = [CheckSpec(type="contains", value="ok"), CheckSpec(type="llm_judge", rubric="r")]
    suite = cases(3)
    entries = journal({CAND: same(3)})
    verdicts = ['{"verdict": "pass"}', '{"verdict": "fail", "reasoning": "rude"}']
    for index, reply in enumerate(verdicts):
        judged = entry("judge", JUDGE, f"c{index:03d}", 0, Out(reply), judge_extra(CAND, 1))
        entries[judged.key] = judged
    rows = score_model(CAND, suite, 1, {c.id: checks for c in suite}, entries, JUDGE)
    assert [r.samples[0].status for r in rows] == ["pass", "fail", "error"]
    assert rows[1].samples[0].score is not None
    assert rows[1].samples[0].score.failed == ["llm_judge"]
    assert rows[2].samples[0].error == "JudgeError"  # no verdict: an error, not a failure


# --- drift and the summary -------------------------------------------------------------------


def test_drift_lists_cases_whose_outcome_changed_on_the_current_model() -> None:
    base = [[OK, OK], [BAD, BAD], [OK, BAD], [OK, OK], [OK, OK]]
    previous = {"c000": 1.0, "c001": 1.0, "c002": 1.0, "c003": 0.0, "gone": 1.0}
    results = run({BASE: base, CAND: base}, previous=("20261001T090000Z", previous))
    assert results.drift.previous_run == "20261001T090000Z"
    assert results.drift.common_cases == 4  # c004 is new, "gone" left the suite
    assert results.drift.changed == [
        {"case": "c001", "before": 1.0, "after": 0.0},
        {"case": "c002", "before": 1.0, "after": 0.5},
        {"case": "c003", "before": 0.0, "after": 1.0},
    ]
    assert results.drift.previous_pass_rate == pytest.approx(0.75)
    assert results.drift.current_pass_rate == pytest.approx(2.5 / 4)


def test_no_previous_baseline_means_no_drift() -> None:
    assert drift(None, None, []).model_dump() == {
        "previous_run": None,
        "common_cases": 0,
        "changed": [],
        "previous_pass_rate": None,
        "current_pass_rate": None,
    }


def results_json(results: Results) -> dict[str, Any]:
    """The parts of summary.json that come from the results, as the summary writes them."""
    return {
        "verdict": results.verdict,
        "exit_code": results.exit_code,
        "metrics": {m: v.model_dump() for m, v in results.metrics.items()},
        "candidates": {m: c.to_record().model_dump() for m, c in results.comparisons.items()},
        "outcomes": results.outcomes(),
    }


def test_results_json_holds_the_verdict_and_lists_of_case_ids() -> None:
    base = [[OK], [OK], [BAD]]
    cand = [[BAD], [OK], [OK]]
    data = results_json(run({BASE: base, CAND: cand}))
    assert data["verdict"] == INCONCLUSIVE and data["exit_code"] == 3
    candidate = data["candidates"][CAND]
    assert candidate["regressions"] == ["c000"]
    assert candidate["improvements"] == ["c002"]
    assert candidate["flaky"] == [] and candidate["unscored"] == []
    # The keys of the first release stay; new ones are added beside them.
    assert set(candidate["pass_rate_diff"]) == {
        "estimate", "low", "high", "method", "mcnemar_exact_p", "bootstrap_low", "bootstrap_high",
        "level", "p_value", "adjusted_p_value", "adjusted_across",
    }  # fmt: skip
    assert candidate["pass_rate_diff"]["bootstrap_low"] is None
    assert candidate["pass_rate_diff"]["level"] == 0.95
    assert candidate["pass_rate_diff"]["adjusted_across"] == 1
    assert set(data["metrics"]) == {BASE, CAND}
    assert data["metrics"][BASE]["pass_rate"] == pytest.approx(2 / 3)
    assert data["outcomes"] == {
        BASE: {"c000": 1.0, "c001": 1.0, "c002": 0.0},
        CAND: {"c000": 0.0, "c001": 1.0, "c002": 1.0},
    }


# --- the pairwise gate: the same interval on the net preference --------------------------------


def judged(outcomes: list[tuple[int, int, int]]) -> Preference:
    """Cases judged side by side: (pairs, wins, losses) per case."""
    cases = [
        CasePreference(f"c{i:03d}", pairs, wins, losses)
        for i, (pairs, wins, losses) in enumerate(outcomes)
    ]
    return Preference(None, cases, [], 0, 0, 0, 0)


def test_the_pairwise_gate_with_one_sample_is_tangos_published_interval() -> None:
    # Tango (1998) section 6.2: 9 better, 3 worse of 32 pairs: interval -0.027 to 0.390.
    preference = judged([(1, 1, 0)] * 9 + [(1, 0, 1)] * 3 + [(1, 0, 0)] * 20)
    record, gate = preference_gate(preference, 1, 0.02)
    assert (record.low, record.high) == pytest.approx((-0.027, 0.390), abs=5e-4)
    assert record.method == "Tango score interval"
    assert gate.status == "unclear" and gate.observed == pytest.approx(6 / 32)


def test_the_pairwise_gate_with_samples_uses_the_clustered_interval() -> None:
    # Three samples a case: a case's net preference is its win share minus its loss share.
    outcomes = [(3, 3, 0)] * 4 + [(3, 1, 0)] * 6 + [(3, 0, 1)] * 5 + [(3, 0, 0)] * 45
    record, gate = preference_gate(judged(outcomes), 3, 0.05)
    nets = [(wins - losses) / pairs for pairs, wins, losses in outcomes]
    low, high = optimizer_interval(nets)  # a second implementation
    assert (record.low, record.high) == pytest.approx((low, high), abs=1e-6)
    assert record.method == "clustered score interval (case as the unit)"
    assert gate.status == ("holds" if low > -0.05 else "unclear")
    # Across two candidates the same gate is Holm-adjusted, and the detail says so.
    other = judged([(3, 0, 3)] * 20 + [(3, 0, 0)] * 40)
    decisions = holm_decisions(
        {"a": preference_fractions(judged(outcomes)), "b": preference_fractions(other)}, 3, 0.05
    )
    _, adjusted = preference_gate(judged(outcomes), 3, 0.05, decisions["a"], 2)
    assert "Holm-adjusted across 2 candidates" in adjusted.detail
    assert adjusted.status == decisions["a"].status
