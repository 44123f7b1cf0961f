"""Quarters, migration windows and due reasons: property tests for the date arithmetic,
and one test per due reason through the real seams (stored runs on disk, a real git
repository)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_as, init_repo, write
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.errors import UsageError
from migrate.registry.load import Registry, load_registry
from migrate.registry.schema import RegistryFile, WindowSettings
from migrate.schedule.due import (
    DependencyFacts,
    Reason,
    assess,
    default_quarter,
    first_due_windows,
    plan_quarter,
)
from migrate.schedule.quarters import (
    Quarter,
    migration_window,
    next_window,
    review_meeting,
    window_for_retirement,
)
from migrate.workspace import open_workspace
from migrate.yamlsource import Located
from tests.support.stored_run import store_run

DAY = dt.timedelta(days=1)

quarters = st.builds(Quarter, st.integers(1, 9999), st.integers(1, 4))
dates = st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))


@st.composite
def window_settings(draw: st.DrawFn) -> WindowSettings:
    start_day = draw(st.integers(1, 90))
    length = draw(st.integers(1, 91 - start_day))
    return WindowSettings(start_day=start_day, length_days=length)


# --- quarters --------------------------------------------------------------------------


@given(quarters)
def test_quarter_parse_round_trips(quarter: Quarter) -> None:
    assert Quarter.parse(str(quarter)) == quarter
    assert Quarter.parse(str(quarter).lower()) == quarter


@pytest.mark.parametrize("text", ["2027Q1", "2027q1", "2027-Q1", " 2027 Q1 "])
def test_quarter_parse_accepts_common_spellings(text: str) -> None:
    assert Quarter.parse(text) == Quarter(2027, 1)


@pytest.mark.parametrize("text", ["2027Q5", "2027Q0", "27Q1", "Q1 2027", "2027", "", "0000Q1"])
def test_quarter_parse_refuses_what_is_not_a_quarter(text: str) -> None:
    with pytest.raises(UsageError, match="is not a quarter"):
        Quarter.parse(text)


@given(st.builds(Quarter, st.integers(100, 9000), st.integers(1, 4)), st.integers(-300, 300),
       st.integers(-300, 300))  # fmt: skip
def test_quarter_shift_adds_up(quarter: Quarter, a: int, b: int) -> None:
    assert quarter.shift(a).shift(b) == quarter.shift(a + b)
    assert quarter.shift(0) == quarter
    assert quarter.shift(4) == Quarter(quarter.year + 1, quarter.number)
    assert (quarter.shift(a) > quarter) == (a > 0)
    assert (quarter.shift(a).first_day > quarter.first_day) == (a > 0)


@given(st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)))
def test_containing_quarter_holds_the_day(day: dt.date) -> None:
    quarter = Quarter.containing(day)
    assert quarter.first_day <= day <= quarter.last_day
    assert Quarter.containing(quarter.first_day) == quarter
    assert Quarter.containing(quarter.last_day) == quarter
    assert quarter.first_day.day == 1 and quarter.first_day.month in (1, 4, 7, 10)
    assert 90 <= (quarter.last_day - quarter.first_day).days + 1 <= 92
    if quarter < Quarter(9999, 4):
        assert quarter.shift(1).first_day == quarter.last_day + DAY


def test_last_quarter_of_the_calendar() -> None:
    assert Quarter(9999, 4).last_day == dt.date(9999, 12, 31)
    assert str(Quarter(999, 1)) == "0999Q1"


# --- windows -------------------------------------------------------------------------


@given(quarters, window_settings())
def test_window_lies_inside_its_quarter(quarter: Quarter, ws: WindowSettings) -> None:
    window = migration_window(quarter, ws)
    assert window.quarter == quarter
    assert quarter.first_day <= window.start <= window.end <= quarter.last_day
    assert (window.start - quarter.first_day).days == ws.start_day - 1
    assert (window.end - window.start).days + 1 == ws.length_days
    assert window.end_exclusive == window.end + DAY


@given(dates, window_settings())
def test_next_window_is_the_earliest_starting_on_or_after_today(
    today: dt.date, ws: WindowSettings
) -> None:
    window = next_window(today, ws)
    assert window.start >= today
    assert migration_window(window.quarter.shift(-1), ws).start < today
    assert window.quarter in (Quarter.containing(today), Quarter.containing(today).shift(1))


def test_next_window_on_the_window_start_and_the_day_after() -> None:
    ws = WindowSettings(start_day=8, length_days=21)
    assert next_window(dt.date(2027, 1, 8), ws).start == dt.date(2027, 1, 8)
    assert next_window(dt.date(2027, 1, 9), ws).start == dt.date(2027, 4, 8)
    assert next_window(dt.date(2026, 12, 31), ws).start == dt.date(2027, 1, 8)
    assert next_window(dt.date(2027, 1, 9), ws).end == dt.date(2027, 4, 28)


def test_review_meeting_is_timed_in_the_registry_time_zone() -> None:
    registry = registry_from({"settings": {"timezone": "Europe/Berlin"}})
    meeting = review_meeting(Quarter(2027, 3), registry.settings.review, registry.settings.tz)
    assert meeting.start.isoformat() == "2027-07-08T10:00:00+02:00"
    assert meeting.end - meeting.start == dt.timedelta(minutes=60)


# --- the schedule: every retiring dependency is in exactly one window, or urgent -------


def registry_from(data: dict[str, Any], root: Path = Path(".")) -> Registry:
    data = {"version": 1, **data}
    return Registry(
        path=root / "models.yaml",
        content=RegistryFile.model_validate(data),
        located=Located(data=data, file="models.yaml"),
    )


def retiring_registry(retirements: list[dt.date], margin: int, ws: WindowSettings) -> Registry:
    models: dict[str, Any] = {f"m{i}": {"retires": day} for i, day in enumerate(retirements)}
    models["new"] = {}
    deps = {f"dep{i}": {"model": f"m{i}", "candidates": ["new"], "owners": ["a@example.com"]}
            for i in range(len(retirements))}  # fmt: skip
    settings_ = {"safety_margin_days": margin,
                 "window": {"start_day": ws.start_day, "length_days": ws.length_days}}  # fmt: skip
    return registry_from({"settings": settings_, "models": models, "dependencies": deps})


def windows_from(today: dt.date, ws: WindowSettings, count: int) -> list[Any]:
    first = next_window(today, ws).quarter
    return [migration_window(first.shift(i), ws) for i in range(count)]


@settings(max_examples=300, deadline=None)
@given(
    today=st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)),
    offsets=st.lists(st.integers(-400, 900), max_size=5),
    near=st.lists(st.integers(-2, 2), max_size=3),
    margin=st.integers(0, 365),
    ws=window_settings(),
    approved=st.booleans(),
)
def test_every_retiring_dependency_is_scheduled_once_or_urgent(
    today: dt.date,
    offsets: list[int],
    near: list[int],
    margin: int,
    ws: WindowSettings,
    approved: bool,
) -> None:
    horizon = windows_from(today, ws, 8)
    # random retirements, and some within two days of just fitting the next window
    retirements = [today + dt.timedelta(days=o) for o in offsets] + [
        horizon[0].end + dt.timedelta(days=margin + delta) for delta in near
    ]
    registry = retiring_registry(retirements, margin, ws)
    facts = {dep: DependencyFacts(approved=approved) for dep in registry.dependencies}
    placed = first_due_windows(registry, facts, today, [w.quarter for w in horizon])
    for i, retires in enumerate(retirements):
        dep = f"dep{i}"
        entries = [(q, d) for q, ds in placed.items() for d in ds if d.dependency == dep]
        assert len(entries) == 1, f"{dep} is due in {len(entries)} windows"
        quarter, due = entries[0]
        deadline = retires - dt.timedelta(days=margin)
        assert due.retires == retires and due.deadline == deadline
        overdue = today >= retires and not approved
        assert (Reason.OVERDUE in due.reasons) == overdue
        if overdue:  # the API has stopped answering: due now whatever the windows say
            assert due.urgent and Reason.RETIRING not in due.reasons
            assert quarter == horizon[0].quarter
        elif due.urgent:
            # no window that starts on or after today ends by the latest safe date
            assert all(w.end > deadline for w in horizon)
            assert quarter == horizon[0].quarter  # urgent means due now, in the next window
            assert window_for_retirement(today, retires, ws, margin) is None
        else:
            assert Reason.RETIRING in due.reasons
            assert due.window.end <= deadline
            assert due.window == horizon[0]  # the earliest window that fits
            assert window_for_retirement(today, retires, ws, margin) == due.window
            assert due.window.start >= today


@settings(max_examples=200, deadline=None)
@given(today=st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), ws=window_settings(),
       margin=st.integers(1, 365), ahead=st.integers(1, 6))  # fmt: skip
def test_later_quarters_are_projected_to_their_window_start(
    today: dt.date, ws: WindowSettings, margin: int, ahead: int
) -> None:
    target = next_window(today, ws).quarter.shift(ahead)
    window = migration_window(target, ws)
    retires = window.end + dt.timedelta(days=margin)  # fits that window exactly
    registry = retiring_registry([retires], margin, ws)
    plan = plan_quarter(registry, {}, today, target)
    assert plan.as_of == window.start and plan.window == window
    (due,) = plan.due
    assert not due.urgent and due.window == window


def test_a_window_that_has_opened_has_nothing_left_to_plan() -> None:
    ws = WindowSettings(start_day=8, length_days=21)
    registry = retiring_registry([dt.date(2027, 1, 14)], 30, ws)
    today = dt.date(2026, 10, 10)  # the 2026Q4 window opened on Oct 8
    assert plan_quarter(registry, {}, today, Quarter(2026, 4)).due == []
    assert default_quarter(today, registry) == Quarter(2027, 1)
    assert [d.dependency for d in plan_quarter(registry, {}, today, Quarter(2027, 1)).due] == [
        "dep0"
    ]


def test_plan_lists_urgent_dependencies_first_then_by_deadline() -> None:
    ws = WindowSettings(start_day=8, length_days=21)
    today = dt.date(2026, 10, 1)
    retirements = [dt.date(2028, 1, 1), dt.date(2026, 11, 1), dt.date(2027, 6, 1)]
    registry = retiring_registry(retirements, 30, ws)
    plan = plan_quarter(registry, {}, today, Quarter(2026, 4))
    assert [(d.dependency, d.urgent) for d in plan.due] == [
        ("dep1", True), ("dep2", False), ("dep0", False),
    ]  # fmt: skip


# --- each due reason, from stored runs and git history ---------------------------------

TODAY = dt.date(2026, 10, 1)  # next window: 2026-10-08 .. 2026-10-28


def example(root: Path, retires: str | None, replacement: str | None = "vendor/new",
            owners: tuple[str, ...] = ("alice@example.com",)) -> Path:  # fmt: skip
    lifecycle = "{}" if retires is None else f"{{retires: {retires}}}"
    if retires is not None and replacement:
        lifecycle = f"{{retires: {retires}, replacement: {replacement}}}"
    elif replacement:
        lifecycle = f"{{replacement: {replacement}}}"
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize {{ text }}\n")
    # A case imported a month before the window: the suite is fresh whatever git says.
    fresh = {"id": "one", "vars": {"text": "x"}, "provenance": {"imported": "2026-09-01"}}
    write(root / "evals" / "summary.jsonl", json.dumps(fresh) + "\n")
    return write(
        root / "models.yaml",
        f"""
        version: 1
        settings: {{timezone: Europe/Berlin, safety_margin_days: 30, baseline_max_age_days: 90,
                    owner_inactive_days: 120}}
        models:
          vendor/old: {lifecycle}
          vendor/new: {{}}
        dependencies:
          summarizer:
            model: vendor/old
            candidates: [vendor/new]
            owners: [{", ".join(owners)}]
            prompt: prompts/summary.md.j2
            eval: {{cases: evals/summary.jsonl}}
        """,
    )


def due_of(registry_path: Path, today: dt.date = TODAY, *, with_git: bool = False) -> Any:
    ws = open_workspace(registry_path, today, with_git=with_git)
    return assess("summarizer", ws.registry.dependencies["summarizer"], ws.registry,
                  ws.facts["summarizer"], today)  # fmt: skip


def test_retiring_with_time_to_spare_is_due_in_the_next_window(tmp_path: Path) -> None:
    due = due_of(example(tmp_path, "2027-06-30"))
    assert Reason.RETIRING in due.reasons and Reason.OVERDUE not in due.reasons
    assert not due.urgent
    assert (due.window.start, due.window.end) == (dt.date(2026, 10, 8), dt.date(2026, 10, 28))
    assert due.deadline == dt.date(2027, 5, 31)


def test_retiring_too_soon_for_the_next_window_is_urgent(tmp_path: Path) -> None:
    # the window ends Oct 28; Oct 28 + 30 days = Nov 27: a Nov 26 retirement does not fit
    due = due_of(example(tmp_path, "2026-11-26"))
    assert Reason.RETIRING in due.reasons and due.urgent
    assert due.deadline == dt.date(2026, 10, 27)
    fits = due_of(example(tmp_path, "2026-11-27"))
    assert not fits.urgent


def test_overdue_when_the_retirement_passed_without_an_approved_signoff(tmp_path: Path) -> None:
    registry = example(tmp_path, "2026-09-15")
    due = due_of(registry)
    assert Reason.OVERDUE in due.reasons and Reason.RETIRING not in due.reasons and due.urgent
    # neither a rejection nor an approval of a run on another model counts
    store_run(tmp_path, finished=dt.date(2026, 9, 1), decision="reject")
    store_run(tmp_path, finished=dt.date(2026, 9, 2), baseline="vendor/older",
              decision="approve")  # fmt: skip
    assert Reason.OVERDUE in due_of(registry).reasons


def test_not_overdue_with_an_approved_signoff(tmp_path: Path) -> None:
    registry = example(tmp_path, "2026-09-15")
    store_run(tmp_path, finished=dt.date(2026, 8, 20), decision="approve")
    due = due_of(registry)
    assert Reason.OVERDUE not in due.reasons
    assert Reason.RETIRING in due.reasons


def test_on_the_retirement_day_itself_it_is_overdue(tmp_path: Path) -> None:
    assert Reason.OVERDUE in due_of(example(tmp_path, "2026-10-01")).reasons
    assert Reason.OVERDUE not in due_of(example(tmp_path, "2026-10-02")).reasons


def test_stale_baseline_when_there_is_none(tmp_path: Path) -> None:
    due = due_of(example(tmp_path, None, replacement=None))
    assert due.reasons == (Reason.STALE_BASELINE,)
    assert due.retires is None and due.deadline is None and not due.urgent


def test_stale_baseline_when_old_and_not_when_fresh(tmp_path: Path) -> None:
    registry = example(tmp_path, None, replacement=None)
    # measured at the window's start (Oct 8): 90 days before is Jul 10
    store_run(tmp_path, finished=dt.date(2026, 7, 9))
    assert due_of(registry).reasons == (Reason.STALE_BASELINE,)
    store_run(tmp_path, finished=dt.date(2026, 7, 10))
    assert due_of(registry) is None


def test_a_run_that_failed_on_infrastructure_is_no_baseline(tmp_path: Path) -> None:
    registry = example(tmp_path, None, replacement=None)
    store_run(tmp_path, finished=dt.date(2026, 9, 20), candidates={"vendor/new": "ERROR"})
    assert due_of(registry).reasons == (Reason.STALE_BASELINE,)
    store_run(tmp_path, finished=dt.date(2026, 9, 21), candidates={"vendor/new": "INCONCLUSIVE"})
    assert due_of(registry) is None


def test_a_baseline_of_another_model_does_not_count(tmp_path: Path) -> None:
    registry = example(tmp_path, None, replacement=None)
    store_run(tmp_path, finished=dt.date(2026, 9, 20), baseline="vendor/new",
              candidates={})  # fmt: skip
    assert due_of(registry).reasons == (Reason.STALE_BASELINE,)


def test_replacement_available_until_it_is_evaluated(tmp_path: Path) -> None:
    registry = example(tmp_path, None, replacement="vendor/new")
    store_run(tmp_path, finished=dt.date(2026, 9, 20), candidates={"vendor/other": "PASS"})
    assert due_of(registry).reasons == (Reason.REPLACEMENT_AVAILABLE,)
    store_run(tmp_path, finished=dt.date(2026, 9, 21), candidates={"vendor/new": "PASS"})
    assert due_of(registry) is None


def test_no_active_owner_from_real_git_history(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    registry = example(root, None, replacement=None)
    store_run(root, finished=dt.date(2026, 9, 20))  # a fresh baseline: no other reason
    commit_as(root, "alice@example.com", "2025-09-20", "Add the summarizer")
    due = due_of(registry, with_git=True)
    assert due is not None and due.reasons == (Reason.NO_ACTIVE_OWNER,)
    (root / "notes.md").write_text("tuned\n")
    commit_as(root, "alice@example.com", "2026-09-01", "Tune the summary prompt", "notes.md")
    assert due_of(registry, with_git=True) is None


def test_one_active_owner_is_enough(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    registry = example(root, None, replacement=None,
                       owners=("alice@example.com", "bob@example.com"))  # fmt: skip
    store_run(root, finished=dt.date(2026, 9, 20))
    commit_as(root, "alice@example.com", "2024-01-10", "Add the summarizer")
    (root / "notes.md").write_text("x\n")
    commit_as(root, "Bob@Example.com", "2026-08-30", "Notes", "notes.md")  # case differs
    assert due_of(registry, with_git=True) is None


def test_a_departed_prompt_author_is_not_a_missing_owner(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    registry = example(root, None, replacement=None)
    store_run(root, finished=dt.date(2026, 9, 20))
    commit_as(root, "mallory@example.com", "2025-01-10", "Write the summary prompt")
    (root / "notes.md").write_text("x\n")
    commit_as(root, "alice@example.com", "2026-09-01", "Notes", "notes.md")
    ws = open_workspace(registry, TODAY)
    assert ws.facts["summarizer"].inactive_prompt_authors == ("mallory@example.com",)
    assert due_of(registry, with_git=True) is None


def test_commits_after_today_do_not_count(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    registry = example(root, None, replacement=None)
    store_run(root, finished=dt.date(2026, 9, 20))
    commit_as(root, "alice@example.com", "2026-12-01", "From the future")
    assert due_of(registry, with_git=True).reasons == (Reason.NO_ACTIVE_OWNER,)


def test_outside_a_git_repository_owner_activity_is_unknown(tmp_path: Path) -> None:
    registry = example(tmp_path, None, replacement=None)
    store_run(tmp_path, finished=dt.date(2026, 9, 20))
    ws = open_workspace(registry, TODAY)
    assert ws.facts["summarizer"].owner_last_commit is None
    assert due_of(registry, with_git=True) is None


def test_reasons_are_reported_by_their_contract_names() -> None:
    assert [str(r) for r in Reason] == [
        "retiring", "overdue", "stale_baseline", "no_active_owner", "replacement_available",
        "stale_suite",
    ]  # fmt: skip


def test_bundled_registry_plans_cleanly() -> None:
    from conftest import REPO_ROOT

    registry = load_registry(REPO_ROOT / "models.yaml")
    plan = plan_quarter(registry, {}, TODAY, default_quarter(TODAY, registry))
    assert plan.quarter == Quarter(2026, 4)
    assert {d.dependency for d in plan.due} == set(registry.dependencies)  # no baselines yet
    assert not any(d.urgent for d in plan.due)  # the Oct 8-28 window fits every retirement
    # once that window has opened, the next is Jan 8-28: too late for Nov 30 and Jan 14
    later = dt.date(2026, 10, 9)
    plan = plan_quarter(registry, {}, later, default_quarter(later, registry))
    assert plan.quarter == Quarter(2027, 1)
    assert [d.dependency for d in plan.due if d.urgent] == [
        "support-reply-drafter", "billing-summarizer", "ticket-classifier",
    ]  # fmt: skip
    assert plan.due[0].deadline == dt.date(2026, 10, 31)
