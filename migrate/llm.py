"""The one model seam: every model call goes through here.

It imports litellm lazily (seconds of import time that planning commands never pay),
keeps litellm off the network for its cost map, paces each model by the rate-limit headers
its provider sends (migrate/pacing.py), bounds concurrency (shrinking it on 429s that say
nothing more, and growing it back), applies a per-call timeout, retries transient failures
with exponential backoff and full jitter while honouring Retry-After, and returns a plain
record. No API key is ever stored: keys are read from the environment at call time.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from migrate.pacing import (
    NO_HEADERS,
    AdaptiveLimit,
    Pace,
    RateHeaders,
    Spent,
    estimate_tokens,
    headers_of,
    read_rate_headers,
)
from migrate.provider_errors import RETRYABLE, classify
from migrate.secrets import redact

if TYPE_CHECKING:
    import asyncio
    import random

# asyncio, random and logging are imported where a call is made: the planning commands reach
# this module through the run record's types (CallRecord, Target) and never pay for them.

# Set before litellm is first imported: its cost map must come from the installed package.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is capped, the call still retries


@dataclass(frozen=True)
class Deployment:
    """One place a model answers (a region, a key), as migrate/routing.py routes to it."""

    name: str  # how the journal names it: never a key
    api_base: str | None = None
    api_key_env: str | None = None
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True)
class Target:
    """How to reach one model: litellm's name plus the registry's connection details."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None
    max_concurrency: int | None = None  # a server's own limit, e.g. llama.cpp's slots
    drop_params: bool = False  # litellm drops the params this model does not support
    deployments: tuple[Deployment, ...] = ()  # several: litellm's Router spreads the calls


@dataclass
class CallRecord:
    """What one finished call produced; `error` is None on success."""

    text: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None  # USD; None when no price is known
    latency: float | None  # seconds, of the final attempt; None: not measured (a batch)
    error: str | None = None  # an error class: RateLimited, Timeout, ServerError, ...
    error_message: str | None = None
    attempts: int = 1
    rate_limited: int = 0  # attempts the provider refused with 429
    deployment: str | None = None  # which of the model's deployments gave this result
    refused_by: dict[str, int] = field(default_factory=dict)  # deployment -> its 429s

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failure(
        cls, error: str, message: str, latency: float | None = 0.0, attempts: int = 1, **fields: Any
    ) -> CallRecord:
        """A call that produced no usable answer (fields may keep tokens or text)."""
        values: dict[str, Any] = dict(
            text=None, finish_reason=None, prompt_tokens=None, completion_tokens=None, cost=None
        )
        values.update(fields)
        return cls(**values, latency=latency, error=error, error_message=message, attempts=attempts)


@dataclass
class Sent:
    """One request as sent once: its record (the answer read, or the failure named), the
    provider's response headers, and a refusal's Retry-After."""

    record: CallRecord
    headers: dict[str, str] = field(default_factory=dict)
    hinted: float | None = None

    @property
    def refused(self) -> bool:
        return self.record.error == "RateLimited"

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record.to_json(), "headers": self.headers, "hinted": self.hinted}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sent:
        return cls(CallRecord(**data["record"]), dict(data["headers"]), data["hinted"])


Sleep = Callable[[float], Awaitable[None]]
_litellm: Any = None
_CALLBACKS = (  # litellm's lists of logging callbacks, all empty unless someone adds one
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "service_callback",
    "audit_log_callbacks",
    "_async_success_callback",
    "_async_failure_callback",
    "_async_input_callback",
)


def litellm_module() -> Any:
    """Import and quieten litellm once."""
    global _litellm
    if _litellm is None:
        import logging

        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        # Prompts and outputs never reach a litellm logging callback. migrate registers
        # none, and with none there is nothing to redact from, while redacting still
        # deep-copies every call's logging payload (6% of a call's CPU): redact only when
        # some callback was configured before migrate got litellm.
        litellm.turn_off_message_logging = any(getattr(litellm, n, None) for n in _CALLBACKS)
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # Resolve litellm's lazy imports now, then move everything imported so far (some
        # 370,000 objects that live until exit) out of the cyclic collector's reach: the
        # interpreter's exit no longer walks them (1.2 s saved per run), nor does each full
        # collection during the calls.
        _ = litellm.acompletion
        gc.freeze()
        _litellm = litellm
    return _litellm


