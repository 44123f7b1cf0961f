"""The run record's account of a sequential run: the stages fixed before the first call
(in run.json) and where the run stopped (in summary.json). record.py imports these models
into `Manifest` and `Summary`; the design is migrate/evals/stages.py."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # built when first used


class StagePlan(_Record):
    """Fixed before the first call, so a resumed run takes the same stages."""

    seed: int  # of the cases' random order (stages.case_order)
    stages: list[int]  # cases after each stage; the last is the whole suite
    alphas: list[float]  # two-sided error each look may spend (stages.look_alphas)


class Stopping(_Record):
    """Where a sequential run stopped, and what stopping there saved."""

    stage: int  # 1-based: the look that settled the run (or the last one)
    stages: int
    cases_used: int
    cases_in_suite: int
    level: float  # confidence level of the look that decided, before any Holm adjustment
    # "settled": every candidate PASS or FAIL at an interim look; "exhausted": the last look,
    # on the whole suite, decided; "stopped": a model was stopped by its failing calls
    reason: str
    calls: int  # journaled calls for the cases used, judge calls included
    calls_full_run: int  # estimated: calls per case used x cases in the suite
    cost: float | None = None  # measured cost of those calls, USD
    cost_saved: float | None = None  # estimated: measured cost per case x cases not used
    error_control: str = ""  # how the looks hold the error rates, in words
