"""Inline SVG charts for report.html: no script, no external asset, text escaped."""

from __future__ import annotations

from html import escape

from migrate.console import plural
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
STATUS_COLOURS = {"holds": "#2e7d32", "broken": "#c62828", "unclear": "#ef6c00"}
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
            if s.entry is not None
            and s.entry.record.error is None
            and not s.entry.cached
            and s.entry.record.latency is not None  # a batch call's is not measured
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
            f"({plural(len(values), 'call')})</text>"
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


def _ticks(low: float, high: float) -> list[float]:
    """Round values (in points: 1, 2, 5, 10, 20, 50) across [low, high], zero among them."""
    span = (high - low) * 100
    step = next((s for s in (1, 2, 5, 10, 20, 50) if span / s <= 8), 100)
    first = -(-low * 100 // step) * step
    ticks, value = [], first
    while value <= high * 100 + 1e-9:
        ticks.append(value / 100)
        value += step
    return ticks


def forest_plot(results: Results) -> str:
    """Each candidate's pass-rate difference and interval against the margin and zero: the
    decision as a picture. An interval right of the dashed margin line holds the gate, one
    left of it breaks it, one across it is unclear."""
    rows = [(m, results.comparisons[m]) for m in results.candidates]
    drawn = [(m, c) for m, c in rows if c.interval is not None and c.diff is not None]
    margin = rows[0][1].margin if rows else 0.0
    row_height, left, plot_width, top = 46, 20, 640, 34
    height = top + row_height * max(1, len(rows)) + 34
    width = left + plot_width + 40
    family = max((c.family for _, c in rows), default=1)
    caption = (
        f"Holm-adjusted across {family} candidates: each interval at the level its "
        "decision was made at"
        if family > 1
        else "95% interval of the candidate's pass rate minus the baseline's"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart forest-plot" width="{width}" '
        f'height="{height}" role="img" aria-label="pass-rate difference against the margin">',
        f'<text x="{left}" y="14" font-size="12">{escape(caption)}</text>',
    ]
    ends = [-margin, 0.0]
    for _, c in drawn:
        assert c.interval is not None
        ends += [c.interval.low, c.interval.high]
    span = max(max(ends) - min(ends), 0.02)
    low = max(-1.0, min(ends) - 0.08 * span)
    high = min(1.0, max(ends) + 0.08 * span)

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * plot_width

    bottom = top + row_height * max(1, len(rows))
    parts.append(
        f'<rect x="{left}" y="{top - 6}" width="{x_of(-margin) - left:.1f}" '
        f'height="{bottom - top + 6}" fill="#fdecea"><title>a drop larger than the margin'
        "</title></rect>"
    )
    # The margin's label ends left of its line and zero's starts right of its own, so the
    # two never overlap however close they are.
    for kind, value, colour, dash, label, anchor, shift in (
        ("zero", 0.0, "#616161", "", "0", "start", 3),
        ("margin", -margin, "#c62828", ' stroke-dasharray="5,3"', f"margin -{margin * 100:.1f} pts",
         "end", -3),
    ):  # fmt: skip
        x = x_of(value)
        parts.append(
            f'<line class="{kind}" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{bottom}" '
            f'stroke="{colour}"{dash}/><text x="{x + shift:.1f}" y="{top - 9}" font-size="11" '
            f'text-anchor="{anchor}" fill="{colour}">{escape(label)}</text>'
        )
    for index, (model, c) in enumerate(rows):
        y = top + index * row_height
        if c.interval is None or c.diff is None:
            parts.append(
                f'<text x="{left}" y="{y + 14}" font-size="12">{escape(model)}: not '
                "compared (no case scored on both models)</text>"
            )
            continue
        status = c.gates[0].status if c.gates else "unclear"
        colour = STATUS_COLOURS.get(status, "#616161")
        level = f"{c.level * 100:.4g}%"
        text = (
            f"{model}: {c.diff * 100:+.1f} pts, {level} interval "
            f"[{c.interval.low * 100:+.1f}, {c.interval.high * 100:+.1f}] pts: {status}"
        )
        x_low, x_high, x_mid = x_of(c.interval.low), x_of(c.interval.high), x_of(c.diff)
        line_y = y + 28
        parts.append(
            f'<g class="candidate" data-status="{escape(status)}"><title>{escape(text)}</title>'
            f'<text x="{left}" y="{y + 12}" font-size="12">{escape(text)}</text>'
            f'<line x1="{x_low:.1f}" x2="{x_high:.1f}" y1="{line_y}" y2="{line_y}" '
            f'stroke="{colour}" stroke-width="3"/>'
            f'<line x1="{x_low:.1f}" x2="{x_low:.1f}" y1="{line_y - 6}" y2="{line_y + 6}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{x_high:.1f}" x2="{x_high:.1f}" y1="{line_y - 6}" y2="{line_y + 6}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<rect x="{x_mid - 5:.1f}" y="{line_y - 5}" width="10" height="10" '
            f'fill="{colour}" transform="rotate(45 {x_mid:.1f} {line_y})"/></g>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_width}" y1="{bottom}" y2="{bottom}" stroke="#000"/>'
    )
    for tick in _ticks(low, high):
        parts.append(
            f'<text class="tick" x="{x_of(tick):.1f}" y="{bottom + 15}" font-size="11" '
            f'text-anchor="middle">{f"{tick * 100:+g}" if tick else "0"}</text>'
        )
    parts.append(
        f'<text x="{left + plot_width / 2:.0f}" y="{bottom + 30}" font-size="11" '
        'text-anchor="middle">candidate minus baseline pass rate, points</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
