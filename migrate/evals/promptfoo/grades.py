"""A promptfoo assertion's grade, and what the run knows about the call it grades."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.evals.case import CheckSpec


@dataclass(frozen=True)
class Grade:
    passed: bool
    score: float
    reason: str = ""


@dataclass(frozen=True)
class CallFacts:
    """What the run knows about the call that produced the output."""

    prompt: str = ""
    latency_ms: float | None = None
    cost: float | None = None
    # what the request declared (the model's params): promptfoo reads these from the
    # provider's config for is-valid-openai-tools-call / -function-call
    tools: list[Any] | None = None
    functions: list[Any] | None = None


def flip(passed: bool, spec: CheckSpec) -> bool:
    return passed != spec.negate


def binary(passed: bool, spec: CheckSpec, reason: str) -> Grade:
    result = flip(passed, spec)
    return Grade(result, 1.0 if result else 0.0, "Assertion passed" if result else reason)


def script_result(spec: CheckSpec, kind: str, value: Any, label: str) -> Grade:
    """A script's boolean, number or {pass, score, reason} as a grade (threshold, not-)."""
    if kind == "boolean":
        return binary(bool(value), spec, f"{label} returned {str(bool(value)).lower()}")
    if kind == "number" and isinstance(value, int | float) and not math.isnan(value):
        raw = value > 0 if spec.threshold is None else value >= spec.threshold
        passed = flip(raw, spec)
        return Grade(
            passed, float(value), "Assertion passed" if passed else f"{label} returned {raw}"
        )
    if kind == "object" and isinstance(value, dict) and "pass" in value and "score" in value:
        passed = flip(bool(value["pass"]), spec)
        score = value["score"] if isinstance(value["score"], int | float) else 0.0
        return Grade(passed, float(score), str(value.get("reason", "")))
    return Grade(False, 0.0, f"{label} must return a boolean, number, or GradingResult object")
