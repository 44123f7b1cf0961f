"""Sequential verdicts: the stages a run takes its cases in, and the confidence level of
the look after each stage. Pure.

The design is a group-sequential one with Bonferroni alpha spending. Before the first call
the run fixes its looks: the cases after each stage (`stages`) and the two-sided error each
look may spend (`look_alphas`). The interim looks share `INTERIM_ALPHA` equally; the final
look, on the whole suite, gets the rest. Whatever the looks' correlation, the chance that any
look wrongly clears the margin on one side is at most the sum of the looks' one-sided
errors, `ALPHA / 2`: the fixed-size test's, as far as each look's score test holds its
level (docs/statistics.md computes how far it does). The final look's level (95.5%) is no
less strict than a full run's 95%, so a sequential run never settles against the full
run's verdict on the same suite; it can only be left unsettled where the full run settles
within z = 1.96 ... 2.005.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from statistics import NormalDist

ALPHA = 0.05  # two-sided, as the fixed-size verdict's 95% interval
INTERIM_ALPHA = 0.005  # two-sided, shared by the interim looks; the final look has the rest
GROWTH = 1.5  # each stage's cases over the previous stage's
MIN_FIRST_SHARE = 0.05  # a first stage of at least this share of the suite


def z_for(alpha: float) -> float:
    """The two-sided normal quantile of a look at error `alpha`."""
    return NormalDist().inv_cdf(1 - alpha / 2)


def look_alphas(looks: int) -> list[float]:
    """Each look's two-sided error: the interim looks share INTERIM_ALPHA, the last has
    the rest; a single look is the fixed-size test."""
    if looks < 1:
        raise ValueError("a run has at least one look")
    if looks == 1:
        return [ALPHA]
    interim = INTERIM_ALPHA / (looks - 1)
    return [interim] * (looks - 1) + [ALPHA - INTERIM_ALPHA]


def smallest_passing_suite(margin: float, z: float) -> int | None:
    """The fewest cases whose interval, with no disagreement at all, clears `margin`: the
    power bound z²/(n + z²) < margin. None when no suite can (a margin of zero)."""
    if margin <= 0:
        return None
    return math.floor(z * z / margin - z * z) + 1


def _schedule(cases: int, first: int) -> list[int]:
    stages = [first]
    while stages[-1] < cases:
        grown = math.ceil(stages[-1] * GROWTH)
        # A stage that would leave less than half a stage's growth runs to the end instead.
        stages.append(cases if cases - grown < (grown - stages[-1]) / 2 else grown)
    return stages


def plan_stages(cases: int, margin: float) -> list[int]:
    """The cases after each stage, the last being the whole suite.

    The first stage is the smallest that could already PASS at the interim looks' level
    (an earlier look could only FAIL, and would cost error for little), and at least
    MIN_FIRST_SHARE of the suite; each later stage is GROWTH times the one before. The
    number of looks and the interim level depend on each other, so the two are solved
    together. One stage (the whole suite) when no interim look could PASS."""
    looks = 2
    for _ in range(50):
        z = z_for(look_alphas(looks)[0])
        bound = smallest_passing_suite(margin, z)
        if bound is None or bound >= cases:
            return [cases]
        first = max(bound, math.ceil(cases * MIN_FIRST_SHARE))
        stages = _schedule(cases, first)
        if len(stages) == looks:
            return stages
        if len(stages) < looks:  # fewer looks, a lower bound: the schedule only shortens
            return stages
        looks = len(stages)
    raise AssertionError("the stage schedule did not settle")  # pragma: no cover


def seed_of(case_ids: Sequence[str]) -> int:
    """The order's seed, from the cases themselves: every run of the same suite takes them
    in the same order, whatever the candidates, so a later run finds the current model's
    answers to the first stages in the cache."""
    material = "stages:" + "\n".join(case_ids)
    return int(hashlib.sha256(material.encode()).hexdigest()[:12], 16)


def case_order(case_ids: Sequence[str], seed: int) -> list[str]:
    """The cases in the run's seeded random order."""
    order = list(case_ids)
    random.Random(seed).shuffle(order)
    return order
