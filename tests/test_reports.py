"""A run's reports (report.md, report.html, junit.xml) written from a constructed run whose
models answer with hostile text, and the redaction of secrets from anything written."""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from markdown_it import MarkdownIt

from migrate.evals.flow import evaluate_run, write_outputs
from migrate.evals.inputs import RunOptions, prepare, write_inputs
from migrate.evals.journal import JournalWriter, read_journal
from migrate.evals.record import Entry
from migrate.evals.results import summarize
from migrate.llm import CallRecord
from migrate.registry.load import load_registry
from migrate.secrets import redact, register_secret_env
from tests.support.second_stats import optimizer_interval

TODAY = dt.date(2027, 1, 10)
BASE, CAND = "vendor/old", "vendor/new"
HOSTILE = (
    "<script>alert(1)</script>\n"
    "```\n"
    "| a | b |\n|---|---|\n"
    "</pre></td></tr></table>\n"
    "\n"
    "# Not a heading\n"
    "\n"
    "````` five backticks\n"
    "<img src=x onerror=alert(2)> & &amp; \"quotes\" 'single'\n"
    "</details>\n"
    "\n"
    "```python\nunclosed"
)
REGISTRY = """
    version: 1
    settings:
      run: {max_error_rate: 0.5}
    models:
      vendor/old: {retires: 2027-06-30, input_cost_per_mtok: 1, output_cost_per_mtok: 2}
      vendor/new: {input_cost_per_mtok: 1, output_cost_per_mtok: 2}
    dependencies:
      summarizer:
        model: vendor/old
        candidates: [vendor/new]
        owners: [alice@example.com]
        prompt: prompts/summary.md.j2
        eval:
          cases: evals/summary.jsonl
          checks: [{type: contains, value: "{{ expected }}"}]
        gates: {pass_rate_drop: 0.02, refusal_rate_increase: null, p95_latency_increase: null,
                cost_increase: null}
"""


FACTS = {
    "migrate_version": "0.1.0",
    "litellm_version": "1.80.0",
    "python": "3.12.3",
    "last_commits": {"prompts/summary.md.j2": None},
}


def make_run(
    root: Path,
    outputs: dict[str, dict[str, str | None]],
    *,
    run_id: str = "20270110T090000Z",
    reproducibility: dict[str, Any] | None = FACTS,
) -> Path:
    """A finished run of `summarizer`: model -> case -> output text (None: a failed call)."""
    write(root / "models.yaml", REGISTRY)
    write(root / "prompts" / "summary.md.j2", "[system]\nBe brief.\n[user]\n{{ text }}\n")
    case_ids = list(outputs[BASE])
    lines = [
        json.dumps({"id": cid, "vars": {"text": f"Input of {cid}: {HOSTILE}"}, "expected": "ok"})
        for cid in case_ids
    ]
    write(root / "evals" / "summary.jsonl", "\n".join(lines) + "\n")
    registry = load_registry(root / "models.yaml")
    prepared = prepare(registry, RunOptions("summarizer"), TODAY)
    prepared.manifest.run_id = run_id
    prepared.manifest.started_at = "2027-01-10T09:00:00+00:00"
    if reproducibility is not None:
        prepared.manifest.reproducibility = reproducibility
    run_dir = root / "runbooks" / "2027Q1" / "summarizer" / "runs" / run_id
    write_inputs(run_dir, prepared)
    journal = JournalWriter(run_dir / "journal.jsonl")
    for model, by_case in outputs.items():
        for number, (case_id, text) in enumerate(by_case.items()):
            record = CallRecord(
                text=text,
                finish_reason="stop" if text is not None else None,
                prompt_tokens=30,
                completion_tokens=None if text is None else 12,
                cost=None if text is None else 0.0001,
                latency=0.5 + number / 10,
                error=None if text is not None else "ServerError",
                error_message=None if text is not None else "HTTP 500 <b>upstream</b> | oops",
            )
            journal.append(Entry(kind="generate", model=model, case=case_id, sample=0,
                                 request=f"h-{model}-{case_id}", record=record,
                                 at="2027-01-10T09:00:01+00:00"))  # fmt: skip
    journal.close()
    results = evaluate_run(run_dir, prepared, root)
    finished = dt.datetime(2027, 1, 10, 9, 5, tzinfo=dt.UTC)
    journal_entries = list(read_journal(run_dir / "journal.jsonl"))
    summary = summarize(prepared.manifest, results, journal_entries, finished, 0)
    write_outputs(run_dir, prepared, results, summary, root)
    return run_dir


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    outputs: dict[str, dict[str, str | None]] = {
        BASE: {
            "regressed": "ok " + HOSTILE,
            "same": "ok",
            "improved": "no",
            "errored": "ok",
            "both-fail": "nope",
        },
        CAND: {
            "regressed": HOSTILE,
            "same": "ok",
            "improved": "ok",
            "errored": None,
            "both-fail": "nope",
        },
    }
    return make_run(tmp_path, outputs)


