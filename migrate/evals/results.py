"""From journal entries to metrics, paired diffs, gates and a verdict. Pure.

Errors (calls that failed after retries, judge failures) are kept apart from check
failures: an errored sample is not scored, and a case with no scored sample on either
side drops out of the paired comparison and is listed as unscored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from migrate.evals.checks import JudgeVerdict, Score, parse_json, score
from migrate.evals.journal import Entry, EntryKey
from migrate.evals.stats import (
    Interval,
    cases_to_settle,
    mcnemar_exact_p,
    paired_bootstrap,
    quantile,
    tango_interval,
    wilson,
)
from migrate.evals.suite import Case, CheckSpec
from migrate.registry.schema import Gates

PASS, FAIL, INCONCLUSIVE, ERROR, BASELINE = "PASS", "FAIL", "INCONCLUSIVE", "ERROR", "BASELINE"
EXIT_CODES = {PASS: 0, BASELINE: 0, FAIL: 1, INCONCLUSIVE: 3, ERROR: 4}
_RANK = {PASS: 3, INCONCLUSIVE: 2, FAIL: 1, ERROR: 0}


@dataclass
class Sample:
    index: int
    entry: Entry | None  # None: never recorded (the run did not finish)
    score: Score | None  # None when the call or its judge errored
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None or self.score is None:
            return "error"
        return "pass" if self.score.passed else "fail"


@dataclass
class CaseResult:
    case: Case
    samples: list[Sample]

    @property
    def scored(self) -> list[Sample]:
        return [s for s in self.samples if s.status != "error"]

    @property
    def pass_fraction(self) -> float | None:
        scored = self.scored
        if not scored:
            return None
        return sum(s.status == "pass" for s in scored) / len(scored)

    @property
    def refusal_fraction(self) -> float | None:
        scored = self.scored
        if not scored:
            return None
        return sum(bool(s.score and s.score.refusal) for s in scored) / len(scored)

    @property
    def flaky(self) -> bool:
        statuses = {s.status for s in self.scored}
        return statuses == {"pass", "fail"}


@dataclass
class ModelMetrics:
    cases: int
    samples: int
    scored: int
    errors: int
    error_rate: float
    errors_by_class: dict[str, int]
    pass_rate: float | None
    pass_rate_low: float | None
    pass_rate_high: float | None
    refusal_rate: float | None
    json_valid_rate: float | None
    output_tokens_median: float | None
    output_tokens_p95: float | None
    output_chars_median: float | None
    latency_p50: float | None
    latency_p95: float | None
    cost_total: float | None
    cost_per_case: float | None
    cost_known: bool
    calls_cached: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class GateResult:
    name: str
    threshold: float | None
    observed: float | None
    status: str  # holds | broken | unclear | not measured
    detail: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Comparison:
    model: str
    verdict: str
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

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "regressions": self.regressions,
            "improvements": self.improvements,
            "flaky": self.flaky,
            "unscored": self.unscored,
            "paired_cases": self.paired_cases,
            "pass_rate_diff": {
                "estimate": self.diff,
                "low": self.interval.low if self.interval else None,
                "high": self.interval.high if self.interval else None,
                "method": self.method,
                "mcnemar_exact_p": self.mcnemar_p,
                "bootstrap_low": self.bootstrap.low if self.bootstrap else None,
                "bootstrap_high": self.bootstrap.high if self.bootstrap else None,
            },
            "gates": [g.to_json() for g in self.gates],
            "cases_to_settle": self.cases_to_settle,
            "explanation": self.explanation,
        }


@dataclass
class Drift:
    previous_run: str | None
    common_cases: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    previous_pass_rate: float | None = None
    current_pass_rate: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Results:
    baseline: str
    candidates: list[str]
    samples: int
    by_model: dict[str, list[CaseResult]]
    metrics: dict[str, ModelMetrics]
    comparisons: dict[str, Comparison]
    verdict: str
    infrastructure_failure: str | None
    drift: Drift

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def outcomes(self) -> dict[str, dict[str, float | None]]:
        return {
            model: {r.case.id: r.pass_fraction for r in rows}
            for model, rows in self.by_model.items()
        }


def parse_judge(text: str | None) -> JudgeVerdict | None:
    """Read a judge's reply: JSON with a pass/fail verdict, or a leading PASS/FAIL word."""
    if not text:
        return None
    ok, data = parse_json(text)
    if ok and isinstance(data, dict):
        verdict = data.get("verdict", data.get("pass"))
        reasoning = str(data.get("reasoning", data.get("reason", "")))
        if isinstance(verdict, bool):
            return JudgeVerdict(verdict, reasoning)
        if isinstance(verdict, str) and verdict.strip().lower() in {"pass", "fail"}:
            return JudgeVerdict(verdict.strip().lower() == "pass", reasoning)
    head = text.strip().split(None, 1)
    if head and head[0].strip(".:*").upper() in {"PASS", "FAIL"}:
        return JudgeVerdict(
            head[0].strip(".:*").upper() == "PASS", head[1] if len(head) > 1 else ""
        )
    return None


