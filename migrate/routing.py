"""Several deployments of one model (regions, keys), through litellm's Router.

A model with `deployments` in the registry gets one `litellm.Router`, created at its first
call: the Router picks a deployment for each attempt (simple-shuffle, or usage-based routing
when a deployment states its rpm/tpm) and cools a deployment down when it fails, for as long
as its Retry-After asks, or COOLDOWN seconds.

Who retries: this seam, never the Router (its `num_retries` is 0). Each attempt is one
request to one deployment; a failed attempt is retried here, on whichever deployment the
Router picks next, which is another one while the failed one cools down: that is the
failover. A deployment's key, permission or name (401, 403, 404) is its own, so those
failures fail over too; a request the provider refuses as such (400, 422) does not. When
every deployment is cooling down, the Router says how long: that wait is no attempt.

Pacing is per deployment, since each sends its own rate-limit headers: each answer is
heard by its deployment's pace (migrate/pacing.py reads the headers), and a request waits
only while no deployment has room. Which deployment answered, and how many 429s each sent,
goes into the call's record.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from typing import Any

from migrate.llm import (
    CONFIGURATION_ERRORS,
    MAX_RETRY_AFTER,
    RETRYABLE,
    CallRecord,
    ModelSeam,
    Target,
    classify,
    litellm_module,
)
from migrate.pacing import Pace, estimate_tokens, headers_of, read_rate_headers
from migrate.secrets import redact

COOLDOWN = 5.0  # seconds a failed deployment rests when its answer named no Retry-After
# Failures that belong to one deployment (its key, its permission, its deployment name):
# another deployment may well answer.
FAILOVER = RETRYABLE | (CONFIGURATION_ERRORS - {"BadRequest", "Unprocessable", "MissingKey"})
MAX_COOLING_WAITS = 200  # waits for a deployment to come back, per call, at most
NO_DEPLOYMENT = "No deployments available"  # the Router's words when it sends nothing


class MissingKeyError(Exception):
    def __init__(self, variable: str) -> None:
        super().__init__(f"environment variable {variable} is not set")


def router_of(target: Target, timeout: float) -> Any:
    """A Router over the target's deployments; keys are read from the environment now."""
    model_list = []
    for deployment in target.deployments:
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
                "model_info": {"id": deployment.name},
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


def answered_by(answer: Any) -> str | None:
    """The deployment (its name) that gave a response or raised an error, if one did."""
    hidden = getattr(answer, "_hidden_params", None)
    found = hidden.get("model_id") if isinstance(hidden, dict) else None
    found = found or getattr(answer, "failed_deployment_id", None)
    return str(found) if found else None


def cooling_down(exc: BaseException) -> float | None:
    """Seconds to wait when the Router sent nothing because every deployment is cooling down
    (it says how long) or at its rpm/tpm (it does not: look again in a second); None for
    any other error."""
    if type(exc).__name__ != "RouterRateLimitError" and NO_DEPLOYMENT not in str(exc):
        return None
    wait = getattr(exc, "cooldown_time", None)
    return float(wait) if isinstance(wait, int | float) else 1.0


class RoutingSeam(ModelSeam):
    """The model seam, with a model's deployments routed through one Router per model."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routers: dict[Target, Any] = {}

    def deployment_pace(self, target: Target, name: str) -> Pace:
        """One deployment's pace: the model's pace as if it had that deployment alone."""
        deployment = next(d for d in target.deployments if d.name == name)
        alone = dataclasses.replace(
            target, api_base=deployment.api_base, api_key_env=deployment.api_key_env, deployments=()
        )
        return self.pace(alone)

    async def complete(
        self, target: Target, messages: list[dict[str, str]], params: dict[str, Any]
    ) -> CallRecord:
        if not target.deployments:
            return await super().complete(target, messages, params)
        import asyncio

        router = self.routers.get(target)
        if router is None:
            try:
                router = self.routers[target] = router_of(target, self.timeout)
            except MissingKeyError as exc:
                return CallRecord.failure("MissingKey", str(exc), attempts=0)
        kwargs: dict[str, Any] = {
            **params,
            "model": target.model,
            "messages": messages,
            "timeout": self.timeout,
            "max_retries": 0,
        }
        if target.drop_params:
            kwargs["drop_params"] = True
        if target.input_cost_per_mtok is not None and target.output_cost_per_mtok is not None:
            kwargs.setdefault("input_cost_per_token", target.input_cost_per_mtok / 1e6)
            kwargs.setdefault("output_cost_per_token", target.output_cost_per_mtok / 1e6)
        paces = {d.name: self.deployment_pace(target, d.name) for d in target.deployments}
        estimate = estimate_tokens(messages, params)
        attempt = waits = 0
        refused: Counter[str] = Counter()
        while True:
            await wait_for_room(list(paces.values()), estimate)
            failure: Exception | None = None
            response: Any = None
            async with self._slot(target):
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(
                        router.acompletion(**kwargs), self.timeout + 5
                    )
                except Exception as exc:
                    failure = exc
                latency = time.perf_counter() - started
            answer = response if failure is None else failure
            deployment = answered_by(answer)
            cooling = None if failure is None or deployment else cooling_down(failure)
            if cooling is not None and waits < MAX_COOLING_WAITS:
                waits += 1  # nothing was sent: no attempt, no call
                await asyncio.sleep(min(max(cooling, 0.05), MAX_RETRY_AFTER))
                continue
            attempt += 1
            self.calls_made += 1
            rate = read_rate_headers(headers_of(answer))
            error, hinted, pause = "", None, None
            if failure is not None:
                error, hinted = classify(failure)
                if error == "RateLimited":
                    if deployment:
                        refused[deployment] += 1
                    self.rate_limited += 1
                    if not rate.allowance_known:
                        self.limit.rate_limited()
                    if hinted is not None:
                        pause = min(hinted, MAX_RETRY_AFTER)
            if deployment in paces:
                await paces[deployment].answered(estimate, rate, pause)
            if failure is not None:
                failover = len(paces) > 1 and deployment is not None
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
            record.deployment = deployment
            record.refused_by = dict(sorted(refused.items()))
            return record


async def wait_for_room(paces: list[Pace], estimate: int) -> None:
    """Wait while no deployment has room for a request of `estimate` tokens."""
    import asyncio

    while (wait := min(p.wait_for(estimate) for p in paces)) > 0:
        await asyncio.sleep(min(wait, MAX_RETRY_AFTER))
