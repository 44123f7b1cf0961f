"""Pace a model's calls by what its provider says about the rate limit.

Providers tell every answer how much of their allowance is left and when it is back in
full: OpenAI and Azure OpenAI in `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
(the reset as a Go duration: `6m0s`, `1s`, `20ms`), Anthropic in
`anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` (the reset as an RFC 3339
time), and a refusal in `Retry-After`. A `Pace` spends that allowance as requests leave
and holds the next one until the reset, rather than sending what the provider would
refuse. Where a provider sends nothing, it lets every request through: the seam's
concurrency (`AdaptiveLimit`) then learns from 429s alone.

The allowance is read conservatively, so that it holds whether the provider counts in
fixed windows or refills a bucket: what is left stays left until the reset, then the full
limit is back; requests sent after the one whose answer spoke, and those sent before it
but still unanswered, are counted against it, since the provider may not have seen them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

# asyncio is imported where requests are paced, email where a Retry-After is a date: the
# planning commands import this module (through the seam's types) without a call to pace.

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PROVIDER_PREFIX = "llm_provider-"  # how litellm passes a provider's own headers on


def _plain_seconds(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration (`6m0s`, `1.5s`, `20ms`) or a plain number of seconds."""
    text = text.strip()
    plain = _plain_seconds(text)
    if plain is not None:
        return plain
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def parse_reset(text: str, now: float) -> float | None:
    """Seconds until a reset given as a duration or as an RFC 3339 time (`now`: Unix time)."""
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a refusal asks to wait: `retry-after-ms`, else `Retry-After` (seconds or an
    HTTP date; `now`: Unix time)."""
    millis = _plain_seconds(headers.get("retry-after-ms", "").strip())
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    seconds = _plain_seconds(value)
    if seconds is not None:
        return seconds
    import email.utils

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Allowance:
    """What one answer said about one kind of allowance (requests or tokens)."""

    remaining: int
    reset: float | None  # seconds until the allowance is back in full
    limit: int | None


@dataclass(frozen=True)
class RateHeaders:
    requests: Allowance | None = None
    tokens: Allowance | None = None
    retry_after: float | None = None

    @property
    def allowance_known(self) -> bool:
        return self.requests is not None or self.tokens is not None


NO_HEADERS = RateHeaders()


def _number(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # not a number, or nan / inf
        return None


def _allowance(headers: Mapping[str, str], prefix: str, kind: str, now: float) -> Allowance | None:
    if prefix == "x-ratelimit-":
        names = (f"{prefix}remaining-{kind}", f"{prefix}reset-{kind}", f"{prefix}limit-{kind}")
    else:
        names = (f"{prefix}{kind}-remaining", f"{prefix}{kind}-reset", f"{prefix}{kind}-limit")
    remaining = _number(headers.get(names[0]))
    if remaining is None:
        return None
    reset_text = headers.get(names[1])
    reset = parse_reset(reset_text, now) if reset_text else None
    return Allowance(max(0, remaining), reset, _number(headers.get(names[2])))


def read_rate_headers(headers: Mapping[str, str], now: float | None = None) -> RateHeaders:
    """The allowances and Retry-After in a response's headers (keys in lower case)."""
    if not headers:
        return NO_HEADERS
    now = time.time() if now is None else now
    # litellm maps Anthropic's remaining counts onto OpenAI's names, but not the resets:
    # Anthropic's own headers, when present, are the whole story.
    anthropic = any(k.startswith("anthropic-ratelimit-") for k in headers)
    prefix = "anthropic-ratelimit-" if anthropic else "x-ratelimit-"
    return RateHeaders(
        requests=_allowance(headers, prefix, "requests", now),
        tokens=_allowance(headers, prefix, "tokens", now),
        retry_after=retry_after(headers),
    )


def headers_of(answer: Any) -> dict[str, str]:
    """The provider's response headers as litellm passes them on, on a response
    (`_response_headers`, `_hidden_params["additional_headers"]`) or on an exception
    (`litellm_response_headers`, `response.headers`); keys in lower case."""
    found: dict[str, str] = {}
    hidden = getattr(answer, "_hidden_params", None)
    extra = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            key = str(key).lower()
            if key.startswith(_PROVIDER_PREFIX):
                found[key[len(_PROVIDER_PREFIX) :]] = str(value)
            else:
                found.setdefault(key, str(value))
    raw = getattr(answer, "_response_headers", None)
    if raw is None and isinstance(answer, BaseException):
        raw = getattr(answer, "litellm_response_headers", None)
        if raw is None:
            raw = getattr(getattr(answer, "response", None), "headers", None)
    if raw is not None:
        try:
            items = list(raw.items())
        except (AttributeError, TypeError):
            items = []
        for key, value in items:
            found[str(key).lower()] = str(value)
    return found


def estimate_tokens(messages: list[dict[str, str]], params: Mapping[str, Any]) -> int:
    """Tokens a request counts against a token allowance as providers count it up front:
    about a quarter of the prompt's characters, plus the answer's `max_tokens`."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    asked = params.get("max_tokens") or params.get("max_completion_tokens") or 0
    return math.ceil(chars / 4) + (int(asked) if isinstance(asked, int | float) else 0)


@dataclass
class Spent:
    """What one allowance holder (a model, or a key on a shared server) has been sent:
    requests and estimated tokens, counted in the order they were admitted, and the
    requests still unanswered (number -> tokens)."""

    requests: int = 0
    tokens: int = 0
    pending: dict[int, int] = field(default_factory=dict)

    def unanswered_before(self, number: int) -> tuple[int, int]:
        """Requests (and their tokens) admitted before request `number`, still unanswered:
        they may reach the provider after it, uncounted by its answer."""
        older = [tokens for n, tokens in self.pending.items() if n < number]
        return len(older), sum(older)


@dataclass(frozen=True)
class Ticket:
    """One admitted request: the holder's spending up to and including it."""

    requests: int
    tokens: int


