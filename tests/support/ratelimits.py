"""A provider's rate limit, as the scripted server enforces it.

A fixed window: at most `requests` requests (and `tokens` tokens) per `window` seconds,
counted as they arrive, for every model the limit wraps (one key, one allowance, as a
proxy or a self-hosted server counts). Every answer carries the headers the provider
sends, OpenAI's `x-ratelimit-*` (reset as a Go duration: `6m0s`, `1.5s`, `20ms`) or
Anthropic's `anthropic-ratelimit-*` (reset as an RFC 3339 time); a request past the limit
is refused with 429, those headers and `Retry-After`. Tokens are counted as OpenAI counts
them, from the request itself: a quarter of the prompt's characters plus `max_tokens`.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import Counter
from collections.abc import Callable

from tests.support.openai_server import Behaviour, Reply, Request


def go_duration(seconds: float) -> str:
    """`seconds` the way Go prints a duration (OpenAI's reset headers), rounded up to 1 ms."""
    millis = max(0, math.ceil(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    minutes, millis = divmod(millis, 60_000)
    text = f"{millis / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


def rfc3339(moment: float) -> str:
    """A wall-clock time as Anthropic sends it, rounded up to the whole second."""
    stamp = dt.datetime.fromtimestamp(math.ceil(moment), dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_tokens(request: Request) -> int:
    chars = sum(len(str(m.get("content", ""))) for m in request.messages)
    asked = request.body.get("max_tokens") or request.body.get("max_completion_tokens") or 0
    return math.ceil(chars / 4) + int(asked)


class WindowLimit:
    """Wraps behaviours in one fixed-window allowance; counts what it admitted and refused."""

    def __init__(
        self,
        requests: int,
        window: float,
        *,
        tokens: int | None = None,
        style: str = "openai",  # openai | anthropic | none (a limit that sends no header)
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = requests
        self.window = window
        self.tokens = tokens
        self.style = style
        self.clock = clock
        self.admitted: Counter[str] = Counter()  # model -> requests let through
        self.refused: Counter[str] = Counter()  # model -> requests answered 429
        self._lock = threading.Lock()
        self._start: float | None = None
        self._used = 0
        self._used_tokens = 0

    def wrap(self, behaviour: Behaviour) -> Behaviour:
        def limited(request: Request) -> Reply:
            allowed, headers = self._count(request)
            if not allowed:
                return Reply(status=429, headers=headers)
            reply = behaviour(request)
            reply.headers = {**headers, **reply.headers}
            return reply

        return limited

    def reset(self) -> None:
        with self._lock:
            self._start = None
            self._used = self._used_tokens = 0
            self.admitted.clear()
            self.refused.clear()

    def _count(self, request: Request) -> tuple[bool, dict[str, str]]:
        cost = request_tokens(request)
        with self._lock:
            now = self.clock()
            if self._start is None:
                self._start = now
            if now >= self._start + self.window:
                # Windows follow one another from the first request: a fixed grid.
                self._start += self.window * math.floor((now - self._start) / self.window)
                self._used = self._used_tokens = 0
            fits = self._used < self.requests and (
                self.tokens is None or self._used_tokens + cost <= self.tokens
            )
            if fits:
                self._used += 1
                self._used_tokens += cost
                self.admitted[request.model] += 1
            else:
                self.refused[request.model] += 1
            reset = self._start + self.window - now
            headers = self._headers(reset)
            if not fits and self.style != "none":
                headers["retry-after-ms"] = str(math.ceil(reset * 1000))
                headers["Retry-After"] = str(math.ceil(reset))
            return fits, headers

    def _headers(self, reset: float) -> dict[str, str]:
        left = max(0, self.requests - self._used)
        left_tokens = None if self.tokens is None else max(0, self.tokens - self._used_tokens)
        if self.style == "openai":
            headers = {
                "x-ratelimit-limit-requests": str(self.requests),
                "x-ratelimit-remaining-requests": str(left),
                "x-ratelimit-reset-requests": go_duration(reset),
            }
            if self.tokens is not None:
                headers["x-ratelimit-limit-tokens"] = str(self.tokens)
                headers["x-ratelimit-remaining-tokens"] = str(left_tokens)
                headers["x-ratelimit-reset-tokens"] = go_duration(reset)
            return headers
        if self.style == "anthropic":
            at = rfc3339(time.time() + reset)
            headers = {
                "anthropic-ratelimit-requests-limit": str(self.requests),
                "anthropic-ratelimit-requests-remaining": str(left),
                "anthropic-ratelimit-requests-reset": at,
            }
            if self.tokens is not None:
                headers["anthropic-ratelimit-tokens-limit"] = str(self.tokens)
                headers["anthropic-ratelimit-tokens-remaining"] = str(left_tokens)
                headers["anthropic-ratelimit-tokens-reset"] = at
            return headers
        return {}
