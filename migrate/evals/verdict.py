"""From two models' scored cases to a verdict: the paired diff (regressions, improvements,
flaky cases), the pass-rate difference with its interval, the other gates, and the words
that explain the decision. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate.evals.pairwise import Preference
from migrate.evals.record import CandidateSummary, GateResult, ModelMetrics, PassRateDiff, Verdict
from migrate.evals.record_pairs import PairwiseSummary
from migrate.evals.scoring import CaseResult
from migrate.evals.stats import (
    Interval,
    cases_to_settle,
    mcnemar_exact_p,
    paired_bootstrap,
    tango_interval,
)
from migrate.registry.schema import Gates

# When candidates disagree, the run's verdict is its best candidate's.
RANK = {Verdict.PASS: 3, Verdict.INCONCLUSIVE: 2, Verdict.FAIL: 1, Verdict.ERROR: 0}


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
    diff: float | None
    interval: Interval | None
    method: str
    mcnemar_p: float | None
    bootstrap: Interval | None
    gates: list[GateResult]
    cases_to_settle: int | None
    explanation: str
    preference: PairwiseSummary | None = None

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
                bootstrap_low=self.bootstrap.low if self.bootstrap else None,
                bootstrap_high=self.bootstrap.high if self.bootstrap else None,
            ),
            gates=self.gates,
            cases_to_settle=self.cases_to_settle,
            explanation=self.explanation,
            pairwise=self.preference,
        )


def _pct(value: float) -> str:
    return f"{value * 100:+.1f} pts"


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
) -> Comparison:
    """`preference`: the judge's side-by-side verdicts when the suite has a pairwise check;
    `pass_rate_measured` is False when every check is pairwise (every output then passes)."""
    regressions, improvements, flaky, unscored = [], [], [], []
    differences: list[float] = []
    better = worse = 0.0
    refusal_better = refusal_worse = 0.0
    for base, cand in zip(baseline_rows, candidate_rows, strict=True):
        b, c = base.pass_fraction, cand.pass_fraction
        if b is None or c is None:
            unscored.append(base.case.id)
            continue
        if base.flaky or cand.flaky:
            flaky.append(base.case.id)
        differences.append(c - b)
        better += max(c - b, 0.0)
        worse += max(b - c, 0.0)
        if b - c >= 0.5:
            regressions.append(base.case.id)
        elif c - b >= 0.5:
            improvements.append(base.case.id)
        rb, rc = base.refusal_fraction or 0.0, cand.refusal_fraction or 0.0
        refusal_better += max(rb - rc, 0.0)  # fewer refusals on the candidate
        refusal_worse += max(rc - rb, 0.0)
    n = len(differences)
    margin = gates.pass_rate_drop
    if n == 0:
        return Comparison(
            model,
            Verdict.INCONCLUSIVE,
            regressions,
            improvements,
            flaky,
            unscored,
            0,
            None,
            None,
            "none",
            None,
            None,
            [],
            None,
            "No case was scored on both models, so nothing can be compared.",
        )
    diff = sum(differences) / n
    interval = tango_interval(better, worse, n)
    method = "Tango score interval" + (" (exact McNemar p-value)" if samples == 1 else "")
    mcnemar = mcnemar_exact_p(round(better), round(worse)) if samples == 1 else None
    bootstrap = paired_bootstrap(differences) if samples > 1 else None
    effective = interval
    if bootstrap is not None:  # use the more cautious of the two on each side
        effective = Interval(min(interval.low, bootstrap.low), max(interval.high, bootstrap.high))

    gate_results = [
        _pass_rate_gate(diff, effective, margin)
        if pass_rate_measured
        else _gate(
            "pass_rate_drop", margin, None, "not measured",
            "every check is pairwise: the judge's side-by-side verdicts decide",
        )
    ]  # fmt: skip
    preferred = _preference(preference, samples, margin)
    if preferred is not None:
        record, gate = preferred
        gate_results.append(gate)
        regressions += [c for c in record.losses if c not in regressions]
        improvements += [c for c in record.wins if c not in improvements and c not in regressions]
    if gates.refusal_rate_increase is not None:
        gate_results.append(
            _refusal_gate(
                base_metrics,
                cand_metrics,
                refusal_better,
                refusal_worse,
                n,
                gates.refusal_rate_increase,
            )
        )
    if gates.p95_latency_increase is not None:
        gate_results.append(_latency_gate(base_metrics, cand_metrics, gates.p95_latency_increase))
    if gates.cost_increase is not None:
        gate_results.append(_cost_gate(base_metrics, cand_metrics, gates.cost_increase))

    statuses = {g.status for g in gate_results}
    if "broken" in statuses:
        verdict = Verdict.FAIL
    elif statuses <= {"holds", "not measured"}:
        verdict = Verdict.PASS
    else:
        verdict = Verdict.INCONCLUSIVE
    discordance = (better + worse) / n
    settle = (
        cases_to_settle(diff, discordance, n, margin)
        if gate_results[0].status == "unclear"
        else None
    )
    if preferred is not None and preferred[1].status == "unclear" and settle is None:
        record = preferred[0]
        if record.net is not None and record.cases:
            decided = (len(record.wins) + len(record.losses)) / record.cases
            settle = cases_to_settle(record.net, decided, record.cases, margin)
    explanation = _explain(
        verdict, diff, effective, margin, n, better + worse, settle, gate_results
    )
    if preferred is not None:
        explanation = _explain_preference(
            verdict, preferred[0], margin, explanation, settle, gate_results
        )
    return Comparison(
        model,
        verdict,
        regressions,
        improvements,
        flaky,
        unscored,
        n,
        diff,
        effective,
        method + (" and paired bootstrap" if bootstrap else ""),
        mcnemar,
        bootstrap,
        gate_results,
        settle,
        explanation,
        preferred[0] if preferred else None,
    )


def _preference(
    preference: Preference | None, samples: int, margin: float
) -> tuple[PairwiseSummary, GateResult] | None:
    """The net preference (wins - losses) / cases with the statistics of a pass-rate
    difference: Tango's score interval (and, with K > 1, the wider paired bootstrap)."""
    if preference is None:
        return None
    n = preference.n
    if n == 0:
        detail = "no case could be judged side by side (an answer or a verdict is missing)"
        return preference.to_record(None, None, "none"), _gate(
            "pairwise", margin, None, "unclear", detail
        )
    wins, losses = preference.wins, preference.losses
    net = (wins - losses) / n
    interval = tango_interval(wins, losses, n)
    method = "Tango score interval"
    if samples > 1:
        nets = [c.win_fraction - c.loss_fraction for c in preference.cases]
        boot = paired_bootstrap(nets)
        interval = Interval(min(interval.low, boot.low), max(interval.high, boot.high))
        method += " and paired bootstrap"
    record = preference.to_record(interval.low, interval.high, method)
    text = (
        f"{len(record.wins)} wins, {len(record.losses)} losses, {len(record.ties)} ties over "
        f"{n} cases: net {_pct(net)}, 95% interval [{_pct(interval.low)}, "
        f"{_pct(interval.high)}], margin -{margin * 100:.1f} pts"
    )
    if record.inconsistent_share:
        text += f"; {record.inconsistent_share * 100:.0f}% of judgements changed with the order"
    if interval.low > -margin:
        status = "holds"
    elif interval.high < -margin:
        status = "broken"
    else:
        status = "unclear"
    return record, _gate("pairwise", margin, net, status, text)


