"""From two models' scored cases to a verdict: the paired diff (regressions, improvements,
flaky cases), the pass-rate difference with its interval, the other gates, and the words
that explain the decision. Pure.

One interval decides the pass-rate gate: `stats.paired_difference` on the pass fractions of
the cases scored on both models (Tango's for one sample per case, the clustered score
interval for more); a pairwise check's net preference is held against the margin with the
same interval (`pairwise.preference_gate`). With several candidates each of these gates is
Holm-adjusted across them (`stats.holm_decisions`); when one stays unclear,
`power.cases_to_settle` says how large a suite would settle it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

from migrate.console import plural
from migrate.evals.pairwise import (
    Preference,
    explain_preference,
    preference_fractions,
    preference_gate,
)
from migrate.evals.power import LIMIT, cases_to_settle
from migrate.evals.record import (
    CandidateSummary,
    GateResult,
    ModelMetrics,
    PassRateDiff,
    Settlement,
    Verdict,
)
from migrate.evals.record_pairs import PairwiseSummary
from migrate.evals.scoring import CaseResult
from migrate.evals.stages import z_for
from migrate.evals.stats import (
    AdjustedDecision,
    Interval,
    PairedDifference,
    holm_decisions,
    level_text,
    mcnemar_exact_p,
    paired_difference,
)
from migrate.registry.schema import Gates

# When candidates disagree, the run's verdict is its best candidate's.
RANK = {Verdict.PASS: 3, Verdict.INCONCLUSIVE: 2, Verdict.FAIL: 1, Verdict.ERROR: 0}
SETTLE_SEED = 20240601  # the simulated chances of `cases_to_settle`: a rerun says the same


def _gate(
    name: str, threshold: float | None, observed: float | None, status: str, detail: str
) -> GateResult:
    return GateResult(
        name=name, threshold=threshold, observed=observed, status=status, detail=detail
    )


@dataclass
class Comparison:
    model: str
    verdict: Verdict
    regressions: list[str]
    improvements: list[str]
    flaky: list[str]
    unscored: list[str]
    paired_cases: int
    margin: float
    diff: float | None = None
    interval: Interval | None = None
    method: str = "none"
    mcnemar_p: float | None = None
    level: float = 0.95  # of the interval: lower after Holm's adjustment across candidates
    p_value: float | None = None  # score test of "difference = -margin"
    adjusted_p_value: float | None = None
    family: int = 1  # candidates the pass-rate gate was adjusted across
    gates: list[GateResult] = field(default_factory=list)
    settlement: Settlement | None = None
    explanation: str = ""
    preference: PairwiseSummary | None = None

    @property
    def cases_to_settle(self) -> int | None:
        """The suite size that settles the gate in at least half of reruns."""
        return self.settlement.for_even_chance if self.settlement else None

    def to_record(self) -> CandidateSummary:
        return CandidateSummary(
            verdict=self.verdict,
            regressions=self.regressions,
            improvements=self.improvements,
            flaky=self.flaky,
            unscored=self.unscored,
            paired_cases=self.paired_cases,
            pass_rate_diff=PassRateDiff(
                estimate=self.diff,
                low=self.interval.low if self.interval else None,
                high=self.interval.high if self.interval else None,
                method=self.method,
                mcnemar_exact_p=self.mcnemar_p,
                level=self.level,
                p_value=self.p_value,
                adjusted_p_value=self.adjusted_p_value,
                adjusted_across=self.family,
            ),
            gates=self.gates,
            cases_to_settle=self.cases_to_settle,
            settlement=self.settlement,
            explanation=self.explanation,
            pairwise=self.preference,
        )


def _pct(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def paired_fractions(
    baseline_rows: list[CaseResult], candidate_rows: list[CaseResult]
) -> tuple[list[float], list[float]]:
    """The two models' pass fractions over the cases scored on both, case by case."""
    base, cand = [], []
    for b, c in zip(baseline_rows, candidate_rows, strict=True):
        if b.pass_fraction is not None and c.pass_fraction is not None:
            base.append(b.pass_fraction)
            cand.append(c.pass_fraction)
    return base, cand


