"""Per-model metrics of a run: pass rate with its interval, refusals, JSON validity, output
length, latency and cost. Errors are counted apart from failures."""

from __future__ import annotations

from collections import Counter
from statistics import median

from migrate.evals.record import ModelMetrics
from migrate.evals.scoring import CaseResult, Sample
from migrate.evals.stats import quantile, wilson


def first_messages(errored: list[Sample]) -> dict[str, str]:
    """The first message of each error class, as the provider or the seam said it."""
    messages: dict[str, str] = {}
    for sample in errored:
        record = sample.entry.record if sample.entry is not None else None
        if record and record.error and record.error_message and sample.error == record.error:
            messages.setdefault(record.error, " ".join(record.error_message.split())[:300])
    return messages


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
    latencies = [e.record.latency for e in done if e.record.latency is not None]
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
        error_messages=first_messages(errored),
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