def _explain_preference(
    verdict: Verdict,
    record: PairwiseSummary,
    margin: float,
    explanation: str,
    settle: int | None,
    gates: list[GateResult],
) -> str:
    """The explanation of a run whose suite has a pairwise check, in its own terms."""
    if verdict is Verdict.FAIL or record.net is None or record.low is None:
        return explanation
    judged = (
        f"Judged side by side over {record.cases} cases, the candidate wins "
        f"{len(record.wins)}, loses {len(record.losses)} and ties {len(record.ties)}"
    )
    if verdict is Verdict.PASS:
        return (
            f"{judged}: its net preference is at worst {_pct(record.low)} (95% confidence), "
            f"inside the -{margin * 100:.1f} pts margin, and every other gate holds."
        )
    unclear = [g.name for g in gates if g.status == "unclear"]
    if "pass_rate_drop" in unclear or "pairwise" not in unclear:
        return f"{judged}. {explanation}"
    if not record.wins and not record.losses:
        parts = [
            f"{judged}, but {record.cases} cases cannot rule out a net loss of up to "
            f"{-record.low * 100:.1f} pts, more than the {margin * 100:.1f} pts margin."
        ]
    else:
        parts = [
            f"{judged}: the 95% interval of its net preference [{_pct(record.low)}, "
            f"{_pct(record.high or 0.0)}] straddles the -{margin * 100:.1f} pts margin."
        ]
    if settle:
        parts.append(
            f"About {settle} cases at the observed rates would settle it "
            f"(the suite has {record.cases}); more samples per case do not replace cases."
        )
    others = [g for g in unclear if g != "pairwise"]
    if others:
        parts.append(f"Unclear gates: {', '.join(others)}.")
    return " ".join(parts)


