"""The model seam's batch side: a provider's files and batches APIs, through litellm.

A batch is one uploaded JSONL file of chat requests (OpenAI's batch input format, which
litellm passes to OpenAI, Azure OpenAI and any OpenAI-compatible server implementing
`/v1/files` and `/v1/batches`), one batch created from it, polled until it ends, and its
output and error files read back. Each result line becomes the same record a synchronous
call makes, priced at the provider's batch price; its latency is not measured (None).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from migrate.errors import InfrastructureError, UsageError
from migrate.llm import CallRecord, Target, answer_record, litellm_module
from migrate.provider_errors import RETRYABLE, classify
from migrate.secrets import redact

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
TOKEN_KEY = "migrate_batch"  # the batch's metadata key holding the submission's token
# Providers whose batch input is OpenAI's JSONL as written here. Vertex AI and Bedrock need
# a storage bucket and litellm's own translation of the file; they are refused, not guessed.
PROVIDERS = ("openai", "azure")
FINISHED = {"completed", "expired", "cancelled", "failed"}
# A line that failed for one of these is sent again in a later batch; any other failure
# is the call's result, as a synchronous call's would be after its retries.
RESUBMIT = RETRYABLE | {"BatchExpired"}

Sleep = Callable[[float], Awaitable[None]]


def provider_of(target: Target) -> str:
    """The litellm provider a target's batches go to; UsageError when it has none here."""
    provider, _, bare = target.model.partition("/")
    if target.deployments:
        raise UsageError(
            f"{target.model}: its calls are routed across deployments, and a batch goes to "
            "one endpoint; run it without --batch"
        )
    if target.drop_params:
        raise UsageError(
            f"{target.model}: drop_params is set, and a batch's requests are sent as written "
            "(litellm drops nothing from them); run it without --batch"
        )
    if bare and provider in PROVIDERS:
        return provider
    raise UsageError(
        f"{target.model}: batch mode needs a provider whose batch input is OpenAI's "
        f"(model names starting {', '.join(p + '/' for p in PROVIDERS)}); "
        "run it without --batch"
    )


def request_line(
    custom_id: str, target: Target, messages: list[dict[str, str]], params: dict[str, Any]
) -> dict[str, Any]:
    """One line of a batch input file: the request a synchronous call would send."""
    bare = target.model.partition("/")[2]
    body = {**params, "model": bare, "messages": messages}
    return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}


def batch_price_per_token(target: Target) -> tuple[float, float] | None:
    """(input, output) USD per token of a batch call: litellm's batch prices where its map
    has them, else the registry's prices for the model, else None (unknown, said so)."""
    costs = litellm_module().model_cost
    bare = target.model.partition("/")[2]
    for name in (target.model, bare):
        entry = costs.get(name) if name else None
        if isinstance(entry, dict):
            inp = entry.get("input_cost_per_token_batches")
            out = entry.get("output_cost_per_token_batches")
            if isinstance(inp, int | float) and isinstance(out, int | float):
                return float(inp), float(out)
    if target.input_cost_per_mtok is not None and target.output_cost_per_mtok is not None:
        return target.input_cost_per_mtok / 1e6, target.output_cost_per_mtok / 1e6
    return None


@dataclass(frozen=True)
class BatchState:
    """What a provider says of one batch."""

    id: str
    status: str  # validating | in_progress | finalizing | completed | expired | failed | ...
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: str = ""  # why a batch failed as a whole, in the provider's words
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _state(batch: Any) -> BatchState:
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    reasons = "; ".join(str(getattr(e, "message", "") or getattr(e, "code", "")) for e in errors)
    return BatchState(
        id=str(batch.id),
        status=str(batch.status),
        output_file_id=getattr(batch, "output_file_id", None),
        error_file_id=getattr(batch, "error_file_id", None),
        errors=redact(reasons)[:500],
        metadata=dict(getattr(batch, "metadata", None) or {}),
    )


