"""summary.json's measurements: each model's metrics, each gate's result, the pass-rate
difference and how large a suite would settle it.

Part of the run record (record.py imports these models into `Summary` and
`CandidateSummary`, and is still the only module that reads or writes the file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    # As record.py's: a key from a newer version is ignored, a wrong type refused.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ModelMetrics(_Record):
    cases: int
    samples: int
    scored: int
    errors: int
    error_rate: float
    errors_by_class: dict[str, int]
    # The provider's own words: the first message of each error class (keys redacted).
    error_messages: dict[str, str] = Field(default_factory=dict)
    pass_rate: float | None
    pass_rate_low: float | None
    pass_rate_high: float | None
    refusal_rate: float | None
    json_valid_rate: float | None
    output_tokens_median: float | None
    output_tokens_p95: float | None
    output_chars_median: float | None
    latency_p50: float | None
    latency_p95: float | None
    cost_total: float | None
    cost_per_case: float | None
    cost_known: bool
    calls_cached: int
    # Requests the provider refused with 429 (retries included) in the calls this run made to
    # the model, judge calls included; calls served from the cache are not counted.
    rate_limited: int = 0


class GateResult(_Record):
    name: str
    threshold: float | None
    observed: float | None
    status: str  # holds | broken | unclear | not measured
    detail: str


class PassRateDiff(_Record):
    estimate: float | None
    low: float | None
    high: float | None
    method: str
    mcnemar_exact_p: float | None = None
    bootstrap_low: float | None = None  # written by version 1 runs with K > 1; now null
    bootstrap_high: float | None = None
    level: float = 0.95  # of low..high: lower when Holm's adjustment across candidates applies
    p_value: float | None = None  # score test of "difference = -margin"
    adjusted_p_value: float | None = None  # Holm's, across `adjusted_across` candidates
    adjusted_across: int = 1


class Settlement(_Record):  # how large a suite would settle an unclear pass-rate gate
    direction: str  # holds | broken: the side of the margin the observed rates are on
    at_observed_rates: int  # the smallest suite whose interval clears at exactly these rates
    chance_at_observed_rates: float  # that a suite of that size, drawn at them, settles it
    for_even_chance: int | None  # the smallest that settles it at least half the time
    for_likely: int | None  # ... at least 80% of the time (None: no suite size does)
