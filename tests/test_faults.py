"""Provider faults, injected by the scripted server over real HTTP through litellm.

For each kind of fault the candidate fails that way on every attempt for a fifth of the
cases (past the run's error threshold) and only on the first attempt for another fifth.
Every run must lose no case and count none twice, report the persistent faults as errors
of the right class (never as failed checks), recover the transient ones by retrying,
exit 4, and finish within a bound computed from the timeout and the retries.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import (
    case_ids,
    case_of,
    correct,
    journal_keys,
    run_dirs,
    summary_of,
    write_workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TODAY = "2026-11-26"
CASES = case_ids(20)
PERSISTENT = CASES[::5]  # 4 of 20 calls fail for good: 20% > max_error_rate 10%
TRANSIENT = CASES[2::5]  # fail on the first attempt only
CONCURRENCY = 4
TIMEOUT = 0.5
RETRIES = 2
STARTUP = 10.0  # seconds for everything but the faulty calls (loading, scoring, reports)


# Faults served, by kind, printed for docs/reliability.md (run with -s).
INJECTED: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def fault_report() -> Iterator[None]:
    yield
    if INJECTED:
        print(f"\nfaults injected: {sum(INJECTED.values())} {dict(INJECTED)}")


@pytest.fixture(scope="module", autouse=True)
def litellm_imported() -> None:
    """Import litellm before the first timed run: its import is no part of a run's bound."""
    from migrate.llm import litellm_module

    litellm_module()


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-faults-0123456789")


def http_date(seconds_ahead: float) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_ahead)
    return email.utils.format_datetime(moment, usegmt=True)


@dataclass(frozen=True)
class Fault:
    reply: Callable[[], Reply]
    error: str  # the error class the run must record
    retried: bool = True
    wait: float = 0.0  # the least time between an attempt and its retry (Retry-After)
    hint: float = 0.0  # the longest wait the server asks for


FAULTS = {
    "429-retry-after-seconds": Fault(
        lambda: Reply(status=429, headers={"Retry-After": "0.6"}), "RateLimited", wait=0.6, hint=0.6
    ),
    "429-without-retry-after": Fault(lambda: Reply(status=429), "RateLimited"),
    "429-retry-after-http-date": Fault(
        lambda: Reply(status=429, headers={"Retry-After": http_date(2)}),
        "RateLimited",
        wait=0.9,  # the date has whole seconds: 2 s ahead is at least 1 s after truncation
        hint=2.0,
    ),
    "500": Fault(lambda: Reply(status=500), "ServerError"),
    "502": Fault(lambda: Reply(status=502), "ServerError"),
    "503-retry-after": Fault(
        lambda: Reply(status=503, headers={"Retry-After": "0.6"}), "ServerError", wait=0.6, hint=0.6
    ),
    "connection-reset-mid-body": Fault(lambda: Reply(reset=True), "ConnectionError"),
    "read-timeout": Fault(lambda: Reply(text="too late", delay=TIMEOUT * 4), "Timeout"),
    "malformed-json": Fault(
        lambda: Reply(body=b'{"id": "chatcmpl-1", "choices": [{"message": {"content'),
        "MalformedResponse",
    ),
    "empty-choices": Fault(lambda: Reply(no_choices=True), "EmptyResponse"),
    "content-filter": Fault(
        lambda: Reply(text="", finish_reason="content_filter"), "ContentFiltered", retried=False
    ),
    "accepts-and-never-answers": Fault(lambda: Reply(hang=True), "Timeout"),
}


def time_bound(fault: Fault, faulty_calls: int) -> float:
    """The longest a run may take: the faulty calls in waves of `concurrency`, each making
    every attempt up to the timeout and waiting the longest backoff between attempts."""
    backoff = max(fault.hint, 0.5 * 2 ** (RETRIES - 1))  # ModelSeam's base_delay 0.5, doubled
    per_call = (RETRIES + 1) * TIMEOUT + RETRIES * backoff
    return STARTUP + math.ceil(faulty_calls / CONCURRENCY) * per_call