def _pass_rate_gate(diff: float, interval: Interval, margin: float) -> GateResult:
    text = (
        f"difference {_pct(diff)}, 95% interval [{_pct(interval.low)}, "
        f"{_pct(interval.high)}], margin -{margin * 100:.1f} pts"
    )
    if interval.low > -margin:
        return _gate("pass_rate_drop", margin, diff, "holds", text)
    if interval.high < -margin:
        return _gate("pass_rate_drop", margin, diff, "broken", text)
    return _gate("pass_rate_drop", margin, diff, "unclear", text)


def _refusal_gate(
    base: ModelMetrics, cand: ModelMetrics, better: float, worse: float, n: int, limit: float
) -> GateResult:
    increase = (worse - better) / n
    # Tango on "refused" flags: worse = the candidate refuses where the baseline did not.
    interval = tango_interval(worse, better, n)
    text = (
        f"refusals {_rate(base.refusal_rate)} -> {_rate(cand.refusal_rate)} "
        f"(increase {_pct(increase)}, 95% interval [{_pct(interval.low)}, "
        f"{_pct(interval.high)}], limit +{limit * 100:.1f} pts)"
    )
    if increase <= limit:
        return _gate("refusal_rate_increase", limit, increase, "holds", text)
    if interval.low > limit:
        return _gate("refusal_rate_increase", limit, increase, "broken", text)
    return _gate("refusal_rate_increase", limit, increase, "unclear", text)


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
    # A slow tail alone can be noise; a median that is slower by the same margin is not.
    if base.latency_p50 and cand.latency_p50 and cand.latency_p50 / base.latency_p50 - 1 > limit:
        return _gate(
            "p95_latency_increase",
            limit,
            relative,
            "broken",
            text + "; the median is slower by as much",
        )
    return _gate(
        "p95_latency_increase",
        limit,
        relative,
        "unclear",
        text + "; the median is not, so this may be noise",
    )


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


def _explain(
    verdict: Verdict,
    diff: float,
    interval: Interval,
    margin: float,
    n: int,
    disagreements: float,
    settle: int | None,
    gates: list[GateResult],
) -> str:
    unclear = [g.name for g in gates if g.status == "unclear"]
    if verdict is Verdict.FAIL:
        details = "; ".join(f"{g.name}: {g.detail}" for g in gates if g.status == "broken")
        return f"The data shows the candidate is worse than the gates allow ({details})."
    if verdict is Verdict.PASS:
        return (
            f"Over {n} cases the candidate's pass rate is at worst "
            f"{_pct(interval.low)} against the baseline (95% confidence), inside the "
            f"-{margin * 100:.1f} pts margin, and every other gate holds."
        )
    parts = []
    if "pass_rate_drop" in unclear:
        if disagreements == 0:
            parts.append(
                f"The two models agreed on all {n} cases, but {n} cases cannot rule out a "
                f"drop of up to {-interval.low * 100:.1f} pts, more than the "
                f"{margin * 100:.1f} pts margin."
            )
        else:
            parts.append(
                f"The 95% interval [{_pct(interval.low)}, {_pct(interval.high)}] straddles the "
                f"-{margin * 100:.1f} pts margin."
            )
        if settle:
            parts.append(
                f"About {settle} cases at the observed rates would settle it "
                f"(the suite has {n}); more samples per case do not replace cases."
            )
    others = [g for g in unclear if g != "pass_rate_drop"]
    if others:
        parts.append(f"Unclear gates: {', '.join(others)}.")
    return " ".join(parts) or "The data cannot show the candidate is within the margin."
