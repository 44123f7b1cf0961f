"""Sequential verdicts against full runs on planted-truth suites (one sample per case).

A suite of N cases is drawn with each case's difference (candidate minus baseline) -1 with
chance `worse`, +1 with chance `better`, else 0. The full run decides on all N cases with
the fixed-size 95% interval (Tango's); the sequential run takes the same suite in a seeded
random order through migrate's own stage plan (`migrate.evals.stages`) and decides at each
look with the look's level, stopping once settled. Both use the verdict's rule: PASS when
the interval's lower bound is above -margin, FAIL when its upper bound is below it.

Imported by scripts/simulate_stats.py (the table in docs/statistics.md) and by
benchmarks/run.py (benchmark 5a); standard library only.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate.evals.stages import ALPHA, case_order, look_alphas, plan_stages, z_for  # noqa: E402
from migrate.evals.stats import tango_interval  # noqa: E402


@dataclass(frozen=True)
class Truth:
    name: str
    worse: float  # chance a case regresses
    better: float  # chance a case improves

    @property
    def difference(self) -> float:
        return self.better - self.worse


TRUTHS = [
    Truth("clearly worse (15% of cases wrong)", 0.15, 0.0),
    Truth("identical", 0.0, 0.0),
    Truth("equally good (5% worse, 5% better)", 0.05, 0.05),
    Truth("at the margin (10% worse, 5% better)", 0.10, 0.05),
    Truth("at the margin (5% worse, none better)", 0.05, 0.0),
]


def verdict(better: int, worse: int, n: int, z: float, margin: float) -> str:
    interval = tango_interval(better, worse, n, z)
    if interval.low > -margin:
        return "PASS"
    if interval.high < -margin:
        return "FAIL"
    return "INCONCLUSIVE"


def draw_suite(rng: random.Random, n: int, truth: Truth) -> list[int]:
    suite = []
    for _ in range(n):
        u = rng.random()
        suite.append(-1 if u < truth.worse else 1 if u < truth.worse + truth.better else 0)
    return suite


def sequential_verdict(
    differences: list[int], stages: list[int], alphas: list[float], margin: float
) -> tuple[str, int]:
    """The verdict and the cases used, looking after each stage of `differences` (already
    in the run's order)."""
    better = list(accumulate(1 if d > 0 else 0 for d in differences))
    worse = list(accumulate(1 if d < 0 else 0 for d in differences))
    for look, (n, alpha) in enumerate(zip(stages, alphas, strict=True), start=1):
        found = verdict(better[n - 1], worse[n - 1], n, z_for(alpha), margin)
        if found != "INCONCLUSIVE" or look == len(stages):
            return found, n
    raise AssertionError("unreachable")


@dataclass
class Tally:
    reps: int = 0
    sequential: dict[str, int] | None = None
    full: dict[str, int] | None = None
    agree: int = 0
    contradict: int = 0  # one PASS, the other FAIL
    cases_used: int = 0

    def __post_init__(self) -> None:
        self.sequential = {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0}
        self.full = {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0}


def simulate(truth: Truth, n: int, margin: float, reps: int, seed: int) -> Tally:
    """`reps` suites of `n` cases: the sequential and the full verdict of each."""
    rng = random.Random(seed)
    stages = plan_stages(n, margin)
    alphas = look_alphas(len(stages))
    tally = Tally(reps=reps)
    assert tally.sequential is not None and tally.full is not None
    z_full = z_for(ALPHA)
    for rep in range(reps):
        suite = draw_suite(rng, n, truth)
        ids = [str(i) for i in range(n)]
        order = [suite[int(i)] for i in case_order(ids, seed * 1_000_003 + rep)]
        seq, used = sequential_verdict(order, stages, alphas, margin)
        full = verdict(sum(d > 0 for d in suite), sum(d < 0 for d in suite), n, z_full, margin)
        tally.sequential[seq] += 1
        tally.full[full] += 1
        tally.agree += seq == full
        tally.contradict += {seq, full} == {"PASS", "FAIL"}
        tally.cases_used += used
    return tally
