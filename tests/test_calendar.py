"""`migrate calendar`: the feed's bytes, its updates across regenerations, and its options.

Driven through the CLI on a copy of the example workspace in a real git repository (the
registry is committed by alice on 2026-10-01 at 12:00 UTC); the feed is read back with
icalendar, an independent parser, and with plain byte checks. ical.js and calcurse read
it in tests/test_calendar_clients.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import icalendar
import pytest
from conftest import commit_as, invoke, write
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from migrate.calendar.events import feed_events
from migrate.calendar.feed import render_feed
from migrate.calendar.ics import fold
from migrate.calendar.previous import parse_previous
from migrate.registry.load import load_registry
from migrate.schedule.due import DependencyFacts

TODAY = "2026-11-02"  # the next window is 2027Q1's (Jan 8-28)
FEED = "calendar.ics"
NAME = "llm-model-migrations"
BILLING = f"retirement-billing-summarizer-openai-gpt-4o-2024-08-06@{NAME}"
SEARCH = f"retirement-search-query-rewriter-gemini-gemini-3.1-flash-lite@{NAME}"
CONTRACT = f"retirement-contract-extractor-bedrock-anthropic.claude-sonnet-4-5-20250929-v1-0@{NAME}"


# What `migrate calendar` says on success: the feed, its events and the changes by kind.
WROTE = re.compile(
    r"(Wrote|Up to date:) \S+: \d+ events for \d{4}Q[1-4](-\d{4}Q[1-4])? \(\d+ added, "
    r"\d+ changed, \d+ unchanged, \d+ cancelled(; \d+ (carried over|dropped)(, \d+ dropped)?)?\)\n"
)


def calendar(cli: CliRunner, root: Path, *args: str, today: str = TODAY, code: int = 0):  # type: ignore[no-untyped-def]
    """Run `migrate calendar`; exit `code` with its one line (or one error) said."""
    result = invoke(cli, "calendar", "--today", today, *args, cwd=root)
    assert result.exit_code == code, result.output + result.stderr
    if code != 0:
        assert result.stderr.startswith("migrate: error: ") and result.stdout == ""
    elif "--json" not in args:
        assert WROTE.fullmatch(result.stdout), result.stdout
    return result


def summary(cli: CliRunner, root: Path, *args: str, today: str = TODAY) -> dict:  # type: ignore[type-arg]
    return json.loads(calendar(cli, root, "--json", *args, today=today).stdout)


def unfolded(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")[:-1]


def blocks(data: bytes) -> dict[str, str]:
    """Each VEVENT's unfolded text by UID, exactly as written."""
    found: dict[str, str] = {}
    for block in re.findall(r"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", data.decode(), re.DOTALL):
        uid = re.search(r"^UID:(.*)$", block.replace("\r\n ", ""), re.MULTILINE)
        assert uid is not None
        found[uid.group(1).strip()] = block
    return found


