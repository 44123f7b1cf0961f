"""Second implementations of the paired interval, for tests: a generic optimizer (scipy's
SLSQP) finds the constrained maximum-likelihood fit, and a generic root finder (scipy's
brentq) the bounds, sharing no code with `migrate.evals.stats`."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize

Z95 = 1.959963984540054


def _support(differences: list[float]) -> tuple[list[float], list[float]]:
    counts: dict[float, int] = {}
    for d in differences:
        key = round(d, 12) + 0.0
        counts[key] = counts.get(key, 0) + 1
    values = sorted(counts)
    return values, [counts[v] / len(differences) for v in values]


def optimizer_variance(differences: list[float], delta: float) -> float:
    """The variance at the most likely distribution on the observed values and +-1 whose
    mean is delta, found by scipy's SLSQP."""
    values, shares = _support(differences)
    points = np.array(sorted({*values, -1.0, 1.0}))
    weights = np.array([dict(zip(values, shares, strict=True)).get(p, 0.0) for p in points])
    seen = weights > 0

    def negative_log_likelihood(p: np.ndarray) -> float:
        return float(-np.sum(weights[seen] * np.log(np.maximum(p[seen], 1e-300))))

    # Two starts, flat and feasible (the observed shares with enough mass moved to the
    # extreme on the side of delta); SLSQP sometimes stalls just short of the optimum from
    # one of them, so the better feasible answer counts.
    mean = float(weights @ points)
    extreme = np.zeros(len(points))
    if delta >= mean:
        extreme[-1], moved = 1.0, (delta - mean) / (1 - mean)
    else:
        extreme[0], moved = 1.0, (mean - delta) / (mean + 1)
    answers = []
    for start in (np.full(len(points), 1 / len(points)), (1 - moved) * weights + moved * extreme):
        result = minimize(
            negative_log_likelihood,
            start,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * len(points),
            constraints=[
                {"type": "eq", "fun": lambda p: p.sum() - 1},
                {"type": "eq", "fun": lambda p: p @ points - delta},
            ],
            options={"ftol": 1e-15, "maxiter": 2000},
        )
        p = result.x
        if abs(p.sum() - 1) < 1e-9 and abs(p @ points - delta) < 1e-9 and p.min() > -1e-12:
            answers.append((result.fun, float(p @ (points - delta) ** 2)))
    assert answers, "the optimizer found no feasible answer"
    return min(answers)[1]


def optimizer_interval(differences: list[float], z: float = Z95) -> tuple[float, float]:
    """The clustered score interval by brute force: the means d where
    n (mean - d)^2 = z^2 V(d), V from the optimizer's fit, each found by brentq in a bracket
    found by stepping out from the estimate 0.02 at a time (to +-1 when the statistic never
    reaches z: the optimizer cannot fit a law with almost all its mass on an extreme)."""
    n = len(differences)
    mean = sum(differences) / n

    def excess(d: float) -> float:
        return n * (mean - d) ** 2 - z * z * optimizer_variance(differences, d)

    bounds = []
    for side in (-1, 1):
        inner, outer = mean, mean + side * 0.02
        while abs(outer) < 0.999 and excess(outer) <= 0:
            inner, outer = outer, outer + side * 0.02
        if abs(outer) >= 0.999:
            outer = side * 0.999
            if excess(outer) <= 0:
                bounds.append(float(side))
                continue
        lo, hi = sorted((inner + side * 1e-12, outer))
        bounds.append(brentq(excess, lo, hi, xtol=1e-10))
    return bounds[0], bounds[1]
