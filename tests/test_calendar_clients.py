"""The feed as calendar programs read it: ical.js (the parser of many web calendars and
Thunderbird's lineage) and calcurse (a terminal calendar that imports ICS).

Each test skips with the reason when its program is missing here, and fails instead
when CI=true: CI installs both (.ci/run, and scripts/test runs `npm ci` in tests/js).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, commit_as, invoke
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

TODAY = "2026-11-02"
NAME = "llm-model-migrations"
BILLING = f"retirement-billing-summarizer-openai-gpt-4o-2024-08-06@{NAME}"
SEARCH = f"retirement-search-query-rewriter-gemini-gemini-3.1-flash-lite@{NAME}"
PARSER = REPO_ROOT / "tests" / "js" / "parse_ics.mjs"


def require(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it (see .ci/run and scripts/test)")
    pytest.skip(reason)


def icaljs(path: Path) -> dict[str, Any]:
    require(shutil.which("node") is not None, "node is not installed")
    require(
        (REPO_ROOT / "tests" / "js" / "node_modules" / "ical.js").is_dir(),
        "ical.js is not installed (run: npm --prefix tests/js ci)",
    )
    result = subprocess.run(
        ["node", str(PARSER), str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def write_feed(cli: CliRunner, root: Path, *args: str, today: str = TODAY) -> Path:
    result = invoke(cli, "calendar", "--today", today, *args, cwd=root)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Wrote calendar.ics: "), result.stdout
    return root / "calendar.ics"


def test_icaljs_reads_every_event_as_written(cli: CliRunner, example_workspace: Path) -> None:
    parsed = icaljs(write_feed(cli, example_workspace))
    assert parsed["calendar"] == {
        "prodid": "-//migrate//LLM model migration feed//EN",
        "version": "2.0",
        "method": "PUBLISH",
        "name": "LLM model migrations",
        "calname": "LLM model migrations",
        "timezone": "Europe/Berlin",
        "refreshInterval": "P1D",
        "publishedTtl": "P1D",
    }
    assert parsed["timezones"] == ["Europe/Berlin"]
    found = {e["uid"]: e for e in parsed["events"]}
    assert len(found) == len(parsed["events"]) == 14

    window = found[f"window-2027Q1@{NAME}"]
    assert (window["start"], window["end"], window["isDate"]) == ("2027-01-08", "2027-01-29", True)
    assert window["transp"] == "TRANSPARENT"
    assert "Runbook: runbooks/2027Q1/contract-extractor.md" in window["description"]

    winter, summer = found[f"review-2027Q1@{NAME}"], found[f"review-2027Q2@{NAME}"]
    assert (winter["isDate"], winter["tzid"]) == (False, "Europe/Berlin")
    assert (winter["startUtc"], winter["endUtc"]) == (
        "2027-01-08T09:00:00.000Z",
        "2027-01-08T10:00:00.000Z",
    )
    assert summer["startUtc"] == "2027-04-08T08:00:00.000Z"  # CEST: the VTIMEZONE is used

    deadline = found[BILLING]
    assert (deadline["start"], deadline["end"], deadline["isDate"]) == (
        "2027-01-14",
        "2027-01-15",
        True,
    )
    assert [a["trigger"] for a in deadline["alarms"]] == [
        "-P59DT15H",
        "-P29DT15H",
        "-P13DT15H",
        "-P6DT15H",
        "-PT15H",
    ]
    for event in parsed["events"]:
        assert event["attendees"] == 0
        assert (event["sequence"], event["status"]) == (0, "CONFIRMED")
        assert event["dtstamp"] == "2026-10-01T12:00:00Z"
        for alarm in event["alarms"]:
            assert alarm["action"] == "DISPLAY" and alarm["description"]


def test_icaljs_sees_updates_and_cancellations(cli: CliRunner, example_workspace: Path) -> None:
    write_feed(cli, example_workspace)
    path = example_workspace / "models.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "    retires: 2027-01-14\n    replacement: openai/gpt-5.4\n",
        "    retires: 2027-02-15\n    replacement: openai/gpt-5.4\n",
    )
    start = text.index("  search-query-rewriter:\n")
    path.write_text(
        text[:start] + text[text.index("  release-notes-writer:\n") :], encoding="utf-8"
    )
    commit_as(example_workspace, "alice@example.com", "2026-10-20", "New date; one fewer")
    found = {e["uid"]: e for e in icaljs(write_feed(cli, example_workspace))["events"]}
    assert (found[BILLING]["start"], found[BILLING]["sequence"]) == ("2027-02-15", 1)
    assert (found[SEARCH]["status"], found[SEARCH]["sequence"]) == ("CANCELLED", 1)
    assert found[SEARCH]["alarms"] == []
    assert found[f"window-2027Q2@{NAME}"]["sequence"] == 0


def test_calcurse_imports_everything_and_skips_nothing(
    cli: CliRunner, example_workspace: Path, tmp_path: Path
) -> None:
    require(shutil.which("calcurse") is not None, "calcurse is not installed")
    feed = write_feed(cli, example_workspace)
    data = tmp_path / "calcurse"
    data.mkdir()
    env = {**os.environ, "TZ": "UTC", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["calcurse", "-D", str(data), "-i", str(feed)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    counts = re.search(r"(\d+) apps / (\d+) events / (\d+) todos / (\d+) skipped", report)
    assert counts is not None, report
    # 4 timed reviews; 4 windows and 6 deadlines as all-day events; nothing skipped
    assert tuple(int(n) for n in counts.groups()) == (4, 10, 0, 0), report
    apts = (data / "apts").read_text(encoding="utf-8")
    lines = apts.splitlines()

    def line_of(text: str) -> str:
        matching = [line for line in lines if line.endswith(text)]
        assert len(matching) == 1, f"{text!r} in:\n{apts}"
        return matching[0]

    # a window: an all-day event on every day from the 8th to the 28th (exclusive DTEND)
    assert line_of("Migration window 2027Q1 (4 due)").startswith(
        "01/08/2027 [1] {1D -> 01/28/2027}"
    )
    # the review at 10:00 Berlin time is 09:00 UTC in winter, 08:00 UTC in summer
    assert line_of("|Model migration review 2027Q1").startswith(
        "01/08/2027 @ 09:00 -> 01/08/2027 @ 10:00"
    )
    assert line_of("|Model migration review 2027Q2").startswith(
        "04/08/2027 @ 08:00 -> 04/08/2027 @ 09:00"
    )
    assert line_of(
        "billing-summarizer: openai/gpt-4o-2024-08-06 retires (URGENT: migrate now)"
    ).startswith("01/14/2027 [1] ")
    notes = sorted((data / "notes").iterdir())
    assert any(
        "Runbook: runbooks/2026Q4/billing-summarizer.md" in n.read_text(encoding="utf-8")
        for n in notes
    ), "descriptions are imported as notes"