def margin_decisions(
    baseline_rows: list[CaseResult],
    by_candidate: Mapping[str, list[CaseResult]],
    preferences: Mapping[str, Preference | None],
    samples: int,
    margin: float,
    alpha: float = 0.05,
) -> tuple[dict[str, AdjustedDecision], dict[str, AdjustedDecision]]:
    """Each candidate's pass-rate gate and pairwise gate, each Holm-adjusted across the
    candidates: the owner picks one, and a 95% interval apiece would overstate the evidence
    for the one picked. With one candidate, its plain 95% intervals. `alpha`: the family's
    two-sided error (a sequential run's look spends less than 0.05)."""
    pass_rates = holm_decisions(
        {m: paired_fractions(baseline_rows, rows) for m, rows in by_candidate.items()},
        samples,
        margin,
        alpha,
    )
    judged = {m: preference_fractions(p) for m, p in preferences.items() if p and p.n}
    return pass_rates, holm_decisions(judged, samples, margin, alpha)


def settlement(differences: list[float], margin: float, level: float = 0.95) -> Settlement | None:
    """How large a suite, drawn at the observed per-case differences, would settle the
    gate at the interval's level; None when the estimate sits on the margin (or within
    what no suite of up to LIMIT cases resolves)."""
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    found = cases_to_settle(differences, margin, z, seed=SETTLE_SEED)
    if found is None:
        return None
    return Settlement(
        direction=found.direction,
        at_observed_rates=found.at_observed_rates,
        chance_at_observed_rates=found.chance_at_observed_rates,
        for_even_chance=found.for_even_chance,
        for_likely=found.for_likely,
    )


def compare(
    baseline_rows: list[CaseResult],
    candidate_rows: list[CaseResult],
    model: str,
    base_metrics: ModelMetrics,
    cand_metrics: ModelMetrics,
    gates: Gates,
    samples: int,
    preference: Preference | None = None,
    pass_rate_measured: bool = True,
    decisions: tuple[AdjustedDecision | None, AdjustedDecision | None] = (None, None),
    family: int = 1,
    alpha: float = 0.05,
) -> Comparison:
    """One candidate against the baseline. `preference`: the judge's side-by-side verdicts
    when the suite has a pairwise check; `pass_rate_measured` is False when every check is
    pairwise (every output then passes). `decisions` are its pass-rate and pairwise gates
    when they were Holm-adjusted across `family` candidates (`margin_decisions`); without
    them each gate is decided on its own 95% interval. `alpha`: the two-sided error of the
    refusal gate's interval (a sequential run's look spends less than 0.05)."""
    regressions, improvements, flaky, unscored = [], [], [], []
    base_refusals: list[float] = []
    cand_refusals: list[float] = []
    for base, cand in zip(baseline_rows, candidate_rows, strict=True):
        b, c = base.pass_fraction, cand.pass_fraction
        if b is None or c is None:
            unscored.append(base.case.id)
            continue
        if base.flaky or cand.flaky:
            flaky.append(base.case.id)
        if b - c >= 0.5:
            regressions.append(base.case.id)
        elif c - b >= 0.5:
            improvements.append(base.case.id)
        base_refusals.append(base.refusal_fraction or 0.0)
        cand_refusals.append(cand.refusal_fraction or 0.0)
    base_passes, cand_passes = paired_fractions(baseline_rows, candidate_rows)
    n = len(base_passes)
    margin = gates.pass_rate_drop
    comparison = Comparison(model, Verdict.INCONCLUSIVE, regressions, improvements, flaky,
                            unscored, n, margin)  # fmt: skip
    if n == 0:
        comparison.explanation = "No case was scored on both models, so nothing can be compared."
        return comparison
    decision, preferred = decisions
    if decision is None:
        decision = holm_decisions({model: (base_passes, cand_passes)}, samples, margin)[model]
    difference = decision.difference
    comparison.diff, comparison.interval = difference.estimate, difference.interval
    comparison.method = difference.method
    comparison.level, comparison.family = decision.level, family
    comparison.p_value, comparison.adjusted_p_value = decision.p_value, decision.adjusted_p_value
    differences = [c - b for b, c in zip(base_passes, cand_passes, strict=True)]
    if samples == 1:
        better = sum(1 for d in differences if d > 0)
        comparison.mcnemar_p = mcnemar_exact_p(better, sum(1 for d in differences if d < 0))

    gate_results = [
        _pass_rate_gate(comparison, decision.status)
        if pass_rate_measured
        else _gate(
            "pass_rate_drop", margin, None, "not measured",
            "every check is pairwise: the judge's side-by-side verdicts decide",
        )
    ]  # fmt: skip
    if preference is not None:
        record, gate = preference_gate(preference, samples, margin, preferred, family)
        comparison.preference = record
        gate_results.append(gate)
        regressions += [c for c in record.losses if c not in regressions]
        improvements += [c for c in record.wins if c not in improvements and c not in regressions]
    if gates.refusal_rate_increase is not None:
        gate_results.append(
            _refusal_gate(
                base_metrics,
                cand_metrics,
                paired_difference(base_refusals, cand_refusals, samples, z_for(alpha)),
                gates.refusal_rate_increase,
                1 - alpha,
            )
        )
    if gates.p95_latency_increase is not None:
        gate_results.append(_latency_gate(base_metrics, cand_metrics, gates.p95_latency_increase))
    if gates.cost_increase is not None:
        gate_results.append(_cost_gate(base_metrics, cand_metrics, gates.cost_increase))
    comparison.gates = gate_results

    statuses = {g.status for g in gate_results}
    if "broken" in statuses:
        comparison.verdict = Verdict.FAIL
    elif statuses <= {"holds", "not measured"}:
        comparison.verdict = Verdict.PASS
    if gate_results[0].status == "unclear":
        comparison.settlement = settlement(differences, margin, decision.level)
    comparison.explanation = _explain(comparison, samples, any(differences))
    if preference is not None and comparison.preference is not None:
        level = 0.95 if preferred is None else preferred.level
        pairwise_gate = gate_results[1]
        if pairwise_gate.status == "unclear" and comparison.settlement is None and preference.n:
            losses, wins = preference_fractions(preference)
            nets = [w - lost for lost, w in zip(losses, wins, strict=True)]
            comparison.settlement = settlement(nets, margin, level)
        comparison.explanation = explain_preference(
            comparison.verdict,
            comparison.preference,
            margin,
            comparison.explanation,
            _settle_sentence(comparison.settlement, preference.n, samples),
            gate_results,
            level,
        )
    return comparison


