"""Several deployments of one model (regions, keys), through litellm's Router.

A model with `deployments` in the registry gets one `litellm.Router`, created at its first
call. For each attempt the Router picks a deployment (`Router.select`: simple-shuffle, or
usage-based routing when a deployment states its rpm/tpm, never one that is cooling down),
and the request goes to that deployment through the Router (`acompletion(model=<its id>)`),
which cools it down when it fails: for as long as its Retry-After asks, else COOLDOWN
seconds.

Who retries: this seam, never the Router (its `num_retries` is 0). Each attempt is one
request to one deployment; a failed attempt is retried here, on whichever deployment the
Router picks next, which is another one while the failed one cools down: that is the
failover, and it needs no backoff. A deployment's key, permission or name (401, 403, 404)
is its own, so those failures fail over too; a request the provider refuses as such (400,
422) does not. When every deployment is cooling down, the Router says how long: that wait
is no attempt.

Pacing is per deployment, since each sends its own rate-limit headers: the pick is known
before the request leaves, so the request is admitted and counted by its deployment's pace
(migrate/pacing.py) exactly as a single model's is. A pick whose deployment has no room is
drawn again, and a request waits only while no deployment has room. Which deployment gave
the result, and how many 429s each sent, goes into the call's record.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from migrate.llm import MAX_RETRY_AFTER, CallRecord, ModelSeam, Target, litellm_module
from migrate.pacing import (
    NO_HEADERS,
    Pace,
    RateHeaders,
    estimate_tokens,
    headers_of,
    read_rate_headers,
)
from migrate.provider_errors import CONFIGURATION_ERRORS, RETRYABLE, classify
from migrate.secrets import redact

COOLDOWN = 5.0  # seconds a failed deployment rests when its answer named no Retry-After
# Failures that belong to one deployment (its key, its permission, its deployment name):
# another deployment may well answer.
FAILOVER = RETRYABLE | (CONFIGURATION_ERRORS - {"BadRequest", "Unprocessable", "MissingKey"})
MAX_COOLING_WAITS = 200  # waits for a deployment to come back, per call, at most
NO_DEPLOYMENT = "No deployments available"  # the Router's words when it has none to give


class MissingKeyError(Exception):
    def __init__(self, variable: str) -> None:
        super().__init__(f"environment variable {variable} is not set")


def deployment_id(index: int) -> str:
    """The Router's id of a model's deployment: never a model name, whatever it is called."""
    return f"migrate-deployment-{index}"


def router_of(target: Target, timeout: float) -> Any:
    """A Router over the target's deployments; keys are read from the environment now."""
    model_list = []
    for index, deployment in enumerate(target.deployments):
        params: dict[str, Any] = {"model": target.model}
        if deployment.api_base:
            params["api_base"] = deployment.api_base
        if deployment.api_key_env:
            key = os.environ.get(deployment.api_key_env)
            if not key:
                raise MissingKeyError(deployment.api_key_env)
            params["api_key"] = key
        for limit in ("rpm", "tpm"):
            if getattr(deployment, limit) is not None:
                params[limit] = getattr(deployment, limit)
        model_list.append(
            {
                "model_name": target.model,
                "litellm_params": params,
                "model_info": {"id": deployment_id(index)},
            }
        )
    limited = any(d.rpm or d.tpm for d in target.deployments)
    return litellm_module().Router(
        model_list=model_list,
        routing_strategy="usage-based-routing-v2" if limited else "simple-shuffle",
        num_retries=0,
        allowed_fails=0,  # one failure cools a deployment down: the retry goes elsewhere
        cooldown_time=COOLDOWN,
        timeout=timeout,
    )


def cooling_down(exc: BaseException) -> float | None:
    """Seconds to wait when the Router has no deployment to give because every one is
    cooling down (it says how long) or at its rpm/tpm (it does not: look again in a
    second); None for any other error."""
    if type(exc).__name__ != "RouterRateLimitError" and NO_DEPLOYMENT not in str(exc):
        return None
    wait = getattr(exc, "cooldown_time", None)
    return float(wait) if isinstance(wait, int | float) else 1.0


