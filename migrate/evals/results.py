"""A run's results: every model scored, measured and compared, the run's verdict, and the
drift of the current model since its previous baseline. Pure: journal entries in, results
out; `summarize` turns them into the run's summary record.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from migrate.console import plural
from migrate.evals.case import Case, CheckSpec
from migrate.evals.grading import EMBEDDING, Graders
from migrate.evals.metrics import model_metrics
from migrate.evals.pairwise import Preference, preference
from migrate.evals.record import (
    Calls,
    Drift,
    Entry,
    EntryKey,
    Manifest,
    ModelMetrics,
    Models,
    SuiteSummary,
    Summary,
    Verdict,
)
from migrate.evals.record_calls import DeploymentCalls
from migrate.evals.record_pairs import SimilaritySummary
from migrate.evals.scoring import CaseResult, score_model
from migrate.evals.similarity import similarity
from migrate.evals.stages import ALPHA
from migrate.evals.verdict import RANK, Comparison, compare, margin_decisions
from migrate.registry.schema import Gates


@dataclass
class Results:
    baseline: str
    candidates: list[str]
    samples: int
    by_model: dict[str, list[CaseResult]]
    metrics: dict[str, ModelMetrics]
    comparisons: dict[str, Comparison]
    verdict: Verdict
    infrastructure_failure: str | None
    drift: Drift
    preferences: dict[str, Preference | None] = field(default_factory=dict)
    similarity: dict[str, SimilaritySummary] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def outcomes(self) -> dict[str, dict[str, float | None]]:
        return {
            model: {r.case.id: r.pass_fraction for r in rows}
            for model, rows in self.by_model.items()
        }


def drift(
    previous_run: str | None, previous: dict[str, float | None] | None, rows: list[CaseResult]
) -> Drift:
    """Cases whose outcome on the current model changed since its previous baseline."""
    if previous_run is None or previous is None:
        return Drift()
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
    messages: dict[str, list[dict[str, str]]] | None = None,
    params: dict[str, dict[str, Any]] | None = None,  # by model: what its calls were sent
    graders: Graders | None = None,  # promptfoo's graders (see grading.py)
    alpha: float = ALPHA,  # two-sided error of the margin tests: a sequential look's, or 0.05
) -> Results:
    models = [baseline, *candidates]
    by_model = {
        m: score_model(
            m,
            cases,
            samples,
            checks_for,
            entries,
            judge_model,
            messages,
            (params or {}).get(m),
            graders,
        )
        for m in models
    }
    metrics = {m: model_metrics(rows, samples) for m, rows in by_model.items()}
    failing = [m for m in models if metrics[m].error_rate > max_error_rate]
    infrastructure = None
    if failing:
        infrastructure = "; ".join(
            f"{m}: {metrics[m].errors} of {metrics[m].samples} calls failed "
            f"({metrics[m].error_rate * 100:.0f}% > {max_error_rate * 100:.0f}% allowed): "
            + error_breakdown(metrics[m])
            for m in failing
        )
    preferences = {
        m: preference(baseline, m, cases, samples, checks_for, entries, judge_model)
        for m in candidates
    }
    per_output = any(s.type != "pairwise" for specs in checks_for.values() for s in specs)
    unjudged = [
        f"{m}: {p.judge_errors} of {p.judge_errors + p.pairs} side-by-side pairs have no "
        f"readable verdict from {judge_model} "
        f"({p.judge_errors / (p.judge_errors + p.pairs) * 100:.0f}% > "
        f"{max_error_rate * 100:.0f}% allowed)"
        for m, p in preferences.items()
        if p is not None and p.judge_errors > max_error_rate * (p.judge_errors + p.pairs)
    ]
    if unjudged:
        infrastructure = "; ".join([*([infrastructure] if infrastructure else []), *unjudged])
    # With several candidates each gate is Holm-adjusted across them (see margin_decisions).
    pass_rates, pairwise = (
        margin_decisions(
            by_model[baseline],
            {m: by_model[m] for m in candidates},
            preferences,
            samples,
            gates.pass_rate_drop,
            alpha,
        )
        if len(candidates) > 1 or alpha != ALPHA
        else ({}, {})
    )
    comparisons = {
        m: compare(
            by_model[baseline],
            by_model[m],
            m,
            metrics[baseline],
            metrics[m],
            gates,
            samples,
            preference=preferences[m],
            pass_rate_measured=per_output,
            decisions=(pass_rates.get(m), pairwise.get(m)),
            family=len(candidates),
            alpha=alpha,
        )
        for m in candidates
    }
    if infrastructure:
        verdict = Verdict.ERROR
        for comparison in comparisons.values():
            # The comparison's own explanation would state a verdict the data cannot carry.
            comparison.verdict = Verdict.ERROR
            comparison.settlement = None
            comparison.explanation = (
                "Too many calls failed to judge this candidate; the comparison below covers "
                f"only the {plural(comparison.paired_cases, 'case')} scored on both models."
            )
    elif not comparisons:
        verdict = Verdict.BASELINE
    else:
        verdict = max((c.verdict for c in comparisons.values()), key=lambda v: RANK[v])
    previous_run, previous_outcomes = previous_baseline or (None, None)
    embedding = graders.named.get(EMBEDDING) if graders is not None else None
    embedder = embedding.model if embedding is not None else None
    return Results(
        baseline=baseline,
        candidates=candidates,
        samples=samples,
        by_model=by_model,
        metrics=metrics,
        comparisons=comparisons,
        verdict=verdict,
        infrastructure_failure=infrastructure,
        drift=drift(previous_run, previous_outcomes, by_model[baseline]),
        preferences=preferences,
        similarity={
            m: similarity(baseline, m, by_model[baseline], samples, entries, embedder)
            for m in candidates
        },
    )


def error_breakdown(metrics: ModelMetrics) -> str:
    """Each error class with its count and first message, e.g. `AuthenticationError x1
    ("Incorrect API key provided"), NotAttempted x79`."""
    parts = []
    for kind, count in sorted(metrics.errors_by_class.items(), key=lambda kv: (-kv[1], kv[0])):
        message = metrics.error_messages.get(kind)
        parts.append(f"{kind} x{count}" + (f' ("{message}")' if message else ""))
    return ", ".join(parts)


def summarize(
    manifest: Manifest,
    results: Results,
    journal: list[Entry],
    finished: dt.datetime,
    made_this_time: int,
) -> Summary:
    """The run's summary record: what was asked, what was found, and the calls it took."""
    refused: Counter[str] = Counter()
    for entry in journal:  # every entry: a call redone after an error was refused too
        if not entry.cached and entry.record.rate_limited:
            refused[entry.model] += entry.record.rate_limited
    metrics = {
        model: m.model_copy(update={"rate_limited": refused[model]})
        for model, m in results.metrics.items()
    }
    return Summary(
        run_id=manifest.run_id,
        dependency=manifest.dependency,
        quarter=manifest.quarter,
        started_at=manifest.started_at,
        finished_at=finished.isoformat(timespec="seconds"),
        models=Models(
            baseline=manifest.baseline.model,
            candidates=[c.model for c in manifest.candidates],
            judge=manifest.judge.model if manifest.judge else None,
        ),
        suite=SuiteSummary(**manifest.suite.model_dump(), samples=manifest.samples),
        verdict=results.verdict,
        exit_code=results.exit_code,
        infrastructure_failure=results.infrastructure_failure,
        metrics=metrics,
        candidates={
            m: c.to_record().model_copy(update={"similarity": results.similarity.get(m)})
            for m, c in results.comparisons.items()
        },
        drift=results.drift,
        outcomes=results.outcomes(),
        calls=Calls(
            journaled=len(journal),
            cached=sum(1 for e in journal if e.cached),
            errors=sum(1 for e in journal if e.record.error is not None),
            made_this_time=made_this_time,
            cost=run_cost(journal),
            rate_limited=dict(sorted(refused.items())),
            deployments=deployment_calls(journal),
        ),
        reproducibility=manifest.reproducibility,
    )


def run_cost(journal: list[Entry]) -> float | None:
    """USD of the calls this run made (not those served from the cache): generations,
    judges and promptfoo's graders. The models' own cost per case counts only their
    generations. None when a call's price is unknown."""
    costs = [e.record.cost for e in journal if not e.cached and e.record.error is None]
    if any(c is None for c in costs):
        return None
    return sum(c for c in costs if c is not None)


def deployment_calls(journal: list[Entry]) -> dict[str, dict[str, DeploymentCalls]]:
    """Each deployment's calls, errors and 429s, by model, over the calls the run made."""
    shares: dict[str, dict[str, DeploymentCalls]] = {}
    for entry in journal:
        record = entry.record
        if entry.cached or not (record.deployment or record.refused_by):
            continue
        model = shares.setdefault(entry.model, {})
        if record.deployment:
            share = model.setdefault(record.deployment, DeploymentCalls())
            share.calls += 1
            share.errors += record.error is not None
        for name, refusals in record.refused_by.items():
            model.setdefault(name, DeploymentCalls()).rate_limited += refusals
    return {m: dict(sorted(d.items())) for m, d in sorted(shares.items())}