# --- report.md ---------------------------------------------------------------------------


def markdown_tokens(text: str) -> list[Any]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def headings(text: str) -> list[str]:
    tokens = markdown_tokens(text)
    return [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]


def test_report_md_keeps_its_structure_after_hostile_output(hostile_run: Path) -> None:
    text = (hostile_run / "report.md").read_text(encoding="utf-8")
    assert headings(text) == [
        "INCONCLUSIVE: summarizer, vendor/old → vendor/new",
        "Gates",
        "Pass-rate difference against the margin",
        "Metrics",
        "Errors, in the provider's words",
        "Regressions on vendor/new (1)",
        "`regressed`",
        "How different vendor/new feels",
        "Drift of vendor/old",
        "How much this suite can show",
        "Suite (as of 2027-01-10)",
        "Reproducibility",
    ]
    tokens = markdown_tokens(text)
    # The only code blocks are the inputs, each holding the whole hostile input.
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.content for f in fences] == [f"Input of regressed: {HOSTILE}\n"]
    # Tables: gates, metrics, similarity, reproducibility; the hostile pipes made none.
    assert sum(t.type == "table_open" for t in tokens) == 4
    # The side-by-side outputs stay one HTML block each (the regression, and the two least
    # similar cases: `regressed` and `improved`), with the model's markup escaped.
    blocks = [t.content for t in tokens if t.type == "html_block" and "<table>" in t.content]
    assert len(blocks) == 3
    assert not any("<script>" in block for block in blocks)
    hostile = [b for b in blocks if "&lt;script&gt;alert(1)&lt;/script&gt;" in b]
    assert len(hostile) == 2
    for block in hostile:
        assert "</pre></td></tr></table>" not in block.split("<pre>")[1]
    assert text.rstrip().endswith("--by EMAIL`.")


def test_report_md_reads_back_the_outputs(hostile_run: Path) -> None:
    text = (hostile_run / "report.md").read_text(encoding="utf-8")
    block = next(
        t.content
        for t in markdown_tokens(text)
        if t.type == "html_block" and "<table>" in t.content
    )
    cells = re.findall(r"<pre>(.*?)</pre>", block, re.DOTALL)
    assert [unescape_html(c) for c in cells] == ["ok " + HOSTILE, HOSTILE]


def unescape_html(text: str) -> str:
    import html

    return html.unescape(text)


def test_report_md_lists_the_other_outcomes(hostile_run: Path) -> None:
    text = (hostile_run / "report.md").read_text(encoding="utf-8")
    assert "**Improvements** (1): `improved`" in text
    assert "**Not scored** (1, every sample errored on one side): `errored`" in text
    assert "| errors (not counted as failures) | 0 of 5 | 1 of 5 (ServerError ×1) |" in text


# --- report.html -------------------------------------------------------------------------

VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source"}


