"""summary.json's comparisons that need no label: the judge's side-by-side preference
between each candidate's answers and the baseline's, and how similar the answers are.
Part of the run record (record.py imports these models into `CandidateSummary`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # built when first used


class PairwiseJudgement(_Record):
    shown_first: str  # baseline | candidate: whose answer the judge saw as A
    winner: str  # baseline | candidate | tie, whatever the position
    reasoning: str = ""


class PairwiseCase(_Record):
    case: str
    sample: int = 0
    outcome: str  # win | loss | tie (the candidate's, when both orders agree)
    baseline: str  # the answers, as the judge saw them (long ones cut in reports)
    candidate: str
    judgements: list[PairwiseJudgement] = Field(default_factory=list)


class PairwiseSummary(_Record):
    """The candidate's wins, losses and ties against the baseline, judged in both orders."""

    rubric: str | None = None
    cases: int = 0  # cases judged in at least one pair
    wins: list[str] = Field(default_factory=list)
    losses: list[str] = Field(default_factory=list)  # the candidate's regressions
    ties: list[str] = Field(default_factory=list)
    unjudged: list[str] = Field(default_factory=list)  # no answer on one side, or no verdict
    net: float | None = None  # (wins - losses) / cases
    low: float | None = None  # its 95% interval
    high: float | None = None
    method: str = ""
    pairs: int = 0  # (case, sample) pairs judged in both orders
    inconsistent: int = 0  # pairs whose two orders disagree: counted as ties
    inconsistent_share: float | None = None
    first_shown_share: float | None = None  # of decisive judgements: the answer shown first
    judge_errors: int = 0
    details: list[PairwiseCase] = Field(default_factory=list)  # every loss and win


class SimilaritySummary(_Record):
    """How close the candidate's answers are to the baseline's, case by case."""

    metric: str
    cases: int = 0
    unmeasured: int = 0  # answer pairs whose embedding request failed (left out)
    mean: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)  # p10, p25, p50, p75, p90
    histogram: list[int] = Field(default_factory=list)  # cases per tenth, 0-0.1 ... 0.9-1
    least_similar: list[dict[str, Any]] = Field(default_factory=list)