def judge_extra(model: str, check_index: int) -> str:
    return f"{model}|{check_index}"


def score_model(
    model: str,
    cases: list[Case],
    samples: int,
    checks_for: dict[str, list[CheckSpec]],
    entries: dict[EntryKey, Entry],
    judge_model: str | None,
) -> list[CaseResult]:
    results = []
    for case in cases:
        checks = checks_for[case.id]
        rows = []
        for index in range(samples):
            entry = entries.get(("generate", model, case.id, index, ""))
            if entry is None:
                rows.append(Sample(index, None, None, "NotRun"))
                continue
            if entry.record.error is not None:
                rows.append(Sample(index, entry, None, entry.record.error))
                continue
            judges: dict[str, JudgeVerdict] = {}
            judge_error = None
            for check_index, spec in enumerate(checks):
                if spec.type != "llm_judge":
                    continue
                judged = entries.get(
                    ("judge", judge_model or "", case.id, index, judge_extra(model, check_index))
                )
                verdict = parse_judge(judged.record.text) if judged else None
                if verdict is None:
                    judge_error = (
                        "JudgeError"
                        if judged is None or judged.record.error is None
                        else f"Judge{judged.record.error}"
                    )
                    break
                judges[f"judge-{check_index}"] = verdict
            if judge_error:
                rows.append(Sample(index, entry, None, judge_error))
                continue
            rows.append(Sample(index, entry, score(entry.record.text or "", case, checks, judges)))
        results.append(CaseResult(case, rows))
    return results