class Arrivals:
    """When each request reached the server, by request and attempt."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, int], float] = {}

    def record(self, request: Request) -> None:
        self.at[(request.key(), request.attempt)] = time.monotonic()

    def gaps(self, requests: set[str]) -> list[float]:
        return [self.at[(key, 2)] - self.at[(key, 1)] for key in requests if (key, 2) in self.at]


def failing(
    fault: Fault, arrivals: Arrivals, transient: list[str], kind: str
) -> Callable[[Request], Reply]:
    answer = correct()

    def behave(request: Request) -> Reply:
        arrivals.record(request)
        case = case_of(request)
        if case in PERSISTENT or (case in transient and request.attempt == 1):
            INJECTED[kind] += 1
            return fault.reply()
        return answer(request)

    return behave


def run(cli, root: Path):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)


def question(case: str) -> tuple[str, str]:
    return ("cand", f"Question about case {case}.")


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_loses_nothing_and_is_reported_as_an_error(
    cli, tmp_path: Path, server: ScriptedServer, kind: str
) -> None:
    fault = FAULTS[kind]
    transient = TRANSIENT if fault.retried else []
    arrivals = Arrivals()
    server.behaviours.update(good=correct(), cand=failing(fault, arrivals, transient, kind))
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=CASES,
        run_settings=f"{{concurrency: {CONCURRENCY}, timeout_seconds: {TIMEOUT}, "
        f"max_retries: {RETRIES}, max_error_rate: 0.1}}",
    )
    started = time.monotonic()
    result = run(cli, root)
    elapsed = time.monotonic() - started

    assert result.exit_code == 4, result.output
    assert "internal error" not in result.stderr
    run_dir = run_dirs(root)[0]
    keys = journal_keys(run_dir)
    assert len(keys) == len(set(keys)) == 2 * len(CASES)  # no case lost, none counted twice
    assert {case for _, case, _ in keys} == set(CASES)

    summary = summary_of(run_dir)
    assert summary["verdict"] == "ERROR"
    failed = f"openai/cand: {len(PERSISTENT)} of {len(CASES)} calls failed"
    assert failed in summary["infrastructure_failure"]
    cand, good = summary["metrics"]["openai/cand"], summary["metrics"]["openai/good"]
    assert cand["errors_by_class"] == {fault.error: len(PERSISTENT)}
    assert cand["scored"] == len(CASES) - len(PERSISTENT)
    assert cand["pass_rate"] == 1.0  # an error is never a failed check
    assert good["errors"] == 0 and good["pass_rate"] == 1.0
    comparison = summary["candidates"]["openai/cand"]
    assert comparison["unscored"] == PERSISTENT
    assert comparison["regressions"] == [] and comparison["improvements"] == []

    attempts = RETRIES + 1 if fault.retried else 1
    for case in PERSISTENT:
        assert server.asked[question(case)] == attempts, case
    for case in transient:  # retried once, then scored like any other case
        assert server.asked[question(case)] == 2, case
        assert summary["outcomes"]["openai/cand"][case] == 1.0
    transient_keys = {key for key, attempt in arrivals.at if attempt == 2}
    assert all(gap >= fault.wait for gap in arrivals.gaps(transient_keys)), "Retry-After ignored"
    assert server.max_in_flight <= CONCURRENCY

    junit = ET.parse(run_dir / "junit.xml").getroot()
    suite = junit.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors")) == ("0", str(len(PERSISTENT)))
    errored = sorted(
        c.get("name", "") for c in suite.iter("testcase") if c.find("error") is not None
    )
    assert errored == PERSISTENT
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "**Infrastructure error: too many calls failed to judge.**" in report
    assert f"{fault.error} ×{len(PERSISTENT)}" in report

    faulty_calls = len(PERSISTENT) + len(transient)
    assert elapsed < time_bound(fault, faulty_calls), f"{kind}: {elapsed:.1f}s"


def test_a_429_storm_shrinks_concurrency_and_never_exceeds_the_limit(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    """The 40 requests after the two canaries are all rate limited: after the first wave of
    429s, the run keeps at most half its configured concurrency in flight while the storm
    lasts."""
    storm, canaries = 40, 2  # one first call per model, answered before the fan-out
    arrivals: list[tuple[int, int, bool]] = []  # (index, in flight on arrival, rate limited)
    answer = correct(delay=0.05)

    def storming(request: Request) -> Reply:
        with server._lock:
            index = sum(server.calls.values()) - 1
            in_flight = server.in_flight
        limited = canaries <= index < canaries + storm
        arrivals.append((index, in_flight, limited))
        if limited:
            INJECTED["429-storm"] += 1
            return Reply(status=429, headers={"Retry-After": "0.05"}, delay=0.1)
        return answer(request)

    server.behaviours.update(good=storming, cand=storming)
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=40,
        candidates=("cand",),
        run_settings="{concurrency: 8, timeout_seconds: 10, max_retries: 20, max_error_rate: 0.1}",
    )
    result = run(cli, root)
    assert result.exit_code in (0, 3), result.output  # identical answers: a verdict, no error
    verdict = {0: "PASS", 3: "INCONCLUSIVE"}[result.exit_code]
    assert result.stdout.startswith(
        f"{verdict}: dep (40 cases, 1 sample; 80 calls made, 0 from the cache, "
        "0 errors in the journal)\n"
    ), result.stdout
    summary = summary_of(run_dirs(root)[0])
    assert summary["calls"]["errors"] == 0  # every rate-limited call got through in the end
    keys = journal_keys(run_dirs(root)[0])
    assert len(keys) == len(set(keys)) == 80
    assert server.total_calls() == 80 + storm
    assert server.max_in_flight <= 8  # never more than the configured concurrency
    fan_out = canaries + 8
    first_wave = max(in_flight for index, in_flight, _ in arrivals if canaries <= index < fan_out)
    during_storm = max(
        in_flight for index, in_flight, limited in arrivals if limited and index >= fan_out
    )
    assert first_wave > 4  # the run did start at its full concurrency ...
    assert during_storm <= 4  # ... and halved it at the first 429s


def test_retry_after_is_capped_and_the_call_still_retries(
    cli, tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server asking for an hour's pause does not stall the run for an hour."""
    import migrate.llm

    monkeypatch.setattr(migrate.llm, "MAX_RETRY_AFTER", 0.2)
    arrivals = Arrivals()
    fault = Fault(lambda: Reply(status=429, headers={"Retry-After": "3600"}), "RateLimited")
    server.behaviours.update(
        good=correct(), cand=failing(fault, arrivals, TRANSIENT, "429-retry-after-one-hour")
    )
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=CASES,
        run_settings=f"{{concurrency: {CONCURRENCY}, timeout_seconds: {TIMEOUT}, "
        f"max_retries: {RETRIES}, max_error_rate: 0.5}}",
    )
    started = time.monotonic()
    result = run(cli, root)
    assert time.monotonic() - started < STARTUP
    assert result.exit_code in (0, 3), result.output  # 20% errors: under the 50% threshold
    verdict = {0: "PASS", 3: "INCONCLUSIVE"}[result.exit_code]
    assert result.stdout.startswith(f"{verdict}: dep ({len(CASES)} cases, 1 sample; ")
    assert result.stdout.splitlines()[0].endswith(" 4 errors in the journal)"), result.stdout
    summary = summary_of(run_dirs(root)[0])
    assert summary["metrics"]["openai/cand"]["errors_by_class"] == {"RateLimited": 4}
    for case in TRANSIENT:
        assert summary["outcomes"]["openai/cand"][case] == 1.0