class BatchSeam:
    """Uploads, creates, polls and reads batches, retrying transient failures; a failure
    that persists is an InfrastructureError naming the step and the provider's words."""

    def __init__(self, timeout: float, max_retries: int, sleep: Sleep | None = None) -> None:
        import asyncio

        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep or asyncio.sleep
        self.requests_made = 0  # HTTP requests to the files and batches endpoints

    def _connection(self, target: Target) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "custom_llm_provider": provider_of(target),
            "timeout": self.timeout,
            "max_retries": 0,
        }
        if target.api_base:
            kwargs["api_base"] = target.api_base
        if target.api_key_env:
            key = os.environ.get(target.api_key_env)
            if not key:
                raise UsageError(f"environment variable {target.api_key_env} is not set")
            kwargs["api_key"] = key
        return kwargs

    async def _call(self, what: str, target: Target, call: Callable[[], Awaitable[Any]]) -> Any:
        attempt = 0
        while True:
            attempt += 1
            self.requests_made += 1
            try:
                return await call()
            except Exception as exc:
                error, hinted = classify(exc)
                if error in RETRYABLE and attempt <= self.max_retries:
                    await self.sleep(min(hinted or 2.0 ** (attempt - 1), 60.0))
                    continue
                raise InfrastructureError(
                    f"{target.model}: {what} failed: {error}: {redact(str(exc))[:300]}"
                ) from None

    async def upload(self, target: Target, lines: list[dict[str, Any]], name: str) -> str:
        """Upload a batch input file; its id."""
        litellm = litellm_module()
        content = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        kwargs = self._connection(target)
        uploaded = await self._call(
            "uploading the batch's requests",
            target,
            lambda: litellm.acreate_file(
                file=(name, content, "application/jsonl"), purpose="batch", **kwargs
            ),
        )
        return str(uploaded.id)

    async def create(self, target: Target, file_id: str, token: str) -> BatchState:
        litellm = litellm_module()
        kwargs = self._connection(target)
        batch = await self._call(
            "creating the batch",
            target,
            lambda: litellm.acreate_batch(
                completion_window=WINDOW,
                endpoint=ENDPOINT,
                input_file_id=file_id,
                metadata={TOKEN_KEY: token},
                **kwargs,
            ),
        )
        return _state(batch)

    async def retrieve(self, target: Target, batch_id: str) -> BatchState:
        litellm = litellm_module()
        kwargs = self._connection(target)
        batch = await self._call(
            f"polling batch {batch_id}",
            target,
            lambda: litellm.aretrieve_batch(batch_id=batch_id, **kwargs),
        )
        return _state(batch)

    async def find(self, target: Target, token: str, pages: int = 20) -> BatchState | None:
        """The batch created with `token`, if the provider lists one (newest first)."""
        litellm = litellm_module()
        kwargs = self._connection(target)
        after: str | None = None
        for _ in range(pages):
            page = await self._call(
                "listing batches",
                target,
                lambda after=after: litellm.alist_batches(after=after, limit=100, **kwargs),  # type: ignore[misc]
            )
            data = list(getattr(page, "data", None) or [])
            for batch in data:
                if (getattr(batch, "metadata", None) or {}).get(TOKEN_KEY) == token:
                    return _state(batch)
            if not data or not getattr(page, "has_more", False):
                return None
            after = str(data[-1].id)
        return None

    async def content(self, target: Target, file_id: str) -> bytes:
        import warnings

        litellm = litellm_module()
        kwargs = self._connection(target)
        # litellm 1.110 makes a second, unused coroutine of its OpenAI files API while it
        # reads a file (its sync and async functions alike): the file is read, and the
        # RuntimeWarning it prints when collected says nothing to a user.
        warnings.filterwarnings(
            "ignore", "coroutine 'OpenAIFilesAPI.afile_content' was never awaited", RuntimeWarning
        )
        response = await self._call(
            f"reading file {file_id}",
            target,
            lambda: litellm.afile_content(file_id=file_id, **kwargs),
        )
        return bytes(response.content)


def result_record(row: dict[str, Any], price: tuple[float, float] | None) -> CallRecord:
    """The record of one output or error file line, as a synchronous call would file it."""
    response = row.get("response") or {}
    error = row.get("error") or {}
    if not response:
        code = str(error.get("code") or "")
        message = redact(str(error.get("message") or code))[:500]
        return CallRecord.failure(
            "BatchExpired" if code == "batch_expired" else "BatchError",
            message or "the batch returned no response for this request",
            latency=None,
        )
    status = response.get("status_code")
    body = response.get("body") or {}
    if status != 200:
        said = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        return CallRecord.failure(
            _status_error(status),
            redact(str(said or f"status {status}"))[:500],
            latency=None,
        )
    usage = body.get("usage") or {}
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    choices = body.get("choices") or []
    choice = choices[0] if choices else {}
    return answer_record(
        (choice.get("message") or {}).get("content"),
        choice.get("finish_reason"),
        prompt_tokens,
        completion_tokens,
        price,
        None,
        answered=bool(choices),
    )


def _status_error(status: Any) -> str:
    """The error class a synchronous call answered with `status` is filed under."""
    if status == 429:
        return "RateLimited"
    if isinstance(status, int) and status >= 500:
        return "ServerError"
    return {
        400: "BadRequest",
        401: "AuthenticationError",
        403: "PermissionDenied",
        404: "NotFound",
        422: "Unprocessable",
    }.get(status if isinstance(status, int) else 0, "BatchError")