def model_metrics(rows: list[CaseResult], samples: int) -> ModelMetrics:
    all_samples = [s for r in rows for s in r.samples]
    scored = [s for s in all_samples if s.status != "error"]
    errored = [s for s in all_samples if s.status == "error"]
    fractions = [f for f in (r.pass_fraction for r in rows) if f is not None]
    refusals = [f for f in (r.refusal_fraction for r in rows) if f is not None]
    pass_rate = sum(fractions) / len(fractions) if fractions else None
    # The case is the unit: K samples of one case are not K independent observations.
    interval = wilson(sum(fractions), len(fractions)) if fractions else None
    done = [s.entry for s in all_samples if s.entry is not None and s.entry.record.error is None]
    tokens = [
        float(e.record.completion_tokens) for e in done if e.record.completion_tokens is not None
    ]
    latencies = [e.record.latency for e in done]
    costs = [e.record.cost for e in done]
    cost_known = bool(done) and all(c is not None for c in costs)
    cost_total = sum(c for c in costs if c is not None) if cost_known else None
    cases_with_output = len(
        {
            id(r)
            for r in rows
            if any(s.entry is not None and s.entry.record.error is None for s in r.samples)
        }
    )
    return ModelMetrics(
        cases=len(rows),
        samples=len(all_samples),
        scored=len(scored),
        errors=len(errored),
        error_rate=len(errored) / len(all_samples) if all_samples else 0.0,
        errors_by_class=dict(Counter(s.error or "unknown" for s in errored)),
        pass_rate=pass_rate,
        pass_rate_low=interval.low if interval else None,
        pass_rate_high=interval.high if interval else None,
        refusal_rate=sum(refusals) / len(refusals) if refusals else None,
        json_valid_rate=(
            sum(bool(s.score and s.score.json_valid) for s in scored) / len(scored)
            if scored
            else None
        ),
        output_tokens_median=median(tokens) if tokens else None,
        output_tokens_p95=quantile(tokens, 0.95),
        output_chars_median=(median(len(e.record.text or "") for e in done) if done else None),
        latency_p50=quantile(latencies, 0.5),
        latency_p95=quantile(latencies, 0.95),
        cost_total=cost_total,
        cost_per_case=(
            cost_total / cases_with_output if cost_total is not None and cases_with_output else None
        ),
        cost_known=cost_known,
        calls_cached=sum(1 for e in done if e.cached),
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
) -> Comparison:
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
            INCONCLUSIVE,
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

    gate_results = [_pass_rate_gate(diff, effective, margin)]
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
        verdict = FAIL
    elif statuses <= {"holds", "not measured"}:
        verdict = PASS
    else:
        verdict = INCONCLUSIVE
    discordance = (better + worse) / n
    settle = (
        cases_to_settle(diff, discordance, n, margin)
        if gate_results[0].status == "unclear"
        else None
    )
    explanation = _explain(
        verdict, diff, effective, margin, n, better + worse, settle, gate_results
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
    )


def _pass_rate_gate(diff: float, interval: Interval, margin: float) -> GateResult:
    text = (
        f"difference {_pct(diff)}, 95% interval [{_pct(interval.low)}, "
        f"{_pct(interval.high)}], margin -{margin * 100:.1f} pts"
    )
    if interval.low > -margin:
        return GateResult("pass_rate_drop", margin, diff, "holds", text)
    if interval.high < -margin:
        return GateResult("pass_rate_drop", margin, diff, "broken", text)
    return GateResult("pass_rate_drop", margin, diff, "unclear", text)


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
        return GateResult("refusal_rate_increase", limit, increase, "holds", text)
    if interval.low > limit:
        return GateResult("refusal_rate_increase", limit, increase, "broken", text)
    return GateResult("refusal_rate_increase", limit, increase, "unclear", text)


def _latency_gate(base: ModelMetrics, cand: ModelMetrics, limit: float) -> GateResult:
    if not base.latency_p95 or cand.latency_p95 is None:
        return GateResult(
            "p95_latency_increase", limit, None, "not measured", "no latency measured"
        )
    relative = cand.latency_p95 / base.latency_p95 - 1
    text = (
        f"p95 {base.latency_p95:.2f}s -> {cand.latency_p95:.2f}s "
        f"({relative * 100:+.0f}%, limit +{limit * 100:.0f}%)"
    )
    if relative <= limit:
        return GateResult("p95_latency_increase", limit, relative, "holds", text)
    # A slow tail alone can be noise; a median that is slower by the same margin is not.
    if base.latency_p50 and cand.latency_p50 and cand.latency_p50 / base.latency_p50 - 1 > limit:
        return GateResult(
            "p95_latency_increase",
            limit,
            relative,
            "broken",
            text + "; the median is slower by as much",
        )
    return GateResult(
        "p95_latency_increase",
        limit,
        relative,
        "unclear",
        text + "; the median is not, so this may be noise",
    )


