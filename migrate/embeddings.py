"""Embeddings through the model seam: litellm's aembedding, paced, bounded, timed out and
retried exactly as completions are (`ModelSeam.complete` with `call="aembedding"`).

The record's `text` holds the vectors as JSON, one list of numbers per input text, in the
order of the inputs; `prompt_tokens` and `cost` are the provider's usage at the model's
input price (an embedding has no output tokens).
"""

from __future__ import annotations

import json
import math
from typing import Any

from migrate.llm import CallRecord, ModelSeam, Target, price_per_token


async def embed(seam: ModelSeam, target: Target, texts: list[str]) -> CallRecord:
    """One embedding request for `texts`; the record's text is the JSON list of vectors."""
    return await seam.complete(target, [], {"input": texts}, "aembedding", embedding_record)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def embedding_record(target: Target, response: Any, latency: float, attempt: int) -> CallRecord:
    """The vectors of an embedding response, in input order, as a call record."""
    data = _field(response, "data") or []
    usage = _field(response, "usage")
    tokens = _field(usage, "prompt_tokens") if usage is not None else None
    tokens = tokens if isinstance(tokens, int) else None
    if not data:
        return CallRecord.failure(
            "EmptyResponse", "the response had no embeddings", latency, attempt
        )
    indexed = []
    for position, item in enumerate(data):
        vector = _field(item, "embedding")
        index = _field(item, "index")
        if not isinstance(vector, list) or not vector or not all(_is_number(x) for x in vector):
            return CallRecord.failure(
                "MalformedResponse", "an embedding that is not a list of numbers", latency, attempt
            )
        indexed.append((index if isinstance(index, int) else position, [float(x) for x in vector]))
    vectors = [vector for _, vector in sorted(indexed, key=lambda pair: pair[0])]
    price = price_per_token(target)
    cost = tokens * price[0] if price is not None and tokens is not None else None
    return CallRecord(json.dumps(vectors), None, tokens, 0, cost, latency, attempts=attempt)