def litellm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def price_per_token(target: Target) -> tuple[float, float] | None:
    """(input, output) USD per token: the registry's prices, else litellm's bundled map."""
    found = price_for(target, litellm_module().model_cost)
    return (found[0], found[1]) if found else None


def price_for(target: Target, model_cost: dict[str, Any] | None) -> tuple[float, float, str] | None:
    """(input, output) USD per token and where they come from: the registry's prices when it
    gives them (a price someone wrote down is never ignored), else `model_cost` (litellm's
    map); None when neither prices the model."""
    if target.input_cost_per_mtok is not None and target.output_cost_per_mtok is not None:
        return target.input_cost_per_mtok / 1e6, target.output_cost_per_mtok / 1e6, "registry"
    provider, _, bare = target.model.partition("/")
    for name in (target.model, bare) if model_cost else ():
        entry = model_cost.get(name) if name and model_cost else None
        if isinstance(entry, dict):
            inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
            if isinstance(inp, int | float) and isinstance(out, int | float):
                return float(inp), float(out), "litellm"
    return None


def answer_record(
    text: Any,
    finish: Any,
    prompt_tokens: Any,
    completion_tokens: Any,
    price: tuple[float, float] | None,
    latency: float | None,
    attempt: int = 1,
    *,
    answered: bool = True,
) -> CallRecord:
    """The record of a completion from what its first choice and its usage said, however it
    came (a synchronous call, a batch's output line): no choice, a content filter, a price."""
    tokens = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    if not answered:
        return CallRecord.failure(
            "EmptyResponse", "the response had no choices", latency, attempt, **tokens
        )
    if isinstance(text, str):
        # A lone surrogate ("\ud83d" cut from an emoji) is valid JSON but not UTF-8:
        # replace it so that the journal line can always be written.
        text = text.encode("utf-8", "replace").decode("utf-8")
    if finish == "content_filter":
        return CallRecord.failure(
            "ContentFiltered",
            "the provider's content filter stopped the answer",
            latency,
            attempt,
            text=text or "",
            finish_reason=finish,
            **tokens,
        )
    cost = None
    if price is not None and isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
        cost = prompt_tokens * price[0] + completion_tokens * price[1]
    return CallRecord(
        text if isinstance(text, str) else "",
        finish,
        prompt_tokens,
        completion_tokens,
        cost,
        latency,
        attempts=attempt,
    )


