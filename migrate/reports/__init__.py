"""A run's reports: report.md for a pull request, report.html (one self-contained page with
charts), junit.xml for CI dashboards. All are derived from the results; nothing calls a model.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

from migrate.cases.health import SuiteHealth, health_of, suite_lines
from migrate.evals import rundir
from migrate.evals.inputs import RunInputs
from migrate.evals.power import smallest_drop_ruled_out, suite_reach
from migrate.evals.record import Summary, read_summary, try_read
from migrate.evals.results import Results
from migrate.evals.sequential import stopping_text
from migrate.evals.stats import level_text
from migrate.evals.verdict import Comparison
from migrate.files import write_atomic
from migrate.reports.charts import forest_plot, latency_chart, outcome_chart
from migrate.reports.junit import junit_xml

OUTPUT_PREVIEW = 4000  # characters of a model output shown in a report


def fence(text: Any, lang: str = "") -> str:
    """A Markdown code block that the content cannot close, whatever backticks it holds."""
    body = str(text if text is not None else "")
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def code(text: Any) -> str:
    """A Markdown inline code span that the content cannot close, on one line."""
    body = " ".join(str(text if text is not None else "").split())
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def pre(text: Any) -> str:
    """Text for a `<pre>` inside a Markdown file's HTML block: escaped, and on one line.

    A blank line ends an HTML block in Markdown, so a model output with one would let the
    rest of it (a `# heading`, a ``` fence) be read as Markdown and take over the report;
    line breaks become `&#10;`, which the browser shows as line breaks.
    """
    escaped = html.escape(str(text if text is not None else ""), quote=True)
    return escaped.replace("\r\n", "&#10;").replace("\n", "&#10;").replace("\r", "&#13;")


def cell(text: Any) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    value = " ".join(str(text if text is not None else "-").split())
    return value.replace("|", "\\|")


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def _output(entry: Any) -> str:
    if entry is None:
        return "(not run)"
    record = entry.record
    if record.error:
        return f"(error: {record.error}: {record.error_message or ''})"
    text = record.text or ""
    return text if len(text) <= OUTPUT_PREVIEW else text[:OUTPUT_PREVIEW] + "\n[... truncated]"


def _input_text(messages: list[dict[str, str]]) -> str:
    user = [m["content"] for m in messages if m["role"] == "user"]
    return user[-1] if user else ""


def _side_by_side(
    results: Results, inputs: RunInputs, model: str, case_ids: list[str]
) -> list[dict[str, Any]]:
    base_rows = {r.case.id: r for r in results.by_model[results.baseline]}
    cand_rows = {r.case.id: r for r in results.by_model[model]}
    pairwise = results.comparisons[model].preference
    judged = {d.case: d for d in (pairwise.details if pairwise else [])}
    rows = []
    for case_id in case_ids:
        base, cand = base_rows[case_id], cand_rows[case_id]
        rows.append(
            {
                "id": case_id,
                "input": _input_text(inputs.messages[case_id]),
                "vars": base.case.vars,
                "expected": base.case.expected,
                "baseline_output": _output(base.samples[0].entry),
                "candidate_output": _output(cand.samples[0].entry),
                "baseline_pass": base.pass_fraction,
                "candidate_pass": cand.pass_fraction,
                "failed_checks": sorted(
                    {c for s in cand.samples if s.score for c in s.score.failed}
                ),
                # the judge's side-by-side verdicts, when the case was judged that way
                "judgements": [j.model_dump() for j in judged[case_id].judgements]
                if case_id in judged
                else [],
            }
        )
    return rows


def error_lines(results: Results) -> list[dict[str, Any]]:
    """Each model's error classes with their count and first message, most frequent first."""
    lines = []
    for model, metrics in results.metrics.items():
        by_count = sorted(metrics.errors_by_class.items(), key=lambda kv: (-kv[1], kv[0]))
        for kind, count in by_count:
            message = metrics.error_messages.get(kind)
            if kind == "NotAttempted":
                message = "not called: the run stopped calling this model after the errors above"
            lines.append({"model": model, "kind": kind, "count": count, "message": message})
    return lines


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def difference_line(comparison: Comparison) -> str:
    """The forest plot's row in words: the difference and its interval against the margin
    and zero."""
    interval, diff, margin = comparison.interval, comparison.diff, comparison.margin
    if interval is None or diff is None:
        return f"{comparison.model}: not compared (no case was scored on both models)."
    if interval.low > -margin:
        side = f"entirely above the -{margin * 100:.1f} pts margin (the gate holds)"
    elif interval.high < -margin:
        side = f"entirely below the -{margin * 100:.1f} pts margin (the gate is broken)"
    else:
        side = f"across the -{margin * 100:.1f} pts margin (unclear)"
    if interval.low > 0:
        zero = "above 0: better than the baseline"
    elif interval.high < 0:
        zero = "below 0: worse than the baseline"
    else:
        zero = "containing 0"
    adjusted = (
        f"; Holm-adjusted across {comparison.family} candidates" if comparison.family > 1 else ""
    )
    return (
        f"{comparison.model}: {_points(diff)} pts, {level_text(comparison.level)} interval "
        f"[{_points(interval.low)}, {_points(interval.high)}] pts by the {comparison.method}; "
        f"{side}, {zero}{adjusted}."
    )


def run_day(inputs: RunInputs, summary: Summary) -> dt.date | None:
    """The day the run started (its facts are as of then)."""
    for stamp in (inputs.manifest.started_at, summary.started_at, summary.finished_at):
        try:
            return dt.date.fromisoformat(stamp[:10])
        except ValueError:
            continue
    return None


def suite_health_at_run(
    run_dir: Path, inputs: RunInputs, summary: Summary, workspace_root: Path
) -> SuiteHealth | None:
    """The suite's health as of the run: its cases, the suite file's last commit recorded
    when it started, and the dependency's runs up to and including this one."""
    manifest = inputs.manifest
    day = run_day(inputs, summary)
    if day is None:
        return None
    commit = (manifest.reproducibility.get("last_commits") or {}).get(manifest.suite.path)
    try:
        last_commit = dt.date.fromisoformat(commit["date"]) if commit else None
    except (TypeError, KeyError, ValueError):  # a manifest edited by hand
        last_commit = None
    earlier = [
        found
        for other in rundir.dependency_runs(workspace_root, manifest.dependency)
        if other.name < run_dir.name and (found := try_read(read_summary, other)) is not None
    ]
    return health_of(
        manifest.suite.path,
        inputs.cases,
        manifest.gates.pass_rate_drop,
        manifest.samples,
        [*earlier, summary],
        day,
        last_commit,
    )


def cost_context(summary: Summary, baseline: str) -> dict[str, Any] | None:
    """The report's cost section: estimate against spend, and each model's projected monthly
    cost with its change from the current model's and its cost tail."""
    cost = summary.cost
    if cost is None:
        return None
    estimate = cost.estimate
    current = next((p for p in cost.projections if p.model == baseline), None)
    rows = []
    for p in cost.projections:
        change = None
        if p.model != baseline and current is not None:
            if p.monthly_cost is not None and current.monthly_cost is not None:
                change = p.monthly_cost - current.monthly_cost
        rows.append({**p.model_dump(), "change": change, "current": p.model == baseline})
    return {
        "estimated": (estimate.cost + estimate.already_spent)
        if estimate and estimate.cost is not None
        else None,
        "cost_max": estimate.cost_max if estimate else None,
        "calls": estimate.calls if estimate else None,
        "counted_by": estimate.tokens_counted_by if estimate else None,
        "spent": cost.spent,
        "budget": cost.budget,
        "volume": cost.volume,
        "projections": rows,
    }


def signed_money(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"+${value:,.2f}" if value >= 0 else f"-${-value:,.2f}"


def monthly(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def report_context(
    inputs: RunInputs, results: Results, summary: Summary, health: SuiteHealth | None = None
) -> dict[str, Any]:
    # Templates (a workspace may override them) see the files' JSON shapes as plain data.
    manifest = inputs.manifest.model_dump()
    models = [results.baseline, *results.candidates]
    candidates = []
    for model in results.candidates:
        comparison = results.comparisons[model]
        candidates.append(
            {
                "model": model,
                "comparison": comparison,
                "regressions": _side_by_side(results, inputs, model, comparison.regressions),
                "improvements": _side_by_side(results, inputs, model, comparison.improvements),
                "flaky": comparison.flaky,
                "unscored": comparison.unscored,
                "pairwise": comparison.preference,
                "similarity": results.similarity.get(model),
                "outcome_svg": outcome_chart(results, model),
                "difference_line": difference_line(comparison),
            }
        )
    n_cases = len(inputs.cases)
    return {
        "run": summary.model_dump(),
        "manifest": manifest,
        "dependency": manifest["dependency"],
        "verdict": results.verdict,
        "results": results,
        "models": models,
        "metrics": results.metrics,
        "latency_unmeasured": {  # answers from a batch API: their latency is not measured
            m: sum(
                1
                for r in results.by_model[m]
                for s in r.samples
                if s.entry is not None
                and s.entry.record.error is None
                and s.entry.record.latency is None
            )
            for m in models
        },
        "candidates": candidates,
        "drift": results.drift,
        "n_cases": n_cases,
        "small_suite": n_cases < 200,
        "zero_disagreement_bound": smallest_drop_ruled_out(n_cases),
        "suite_reach": suite_reach(
            n_cases, inputs.manifest.gates.pass_rate_drop, inputs.manifest.samples
        ),
        "forest_svg": forest_plot(results) if results.candidates else "",
        "latency_svg": latency_chart(results),
        "reproducibility": manifest.get("reproducibility", {}),
        "infrastructure_failure": results.infrastructure_failure,
        "error_lines": error_lines(results),
        "suite_health": health,
        "suite_lines": suite_lines(health),
        "suite_as_of": day.isoformat() if (day := run_day(inputs, summary)) else None,
        "cost": cost_context(summary, results.baseline),
        "stopping": stopping_text(summary.stopping) if summary.stopping else "",
        "error_control": summary.stopping.error_control if summary.stopping else "",
    }


def write_reports(
    run_dir: Path,
    inputs: RunInputs,
    results: Results,
    summary: Summary,
    workspace_root: Path,
) -> None:
    from migrate.templating import templates_for

    templates = templates_for(workspace_root)
    environment = templates.environment
    for name, function in (
        ("fence", fence),
        ("code", code),
        ("pre", pre),
        ("cell", cell),
        ("percent", percent),
        ("seconds", seconds),
        ("money", money),
        ("monthly", monthly),
        ("signed_money", signed_money),
    ):
        environment.filters[name] = function
    health = suite_health_at_run(run_dir, inputs, summary, workspace_root)
    context = report_context(inputs, results, summary, health)
    write_atomic(run_dir / "report.md", templates.render("report.md.j2", context))
    write_atomic(run_dir / "report.html", templates.render("report.html.j2", context))
    write_atomic(run_dir / "junit.xml", junit_xml(inputs.manifest.dependency, results))
