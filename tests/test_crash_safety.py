"""Crash safety: `migrate` killed with SIGKILL at random points loses nothing and repeats
nothing; every file a reader sees is whole; two runs of one dependency never interleave.

The processes are real (forked from a server that imported litellm once, see
tests/support/forkserver.py), the kills are SIGKILL, and the model is the scripted server
over real HTTP.
"""

from __future__ import annotations

import ast
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.forkserver import Child, ForkServer
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import (
    candidate,
    case_ids,
    case_of,
    correct,
    journal_keys,
    journal_lines,
    outcome_fields,
    run_dirs,
    summary_of,
    write_workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TODAY = "2026-11-26"
KEY = {"TEST_LLM_KEY": "sk-test-crash-0123456789"}
CASES = 60
CALLS = 2 * CASES  # baseline and one candidate, one sample each
WRONG = {"c004", "c017", "c033", "c051"}
CONCURRENCY = 4
RUN_SETTINGS = f"{{concurrency: {CONCURRENCY}, timeout_seconds: 10, max_retries: 2}}"
RUN_ARGS = ("run", "dep", "--today", TODAY, "--no-progress")
REPORT_FILES = ("report.md", "report.html", "junit.xml", "summary.json")
SEEDS = [11, 23, 37, 41, 53, 67, 71, 89]

# Kills per phase, gathered across the module for docs/reliability.md (printed with -s).
KILLS: Counter[str] = Counter()
KILL_POINTS: set[tuple[str, str, int]] = set()
MID_WRITE: Counter[str] = Counter()  # of those kills, the ones that left a temporary file


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    server = ForkServer(tmp_path_factory.mktemp("forks"))
    yield server
    server.close()
    if KILLS:
        print(f"\ncrash safety: {sum(KILLS.values())} kills survived, {dict(KILLS)}, "
              f"{len(KILL_POINTS)} distinct kill points; in the middle of a write: "
              f"{dict(MID_WRITE)}")  # fmt: skip


def behaviours(delay: float) -> dict[str, Callable[[Request], Reply]]:
    return {"good": correct(delay=delay), "cand": candidate(wrong=WRONG, delay=delay)}


def workspace(root: Path, api_base: str) -> Path:
    return write_workspace(root, api_base, cases=CASES, run_settings=RUN_SETTINGS)


def wait_until(
    child: Child, ready: Callable[[], bool], timeout: float = 60, interval: float = 0.002
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if child.poll() is not None or time.monotonic() > deadline:
            return
        time.sleep(interval)


def phase_of(root: Path) -> str:
    """Where a killed run had got to, read from what it left on disk."""
    dirs = run_dirs(root)
    if not dirs:
        return "before the run directory"
    run_dir = dirs[0]
    if (run_dir / "summary.json").exists():
        return "after the summary (the run had finished)"
    lines = journal_lines(root)
    if lines == 0:
        return "no call journaled yet"
    if lines < CALLS:
        return "calls in flight"
    if any((run_dir / name).exists() for name in REPORT_FILES) or list(run_dir.glob(".*.tmp")):
        return "writing the reports"
    return "all calls journaled, scoring"


def assert_no_torn_file(run_dir: Path) -> None:
    """Every report file present is whole (they are written to a temporary file, then renamed)."""
    for name in REPORT_FILES:
        path = run_dir / name
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        if name.endswith(".json"):
            json.loads(text)
        elif name == "report.html":
            assert text.rstrip().endswith("</html>"), name
        elif name == "junit.xml":
            assert text.rstrip().endswith("</testsuites>"), name
        else:
            assert text.endswith("\n") and "## Reproducibility" in text, name


@pytest.fixture(scope="module")
def reference(forks: ForkServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The summary of the same run, never interrupted."""
    with ScriptedServer(behaviours(0.0)) as server:
        root = workspace(tmp_path_factory.mktemp("reference"), server.api_base)
        child = forks.spawn(root, *RUN_ARGS, env=KEY)
        assert child.wait() == 1, child.stderr
        return summary_of(run_dirs(root)[0])


def kill_plan(rng: random.Random) -> list[tuple[str, float]]:
    """Where to kill, in order: an early moment (often before the first call), two journal
    line counts, then the end (all calls journaled, scoring, or writing the reports)."""
    first, second = sorted(rng.sample(range(1, CALLS), 2))
    return [
        ("after", rng.uniform(0.0, 0.4)),
        ("lines", first),
        ("lines", second),
        (rng.choice(["lines", "reports"]), CALLS),
    ]


@pytest.mark.parametrize(
    ("seed", "workers"), [(seed, "1") for seed in SEEDS] + [(seed, "2") for seed in SEEDS[:3]]
)
def test_killed_at_random_points_then_rerun_loses_and_repeats_nothing(
    forks: ForkServer, reference: dict[str, Any], tmp_path: Path, seed: int, workers: str
) -> None:
    """With workers, the kill is the run's own process's: its workers end with it."""
    rng = random.Random(seed)
    run_args = (*RUN_ARGS, "--workers", workers)
    with ScriptedServer(behaviours(0.01)) as server:
        root = workspace(tmp_path / "ws", server.api_base)
        asked_when_journaled: dict[tuple[str, str], int] = {}
        kills = 0
        for kind, value in kill_plan(rng):
            child = forks.spawn(root, *run_args, env=KEY)
            if kind == "after":
                time.sleep(value)
            elif kind == "lines":
                wait_until(child, lambda n=value: journal_lines(root) >= n)
            else:  # the moment a report file or its temporary file appears
                wait_until(
                    child,
                    lambda: (
                        bool(run_dirs(root))
                        and (
                            any((run_dirs(root)[0] / f).exists() for f in REPORT_FILES)
                            or bool(list(run_dirs(root)[0].glob(".*.tmp")))
                        )
                    ),
                )
            if child.poll() is not None:  # it finished before the kill point: nothing to kill
                break
            child.kill()
            assert child.wait() == -9
            kills += 1
            phase = phase_of(root)
            KILLS[phase] += 1
            KILL_POINTS.add((f"seed {seed}", phase, journal_lines(root)))
            if not run_dirs(root):
                continue
            run_dir = run_dirs(root)[0]
            assert_no_torn_file(run_dir)
            keys = journal_keys(run_dir)
            assert len(keys) == len(set(keys)), "a call was journaled twice"
            for model, case, _ in keys:
                question = (model.removeprefix("openai/"), f"Question about case {case}.")
                asked_when_journaled.setdefault(question, server.asked[question])

        final = forks.spawn(root, *run_args, env=KEY)
        assert final.wait() == 1, final.stderr
        assert kills >= 2
        assert len(run_dirs(root)) == 1  # every rerun continued the same run
        run_dir = run_dirs(root)[0]
        keys = journal_keys(run_dir)
        assert len(keys) == len(set(keys)) == CALLS  # every (model, case, sample) exactly once
        for question, asked in asked_when_journaled.items():
            assert server.asked[question] == asked, f"{question} was asked again after it finished"
        repeats = sum(n - 1 for n in server.asked.values())
        assert repeats <= CONCURRENCY * kills  # only calls in flight at a kill are made again
        assert outcome_fields(summary_of(run_dir)) == outcome_fields(reference)
        assert set(summary_of(run_dir)["candidates"]["openai/cand"]["regressions"]) == WRONG
        assert_no_torn_file(run_dir)


def big_answers(request: Request) -> Reply:
    """Wrong on every case, at length: every case is a regression shown in full."""
    return Reply(text=f"Case {case_of(request)}: " + "lorem ipsum dolor " * 300)


def test_killed_while_rewriting_a_large_report_leaves_every_file_whole(
    forks: ForkServer, tmp_path: Path
) -> None:
    with ScriptedServer({"good": correct(), "cand": big_answers}) as server:
        root = write_workspace(tmp_path / "ws", server.api_base, cases=150)
        first = forks.spawn(root, *RUN_ARGS, env=KEY)
        assert first.wait() == 1, first.stderr
    run_dir = run_dirs(root)[0]
    good = {name: (run_dir / name).read_bytes() for name in REPORT_FILES}
    assert len(good["report.html"]) > 500_000

    started = time.monotonic()
    timing = forks.spawn(root, "report", run_dir.name)
    assert timing.wait() == 1, timing.stderr
    duration = time.monotonic() - started
    for name, data in good.items():
        assert (run_dir / name).read_bytes() == data, f"{name}: re-rendering is not deterministic"

    rng = random.Random(5)
    seen_temporaries: set[Path] = set()
    for attempt in range(12):
        if attempt % 2:  # half the time the reports are missing, as after a first write
            for name in REPORT_FILES[:3]:  # (summary.json holds the finishing time)
                (run_dir / name).unlink(missing_ok=True)
        child = forks.spawn(root, "report", run_dir.name)
        if attempt % 3:  # the moment a temporary file appears: in the middle of a write
            wait_until(child, lambda: bool(list(run_dir.glob(".*.tmp"))), interval=0.0002)
        else:
            time.sleep(rng.uniform(0.2, 1.0) * duration)
        if child.poll() is None:
            child.kill()
            child.wait()
            KILLS["re-rendering a large report"] += 1
            KILL_POINTS.add(("report", str(attempt), 0))
        for name, data in good.items():
            path = run_dir / name
            assert not path.exists() or path.read_bytes() == data, f"{name} is half-written"
        temporaries = set(run_dir.glob(".*.tmp"))
        if temporaries - seen_temporaries:  # killed between creating a file and renaming it
            MID_WRITE["re-rendering a large report"] += 1
        seen_temporaries |= temporaries
    final = forks.spawn(root, "report", run_dir.name)
    assert final.wait() == 1, final.stderr
    for name, data in good.items():
        assert (run_dir / name).read_bytes() == data


def big_registry(root: Path, dependencies: int) -> Path:
    """A registry with many dependencies on retiring models: many runbooks, a large feed."""
    lines = ["version: 1", "settings: {timezone: Europe/Berlin}", "models:"]
    for i in range(20):
        lines.append(
            f"  vendor/old-{i}: {{retires: 2027-0{1 + i % 6}-15, replacement: vendor/new}}"
        )
    lines += ["  vendor/new: {}", "dependencies:"]
    for i in range(dependencies):
        lines += [
            f"  feature-{i:04d}:",
            f"    description: Feature {i}, with a comma; a semicolon and a newline\\n",
            f"    model: vendor/old-{i % 20}",
            "    candidates: [vendor/new]",
            f"    owners: [owner{i % 7}@example.com]",
        ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "models.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("command", "outputs"),
    [
        (("plan", "--today", "2026-12-01", "--quarter", "2027Q1"), "runbooks/2027Q1/*.md"),
        (("calendar", "--today", "2026-12-01"), "calendar.ics"),
    ],
    ids=["plan-runbooks", "calendar-feed"],
)
def test_killed_while_writing_runbooks_or_the_feed_leaves_every_file_whole(
    forks: ForkServer, tmp_path: Path, command: tuple[str, ...], outputs: str
) -> None:
    root = big_registry(tmp_path / "ws", 250)
    started = time.monotonic()
    child = forks.spawn(root, *command)
    assert child.wait() == 0, child.stderr
    duration = time.monotonic() - started
    good = {path: path.read_bytes() for path in root.glob(outputs)}
    assert len(good) >= 1 and all(good.values())

    rng = random.Random(7)
    for attempt in range(6):
        for path in good:
            path.unlink(missing_ok=True)
        child = forks.spawn(root, *command)
        time.sleep(rng.uniform(0.1, 1.0) * duration)
        if child.poll() is None:
            child.kill()
            child.wait()
            KILLS[f"writing {'runbooks' if command[0] == 'plan' else 'the feed'}"] += 1
            KILL_POINTS.add((command[0], str(attempt), 0))
        written = set(root.glob(outputs))
        assert written <= set(good)
        for path in written:
            assert path.read_bytes() == good[path], f"{path.name} is half-written"
    child = forks.spawn(root, *command)
    assert child.wait() == 0, child.stderr
    assert {path: path.read_bytes() for path in root.glob(outputs)} == good


def test_a_second_run_of_the_same_dependency_is_refused_while_one_runs(
    forks: ForkServer, tmp_path: Path
) -> None:
    with ScriptedServer(behaviours(0.15)) as server:
        root = write_workspace(
            tmp_path / "ws",
            server.api_base,
            cases=20,
            run_settings="{concurrency: 2, timeout_seconds: 10}",
        )
        first = forks.spawn(root, *RUN_ARGS, env=KEY)
        wait_until(first, lambda: journal_lines(root) >= 1)
        assert first.poll() is None
        second = forks.spawn(root, *RUN_ARGS, env=KEY)
        assert second.wait() == 2
        assert second.stderr == (
            f"migrate: error: another `migrate run dep` is in progress (pid {first.pid}); "
            "wait for it to finish\n"
        )
        assert first.wait() == 1, first.stderr
        keys = journal_keys(run_dirs(root)[0])
        assert len(keys) == len(set(keys)) == 40  # one run's calls, never interleaved
        assert server.total_calls() == 40
        assert len(run_dirs(root)) == 1


def test_a_killed_run_releases_its_lock(forks: ForkServer, tmp_path: Path) -> None:
    with ScriptedServer(behaviours(0.05)) as server:
        root = write_workspace(
            tmp_path / "ws",
            server.api_base,
            cases=20,
            run_settings="{concurrency: 2, timeout_seconds: 10}",
        )
        first = forks.spawn(root, *RUN_ARGS, env=KEY)
        wait_until(first, lambda: journal_lines(root) >= 4)
        first.kill()
        assert first.wait() == -9
        KILLS["a run holding its lock"] += 1
        KILL_POINTS.add(("lock", "calls in flight", journal_lines(root)))
        second = forks.spawn(root, *RUN_ARGS, env=KEY)
        assert second.wait() == 1, second.stderr
        assert "Resumed run" in second.stdout
        keys = journal_keys(run_dirs(root)[0])
        assert len(keys) == len(set(keys)) == 40
        assert sorted({case for _, case, _ in keys}) == case_ids(20)


# Every place in the package that opens a file for writing, and why it need not be atomic.
# Anything else must go through migrate.files.write_atomic or write_atomic_many (temporary
# file, fsync, rename).
WRITERS_ALLOWED = {
    ("migrate/files.py", "_write_temporary"): "the atomic writers themselves",
    ("migrate/evals/journal.py", "__init__"): "the journal: one O_APPEND write(2) per call",
    ("migrate/evals/journal.py", "_repair_torn_tail"): "ends a torn last journal line",
    ("migrate/evals/rundir.py", "dependency_lock"): "the lock file: the flock is the state",
    ("migrate/lifecycle/write.py", "_scratch_copy"): "a temporary copy, validated then deleted",
}


def _writes(call: ast.Call) -> bool:
    """Whether a call opens or creates a file for writing."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in {"write_text", "write_bytes", "mkstemp", "NamedTemporaryFile", "copyfile", "copy2"}:
        return True
    if name not in {"open", "fdopen"}:
        return False
    arguments = [*call.args, *(k.value for k in call.keywords)]
    modes = [a.value for a in arguments if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    flags = " ".join(ast.unparse(a) for a in arguments)
    return (
        any(set(mode) & set("wax+") for mode in modes) or "O_WRONLY" in flags or "O_RDWR" in flags
    )


def test_every_file_write_in_the_package_is_atomic_or_an_allowed_exception() -> None:
    package = Path(__file__).resolve().parent.parent / "migrate"
    found = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).as_posix()
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and _writes(node):
                    found[(relative, function.name)] = ast.unparse(node)
    unexpected = {where: call for where, call in found.items() if where not in WRITERS_ALLOWED}
    assert not unexpected, f"write these with migrate.files.write_atomic: {unexpected}"
    assert set(found) == set(WRITERS_ALLOWED)  # the list names no writer that is gone