@dataclass
class _Budget:
    """One allowance of one model as this run spends it."""

    base: float | None = None  # remaining = base - spent so far; None: nothing known
    reset_at: float | None = None  # monotonic time when the full limit is back
    limit: int | None = None
    heard_through: int = -1  # spending through the request whose answer spoke last

    def left(self, now: float, spent: int) -> float | None:
        if self.base is None:
            return None
        if self.reset_at is not None and now >= self.reset_at:
            # Back in full; what was sent after the last answer that spoke counts against it.
            self.base = None if self.limit is None else self.limit + self.heard_through
            self.reset_at = None
            if self.base is None:
                return None
        return self.base - spent

    def hear(
        self, through: int, unanswered: int, allowance: Allowance, now: float, longest: float
    ) -> None:
        if through < self.heard_through:
            return  # an older answer than the one already heard
        self.heard_through = through
        self.base = allowance.remaining + through - unanswered
        # A daily allowance spent does not hold a run for hours: after `longest`, the
        # requests go and the provider's refusals end it.
        self.reset_at = None if allowance.reset is None else now + min(allowance.reset, longest)
        if allowance.limit is not None:
            self.limit = allowance.limit


@dataclass
class Pace:
    """Admits one model's requests within what its provider said is left."""

    spent: Spent = field(default_factory=Spent)
    clock: Callable[[], float] = time.monotonic
    longest_wait: float = 60.0  # seconds; a later reset is waited for this long
    requests: _Budget = field(default_factory=_Budget)
    tokens: _Budget = field(default_factory=_Budget)
    paused_until: float = 0.0
    in_flight: int = 0
    _news: asyncio.Condition | None = None

    @property
    def news(self) -> asyncio.Condition:
        if self._news is None:  # created inside the running loop
            import asyncio

            self._news = asyncio.Condition()
        return self._news

    def wait_for(self, estimate: int) -> float:
        """Seconds to hold a request of `estimate` tokens: 0 to send it now, inf until an
        answer brings news."""
        now = self.clock()
        if self.paused_until > now:
            return self.paused_until - now
        wait = 0.0
        for budget, spent, units in (
            (self.requests, self.spent.requests, 1),
            (self.tokens, self.spent.tokens, estimate),
        ):
            left = budget.left(now, spent)
            if left is None or left >= units:
                continue
            if budget.reset_at is not None:
                wait = max(wait, budget.reset_at - now)
            elif self.in_flight:
                wait = math.inf  # the answers on their way will say more
            # else: nothing on its way will say more; send it and hear the answer
        return wait

    async def admit(self, estimate: int) -> Ticket:
        """Wait until the allowance has room for one request of `estimate` tokens."""
        if self.wait_for(estimate):
            import asyncio

            async with self.news:
                while wait := self.wait_for(estimate):
                    try:
                        await asyncio.wait_for(self.news.wait(), None if math.isinf(wait) else wait)
                    except TimeoutError:
                        pass
                return self._spend(estimate)
        return self._spend(estimate)

    def _spend(self, estimate: int) -> Ticket:
        self.spent.requests += 1
        self.spent.tokens += estimate
        self.spent.pending[self.spent.requests] = estimate
        self.in_flight += 1
        return Ticket(self.spent.requests, self.spent.tokens)

    async def answered(self, estimate: int, rate: RateHeaders, pause: float | None) -> None:
        """Count a request sent without admission, whose holder was known only once it was
        answered (a router chose the deployment), and learn from its answer."""
        await self.settle(self._spend(estimate), rate, pause)

    async def settle(self, ticket: Ticket, rate: RateHeaders, pause: float | None) -> None:
        """An admitted request ended: learn from its headers; `pause` after a refusal holds
        every request of the model that long."""
        now = self.clock()
        self.in_flight -= 1
        self.spent.pending.pop(ticket.requests, None)
        if rate.allowance_known:
            requests, tokens = self.spent.unanswered_before(ticket.requests)
            if rate.requests is not None:
                self.requests.hear(ticket.requests, requests, rate.requests, now, self.longest_wait)
            if rate.tokens is not None:
                self.tokens.hear(ticket.tokens, tokens, rate.tokens, now, self.longest_wait)
        if pause:
            self.paused_until = max(self.paused_until, now + pause)
        if self._news is not None:
            async with self._news:
                self._news.notify_all()


class AdaptiveLimit:
    """A concurrency limit that halves on rate limiting and grows back by one per window
    of successes (additive increase, multiplicative decrease)."""

    def __init__(self, maximum: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.in_use = 0
        self.clock = clock
        self._last_decrease = -1e9
        import asyncio

        self._changed = asyncio.Condition()

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use < self.current)
            self.in_use += 1

    async def release(self) -> None:
        async with self._changed:
            self.in_use -= 1
            self._changed.notify_all()

    def rate_limited(self) -> None:
        now = self.clock()
        if now - self._last_decrease > 1.0:  # one burst of 429s halves once, not N times
            self.limit = max(1.0, self.limit / 2)
            self._last_decrease = now

    async def succeeded(self) -> None:
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            async with self._changed:
                self._changed.notify_all()
