"""Urgent means now: on generated registries, no urgent dependency is shown in a window that
opens after its latest safe date, in `plan`, `status`, the calendar feed or its runbook.

Each example writes a registry with random retirement dates, safety margin, window and
review settings, runs `plan`, `status` and `calendar` through the CLI on a random day, and
reads what they wrote: the JSON, the runbooks as files, and the feed parsed back with
icalendar. Which dependency is urgent is decided here by a second implementation of the
rule in the design (the earliest window that starts on or after today must end at least
`safety_margin_days` before the retirement), not by the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import icalendar
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

NAMES = ["feature-alpha", "feature-bravo", "feature-charlie", "feature-delta"]
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def first_window(today: dt.date, start_day: int, length_days: int) -> tuple[dt.date, dt.date]:
    """The first migration window that starts on or after `today`, by hand: day `start_day`
    of a quarter for `length_days` days (both fit inside a quarter: start + length <= 91)."""
    year, number = quarter_of(today)
    while True:
        first = dt.date(year, 3 * number - 2, 1)
        start = first + dt.timedelta(days=start_day - 1)
        if start >= today:
            return start, start + dt.timedelta(days=length_days - 1)
        year, number = (year + 1, 1) if number == 4 else (year, number + 1)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    start_day = draw(st.integers(1, 90))
    return {
        "today": draw(st.dates(dt.date(2020, 1, 1), dt.date(2040, 12, 31))),
        "margin": draw(st.integers(0, 200)),
        "start_day": start_day,
        "length_days": draw(st.integers(1, 91 - start_day)),
        "review_day": draw(st.integers(1, 90)),
        # days from today to each retirement (None: no date announced)
        "offsets": draw(
            st.lists(st.one_of(st.none(), st.integers(-40, 400)), min_size=1, max_size=4)
        ),
    }


def registry_text(s: dict[str, Any]) -> str:
    lines = [
        "version: 1",
        "settings:",
        "  timezone: Europe/Berlin",
        f"  window: {{start_day: {s['start_day']}, length_days: {s['length_days']}}}",
        f'  review: {{day: {s["review_day"]}, time: "10:00", duration_minutes: 60}}',
        f"  safety_margin_days: {s['margin']}",
        "models:",
        "  vendor/next: {}",
    ]
    for i, offset in enumerate(s["offsets"]):
        lines.append(f"  vendor/m{i}:")
        lines.append("    replacement: vendor/next")
        if offset is not None:
            lines.append(f"    retires: {s['today'] + dt.timedelta(days=offset)}")
    lines.append("dependencies:")
    for i, _ in enumerate(s["offsets"]):
        lines += [
            f"  {NAMES[i]}:",
            f"    model: vendor/m{i}",
            "    candidates: [vendor/next]",
            f"    owners: [owner{i}@example.com]",
        ]
    return "\n".join(lines) + "\n"


def run(cli: CliRunner, *args: str) -> Any:
    result = invoke(cli, *args)
    assert result.exit_code == 0, result.output + result.stderr
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=scenarios())
def test_no_urgent_dependency_is_shown_in_a_window_after_its_latest_safe_date(
    s: dict[str, Any],
) -> None:
    cli = CliRunner()
    today, margin = s["today"], s["margin"]
    window_start, window_end = first_window(today, s["start_day"], s["length_days"])
    retires = {
        NAMES[i]: (today + dt.timedelta(days=o) if o is not None else None)
        for i, o in enumerate(s["offsets"])
    }
    deadline = {n: r - dt.timedelta(days=margin) if r else None for n, r in retires.items()}
    # Due now: no sign-off exists, so a passed retirement is overdue, and a window that ends
    # after the latest safe date comes too late.
    urgent = {
        n
        for n, d in deadline.items()
        if d is not None and (window_end > d or retires[n] <= today)  # type: ignore[operator]
    }
    year, number = quarter_of(today)

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        registry = root / "models.yaml"
        registry.write_text(registry_text(s), encoding="utf-8")
        common = ["--registry", str(registry), "--today", today.isoformat()]

        # plan --json, writing the runbooks
        planned = json.loads(run(cli, "plan", *common, "--json").stdout)
        entries = {e["dependency"]: e for e in planned["due"]}
        assert {n for n, e in entries.items() if e["urgent"]} == urgent
        for name, entry in entries.items():
            if name in urgent:
                assert (entry["window_start"], entry["window_end"]) == (None, None)
                assert entry["deadline"] == deadline[name].isoformat()  # type: ignore[union-attr]
                assert entry["runbook"] == f"runbooks/{year:04d}Q{number}/{name}.md"
            else:
                assert entry["window_start"] == window_start.isoformat()
                if deadline[name] is not None:
                    assert window_end <= deadline[name]  # type: ignore[operator]
        assert urgent <= set(entries)  # a retirement always makes a dependency due

        # the runbook of each urgent dependency: the only dates after its latest safe date
        # that it may name are the retirement itself and the day it is written
        for name in urgent:
            text = (root / entries[name]["runbook"]).read_text(encoding="utf-8")
            late = {d for d in ISO_DATE.findall(text) if d > deadline[name].isoformat()}  # type: ignore[union-attr]
            assert late <= {retires[name].isoformat(), today.isoformat()}, (name, late)  # type: ignore[union-attr]
            assert "- Migration window: none" in text
            meeting = re.search(r"^- Review meeting: (\S+?),", text, re.MULTILINE)
            if meeting:
                assert today.isoformat() <= meeting.group(1) <= deadline[name].isoformat()  # type: ignore[union-attr]

        # status --json
        statuses = {
            r["dependency"]: r for r in json.loads(run(cli, "status", *common, "--json").stdout)
        }
        assert {n for n, r in statuses.items() if r["urgent"]} == urgent
        for name in urgent:
            row = statuses[name]
            assert (row["window_start"], row["window_end"]) == (None, None)
            assert row["deadline"] == deadline[name].isoformat()  # type: ignore[union-attr]
            assert row["days_to_deadline"] == (deadline[name] - today).days  # type: ignore[operator]
        table = run(cli, "status", *common).stdout
        for name in urgent:
            (line,) = [x for x in table.splitlines() if x.startswith(name + " ")]
            assert "URGENT: now" in line and deadline[name].isoformat() in line  # type: ignore[union-attr]
            assert f"{window_start:%b %d}-{window_end:%b %d %Y}" not in line

        # the feed, read back by icalendar
        feed = root / "feed.ics"
        run(cli, "calendar", *common, "--out", str(feed))
        events = icalendar.Calendar.from_ical(feed.read_bytes()).walk("VEVENT")
        for event in events:
            uid, text = str(event["UID"]), f"{event['SUMMARY']}\n{event['DESCRIPTION']}"
            if uid.startswith(("window-", "review-")):
                for name in urgent:
                    assert name not in text, (uid, name)
            elif uid.startswith("retirement-"):
                name = next(n for n in NAMES if uid.startswith(f"retirement-{n}-"))
                assert event.decoded("DTSTART") == retires[name]
                if name in urgent:
                    assert "migrate now" in str(event["SUMMARY"])
                    assert "migrate now" in str(event["DESCRIPTION"])
                    assert "Due in migration window" not in text
                    assert f"Runbook: runbooks/{year:04d}Q{number}/{name}.md" in text
                else:
                    assert "migrate now" not in text
                    assert f"({window_start} to {window_end})" in text


def test_first_window_by_hand() -> None:
    """The test's own window rule against the calendar: days 8 to 28 of each quarter."""
    assert first_window(dt.date(2026, 10, 15), 8, 21) == (dt.date(2027, 1, 8), dt.date(2027, 1, 28))
    assert first_window(dt.date(2026, 10, 8), 8, 21) == (
        dt.date(2026, 10, 8),
        dt.date(2026, 10, 28),
    )
    # day 90 of a quarter: March 31 in a common year, March 30 in a leap year
    assert first_window(dt.date(2027, 1, 1), 90, 1)[0] == dt.date(2027, 3, 31)
    assert first_window(dt.date(2028, 1, 1), 90, 1)[0] == dt.date(2028, 3, 30)