class ModelSeam:
    """Calls models with bounded, adaptive concurrency, timeouts and retries, each model
    paced by what its provider says of its rate limit."""

    def __init__(
        self,
        concurrency: int,
        timeout: float,
        max_retries: int,
        *,
        sleep: Sleep | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.limit = AdaptiveLimit(concurrency)
        self.timeout = timeout
        self.max_retries = max_retries
        import asyncio
        import random

        self.sleep = sleep or asyncio.sleep
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng or random.Random()
        self.calls_made = 0  # HTTP attempts, including retries
        self._model_slots: dict[str, asyncio.Semaphore] = {}
        self.rate_limited = 0
        self.paces: dict[tuple[str, str | None, str | None], Pace] = {}
        self._spent: dict[tuple[str | None, ...], Spent] = {}

    def pace(self, target: Target) -> Pace:
        """The model's pace, shared by every call of the run to it (judge calls included).
        Models behind one api_base and key share what they spend: a proxy or a server
        counts its allowance per key, while a provider's own endpoint counts per model."""
        key = (target.model, target.api_base, target.api_key_env)
        pace = self.paces.get(key)
        if pace is None:
            holder = (target.api_base, target.api_key_env) if target.api_base else key
            spent = self._spent.setdefault(holder, Spent())
            pace = self.paces[key] = Pace(spent, longest_wait=MAX_RETRY_AFTER)
        return pace

    def backoff(self, attempt: int, hinted: float | None) -> float:
        if hinted is not None:
            return min(hinted, MAX_RETRY_AFTER)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)  # full jitter: retries of a burst spread out

    async def complete(
        self,
        target: Target,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        call: str = "acompletion",  # or another of litellm's calls, e.g. aembedding
        read: Callable[[Target, Any, float, int], CallRecord] | None = None,  # its response
    ) -> CallRecord:
        kwargs: dict[str, Any] = {
            **params,
            "model": target.model,
            "messages": messages,
            "timeout": self.timeout,
            "max_retries": 0,
        }
        if call != "acompletion":
            del kwargs["messages"]
        if target.api_base:
            kwargs["api_base"] = target.api_base
        if target.drop_params:
            kwargs["drop_params"] = True
        if target.input_cost_per_mtok is not None and target.output_cost_per_mtok is not None:
            # The registry's prices, for litellm's own per-call cost bookkeeping: priced up
            # front, it skips searching its map for a model it does not know (a local
            # server's), about 1 ms of CPU per call. Nothing of it is sent to the server.
            kwargs.setdefault("input_cost_per_token", target.input_cost_per_mtok / 1e6)
            kwargs.setdefault("output_cost_per_token", target.output_cost_per_mtok / 1e6)
        if target.api_key_env and not os.environ.get(target.api_key_env):
            return CallRecord.failure(
                "MissingKey", f"environment variable {target.api_key_env} is not set", attempts=0
            )
        pace = self.pace(target)
        estimate = estimate_tokens(messages, params)
        attempt = refused = 0
        while True:
            attempt += 1
            ticket = await pace.admit(estimate)
            rate: RateHeaders = NO_HEADERS
            pause = None
            try:
                async with self._slot(target):
                    self.calls_made += 1
                    sent = await self.send(target, kwargs, call, read, attempt)
                rate = read_rate_headers(sent.headers)
                if sent.refused:
                    refused += 1
                    self.rate_limited += 1
                    if not rate.allowance_known:  # nothing but the 429 to learn from
                        self.limit.rate_limited()
                    if sent.hinted is not None:  # the model waits, not just this call
                        pause = min(sent.hinted, MAX_RETRY_AFTER)
            finally:
                await pace.settle(ticket, rate, pause)
            record = sent.record
            record.rate_limited = refused
            if record.error in RETRYABLE and attempt <= self.max_retries:
                # A refusal whose wait the pace now holds every request to is not waited
                # for twice.
                if not (sent.refused and pace.wait_for(estimate) > 0):
                    await self.sleep(self.backoff(attempt, sent.hinted))
                continue
            if record.error is None:
                await self.limit.succeeded()
            return record

    async def send(
        self,
        target: Target,
        kwargs: dict[str, Any],
        call: str,
        read: Callable[[Target, Any, float, int], CallRecord] | None,
        attempt: int,
    ) -> Sent:
        """One request through litellm, its key read from the environment now: the answer
        read into a record, or the failure named; never retried here."""
        import asyncio

        litellm = litellm_module()
        if target.api_key_env:
            kwargs = {**kwargs, "api_key": os.environ.get(target.api_key_env, "")}
        started = time.perf_counter()
        try:
            # A server that accepts and never answers must not hang the run.
            response = await asyncio.wait_for(getattr(litellm, call)(**kwargs), self.timeout + 5)
        except Exception as failure:
            latency = time.perf_counter() - started
            error, hinted = classify(failure)
            message = redact(str(failure))[:500]
            record = CallRecord.failure(error, message, latency, attempt)
            return Sent(record, headers_of(failure), hinted)
        latency = time.perf_counter() - started
        record = (read or self._record)(target, response, latency, attempt)
        return Sent(record, headers_of(response))

    @contextlib.asynccontextmanager
    async def _slot(self, target: Target) -> AsyncIterator[None]:
        """Hold the model's own slot (when it has a limit) and one of the adaptive limit's,
        released however the call ends, cancellation included; never held while backing off."""
        import asyncio

        own = None
        if target.max_concurrency:
            own = self._model_slots.setdefault(
                target.model, asyncio.Semaphore(target.max_concurrency)
            )
            await own.acquire()
        try:
            await self.limit.acquire()
            try:
                yield
            finally:
                await self.limit.release()
        finally:
            if own is not None:
                own.release()

    def _record(self, target: Target, response: Any, latency: float, attempt: int) -> CallRecord:
        choices = getattr(response, "choices", None) or []
        usage = getattr(response, "usage", None)
        choice = choices[0] if choices else None
        return answer_record(
            getattr(getattr(choice, "message", None), "content", None) if choice else None,
            getattr(choice, "finish_reason", None),
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
            price_per_token(target),
            latency,
            attempt,
            answered=choice is not None,
        )
