"""junit.xml: one test case per eval case and candidate, for CI dashboards.

A regression is a failure; a case that could not be scored is an error; a case that fails
on the baseline as well is skipped (it says nothing about the migration).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from migrate.evals.results import Results

_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def _clean(text: str) -> str:
    return text.translate(_CONTROL)  # XML 1.0 cannot carry most control characters


def junit_xml(dependency: str, results: Results) -> str:
    root = ET.Element("testsuites", name=f"migrate {dependency}")
    base_rows = {r.case.id: r for r in results.by_model[results.baseline]}
    for model in results.candidates:
        comparison = results.comparisons[model]
        regressions, unscored = set(comparison.regressions), set(comparison.unscored)
        rows = results.by_model[model]
        suite = ET.SubElement(
            root, "testsuite", name=f"{dependency} -> {model}", tests=str(len(rows))
        )
        failures = errors = skipped = 0
        for row in rows:
            case = ET.SubElement(
                suite, "testcase", classname=f"{dependency}.{model}", name=row.case.id
            )
            base = base_rows[row.case.id]
            if row.case.id in unscored:
                errors += 1
                kinds = sorted(
                    {s.error or "" for s in [*row.samples, *base.samples] if s.status == "error"}
                )
                element = ET.SubElement(
                    case,
                    "error",
                    message="could not be scored: " + ", ".join(kinds),
                    type="infrastructure",
                )
                element.text = _clean(", ".join(kinds))
            elif row.case.id in regressions:
                failures += 1
                failed = sorted({c for s in row.samples if s.score for c in s.score.failed})
                element = ET.SubElement(
                    case,
                    "failure",
                    type="regression",
                    message=_clean(f"regression: passes on {results.baseline}, fails on {model}"),
                )
                output = row.samples[0].entry.record.text if row.samples[0].entry else ""
                element.text = _clean(f"failed checks: {', '.join(failed)}\n\n{output or ''}")
            elif (
                (row.pass_fraction or 0) < 1
                and (base.pass_fraction or 0) < 1
                and row.case.id not in comparison.improvements
            ):
                skipped += 1
                ET.SubElement(case, "skipped", message="fails on the baseline too")
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
