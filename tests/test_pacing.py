"""Pacing by the provider's rate-limit headers.

The header readers against values worked out by hand from the providers' published
formats; the pace's arithmetic on a hand-counted sequence of requests and answers; and
whole runs against the scripted server enforcing a fixed-window limit (requests or
tokens, OpenAI's or Anthropic's headers, or none at all), where the server's own count of
what it refused is the measure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import time
from pathlib import Path

import pytest

from migrate.pacing import (
    Allowance,
    Pace,
    RateHeaders,
    Spent,
    estimate_tokens,
    parse_duration,
    parse_reset,
    read_rate_headers,
    retry_after,
)
from tests.conftest import invoke
from tests.support.openai_server import Behaviour, Reply, Request, ScriptedServer
from tests.support.ratelimits import WindowLimit, go_duration
from tests.support.scenarios import correct, journal_keys, run_dirs, summary_of, write_workspace

TODAY = "2026-11-26"
NOW = dt.datetime(2026, 11, 29, 8, 0, 0, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("17.28s", 17.28),
        ("1h2m3.5s", 3723.5),
        ("250us", 0.00025),
        ("0s", 0.0),
        ("12", 12.0),  # a bare number is seconds
        ("6m0", None),
        ("soon", None),
        ("", None),
        ("nan", None),
        ("1e400", None),
    ],
)
def test_durations_read_as_go_prints_them(text: str, seconds: float | None) -> None:
    parsed = parse_duration(text)
    if seconds is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(seconds)


def test_the_scripted_server_writes_durations_the_reader_reads_back() -> None:
    for seconds in (0.001, 0.02, 0.999, 1.0, 9.75, 59.9, 61.5, 360.0):
        parsed = parse_duration(go_duration(seconds))
        assert parsed is not None and seconds <= parsed < seconds + 0.0011


def test_a_reset_is_a_duration_or_an_rfc_3339_time() -> None:
    assert parse_reset("2026-11-29T08:00:10Z", NOW) == 10.0
    assert parse_reset("2026-11-29T09:00:10+01:00", NOW) == 10.0
    assert parse_reset("2026-11-29T07:59:00Z", NOW) == 0.0  # passed: back already
    assert parse_reset("1m30s", NOW) == 90.0
    assert parse_reset("2026-11-29T08:00:10", NOW) is None  # no zone: not a time we can place


def test_retry_after_in_milliseconds_seconds_or_an_http_date() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "2"}) == 1.5
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Sun, 29 Nov 2026 08:00:07 GMT"}, NOW) == 7.0
    assert retry_after({"retry-after": "later"}) is None
    assert retry_after({}) is None


def test_openai_headers() -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "2s",
    }
    assert read_rate_headers(headers, NOW) == RateHeaders(
        requests=Allowance(499, 0.12, 500), tokens=Allowance(29000, 2.0, 30000)
    )


def test_anthropic_headers_win_over_litellms_mapping_of_them() -> None:
    """litellm copies Anthropic's remaining counts to OpenAI's names, without the resets."""
    headers = {
        "x-ratelimit-remaining-requests": "3",  # litellm's copy
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "3",
        "anthropic-ratelimit-requests-reset": "2026-11-29T08:00:05Z",
        "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "1000",
        "anthropic-ratelimit-tokens-reset": "2026-11-29T08:00:30Z",
        "retry-after": "5",
    }
    assert read_rate_headers(headers, NOW) == RateHeaders(
        requests=Allowance(3, 5.0, 50), tokens=Allowance(1000, 30.0, 40000), retry_after=5.0
    )


def test_headers_that_are_not_numbers_are_left_unread() -> None:
    rate = read_rate_headers(
        {"x-ratelimit-remaining-requests": "many", "x-ratelimit-remaining-tokens": "inf"}, NOW
    )
    assert rate == RateHeaders()
    rate = read_rate_headers(
        {"x-ratelimit-remaining-requests": "4", "x-ratelimit-reset-requests": "whenever"}, NOW
    )
    assert rate.requests == Allowance(4, None, None)


def test_a_request_counts_a_quarter_of_its_characters_and_its_max_tokens() -> None:
    messages = [{"role": "system", "content": "x" * 30}, {"role": "user", "content": "y" * 11}]
    assert estimate_tokens(messages, {"max_tokens": 50}) == 11 + 50  # ceil(41 / 4) = 11
    assert estimate_tokens(messages, {"max_completion_tokens": 8}) == 19
    assert estimate_tokens(messages, {}) == 11


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def settle(pace: Pace, ticket: object, rate: RateHeaders, pause: float | None = None) -> None:
    asyncio.run(pace.settle(ticket, rate, pause))  # type: ignore[arg-type]


def test_the_pace_spends_what_the_provider_says_is_left_and_waits_for_the_reset() -> None:
    clock = Clock()
    pace = Pace(Spent(), clock)
    sent = [asyncio.run(pace.admit(10)) for _ in range(3)]  # nothing known: all go

    def left() -> float | None:
        return pace.requests.left(clock.now, pace.spent.requests)

    # Request 1's answer: 7 left of 10, back in full in 5 s. Requests 2 and 3 left after it,
    # so the provider may not have counted them: 7 - 2 = 5 left.
    settle(pace, sent[0], RateHeaders(requests=Allowance(7, 5.0, 10)))
    assert left() == 5
    for _ in range(5):
        assert pace.wait_for(10) == 0
        sent.append(asyncio.run(pace.admit(10)))
    assert pace.wait_for(10) == 5.0  # the ninth waits for the reset
    clock.now += 2
    assert pace.wait_for(10) == 3.0
    for ticket in sent[1:7]:  # answers 2 to 7 say nothing
        settle(pace, ticket, RateHeaders())
    # Request 8's answer: 2 left, back in full in 3 s; nothing left after it or is unanswered.
    settle(pace, sent[7], RateHeaders(requests=Allowance(2, 3.0, 10)))
    sent += [asyncio.run(pace.admit(10)) for _ in range(2)]
    assert pace.wait_for(10) == 3.0
    clock.now += 3
    # Back in full: 10, less the 2 (requests 9 and 10) sent after the last answer that spoke.
    assert left() == 8
    sent += [asyncio.run(pace.admit(10)) for _ in range(8)]
    assert pace.wait_for(10) == math.inf  # 10 in flight: their answers will tell
    # Request 12 reached the provider first: 9 left. Requests 13 to 18 left after it and 9 to
    # 11 are unanswered: 9 - 6 - 3 = 0.
    settle(pace, sent[11], RateHeaders(requests=Allowance(9, 5.0, 10)))
    assert left() == 0
    # An older answer arriving late changes nothing ...
    settle(pace, sent[8], RateHeaders(requests=Allowance(0, 1.0, 10)))
    settle(pace, sent[9], RateHeaders())
    settle(pace, sent[10], RateHeaders())
    assert left() == 0
    # ... a newer one does: 7 left at request 13, less 14 to 18: 2.
    settle(pace, sent[12], RateHeaders(requests=Allowance(7, 5.0, 10)))
    assert left() == 2
    # A refusal's Retry-After holds every request of the model.
    settle(pace, sent[13], RateHeaders(), pause=2.0)
    assert pace.wait_for(10) == 2.0


def test_tokens_are_spent_by_estimate() -> None:
    clock = Clock()
    pace = Pace(Spent(), clock)
    first = asyncio.run(pace.admit(60))
    settle(pace, first, RateHeaders(tokens=Allowance(100, 1.5, 1000)))
    assert pace.wait_for(60) == 0
    asyncio.run(pace.admit(60))
    assert pace.wait_for(60) == 1.5  # 40 tokens left: the next one waits
    assert pace.wait_for(40) == 0  # a smaller one fits


def test_nothing_on_its_way_means_the_request_goes_and_hears_the_answer() -> None:
    pace = Pace(Spent(), Clock())
    first = asyncio.run(pace.admit(1))
    settle(pace, first, RateHeaders(requests=Allowance(0, None, None)))
    assert pace.wait_for(1) == 0  # no reset known, nothing in flight: no deadlock


def test_a_far_reset_is_waited_for_at_most_the_longest_wait() -> None:
    clock = Clock()
    pace = Pace(Spent(), clock, longest_wait=60.0)
    first = asyncio.run(pace.admit(1))
    settle(pace, first, RateHeaders(requests=Allowance(0, 86_400.0, 10_000)))
    assert pace.wait_for(1) == 60.0


def test_models_behind_one_server_share_what_they_spend() -> None:
    shared = Spent()
    clock = Clock()
    good, cand = Pace(shared, clock), Pace(shared, clock)
    first = asyncio.run(good.admit(1))
    for _ in range(4):
        asyncio.run(cand.admit(1))
    settle(good, first, RateHeaders(requests=Allowance(5, 10.0, 10)))
    assert good.requests.left(clock.now, shared.requests) == 1  # 5, less cand's 4 since


def test_a_held_request_goes_when_an_answer_brings_room() -> None:
    async def scenario() -> None:
        pace = Pace(Spent())
        first = await pace.admit(1)
        second = await pace.admit(1)
        await pace.settle(first, RateHeaders(requests=Allowance(0, None, 10)), None)
        waiting = asyncio.ensure_future(pace.admit(1))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # none left, one answer on its way
        await pace.settle(second, RateHeaders(requests=Allowance(4, 10.0, 10)), None)
        ticket = await asyncio.wait_for(waiting, 5)
        assert ticket.requests == 3

    asyncio.run(scenario())


# --- whole runs against a rate-limited server -------------------------------------------

CASES = 40  # x 2 models = 80 calls
PER_WINDOW, WINDOW = 20, 1.0  # 80 calls need 4 windows: the last ones leave 3 s after the first
LATENCY = 0.05
ALLOWED = math.ceil(2 * CASES / PER_WINDOW - 1) * WINDOW + LATENCY


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-pacing-0123456789")


class Arrivals:
    def __init__(self) -> None:
        self.at: list[float] = []

    def noting(self, behaviour: Behaviour) -> Behaviour:
        def noted(request: Request) -> Reply:
            self.at.append(time.monotonic())
            return behaviour(request)

        return noted

    @property
    def call_phase(self) -> float:
        return max(self.at) - min(self.at) + LATENCY


def limited_run(
    cli, root: Path, server: ScriptedServer, limit: WindowLimit, retries: int = 6, workers: int = 1
) -> tuple[dict[str, object], Arrivals, str]:  # type: ignore[no-untyped-def]
    arrivals = Arrivals()
    answer = limit.wrap(arrivals.noting(correct(delay=LATENCY)))
    server.behaviours.update(good=answer, cand=answer)
    write_workspace(
        root,
        server.api_base,
        cases=CASES,
        run_settings=f"{{concurrency: 8, timeout_seconds: 10, max_retries: {retries}, "
        "max_error_rate: 0.1}",
    )
    result = invoke(
        cli, "run", "dep", "--today", TODAY, "--no-progress", "--workers", str(workers), cwd=root
    )
    assert result.exit_code in (0, 3), result.output
    run_dir = run_dirs(root)[0]
    keys = journal_keys(run_dir)
    assert len(keys) == len(set(keys)) == 2 * CASES
    summary = summary_of(run_dir)
    assert summary["calls"]["errors"] == 0  # every refused call got through in the end
    # The summary's count of 429s is the server's own, model by model.
    refused = {f"openai/{m}": n for m, n in sorted(limit.refused.items()) if n}
    assert summary["calls"]["rate_limited"] == refused
    for model in ("openai/good", "openai/cand"):
        assert summary["metrics"][model]["rate_limited"] == refused.get(model, 0)
    return summary, arrivals, result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("style", "workers"), [("openai", 1), ("anthropic", 1), ("openai", 2)])
def test_a_run_stays_under_a_request_limit_the_provider_announces(
    cli, tmp_path: Path, server: ScriptedServer, style: str, workers: int
) -> None:
    # With workers, the limit is still the run's: its process paces every worker's requests.
    limit = WindowLimit(PER_WINDOW, WINDOW, style=style)
    _, arrivals, _ = limited_run(cli, tmp_path / "ws", server, limit, workers=workers)
    sent = sum(limit.admitted.values()) + sum(limit.refused.values())
    assert sum(limit.refused.values()) <= 0.1 * sent, limit.refused
    # Generous: the measured ratio belongs to benchmarks/run.py. Anthropic's resets come in
    # whole seconds, so a 1 s window can cost up to twice its length.
    assert arrivals.call_phase < 3 * ALLOWED, arrivals.call_phase


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_stays_under_a_token_limit(
    cli, tmp_path: Path, server: ScriptedServer, workers: int
) -> None:
    # Each request counts ceil(55 characters / 4) + max_tokens 50 = 64 tokens: 20 a window.
    limit = WindowLimit(10_000, WINDOW, tokens=PER_WINDOW * 64)
    _, arrivals, _ = limited_run(cli, tmp_path / "ws", server, limit, workers=workers)
    assert sum(limit.admitted.values()) == 2 * CASES
    assert sum(limit.refused.values()) <= 0.1 * 2 * CASES, limit.refused
    assert arrivals.call_phase < 3 * ALLOWED, arrivals.call_phase


@pytest.mark.slow
def test_without_headers_the_run_still_gets_through_and_counts_its_429s(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    limit = WindowLimit(PER_WINDOW, WINDOW, style="none")
    _, _, stdout = limited_run(cli, tmp_path / "ws", server, limit, retries=10)
    assert sum(limit.refused.values()) > 0  # it learnt from the 429s alone
    refused = ", ".join(f"openai/{m} x{n}" for m, n in sorted(limit.refused.items()) if n)
    assert f"  rate limited (429, retried): {refused}" in stdout.splitlines()


@pytest.mark.slow
def test_judge_calls_are_paced_and_counted_with_the_rest(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    limit = WindowLimit(PER_WINDOW, WINDOW)
    answer = limit.wrap(correct(delay=LATENCY))

    def judging(request: Request) -> Reply:
        return Reply(text=json.dumps({"verdict": "pass", "reasoning": "names it"}))

    judge = limit.wrap(judging)
    server.behaviours.update(good=answer, cand=answer, judge=judge)
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=20,
        checks='[{type: llm_judge, rubric: "The answer names the case answer."}]',
        extra_models=f'  openai/judge: {{api_base: "{server.api_base}", '
        "api_key_env: TEST_LLM_KEY}",
        settings={"judge_model": "openai/judge"},
    )
    result = invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)
    assert result.exit_code in (0, 3), result.output
    assert server.calls["judge"] - limit.refused["judge"] == 40
    sent = sum(limit.admitted.values()) + sum(limit.refused.values())
    assert sum(limit.refused.values()) <= 0.1 * sent, limit.refused
    summary = summary_of(run_dirs(root)[0])
    refused = {f"openai/{m}": n for m, n in sorted(limit.refused.items()) if n}
    assert summary["calls"]["rate_limited"] == refused
