"""junit.xml: one test case per eval case and candidate, for CI dashboards.

A regression is a failure; a case that could not be scored is an error (its body carries
the provider's own message); a case that fails on the baseline as well is skipped, and says
so (it says nothing about the migration). Every test case has a `time` (the candidate's
call latency for it; 0 for a batch call, whose latency is not measured) and every suite the
sum of them, so reporters never compute NaN.

Whatever a model answers, the file is well-formed XML 1.0: characters outside XML's `Char`
production (most C0 controls, U+FFFE, U+FFFF) are dropped and lone surrogates become
U+FFFD. The file validates against the JUnit schema of Jenkins' xunit plugin (junit-10.xsd).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from migrate.evals.results import Results

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

Outcome = Literal["passed", "failure", "error", "skipped"]


def xml_text(text: str) -> str:
    """`text` made safe for XML 1.0: lone surrogates to U+FFFD, other non-characters dropped."""
    return _NOT_XML_CHAR.sub("", _SURROGATE.sub("\ufffd", text))


@dataclass(frozen=True)
class JUnitCase:
    name: str
    classname: str
    seconds: float
    outcome: Outcome = "passed"
    kind: str = ""  # the failure's, error's or skip's `type`
    message: str = ""
    body: str = ""


@dataclass
class JUnitSuite:
    name: str
    cases: list[JUnitCase] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.cases)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"  # the schema's SUREFIRE_TIME: digits and a decimal point


def render_junit(name: str, suites: list[JUnitSuite]) -> str:
    """The junit.xml text for `suites` (pure: no clock, no file)."""
    root = ET.Element("testsuites", name=xml_text(name))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in suites:
        counts = {
            outcome: sum(c.outcome == outcome for c in suite.cases)
            for outcome in ("failure", "error", "skipped")
        }
        element = ET.SubElement(
            root,
            "testsuite",
            name=xml_text(suite.name),
            tests=str(len(suite.cases)),
            failures=str(counts["failure"]),
            errors=str(counts["error"]),
            skipped=str(counts["skipped"]),
            time=_seconds(suite.seconds),
        )
        totals["tests"] += len(suite.cases)
        totals["failures"] += counts["failure"]
        totals["errors"] += counts["error"]
        for case in suite.cases:
            testcase = ET.SubElement(
                element,
                "testcase",
                name=xml_text(case.name),
                classname=xml_text(case.classname),
                time=_seconds(case.seconds),
            )
            if case.outcome == "passed":
                continue
            child = ET.SubElement(testcase, case.outcome, message=xml_text(case.message))
            if case.kind:
                child.set("type", xml_text(case.kind))
            if case.body:
                child.text = xml_text(case.body)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", _seconds(sum(s.seconds for s in suites)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_xml(dependency: str, results: Results) -> str:
    return render_junit(f"migrate {dependency}", junit_suites(dependency, results))


def junit_suites(dependency: str, results: Results) -> list[JUnitSuite]:
    """One suite per candidate, one case per eval case, from a run's results."""
    base_rows = {r.case.id: r for r in results.by_model[results.baseline]}
    suites = []
    for model in results.candidates:
        comparison = results.comparisons[model]
        regressions, unscored = set(comparison.regressions), set(comparison.unscored)
        suite = JUnitSuite(f"{dependency} -> {model}")
        for row in results.by_model[model]:
            base = base_rows[row.case.id]
            seconds = sum(s.entry.record.latency or 0.0 for s in row.samples if s.entry is not None)
            classname = f"{dependency}.{model}"
            if row.case.id in unscored:
                errored = [(m, s) for m, r in ((model, row), (results.baseline, base))
                           for s in r.samples if s.status == "error"]  # fmt: skip
                kinds = sorted({s.error or "" for _, s in errored})
                lines = []
                for errored_model, sample in errored:
                    detail = sample.entry.record.error_message if sample.entry else None
                    lines.append(
                        f"{errored_model} sample {sample.index + 1}: {sample.error}"
                        + (f": {detail}" if detail else "")
                    )
                suite.cases.append(
                    JUnitCase(
                        row.case.id,
                        classname,
                        seconds,
                        outcome="error",
                        kind="infrastructure",
                        message="could not be scored: " + ", ".join(kinds),
                        body="\n".join(lines),
                    )
                )
            elif row.case.id in regressions:
                failed = sorted({c for s in row.samples if s.score for c in s.score.failed})
                output = row.samples[0].entry.record.text if row.samples[0].entry else ""
                suite.cases.append(
                    JUnitCase(
                        row.case.id,
                        classname,
                        seconds,
                        outcome="failure",
                        kind="regression",
                        message=f"regression: passes on {results.baseline}, fails on {model}",
                        body=f"failed checks: {', '.join(failed)}\n\n{output or ''}",
                    )
                )
            elif (
                (row.pass_fraction or 0) < 1
                and (base.pass_fraction or 0) < 1
                and row.case.id not in comparison.improvements
            ):
                suite.cases.append(
                    JUnitCase(
                        row.case.id,
                        classname,
                        seconds,
                        outcome="skipped",
                        message="fails on the baseline too",
                        body=(
                            f"passes {_share(base.pass_fraction)} of samples on "
                            f"{results.baseline} and {_share(row.pass_fraction)} on {model}: "
                            "the case says nothing about the migration"
                        ),
                    )
                )
            else:
                suite.cases.append(JUnitCase(row.case.id, classname, seconds))
        suites.append(suite)
    return suites


def _share(fraction: float | None) -> str:
    return "none" if fraction is None else f"{fraction:.0%}"