def events(data: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(data)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def edit_registry(root: Path, old: str, new: str) -> None:
    path = root / "models.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


# -- the bytes ---------------------------------------------------------------------------


def test_the_feed_is_crlf_folded_and_says_what_it_is(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert data.count(b"\n") == data.count(b"\r\n"), "a bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "a bare CR"
    lines = data.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    assert any(len(line) == 75 for line in lines), "long lines are folded at 75 octets"
    head = unfolded(data)[: unfolded(data).index("BEGIN:VTIMEZONE")]
    for line in [
        "VERSION:2.0",
        "METHOD:PUBLISH",
        "NAME:LLM model migrations",
        "X-WR-CALNAME:LLM model migrations",
        "X-WR-TIMEZONE:Europe/Berlin",
        "REFRESH-INTERVAL;VALUE=DURATION:P1D",
        "X-PUBLISHED-TTL:P1D",
    ]:
        assert line in head
    assert any(line.startswith("PRODID:") for line in head)
    assert b"ATTENDEE" not in data and b"ORGANIZER" not in data


def test_every_tzid_has_its_vtimezone_and_reviews_are_timed(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    lines = unfolded(data)
    used = {m for line in lines for m in re.findall(r";TZID=([^;:]+)", line)}
    defined = {line.removeprefix("TZID:") for line in lines if line.startswith("TZID:")}
    assert used == {"Europe/Berlin"} and used <= defined
    review = events(data)[f"review-2027Q1@{NAME}"]
    assert review.decoded("DTSTART") == dt.datetime(2027, 1, 8, 9, 0, tzinfo=dt.UTC)
    assert review.decoded("DTEND") == dt.datetime(2027, 1, 8, 10, 0, tzinfo=dt.UTC)
    assert "DTSTART;TZID=Europe/Berlin:20270108T100000" in lines
    summer = events(data)[f"review-2027Q2@{NAME}"]
    assert summer.decoded("DTSTART") == dt.datetime(2027, 4, 8, 8, 0, tzinfo=dt.UTC)


def test_windows_and_deadlines_are_all_day_transparent_with_exclusive_ends(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    window = blocks(data)[f"window-2027Q1@{NAME}"].replace("\r\n ", "")
    assert "DTSTART;VALUE=DATE:20270108\r\n" in window
    assert "DTEND;VALUE=DATE:20270129\r\n" in window  # the window's last day is Jan 28
    assert "TRANSP:TRANSPARENT\r\n" in window
    deadline = blocks(data)[BILLING].replace("\r\n ", "")
    assert "DTSTART;VALUE=DATE:20270114\r\n" in deadline
    assert "DTEND;VALUE=DATE:20270115\r\n" in deadline
    assert "TRANSP:TRANSPARENT\r\n" in deadline
    for uid, event in events(data).items():
        if not uid.startswith("review-"):
            start, end = event.decoded("DTSTART"), event.decoded("DTEND")
            assert type(start) is dt.date and type(end) is dt.date and end > start


def test_deadlines_remind_with_display_alarms_that_say_what_to_do(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    alarms = icalendar.Calendar.from_ical(data).walk("VALARM")
    assert alarms and all(a["ACTION"] == "DISPLAY" and str(a["DESCRIPTION"]) for a in alarms)
    billing = events(data)[BILLING]
    triggers = [a.decoded("TRIGGER") for a in billing.walk("VALARM")]
    # settings.reminders_days [60, 30, 14, 7, 1], each at 09:00 on its day
    assert triggers == [dt.timedelta(days=-d, hours=9) for d in (60, 30, 14, 7, 1)]
    texts = [str(a["DESCRIPTION"]) for a in billing.walk("VALARM")]
    assert texts[0].startswith("openai/gpt-4o-2024-08-06 retires in 60 days (2027-01-14)")
    assert "The latest safe date, 2026-12-15, is in 30 days." in texts[0]
    assert "passed 16 days ago" in texts[2]
    assert "retires tomorrow" in texts[4]
    assert all("migrate run billing-summarizer" in t for t in texts)


def test_descriptions_say_what_to_do_without_counting_from_today(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    found = events((example_workspace / FEED).read_bytes())
    window = str(found[f"window-2027Q1@{NAME}"]["DESCRIPTION"])
    # billing-summarizer, ticket-classifier and support-reply-drafter are urgent (their
    # latest safe dates, Dec 15 and Oct 31, come before the Jan 8 window): due now, so the
    # window lists the other four only
    assert str(found[f"window-2027Q1@{NAME}"]["SUMMARY"]) == "Migration window 2027Q1 (4 due)"
    for urgent in ("billing-summarizer", "ticket-classifier", "support-reply-drafter"):
        assert urgent not in window
        assert urgent not in str(found[f"review-2027Q1@{NAME}"]["DESCRIPTION"])
    assert "contract-extractor\n  Model: bedrock/anthropic.claude-sonnet-4-5" in window
    assert "  Retires: 2027-04-08, 90 days after this window opens\n" in window
    assert "  Runbook: runbooks/2027Q1/contract-extractor.md\n" in window
    assert "  Run: migrate run contract-extractor\n" in window
    assert "  Owners: erin@example.com\n" in window
    deadline = str(found[BILLING]["DESCRIPTION"])
    assert str(found[BILLING]["SUMMARY"]) == (
        "billing-summarizer: openai/gpt-4o-2024-08-06 retires (URGENT: migrate now)"
    )
    assert "Latest safe date: 2026-12-15, 30 days before this deadline" in deadline
    assert "Urgent: no migration window ends by the latest safe date: migrate now" in deadline
    assert "window 2027Q1" not in deadline
    assert "Owners: alice@example.com" in deadline
    # filed under the current quarter (Nov 2): `migrate plan` writes it there
    assert "Runbook: runbooks/2026Q4/billing-summarizer.md" in deadline
    assert "  migrate plan\n" in deadline
    assert "  migrate run billing-summarizer" in deadline
    assert "  migrate signoff billing-summarizer --by alice@example.com" in deadline
    contract = str(found[CONTRACT]["DESCRIPTION"])
    assert "Due in migration window 2027Q1 (2027-01-08 to 2027-01-28), which opens" in contract
    assert "Runbook: runbooks/2027Q1/contract-extractor.md" in contract
    assert "migrate now" not in contract
    later = str(found[f"window-2027Q2@{NAME}"]["SUMMARY"])
    assert later == "Migration window 2027Q2 (nothing due yet)"
    for event in found.values():
        assert "today" not in str(event["DESCRIPTION"]).lower()


def test_uids_name_what_an_event_is(cli: CliRunner, example_workspace: Path) -> None:
    calendar(cli, example_workspace)
    uids = set(events((example_workspace / FEED).read_bytes()))
    quarters = ["2027Q1", "2027Q2", "2027Q3", "2027Q4"]
    assert {u for u in uids if not u.startswith("retirement-")} == {
        f"{kind}-{q}@{NAME}" for kind in ("window", "review") for q in quarters
    }
    assert {BILLING, SEARCH, CONTRACT} <= uids
    assert len([u for u in uids if u.startswith("retirement-")]) == 6  # faq-answerer: none


# -- regeneration ------------------------------------------------------------------------


def test_an_unchanged_workspace_gives_a_byte_identical_feed(
    cli: CliRunner, example_workspace: Path
) -> None:
    first = summary(cli, example_workspace)
    assert (first["added"], first["events"], first["written"]) == (14, 14, True)
    data = (example_workspace / FEED).read_bytes()
    # DTSTAMP is the registry's last commit (author time), not the clock
    assert set(re.findall(rb"DTSTAMP:(\w+)", data)) == {b"20261001T120000Z"}
    os.utime(example_workspace / FEED, (0, 0))
    again = summary(cli, example_workspace, today="2026-11-20")  # another day, same quarter
    assert (again["unchanged"], again["written"], again["changes"]) == (14, False, [])
    assert (example_workspace / FEED).read_bytes() == data
    assert (example_workspace / FEED).stat().st_mtime == 0, "an up-to-date feed is not rewritten"


def test_list_position_never_matters(cli: CliRunner, example_workspace: Path) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    path = example_workspace / "models.yaml"
    head, deps = path.read_text(encoding="utf-8").split("dependencies:\n")
    entries = re.split(r"\n(?=  \S)", deps.strip("\n"))
    path.write_text(
        head + "dependencies:\n" + "\n".join(reversed(entries)) + "\n", encoding="utf-8"
    )
    commit_as(example_workspace, "alice@example.com", "2026-10-05", "Sort dependencies")
    assert summary(cli, example_workspace)["unchanged"] == 14
    assert (example_workspace / FEED).read_bytes() == data


def test_a_changed_date_bumps_sequence_and_keeps_the_uid(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    before = (example_workspace / FEED).read_bytes()
    edit_registry(
        example_workspace,
        "  openai/gpt-4o-2024-08-06:\n    retires: 2027-01-14\n",
        "  openai/gpt-4o-2024-08-06:\n    retires: 2027-03-31\n",
    )
    commit_as(example_workspace, "alice@example.com", "2026-10-20", "OpenAI moved the date")
    result = summary(cli, example_workspace)
    after = (example_workspace / FEED).read_bytes()
    changed = {c["uid"] for c in result["changes"]}
    # the deadline, and the window and review that list billing-summarizer
    assert changed == {BILLING, f"window-2027Q1@{NAME}", f"review-2027Q1@{NAME}"}
    assert (result["changed"], result["unchanged"], result["added"]) == (3, 11, 0)
    deadline = events(after)[BILLING]
    assert deadline.decoded("DTSTART") == dt.date(2027, 3, 31)
    assert deadline["SEQUENCE"] == 1
    assert deadline.decoded("DTSTAMP") == dt.datetime(2026, 10, 20, 12, tzinfo=dt.UTC)
    old, new = blocks(before), blocks(after)
    assert set(old) == set(new)
    for uid in set(old) - changed:
        assert new[uid] == old[uid], f"{uid} changed bytes without a change of content"
    # a second change to the same event goes on counting
    edit_registry(example_workspace, "retires: 2027-03-31\n", "retires: 2027-03-30\n")
    commit_as(example_workspace, "alice@example.com", "2026-10-21", "And again")
    calendar(cli, example_workspace)
    assert events((example_workspace / FEED).read_bytes())[BILLING]["SEQUENCE"] == 2


def test_an_uncommitted_registry_stamps_with_its_modification_time(
    cli: CliRunner, example_workspace: Path
) -> None:
    edit_registry(example_workspace, "retires: 2027-05-07\n", "retires: 2027-05-14\n")
    moment = dt.datetime(2026, 10, 15, 12, 34, 56, tzinfo=dt.UTC).timestamp()
    os.utime(example_workspace / "models.yaml", (moment, moment))
    calendar(cli, example_workspace)
    found = events((example_workspace / FEED).read_bytes())
    assert found[SEARCH].decoded("DTSTAMP") == dt.datetime(2026, 10, 15, 12, 34, 56, tzinfo=dt.UTC)


def test_a_removed_dependency_is_cancelled_once_then_dropped(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    path = example_workspace / "models.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  search-query-rewriter:\n")
    path.write_text(
        text[:start] + text[text.index("  release-notes-writer:\n") :], encoding="utf-8"
    )
    commit_as(example_workspace, "frank@example.com", "2026-10-25", "Retire the rewriter")

    first = summary(cli, example_workspace)
    assert first["cancelled"] == 1
    assert {"uid": SEARCH, "change": "cancelled"} in first["changes"]
    cancelled = events((example_workspace / FEED).read_bytes())[SEARCH]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled["SEQUENCE"] == 1
    assert cancelled.decoded("DTSTAMP") == dt.datetime(2026, 10, 25, 12, tzinfo=dt.UTC)
    assert cancelled.decoded("DTSTART") == dt.date(2027, 5, 7)
    assert not cancelled.walk("VALARM"), "no reminders for a withdrawn deadline"

    second = summary(cli, example_workspace)
    assert (second["cancelled"], second["dropped"], second["events"]) == (0, 1, 13)
    data = (example_workspace / FEED).read_bytes()
    assert SEARCH.encode() not in data.replace(b"\r\n ", b"")
    third = summary(cli, example_workspace)
    assert (third["dropped"], third["written"]) == (0, False)


def test_a_dependency_that_comes_back_is_updated_not_duplicated(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    original = (example_workspace / "models.yaml").read_text(encoding="utf-8")
    migrated = "    model: gemini/gemini-3.{}-flash-lite\n    candidates: [{}]\n"
    edit_registry(
        example_workspace,
        migrated.format(1, "gemini/gemini-3.5-flash-lite"),
        migrated.format(5, ""),
    )  # migrated: the old model's deadline is moot
    calendar(cli, example_workspace)
    assert str(events((example_workspace / FEED).read_bytes())[SEARCH]["STATUS"]) == ("CANCELLED")
    (example_workspace / "models.yaml").write_text(original, encoding="utf-8")
    result = summary(cli, example_workspace)
    assert {"uid": SEARCH, "change": "changed"} in result["changes"]
    back = events((example_workspace / FEED).read_bytes())[SEARCH]
    assert (str(back["STATUS"]), back["SEQUENCE"]) == ("CONFIRMED", 2)


def test_past_quarters_are_carried_over_for_a_year_then_dropped(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    window = f"window-2027Q1@{NAME}"
    original = blocks((example_workspace / FEED).read_bytes())[window]

    moved = summary(cli, example_workspace, today="2027-01-09")  # 2027Q1's window has begun
    assert moved["quarters"] == ["2027Q2", "2027Q3", "2027Q4", "2028Q1"]
    assert moved["cancelled"] == 0 and moved["carried_over"] == 2
    assert {"uid": f"window-2028Q1@{NAME}", "change": "added"} in moved["changes"]
    assert blocks((example_workspace / FEED).read_bytes())[window] == original

    calendar(cli, example_workspace, today="2027-06-01")
    assert blocks((example_workspace / FEED).read_bytes())[window] == original

    late = summary(cli, example_workspace, today="2028-02-01")  # it ended over a year ago
    data = (example_workspace / FEED).read_bytes()
    assert late["cancelled"] == 0
    assert {"uid": window, "change": "dropped"} in late["changes"]
    assert window not in blocks(data) and b"STATUS:CANCELLED" not in data


# -- options and errors ------------------------------------------------------------------


def test_owner_feed_has_only_their_dependencies(cli: CliRunner, example_workspace: Path) -> None:
    result = summary(cli, example_workspace, "--owner", "Alice@Example.com")
    assert result["path"] == "calendar-alice-at-example.com.ics"
    assert result["owner"] == "alice@example.com"
    data = (example_workspace / result["path"]).read_bytes()
    found = events(data)
    slug = f"{NAME}.alice-at-example.com"
    assert {u for u in found if u.startswith("retirement-")} == {
        BILLING.replace(f"@{NAME}", f"@{slug}")
    }
    # every window and review is published, listing only alice's dependencies
    assert len([u for u in found if not u.startswith("retirement-")]) == 8
    window = found[f"window-2027Q1@{slug}"]
    assert str(window["SUMMARY"]) == "Migration window 2027Q1 (1 due)"
    text = str(window["DESCRIPTION"])
    assert "faq-answerer" in text  # billing-summarizer is urgent: due now, in no window
    assert "billing-summarizer" not in text
    assert "ticket-classifier" not in text
    assert "X-WR-CALNAME:LLM model migrations (alice@example.com)" in unfolded(data)
    assert not (example_workspace / FEED).exists()


def test_an_owner_feed_never_replaces_the_team_feed(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    result = calendar(cli, example_workspace, "--owner", "alice@example.com", "--out", FEED, code=2)
    assert result.stderr.strip().count("\n") == 0
    assert "holds the feed of all owners, not of alice@example.com" in result.stderr
    assert (example_workspace / FEED).read_bytes() == data


def test_an_owner_with_nothing_gets_windows_and_a_warning(
    cli: CliRunner, example_workspace: Path
) -> None:
    result = calendar(cli, example_workspace, "--owner", "nobody@example.com")
    assert "no dependency in models.yaml is owned by nobody@example.com" in result.stderr
    assert "8 events" in result.stdout


def test_owner_must_be_an_email(cli: CliRunner, example_workspace: Path) -> None:
    result = calendar(cli, example_workspace, "--owner", "alice", code=2)
    assert "--owner 'alice' is not an email address" in result.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"these are my notes\n", "does not begin with BEGIN:VCALENDAR"),
        (b"BEGIN:VCALENDAR\r\nsome notes\r\nEND:VCALENDAR\r\n", "is not a content line"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n", "cut short"),
        (
            b"BEGIN:VCALENDAR\r\nPRODID:-//Someone//Their calendar//EN\r\nVERSION:2.0\r\n"
            b"END:VCALENDAR\r\n",
            "migrate did not write",
        ),
    ],
)
def test_a_previous_file_that_is_not_our_feed_is_never_overwritten(
    cli: CliRunner, example_workspace: Path, content: bytes, reason: str
) -> None:
    (example_workspace / FEED).write_bytes(content)
    result = calendar(cli, example_workspace, code=2)
    message = result.stderr.strip()
    assert message.startswith("migrate: error: calendar.ics: ") and "\n" not in message
    assert reason in message and "refusing to overwrite it" in message
    assert (example_workspace / FEED).read_bytes() == content


def test_a_truncated_feed_is_refused(cli: CliRunner, example_workspace: Path) -> None:
    calendar(cli, example_workspace)
    data = (example_workspace / FEED).read_bytes()
    (example_workspace / FEED).write_bytes(data[: len(data) // 2])
    assert "cut short" in calendar(cli, example_workspace, code=2).stderr


def test_an_empty_file_holds_no_state(cli: CliRunner, example_workspace: Path) -> None:
    (example_workspace / FEED).write_bytes(b"")
    assert summary(cli, example_workspace)["added"] == 14


def test_a_bad_registry_writes_nothing(cli: CliRunner, example_workspace: Path) -> None:
    edit_registry(example_workspace, "  timezone: Europe/Berlin\n", "  timezone: Mars/Olympus\n")
    result = calendar(cli, example_workspace, code=2)
    assert "models.yaml:" in result.stderr and "Mars/Olympus" in result.stderr
    assert not (example_workspace / FEED).exists()


def test_out_and_quarters(cli: CliRunner, example_workspace: Path) -> None:
    result = calendar(cli, example_workspace, "--out", "public/team.ics", "--quarters", "2")
    assert result.stdout == (
        "Wrote public/team.ics: 10 events for 2027Q1-2027Q2 "
        "(10 added, 0 changed, 0 unchanged, 0 cancelled)\n"
    )
    data = (example_workspace / "public" / "team.ics").read_bytes()
    assert f"window-2027Q2@{NAME}" in blocks(data) and f"window-2027Q3@{NAME}" not in blocks(data)
    assert (example_workspace / "public" / "team.ics").stat().st_mode & 0o044 == 0o044


def test_json_summary(cli: CliRunner, example_workspace: Path) -> None:
    result = summary(cli, example_workspace)
    assert {k: v for k, v in result.items() if k != "changes"} == {
        "path": "calendar.ics",
        "written": True,
        "owner": None,
        "quarters": ["2027Q1", "2027Q2", "2027Q3", "2027Q4"],
        "events": 14,
        "added": 14,
        "changed": 0,
        "unchanged": 0,
        "cancelled": 0,
        "carried_over": 0,
        "dropped": 0,
    }
    assert sorted(c["uid"] for c in result["changes"]) == sorted(
        events((example_workspace / FEED).read_bytes())
    )


def test_the_registry_can_live_elsewhere(
    cli: CliRunner, example_workspace: Path, tmp_path: Path
) -> None:
    result = invoke(
        cli,
        "calendar",
        "--today",
        TODAY,
        "--registry",
        str(example_workspace / "models.yaml"),
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Wrote {example_workspace / FEED}: 14 events for 2027Q1-2027Q4 "
        "(14 added, 0 changed, 0 unchanged, 0 cancelled)\n"  # 4 windows, 4 reviews, 6 retiring
    )
    assert (example_workspace / FEED).is_file() and not (tmp_path / FEED).exists()


# -- the pure core -----------------------------------------------------------------------


def test_event_text_does_not_depend_on_the_day_within_a_quarter(
    example_workspace: Path,
) -> None:
    registry = load_registry(example_workspace / "models.yaml")
    facts = {d: DependencyFacts() for d in registry.dependencies}
    days = [dt.date(2026, 10, 9), dt.date(2026, 11, 2), dt.date(2026, 11, 29)]
    plans = [feed_events(registry, facts, day) for day in days]
    assert plans[0].events == plans[1].events == plans[2].events


def test_the_previous_feed_round_trips(example_workspace: Path) -> None:
    registry = load_registry(example_workspace / "models.yaml")
    plan = feed_events(registry, {}, dt.date(2026, 11, 2))
    stamp = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)

    def render(previous: bytes | None) -> bytes:
        return render_feed(
            plan.events,
            previous,
            info=plan.info,
            stamp=stamp,
            today=dt.date(2026, 11, 2),
            history_before=plan.history_before,
        ).data

    first = render(None)
    state = parse_previous(first)
    assert state is not None and set(state.events) == {e.uid for e in plan.events}
    assert all(e.sequence == 0 and not e.cancelled for e in state.events.values())
    assert render(first) == first
    # icalendar folds differently; the state survives a rewrite by another tool
    rewritten = icalendar.Calendar.from_ical(first).to_ical()
    assert rewritten != first
    assert render(rewritten) == first


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_folding_keeps_every_line_within_75_octets(text: str) -> None:
    line = "DESCRIPTION:" + text.replace("\r", " ").replace("\n", " ")
    folded = fold(line)
    pieces = folded.split("\r\n ")
    assert all(
        len(piece.encode("utf-8")) <= (75 if i == 0 else 74) for i, piece in enumerate(pieces)
    )
    assert "".join(pieces) == line


def test_registry_file_with_an_odd_name_still_works(cli: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "not-a-repo"
    write(
        root / "team.yaml",
        """
        version: 1
        settings: {timezone: UTC, calendar_name: "Team, models; and more"}
        models:
          openai/gpt-4o: {retires: 2027-02-01}
        dependencies:
          app:
            model: openai/gpt-4o
            owners: [ops@example.com]
    """,
    )
    moment = dt.datetime(2026, 9, 1, tzinfo=dt.UTC).timestamp()
    os.utime(root / "team.yaml", (moment, moment))
    result = invoke(cli, "calendar", "--today", TODAY, "--registry", "team.yaml", cwd=root)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Wrote calendar.ics: 9 events for 2027Q1-2027Q4 "  # beside the registry given
        "(9 added, 0 changed, 0 unchanged, 0 cancelled)\n"
    )
    data = (root / FEED).read_bytes()
    assert "X-WR-CALNAME:Team\\, models\\; and more" in unfolded(data)
    found = events(data)
    assert "retirement-app-openai-gpt-4o@team-models-and-more" in found
    assert found["review-2027Q1@team-models-and-more"].decoded("DTSTART") == dt.datetime(
        2027, 1, 8, 10, tzinfo=dt.UTC
    )
    assert {e.decoded("DTSTAMP") for e in found.values()} == {
        dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    }


def test_dtstamp_never_goes_backwards(example_workspace: Path) -> None:
    """A change that comes from history (a new run), not from the registry, keeps the
    later stamp the event already had."""
    registry = load_registry(example_workspace / "models.yaml")
    today = dt.date(2026, 11, 2)
    plan = feed_events(registry, {}, today)
    later = dt.datetime(2026, 10, 20, 8, 30, tzinfo=dt.UTC)
    first = render_feed(
        plan.events,
        None,
        info=plan.info,
        stamp=later,
        today=today,
        history_before=plan.history_before,
    )
    fresh = {d: DependencyFacts(last_baseline=dt.date(2026, 11, 1)) for d in registry.dependencies}
    replanned = feed_events(registry, fresh, today)  # no stale_baseline any more
    second = render_feed(
        replanned.events,
        first.data,
        info=plan.info,
        stamp=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        today=today,
        history_before=plan.history_before,
    )
    changed = [uid for uid, c in second.changes.items() if c == "changed"]
    assert f"window-2027Q1@{NAME}" in changed
    for uid in changed:
        event = events(second.data)[uid]
        assert event["SEQUENCE"] == 1 and event.decoded("DTSTAMP") == later


def test_dependencies_whose_uids_would_collide_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    write(
        tmp_path / "models.yaml",
        """
        version: 1
        models:
          c/d: {retires: 2027-02-01}
          b-c/d: {retires: 2027-02-01}
        dependencies:
          a-b: {model: c/d, owners: [x@example.com]}
          a: {model: b-c/d, owners: [y@example.com]}
    """,
    )
    result = invoke(cli, "calendar", "--today", TODAY, cwd=tmp_path)
    assert result.exit_code == 2
    assert "dependencies 'a-b' and 'a' would share the calendar UID" in result.stderr
    assert not (tmp_path / FEED).exists()


def test_a_cancelled_event_is_not_carried_over_once_it_is_past(
    cli: CliRunner, example_workspace: Path
) -> None:
    calendar(cli, example_workspace)
    edit_registry(example_workspace, "  search-query-rewriter:\n", "  query-rewriter:\n")
    calendar(cli, example_workspace)
    assert str(events((example_workspace / FEED).read_bytes())[SEARCH]["STATUS"]) == ("CANCELLED")
    result = summary(cli, example_workspace, today="2027-06-01")  # after its date
    assert {"uid": SEARCH, "change": "dropped"} in result["changes"]
    assert SEARCH not in events((example_workspace / FEED).read_bytes())


def test_vtimezones_kept_as_data_are_icalendars_own_and_a_stale_entry_is_rebuilt(
    tmp_path: Path,
) -> None:
    from migrate.calendar.ics import vtimezones

    zones = {
        "Europe/Berlin": [dt.date(2026, 11, 26), dt.date(2027, 3, 1)],
        "America/New_York": [dt.date(2027, 6, 1)],
    }
    built = vtimezones(zones)  # icalendar's, nothing kept
    assert vtimezones(zones, tmp_path) == built
    entries = sorted(tmp_path.glob("*.json"))
    assert len(entries) == 2
    # The next command reads the entry rather than icalendar: a marked entry shows it.
    kept = json.loads(entries[0].read_text(encoding="utf-8"))
    entries[0].write_text(json.dumps({**kept, "lines": ["X-MARK"]}), encoding="utf-8")
    assert "X-MARK" in vtimezones(zones, tmp_path)
    # An entry for other rules (its key differs), or torn, is built again and replaced.
    entries[0].write_text(json.dumps({"key": "other", "lines": ["X-MARK"]}), encoding="utf-8")
    assert vtimezones(zones, tmp_path) == built
    entries[1].write_text("{torn", encoding="utf-8")
    assert vtimezones(zones, tmp_path) == built