def _cost_gate(base: ModelMetrics, cand: ModelMetrics, limit: float) -> GateResult:
    if base.cost_per_case is None or cand.cost_per_case is None:
        return GateResult(
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
    return GateResult("cost_increase", limit, relative, status, text)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _explain(
    verdict: str,
    diff: float,
    interval: Interval,
    margin: float,
    n: int,
    disagreements: float,
    settle: int | None,
    gates: list[GateResult],
) -> str:
    unclear = [g.name for g in gates if g.status == "unclear"]
    if verdict == FAIL:
        details = "; ".join(f"{g.name}: {g.detail}" for g in gates if g.status == "broken")
        return f"The data shows the candidate is worse than the gates allow ({details})."
    if verdict == PASS:
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


def drift(
    previous_run: str | None, previous: dict[str, float | None] | None, rows: list[CaseResult]
) -> Drift:
    """Cases whose outcome on the current model changed since its previous baseline."""
    if previous_run is None or previous is None:
        return Drift(previous_run=None)
    changed = []
    before_values, after_values = [], []
    for row in rows:
        before = previous.get(row.case.id)
        after = row.pass_fraction
        if before is None or after is None:
            continue
        before_values.append(before)
        after_values.append(after)
        if abs(after - before) >= 0.5 or (
            before in (0.0, 1.0) and after in (0.0, 1.0) and before != after
        ):
            changed.append({"case": row.case.id, "before": before, "after": after})
    return Drift(
        previous_run=previous_run,
        common_cases=len(before_values),
        changed=changed,
        previous_pass_rate=sum(before_values) / len(before_values) if before_values else None,
        current_pass_rate=sum(after_values) / len(after_values) if after_values else None,
    )


def evaluate(
    *,
    baseline: str,
    candidates: list[str],
    cases: list[Case],
    samples: int,
    checks_for: dict[str, list[CheckSpec]],
    entries: dict[EntryKey, Entry],
    judge_model: str | None,
    gates: Gates,
    max_error_rate: float,
    previous_baseline: tuple[str, dict[str, float | None]] | None = None,
) -> Results:
    models = [baseline, *candidates]
    by_model = {m: score_model(m, cases, samples, checks_for, entries, judge_model) for m in models}
    metrics = {m: model_metrics(rows, samples) for m, rows in by_model.items()}
    failing = [m for m in models if metrics[m].error_rate > max_error_rate]
    infrastructure = None
    if failing:
        infrastructure = "; ".join(
            f"{m}: {metrics[m].errors} of {metrics[m].samples} calls failed "
            f"({metrics[m].error_rate * 100:.0f}% > {max_error_rate * 100:.0f}% allowed; "
            + ", ".join(f"{k} x{v}" for k, v in sorted(metrics[m].errors_by_class.items()))
            + ")"
            for m in failing
        )
    comparisons = {
        m: compare(
            by_model[baseline], by_model[m], m, metrics[baseline], metrics[m], gates, samples
        )
        for m in candidates
    }
    if infrastructure:
        verdict = ERROR
        for comparison in comparisons.values():
            # The comparison's own explanation would state a verdict the data cannot carry.
            comparison.verdict = ERROR
            comparison.cases_to_settle = None
            comparison.explanation = (
                "Too many calls failed to judge this candidate; the comparison below covers "
                f"only the {comparison.paired_cases} cases scored on both models."
            )
    elif not comparisons:
        verdict = BASELINE
    else:
        verdict = max((c.verdict for c in comparisons.values()), key=lambda v: _RANK[v])
    previous_run, previous_outcomes = previous_baseline or (None, None)
    return Results(
        baseline,
        candidates,
        samples,
        by_model,
        metrics,
        comparisons,
        verdict,
        infrastructure,
        drift(previous_run, previous_outcomes, by_model[baseline]),
    )


def results_json(results: Results) -> dict[str, Any]:
    return {
        "verdict": results.verdict,
        "exit_code": results.exit_code,
        "infrastructure_failure": results.infrastructure_failure,
        "metrics": {m: v.to_json() for m, v in results.metrics.items()},
        "candidates": {m: c.to_json() for m, c in results.comparisons.items()},
        "drift": results.drift.to_json(),
        "outcomes": results.outcomes(),
    }