class RoutingSeam(ModelSeam):
    """The model seam, with a model's deployments routed through one Router per model."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routers: dict[Target, Any] = {}

    def deployment_paces(self, target: Target) -> dict[str, Pace]:
        """Each deployment's pace (by Router id): the model's pace as if it had only it."""
        return {
            deployment_id(index): self.pace(
                dataclasses.replace(
                    target, api_base=d.api_base, api_key_env=d.api_key_env, deployments=()
                )
            )
            for index, d in enumerate(target.deployments)
        }

    async def complete(
        self,
        target: Target,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        call: str = "acompletion",
        read: Callable[[Target, Any, float, int], CallRecord] | None = None,
    ) -> CallRecord:
        if not target.deployments:
            return await super().complete(target, messages, params, call, read)
        if call != "acompletion":  # a run refuses this before any call (inputs.py)
            raise ValueError(f"{target.model}: deployments route completions only, not {call}")
        import asyncio

        router = self.routers.get(target)
        if router is None:
            try:
                router = self.routers[target] = router_of(target, self.timeout)
            except MissingKeyError as exc:
                return CallRecord.failure("MissingKey", str(exc), attempts=0)
        kwargs: dict[str, Any] = {
            **params,
            "messages": messages,
            "timeout": self.timeout,
            "max_retries": 0,
        }
        if target.drop_params:
            kwargs["drop_params"] = True
        if target.input_cost_per_mtok is not None and target.output_cost_per_mtok is not None:
            kwargs.setdefault("input_cost_per_token", target.input_cost_per_mtok / 1e6)
            kwargs.setdefault("output_cost_per_token", target.output_cost_per_mtok / 1e6)
        paces = self.deployment_paces(target)
        names = {deployment_id(i): d.name for i, d in enumerate(target.deployments)}
        estimate = estimate_tokens(messages, params)
        attempt = waits = 0
        refused: Counter[str] = Counter()
        while True:
            await wait_for_room(list(paces.values()), estimate)
            failure: Exception | None = None
            response: Any = None
            rate: RateHeaders = NO_HEADERS
            error, hinted, pause, cooling = "", None, None, None
            # The pick is made once a slot is free, so that it is fresh: a deployment that
            # failed while this request queued is cooling down by then, and not picked.
            async with self._slot(target):
                try:
                    picked = await pick(router, target.model, messages, paces, estimate)
                except Exception as exc:
                    picked, failure = "", exc
                if picked:
                    ticket = await paces[picked].admit(estimate)
                    try:
                        started = time.perf_counter()
                        try:
                            response = await asyncio.wait_for(
                                router.acompletion(model=picked, **kwargs), self.timeout + 5
                            )
                        except Exception as exc:
                            failure = exc
                        latency = time.perf_counter() - started
                        if failure is None or (cooling := cooling_down(failure)) is None:
                            answer = response if failure is None else failure
                            rate = read_rate_headers(headers_of(answer))
                        if failure is not None and cooling is None:
                            error, hinted = classify(failure)
                            if error == "RateLimited":
                                refused[names[picked]] += 1
                                self.rate_limited += 1
                                if not rate.allowance_known and len(paces) == 1:
                                    # With several, the Router rests the one that refused
                                    # and the others go on: the concurrency need not halve.
                                    self.limit.rate_limited()
                                if hinted is not None:  # the deployment waits, not the call
                                    pause = min(hinted, MAX_RETRY_AFTER)
                    finally:
                        await paces[picked].settle(ticket, rate, pause)
                elif failure is not None:
                    cooling = cooling_down(failure)
            if cooling is not None and waits < MAX_COOLING_WAITS:
                waits += 1  # nothing was sent: no attempt, no call
                await asyncio.sleep(min(max(cooling, 0.05), MAX_RETRY_AFTER))
                continue
            if cooling is not None or not picked:  # nothing was sent, and no wait helped
                assert failure is not None
                record = CallRecord.failure(
                    classify(failure)[0], redact(str(failure))[:500], 0.0, attempt
                )
                record.rate_limited = sum(refused.values())
                record.refused_by = dict(sorted(refused.items()))
                return record
            attempt += 1
            self.calls_made += 1
            if failure is not None:
                failover = len(paces) > 1
                if attempt <= self.max_retries and (
                    error in RETRYABLE or (failover and error in FAILOVER)
                ):
                    if not failover:  # the Router's cooldown is the wait between deployments
                        await self.sleep(self.backoff(attempt, hinted))
                    continue
                record = CallRecord.failure(
                    error,
                    redact(str(failure))[:500],
                    latency,
                    attempt,
                    rate_limited=sum(refused.values()),
                )
            else:
                record = self._record(target, response, latency, attempt)
                record.rate_limited = sum(refused.values())
                if record.error in RETRYABLE and attempt <= self.max_retries:
                    await self.sleep(self.backoff(attempt, None))
                    continue
                if record.error is None:
                    await self.limit.succeeded()
            record.deployment = names[picked]
            record.refused_by = dict(sorted(refused.items()))
            return record


async def pick(
    router: Any, model: str, messages: list[dict[str, str]], paces: dict[str, Pace], estimate: int
) -> str:
    """The Router's pick of a deployment (its id), drawn again (a few times at most) while
    the pick's own pace has no room for the request and another deployment might."""
    chosen = ""
    for _ in range(2 * len(paces)):
        deployment = await router.select(model, {}, messages=messages)
        chosen = str(deployment["model_info"]["id"])
        if paces[chosen].wait_for(estimate) <= 0:
            break
    return chosen


async def wait_for_room(paces: list[Pace], estimate: int) -> None:
    """Wait while no deployment has room for a request of `estimate` tokens until a reset
    (a deployment that waits for answers on their way is waited for by its own pace)."""
    import asyncio

    while 0 < (wait := min(p.wait_for(estimate) for p in paces)) < math.inf:
        await asyncio.sleep(min(wait, MAX_RETRY_AFTER))