class Structure(HTMLParser):
    """Records start tags and checks that every element closes in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.starts: list[str] = []
        self.problems: list[str] = []
        self.pre_text: list[str] = []
        self._in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)
        if tag == "pre":
            self._in_pre += 1
            self.pre_text.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_pre -= 1
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self.pre_text[-1] += data


def test_report_html_escapes_model_output_and_still_parses(hostile_run: Path) -> None:
    text = (hostile_run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert "<img" not in text.lower()
    parser = Structure()
    parser.feed(text)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    assert "script" not in parser.starts and "img" not in parser.starts
    # The outputs read back exactly, as text inside <pre>.
    assert "ok " + HOSTILE in parser.pre_text
    assert HOSTILE in parser.pre_text
    assert f"Input of regressed: {HOSTILE}" in parser.pre_text
    # latency, per-case outcomes and the forest plot of the decision, inline
    assert parser.starts.count("svg") == 3


# --- the decision as a picture and as a line --------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def forest(text: str) -> ET.Element:
    """The forest plot of a report.html, parsed as XML on its own."""
    match = re.search(r'<svg[^>]*class="chart forest-plot".*?</svg>', text, re.DOTALL)
    assert match, "no forest plot"
    return ET.fromstring(match.group(0))


def line_x(plot: ET.Element, kind: str) -> float:
    line = next(e for e in plot.iter(f"{SVG}line") if e.get("class") == kind)
    return float(line.get("x1", "nan"))


def test_the_forest_plot_draws_the_interval_against_the_margin_and_zero(
    hostile_run: Path,
) -> None:
    # Four cases scored on both (one regression, one improvement, two ties) at a 2-point
    # margin: the interval, from a second implementation, spans both lines.
    low, high = optimizer_interval([-1.0, 1.0, 0.0, 0.0])
    plot = forest((hostile_run / "report.html").read_text(encoding="utf-8"))
    zero, margin = line_x(plot, "zero"), line_x(plot, "margin")
    assert margin < zero
    (group,) = [g for g in plot.iter(f"{SVG}g") if g.get("class") == "candidate"]
    assert group.get("data-status") == "unclear"
    bar = group.findall(f"{SVG}line")[0]
    x_low, x_high = float(bar.get("x1", "nan")), float(bar.get("x2", "nan"))
    assert x_low < margin < zero < x_high
    # The axis is linear: its tick labels (in points) set the scale that places 0, the
    # margin and both bounds.
    ticks = [
        (float(t.get("x", "nan")), float(t.text or "nan"))
        for t in plot.iter(f"{SVG}text")
        if t.get("class") == "tick"
    ]
    (x_first, first), (x_last, last) = ticks[0], ticks[-1]
    scale = (x_last - x_first) / (last - first) * 100  # pixels per unit of difference
    assert zero == pytest.approx(x_first - first / 100 * scale, abs=0.2)
    assert margin == pytest.approx(zero - 0.02 * scale, abs=0.2)
    assert x_low == pytest.approx(zero + low * scale, abs=0.2)
    assert x_high == pytest.approx(zero + high * scale, abs=0.2)
    title = group.findtext(f"{SVG}title") or ""
    assert title == (
        f"vendor/new: +0.0 pts, 95% interval [{low * 100:+.1f}, {high * 100:+.1f}] pts: unclear"
    )
    text = (hostile_run / "report.md").read_text(encoding="utf-8")
    assert (
        f"- vendor/new: +0.0 pts, 95% interval [{low * 100:+.1f}, {high * 100:+.1f}] pts by "
        "the Tango score interval; across the -2.0 pts margin (unclear), containing 0.\n"
    ) in text


def test_a_suite_that_can_never_pass_says_how_many_cases_it_needs(hostile_run: Path) -> None:
    # Five cases at a 2-point margin: by hand, z^2/(5 + z^2) = 43.4% is the smallest drop
    # perfect agreement rules out, and 2 points need n > z^2 x 0.98 / 0.02 = 188.2 cases.
    text = (hostile_run / "report.md").read_text(encoding="utf-8")
    assert (
        "With 5 cases, even perfect agreement between the models cannot rule out a pass-rate "
        "drop of 43.4% (95% confidence). That is more than the 2.0% margin, so this suite can "
        "never reach PASS, whatever the models do: grow it to 189 cases."
    ) in text


def test_report_html_is_self_contained(hostile_run: Path) -> None:
    text = (hostile_run / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text


# --- junit.xml ---------------------------------------------------------------------------


def test_junit_has_one_testcase_per_case_and_candidate(hostile_run: Path) -> None:
    root = ET.parse(hostile_run / "junit.xml").getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "summarizer -> vendor/new"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["regressed", "same", "improved", "errored", "both-fail"]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("5", "1", "1", "1")  # fmt: skip
    failure = cases["regressed"].find("failure")
    assert failure is not None and failure.get("type") == "regression"
    assert failure.text == 'failed checks: contains "ok"\n\n' + HOSTILE
    error = cases["errored"].find("error")
    assert error is not None and error.get("message") == "could not be scored: ServerError"
    assert cases["both-fail"].find("skipped") is not None
    assert list(cases["same"]) == [] and list(cases["improved"]) == []


def test_junit_carries_no_control_characters(tmp_path: Path) -> None:
    text = "ok \x00\x1b[31mred\x1b[0m \x0b\x0c tab\tnewline\n"
    run_dir = make_run(tmp_path, {BASE: {"a": "ok"}, CAND: {"a": text.replace("ok", "")}})
    root = ET.parse(run_dir / "junit.xml").getroot()
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert failure.text.endswith("\n\n [31mred[0m  tab\tnewline\n")  # XML 1.0 cannot hold them


# --- template overrides ------------------------------------------------------------------


def test_a_workspace_template_overrides_the_report(tmp_path: Path) -> None:
    write(
        tmp_path / "templates" / "report.md.j2",
        "Custom report for {{ dependency }}: {{ verdict }}\n"
        "{% for c in candidates %}{{ c.model }} {{ c.comparison.regressions | join(',') }}\n"
        "{% endfor %}",
    )
    run_dir = make_run(tmp_path, {BASE: {"a": "ok", "b": "ok"}, CAND: {"a": "no", "b": "ok"}})
    assert (run_dir / "report.md").read_text(encoding="utf-8") == (
        "Custom report for summarizer: INCONCLUSIVE\nvendor/new a\n"
    )
    # The packaged HTML report is still used: only report.md was overridden.
    assert "<!DOCTYPE html>" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_reports_render_for_a_run_without_reproducibility_facts(tmp_path: Path) -> None:
    # A run directory from an older version, or one copied without its facts.
    run_dir = make_run(tmp_path, {BASE: {"a": "ok"}, CAND: {"a": "ok"}}, reproducibility=None)
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "| versions | migrate ?, litellm ?, Python ? |" in text
    assert "migrate ?, litellm ?, Python ?" in (run_dir / "report.html").read_text("utf-8")


def test_summary_json_is_written_last_and_holds_the_contract(hostile_run: Path) -> None:
    summary = json.loads((hostile_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "INCONCLUSIVE"
    assert summary["candidates"][CAND]["regressions"] == ["regressed"]
    assert summary["candidates"][CAND]["improvements"] == ["improved"]
    assert summary["candidates"][CAND]["flaky"] == []
    assert set(summary["metrics"]) == {BASE, CAND}
    written = {p.name: p.stat().st_mtime_ns for p in hostile_run.iterdir()}
    assert written["summary.json"] >= max(
        written[name] for name in ("report.md", "report.html", "junit.xml")
    )


# --- secrets -------------------------------------------------------------------------------


def test_redact_removes_secret_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "opensesame-1234")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok_abcdef")
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("PLAIN_SETTING", "visible-value")
    monkeypatch.setenv("SHORT_KEY", "abc")  # too short to redact without mangling text
    text = (
        "auth failed for opensesame-1234 (token tok_abcdef, password hunter2hunter2); "
        "setting visible-value; abc"
    )
    assert redact(text) == (
        "auth failed for [redacted] (token [redacted], password [redacted]); "
        "setting visible-value; abc"
    )


def test_redact_removes_a_registered_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_LLM", "local-secret-value")
    assert redact("key local-secret-value") == "key local-secret-value"
    register_secret_env("LOCAL_LLM")
    assert redact("key local-secret-value") == "key [redacted]"


@pytest.mark.parametrize(
    "key",
    [
        "sk-proj-AbCdEf0123456789xyz",
        "sk-ant-api03-AbCdEf0123456789-_xyz",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyA1234567890abcdefghijklmnop",
        "gsk_AbCdEf0123456789AbCdEf0123",  # Groq
        "hf_AbCdEf0123456789AbCdEf0123",  # Hugging Face
        "xai-AbCdEf0123456789AbCdEf0123",  # xAI
        "r8_AbCdEf0123456789AbCdEf0123",  # Replicate
    ],
)
def test_redact_removes_key_shaped_strings(key: str) -> None:
    assert redact(f"Incorrect API key provided: {key}. See docs.") == (
        "Incorrect API key provided: [redacted]. See docs."
    )


def test_redact_removes_bearer_tokens_and_url_credentials() -> None:
    assert redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc") == ("Authorization: [redacted]")
    assert redact("GET https://user:pa55word@proxy.example.com/v1 failed") == (
        "GET https://[redacted]@proxy.example.com/v1 failed"
    )
    assert redact("a task-list of sk-ills") == "a task-list of sk-ills"


def test_no_secret_reaches_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDOR_API_KEY", "vendor-secret-123456")
    run_dir = make_run(tmp_path, {BASE: {"a": "ok"}, CAND: {"a": "ok"}})
    for path in run_dir.iterdir():
        assert "vendor-secret-123456" not in path.read_text(encoding="utf-8"), path.name
