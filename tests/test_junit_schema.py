"""junit.xml against the JUnit schema Jenkins' xunit plugin publishes (junit-10.xsd, kept in
tests/junit), for a run whose model answers with every kind of character XML 1.0 cannot hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from test_reports import BASE, CAND, make_run

from migrate.reports.junit import JUnitCase, JUnitSuite, render_junit, xml_text

SCHEMA = xmlschema.XMLSchema10(Path(__file__).parent / "junit" / "junit-10.xsd")
# The issue's output, then C0 controls, DEL and C1, line separators, lone surrogates of
# both halves, the last code points of the BMP and of Unicode, and markup characters.
AWKWARD = (
    "\x00\x1b\uffff\ufffe]]>&"
    + "".join(chr(c) for c in range(0x20))
    + "\x7f\x85\u2028\u2029\ud800x\udfff\ufffd\U0010ffff\U0001f600"
    + '<![CDATA[ ]]> <b a="\'"> &amp; &#0; \r\n'
)


# A run's journal cannot hold lone surrogates yet (evals/journal.py encodes each entry as
# strict UTF-8), so the run below uses every other awkward character; render_junit is tested
# with all of them, and the journal's gap is pinned by an expected failure.
RUN_OUTPUT = AWKWARD.replace("\ud800", "").replace("\udfff", "")


def test_the_awkward_text_is_what_the_issue_names() -> None:
    assert AWKWARD.startswith("\x00\x1b\uffff\ufffe]]>&")


def test_xml_text_keeps_every_allowed_character_and_nothing_else() -> None:
    # Expected by hand from the XML 1.0 Char production: tab, LF, CR, and everything from
    # U+0020 except surrogates (which become U+FFFD) and U+FFFE/U+FFFF.
    assert xml_text("a\x00b\x08\x09\x0a\x0b\x0c\x0d\x1f c") == "ab\t\n\r c"
    assert xml_text("\ud800\udfff") == "\ufffd\ufffd"
    assert xml_text("\ufffe\uffff\ufffd\U0010ffff\x7f\x85") == "\ufffd\U0010ffff\x7f\x85"


@pytest.fixture
def awkward_run(tmp_path: Path) -> Path:
    outputs: dict[str, dict[str, str | None]] = {
        BASE: {"regressed": "ok", "same": "ok", "errored": "ok", "both-fail": "no"},
        CAND: {"regressed": RUN_OUTPUT, "same": "ok", "errored": None, "both-fail": RUN_OUTPUT},
    }
    return make_run(tmp_path, outputs)


def test_junit_of_a_run_with_awkward_output_validates_against_junit_10(awkward_run: Path) -> None:
    path = awkward_run / "junit.xml"
    SCHEMA.validate(str(path))  # raises with the first violation
    root = ET.parse(path).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"regressed", "same", "errored", "both-fail"}
    failure = cases["regressed"].find("failure")
    assert failure is not None and failure.text is not None
    assert "]]>&" in failure.text and "\u2028\u2029x\ufffd\U0010ffff" in failure.text
    assert not any(ch in failure.text for ch in "\x00\x1b\uffff\ufffe\x0b")


def test_every_case_and_suite_has_a_time(awkward_run: Path) -> None:
    root = ET.parse(awkward_run / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    times = {c.get("name"): float(c.get("time", "nan")) for c in suite.iter("testcase")}
    # make_run records latencies 0.5, 0.6, 0.7, 0.8 s for the candidate's four cases
    assert times == {"regressed": 0.5, "same": 0.6, "errored": 0.7, "both-fail": 0.8}
    assert float(suite.get("time", "nan")) == pytest.approx(2.6)
    assert float(root.get("time", "nan")) == pytest.approx(2.6)


def test_a_skipped_case_says_why_and_an_error_carries_the_providers_message(
    awkward_run: Path,
) -> None:
    root = ET.parse(awkward_run / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    skipped = cases["both-fail"].find("skipped")
    assert skipped is not None and skipped.get("message") == "fails on the baseline too"
    assert skipped.text is not None and "says nothing about the migration" in skipped.text
    error = cases["errored"].find("error")
    assert error is not None and error.text is not None
    assert error.text == f"{CAND} sample 1: ServerError: HTTP 500 <b>upstream</b> | oops"


def test_render_junit_counts_and_validates_every_outcome() -> None:
    suite = JUnitSuite(
        "dep -> model",
        [
            JUnitCase("a", "dep.model", 0.25),
            JUnitCase("b", "dep.model", 1.5, "failure", "regression", AWKWARD, AWKWARD),
            JUnitCase("c", "dep.model", 0.0, "error", "infrastructure", "x", "Timeout: 60 s"),
            JUnitCase(AWKWARD, AWKWARD, 12345.6789, "skipped", "", "why", ""),
        ],
    )
    text = render_junit(AWKWARD, [suite, JUnitSuite("empty")])
    SCHEMA.validate(text)
    root = ET.fromstring(text.encode("utf-8"))
    first = root.find("testsuite")
    assert first is not None
    assert [first.get(k) for k in ("tests", "failures", "errors", "skipped", "time")] == [
        "4", "1", "1", "1", "12347.429"
    ]  # fmt: skip
    assert [root.get(k) for k in ("tests", "failures", "errors")] == ["4", "1", "1"]


def test_a_run_whose_model_answers_with_a_lone_surrogate_is_journaled(tmp_path: Path) -> None:
    make_run(tmp_path, {BASE: {"a": "ok"}, CAND: {"a": "broken \ud800 text"}})
