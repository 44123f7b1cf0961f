"""Inline SVG charts for report.html: no script, no external asset, text escaped."""

from __future__ import annotations

from html import escape

from migrate.evals.results import Results
from migrate.evals.stats import quantile

OUTCOME_COLOURS = {
    "regression": ("#c62828", "regression (passes on the baseline, fails on the candidate)"),
    "improvement": ("#1565c0", "improvement"),
    "flaky": ("#ef6c00", "flaky (samples disagree)"),
    "both pass": ("#2e7d32", "passes on both"),
    "both fail": ("#9e9e9e", "fails on both"),
    "unscored": ("#212121", "not scored (errors)"),
}
MODEL_COLOURS = ["#455a64", "#8e24aa", "#00897b", "#f4511e", "#3949ab", "#6d4c41"]


def case_outcomes(results: Results, model: str) -> list[tuple[str, str]]:
    """(case id, outcome) for every case, in suite order."""
    comparison = results.comparisons[model]
    regressions, improvements = set(comparison.regressions), set(comparison.improvements)
    flaky, unscored = set(comparison.flaky), set(comparison.unscored)
    outcomes = []
    for base, cand in zip(results.by_model[results.baseline], results.by_model[model], strict=True):
        case_id = base.case.id
        if case_id in unscored:
            outcome = "unscored"
        elif case_id in regressions:
            outcome = "regression"
        elif case_id in improvements:
            outcome = "improvement"
        elif case_id in flaky:
            outcome = "flaky"
        elif (cand.pass_fraction or 0) >= 0.5:
            outcome = "both pass"
        else:
            outcome = "both fail"
        outcomes.append((case_id, outcome))
    return outcomes


def outcome_chart(results: Results, model: str, per_row: int = 50, size: int = 12) -> str:
    """One square per case, coloured by its paired outcome, with a legend and tooltips."""
    outcomes = case_outcomes(results, model)
    rows = max(1, -(-len(outcomes) // per_row))
    width = per_row * (size + 2) + 10
    legend_top = rows * (size + 2) + 16
    height = legend_top + 22 * len(OUTCOME_COLOURS)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart outcome-chart" '
        f'width="{width}" height="{height}" role="img" aria-label="per-case outcomes">'
    ]
    counts: dict[str, int] = {}
    for index, (case_id, outcome) in enumerate(outcomes):
        counts[outcome] = counts.get(outcome, 0) + 1
        x, y = 5 + (index % per_row) * (size + 2), 5 + (index // per_row) * (size + 2)
        colour = OUTCOME_COLOURS[outcome][0]
        parts.append(
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{colour}" '
            f'data-outcome="{escape(outcome)}"><title>{escape(case_id)}: '
            f"{escape(outcome)}</title></rect>"
        )
    for index, (name, (colour, label)) in enumerate(OUTCOME_COLOURS.items()):
        y = legend_top + index * 22
        parts.append(
            f'<rect x="5" y="{y}" width="14" height="14" fill="{colour}"/>'
            f'<text x="26" y="{y + 12}" font-size="13">{escape(label)}: '
            f"{counts.get(name, 0)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def latency_chart(results: Results, bins: int = 30) -> str:
    """A latency histogram per model on one shared axis, with p50 and p95 marked."""
    models = [results.baseline, *results.candidates]
    latencies = {
        m: [
            s.entry.record.latency
            for r in results.by_model[m]
            for s in r.samples
            if s.entry is not None and s.entry.record.error is None and not s.entry.cached
        ]
        for m in models
    }
    everything = [v for values in latencies.values() for v in values]
    row_height, left, plot_width = 90, 10, 640
    height = row_height * len(models) + 40
    width = left + plot_width + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart latency-chart" '
        f'width="{width}" height="{height}" role="img" aria-label="latency distributions">'
    ]
    if not everything:
        parts.append(
            '<text x="10" y="30" font-size="13">No latencies measured (every output '
            "came from the cache or failed).</text></svg>"
        )
        return "".join(parts)
    low, high = 0.0, max(everything) * 1.05 or 1.0
    step = (high - low) / bins

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * plot_width

    for row, model in enumerate(models):
        values = latencies[model]
        colour = MODEL_COLOURS[row % len(MODEL_COLOURS)]
        top = 10 + row * row_height
        counts = [0] * bins
        for value in values:
            counts[min(bins - 1, int((value - low) / step))] += 1
        peak = max(counts) or 1
        parts.append(
            f'<text x="{left}" y="{top + 12}" font-size="13">{escape(model)} '
            f"({len(values)} calls)</text>"
        )
        for index, count in enumerate(counts):
            if not count:
                continue
            bar = (row_height - 30) * count / peak
            x = x_of(low + index * step)
            parts.append(
                f'<rect x="{x:.1f}" y="{top + row_height - 10 - bar:.1f}" '
                f'width="{plot_width / bins - 1:.1f}" height="{bar:.1f}" '
                f'fill="{colour}"><title>{count} calls, {low + index * step:.2f}-'
                f"{low + (index + 1) * step:.2f}s</title></rect>"
            )
        for label, q in (("p50", 0.5), ("p95", 0.95)):
            marker = quantile(values, q)
            if marker is None:
                continue
            x = x_of(marker)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + 16}" '
                f'y2="{top + row_height - 10}" stroke="#000" stroke-dasharray="3,2"/>'
                f'<text x="{x + 3:.1f}" y="{top + 28}" font-size="11">{label} '
                f"{marker:.2f}s</text>"
            )
    axis_y = 10 + row_height * len(models)
    parts.append(
        f'<line x1="{left}" x2="{left + plot_width}" y1="{axis_y}" y2="{axis_y}" stroke="#000"/>'
    )
    for tick in range(6):
        value = low + (high - low) * tick / 5
        x = x_of(value)
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 16}" font-size="11" '
            f'text-anchor="middle">{value:.2f}s</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