def _adjustment(comparison: Comparison) -> str:
    """How the gate was adjusted for several candidates; "" for one."""
    if comparison.family < 2:
        return ""
    return (
        f"Holm-adjusted across {comparison.family} candidates: margin test "
        f"p = {comparison.p_value:.3g}, adjusted p = {comparison.adjusted_p_value:.3g}"
    )


def _pass_rate_gate(comparison: Comparison, status: str) -> GateResult:
    assert comparison.diff is not None and comparison.interval is not None
    interval, margin = comparison.interval, comparison.margin
    adjustment = _adjustment(comparison)
    text = (
        f"difference {_pct(comparison.diff)}, {level_text(comparison.level)} interval "
        f"[{_pct(interval.low)}, {_pct(interval.high)}], margin -{margin * 100:.1f} pts"
        + (f" ({adjustment})" if adjustment else "")
    )
    return _gate("pass_rate_drop", margin, comparison.diff, status, text)


def _refusal_gate(
    base: ModelMetrics, cand: ModelMetrics, increase: PairedDifference, limit: float, level: float
) -> GateResult:
    # The same paired interval as the pass rate's, on each case's share of refused samples.
    interval = increase.interval
    text = (
        f"refusals {_rate(base.refusal_rate)} -> {_rate(cand.refusal_rate)} "
        f"(increase {_pct(increase.estimate)}, {level_text(level)} interval [{_pct(interval.low)}, "
        f"{_pct(interval.high)}], limit +{limit * 100:.1f} pts)"
    )
    if increase.estimate <= limit:
        return _gate("refusal_rate_increase", limit, increase.estimate, "holds", text)
    if interval.low > limit:
        return _gate("refusal_rate_increase", limit, increase.estimate, "broken", text)
    return _gate("refusal_rate_increase", limit, increase.estimate, "unclear", text)


# A latency this little slower is not slower, whatever the ratio: at a few tens of
# milliseconds (a local server, a cache) the client's own scheduling on a busy machine moves
# the tail and the median by that much, and a relative limit alone fails a run on noise.
LATENCY_NOISE_SECONDS = 0.05


def _slower(before: float | None, after: float | None, limit: float) -> bool:
    """Slower by more than the relative limit and by more than timing noise."""
    if not before or after is None:
        return False
    return after / before - 1 > limit and after - before >= LATENCY_NOISE_SECONDS


def _latency_gate(base: ModelMetrics, cand: ModelMetrics, limit: float) -> GateResult:
    if not base.latency_p95 or cand.latency_p95 is None:
        return _gate("p95_latency_increase", limit, None, "not measured", "no latency measured")
    relative = cand.latency_p95 / base.latency_p95 - 1
    text = (
        f"p95 {base.latency_p95:.2f}s -> {cand.latency_p95:.2f}s "
        f"({relative * 100:+.0f}%, limit +{limit * 100:.0f}%)"
    )
    if relative <= limit:
        return _gate("p95_latency_increase", limit, relative, "holds", text)
    if not _slower(base.latency_p95, cand.latency_p95, limit):
        text += f"; under {LATENCY_NOISE_SECONDS * 1000:.0f} ms slower, within timing noise"
        return _gate("p95_latency_increase", limit, relative, "holds", text)
    # A slow tail alone can be noise; a median that is slower by the same margin is not.
    if _slower(base.latency_p50, cand.latency_p50, limit):
        status, why = "broken", "; the median is slower by as much"
    else:
        status, why = "unclear", "; the median is not, so this may be noise"
    return _gate("p95_latency_increase", limit, relative, status, text + why)


def _cost_gate(base: ModelMetrics, cand: ModelMetrics, limit: float) -> GateResult:
    if base.cost_per_case is None or cand.cost_per_case is None:
        return _gate(
            "cost_increase",
            limit,
            None,
            "not measured",
            "cost unknown for at least one model (no price in litellm's map or the registry)",
        )
    if base.cost_per_case == 0:
        relative = 0.0 if cand.cost_per_case == 0 else float("inf")
    else:
        relative = cand.cost_per_case / base.cost_per_case - 1
    text = (
        f"per case ${base.cost_per_case:.6f} -> ${cand.cost_per_case:.6f} "
        f"({relative * 100:+.0f}%, limit +{limit * 100:.0f}%)"
    )
    status = "holds" if relative <= limit else "broken"
    return _gate("cost_increase", limit, relative, status, text)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _explain(comparison: Comparison, samples: int, any_difference: bool) -> str:
    gates, n, margin = comparison.gates, comparison.paired_cases, comparison.margin
    interval = comparison.interval
    assert interval is not None
    level = level_text(comparison.level)
    adjustment = _adjustment(comparison)
    confidence = f"{level} confidence" + (f", {adjustment}" if adjustment else "")
    unclear = [g.name for g in gates if g.status == "unclear"]
    if comparison.verdict is Verdict.FAIL:
        details = "; ".join(f"{g.name}: {g.detail}" for g in gates if g.status == "broken")
        return f"The data shows the candidate is worse than the gates allow ({details})."
    if comparison.verdict is Verdict.PASS:
        return (
            f"Over {plural(n, 'case')} the candidate's pass rate is at worst "
            f"{_pct(interval.low)} against the baseline ({confidence}), inside the "
            f"-{margin * 100:.1f} pts margin, and every other gate holds."
        )
    parts = []
    if "pass_rate_drop" in unclear:
        if not any_difference:
            parts.append(
                f"The two models agreed on {'the one case' if n == 1 else f'all {n} cases'}, but "
                f"{plural(n, 'case')} cannot rule out a "
                f"drop of up to {-interval.low * 100:.1f} pts ({confidence}), more than the "
                f"{margin * 100:.1f} pts margin, however many samples each case has."
            )
        else:
            parts.append(
                f"The {level} interval [{_pct(interval.low)}, {_pct(interval.high)}] "
                f"straddles the -{margin * 100:.1f} pts margin"
                + (f" ({adjustment})." if adjustment else ".")
            )
        parts.append(_settle_sentence(comparison.settlement, n, samples))
    others = [g for g in unclear if g != "pass_rate_drop"]
    if others:
        parts.append(f"Unclear gates: {', '.join(others)}.")
    return " ".join(parts) or "The data cannot show the candidate is within the margin."


def _settle_sentence(found: Settlement | None, n: int, samples: int) -> str:
    """How many cases would settle the pass-rate gate, in words."""
    if found is None:
        return f"The estimate sits on the margin: no suite of up to {LIMIT:,} cases settles it."
    per_case = f"{samples} sample{'s' if samples != 1 else ''} per case"
    suite = f"(the suite has {n}; drawn at the observed rates, {per_case})"
    even, likely = found.for_even_chance, found.for_likely
    if even is None:
        return (
            f"No suite of up to {LIMIT:,} cases would settle it at the observed rates "
            f"{suite}: the candidate sits too close to the margin."
        )
    if likely == even:
        return f"A suite of {even} cases would settle it in at least 80% of reruns {suite}."
    if likely is None:
        return (
            f"A suite of {even} cases would settle it in at least half of reruns, none of up "
            f"to {LIMIT:,} in 80% {suite}."
        )
    return (
        f"A suite of {even} cases would settle it in at least half of reruns, {likely} in "
        f"80% {suite}."
    )
