#!/usr/bin/env python3
"""Simulate the paired pass-rate interval and print (or write) the tables in docs/statistics.md.

Cases are drawn from a population; each case has its own chance of passing on each model, and
each of its K samples passes or fails independently at that chance. A probit model sets them:

    case i:    (u, v) ~ normal, variance tau2 each, correlation rho
    baseline:  sample passes when  alpha_b + u + e > 0,  e ~ N(0, 1 - tau2)
    candidate: sample passes when  alpha_c + v + e' > 0

so the population pass rates are Phi(alpha_b) and Phi(alpha_c) exactly, tau2 is the share of
a sample's variation that belongs to the case (0: samples independent of the case, 1: every
sample of a case gives the same answer), and rho says how alike the two models find the
same cases. The true difference is Phi(alpha_c) - Phi(alpha_b).

Standard library only, seeded: the same command prints the same tables. About seven
minutes on two cores:

    python scripts/simulate_stats.py            # print the tables
    python scripts/simulate_stats.py --write    # and replace them in docs/statistics.md
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sequential_sim import TRUTHS, Tally, simulate  # noqa: E402  (scripts/, beside this file)

from migrate.evals.power import cases_to_settle  # noqa: E402
from migrate.evals.stages import look_alphas, plan_stages  # noqa: E402
from migrate.evals.stats import (  # noqa: E402
    Interval,
    clustered_score_interval,
    paired_difference,
    tango_interval,
)

DOC = ROOT / "docs" / "statistics.md"
START, END = "<!-- simulation:start -->", "<!-- simulation:end -->"
SEQUENTIAL = "<!-- sequential:start -->", "<!-- sequential:end -->"
NORMAL = NormalDist()
SEED = 20260101


@dataclass(frozen=True)
class Scenario:
    baseline: float  # population pass rate
    candidate: float
    tau2: float  # share of variation that belongs to the case
    rho: float  # correlation of the two models' case effects

    @property
    def truth(self) -> float:
        return self.candidate - self.baseline

    def label(self) -> str:
        within = {0.0: "independent samples", 1.0: "identical samples"}.get(
            self.tau2, f"tau2 {self.tau2:g}, rho {self.rho:g}"
        )
        return f"{self.baseline:.2f} vs {self.candidate:.2f}, {within}"


def draw_fractions(
    scenario: Scenario, n: int, k: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    """Per-case pass fractions of baseline and candidate for one simulated suite."""
    alpha_b = NORMAL.inv_cdf(scenario.baseline)
    alpha_c = NORMAL.inv_cdf(scenario.candidate)
    tau = math.sqrt(scenario.tau2)
    noise = math.sqrt(1 - scenario.tau2)
    spread = math.sqrt(1 - scenario.rho**2)
    base, cand = [], []
    for _ in range(n):
        z1, z2 = rng.gauss(), rng.gauss()
        u, v = tau * z1, tau * (scenario.rho * z1 + spread * z2)
        if noise == 0:
            p_b, p_c = float(alpha_b + u > 0), float(alpha_c + v > 0)
        else:
            p_b, p_c = NORMAL.cdf((alpha_b + u) / noise), NORMAL.cdf((alpha_c + v) / noise)
        rand = rng.random
        base.append(sum(rand() < p_b for _ in range(k)) / k)
        cand.append(sum(rand() < p_c for _ in range(k)) / k)
    return base, cand


# --- the methods compared -----------------------------------------------------------------


def t_quantile(q: float, df: int) -> float:
    """Student t quantile by the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5);
    within 1e-4 of the exact value from 10 degrees of freedom up."""
    z = NORMAL.inv_cdf(q)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def averaged_tango(base: Sequence[float], cand: Sequence[float]) -> Interval:
    """Tango's interval on counts averaged over samples: the method this one replaces."""
    better = sum(max(c - b, 0.0) for b, c in zip(base, cand, strict=True))
    worse = sum(max(b - c, 0.0) for b, c in zip(base, cand, strict=True))
    return tango_interval(better, worse, len(base))


def paired_t(base: Sequence[float], cand: Sequence[float]) -> Interval:
    """Student t interval on the per-case differences (Tango's bound when they are all 0)."""
    d = [c - b for b, c in zip(base, cand, strict=True)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    if sd == 0:
        return clustered_score_interval(d)
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return Interval(max(-1.0, mean - half), min(1.0, mean + half))


def clustered(base: Sequence[float], cand: Sequence[float]) -> Interval:
    return clustered_score_interval([c - b for b, c in zip(base, cand, strict=True)])


def chosen(base: Sequence[float], cand: Sequence[float], k: int) -> Interval:
    return paired_difference(base, cand, k).interval


METHODS: dict[str, Callable[[Sequence[float], Sequence[float]], Interval]] = {
    "Tango on averaged counts": averaged_tango,
    "paired t": paired_t,
    "clustered score": clustered,
}


# --- the simulations ------------------------------------------------------------------------


def _seed(*parts: object) -> int:
    """A seed per cell, so a cell's numbers do not depend on which others run."""
    text = "|".join(map(str, (SEED, *parts)))
    return sum((i + 1) * ord(ch) for i, ch in enumerate(text)) * 2654435761 % 2**32


def method_cell(args: tuple[Scenario, int, int, int]) -> dict[str, tuple[float, float, float]]:
    """Coverage, the share of lower bounds above the truth (the side a false PASS comes
    from) and the mean width of every method in one cell of the grid."""
    scenario, n, k, reps = args
    rng = random.Random(_seed("grid", scenario, n, k))
    covered = dict.fromkeys(METHODS, 0)
    above = dict.fromkeys(METHODS, 0)
    width = dict.fromkeys(METHODS, 0.0)
    for _ in range(reps):
        base, cand = draw_fractions(scenario, n, k, rng)
        for name, method in METHODS.items():
            interval = method(base, cand)
            covered[name] += interval.contains(scenario.truth)
            above[name] += interval.low > scenario.truth
            width[name] += interval.high - interval.low
    return {
        name: (covered[name] / reps, above[name] / reps, width[name] / reps) for name in METHODS
    }


def decision_cell(args: tuple[Scenario, Scenario, float, int, int, int]) -> tuple[float, ...]:
    """Coverage, false PASS and false FAIL at the margin, and PASS for an equal candidate."""
    boundary, equal, margin, n, k, reps = args
    rng = random.Random(_seed("table", boundary, n, k))
    covered = false_pass = false_fail = passed = 0
    for _ in range(reps):
        interval = chosen(*draw_fractions(boundary, n, k, rng), k)
        covered += interval.contains(boundary.truth)
        false_pass += interval.low > -margin
        false_fail += interval.high < -margin
        passed += chosen(*draw_fractions(equal, n, k, rng), k).low > -margin
    return covered / reps, false_pass / reps, false_fail / reps, passed / reps


def width_cell(args: tuple[Scenario, int, int, int]) -> tuple[float, float, float]:
    """Mean width and coverage of the chosen interval, and the mean width of Tango's
    interval on averaged counts, on the same suites."""
    scenario, n, k, reps = args
    rng = random.Random(_seed("width", scenario, n, k))
    width = covered = averaged = 0.0
    for _ in range(reps):
        base, cand = draw_fractions(scenario, n, k, rng)
        interval = chosen(base, cand, k)
        width += interval.high - interval.low
        covered += interval.contains(scenario.truth)
        old = averaged_tango(base, cand)
        averaged += old.high - old.low
    return width / reps, covered / reps, averaged / reps


def settle_cell(args: tuple[int, int, int, float, int]) -> tuple[int | None, int | None, float]:
    """Cases to settle after `better` improvements and `worse` regressions in n cases, and
    the share of reruns of that size, at the observed rates, that settle."""
    better, worse, n, margin, reps = args
    observed = [1.0] * better + [-1.0] * worse + [0.0] * (n - better - worse)
    settlement = cases_to_settle(observed, margin)
    if settlement is None or settlement.for_even_chance is None:
        return None, None, 0.0
    size = settlement.for_even_chance
    rng = random.Random(_seed("settle", better, worse, n, margin))
    settled = 0
    for _ in range(reps):
        rerun = [rng.choice(observed) for _ in range(size)]
        interval = clustered_score_interval(rerun)
        settled += interval.low > -margin or interval.high < -margin
    return settlement.at_observed_rates, size, settled / reps


# --- the tables -------------------------------------------------------------------------------

GRID_RATES = [(0.5, 0.5), (0.85, 0.85), (0.85, 0.8), (0.95, 0.9), (0.98, 0.96)]
GRID_WITHIN = [(0.0, 0.0), (0.5, 0.3), (0.5, 0.8), (0.9, 0.8), (1.0, 0.8)]
GRID_SAMPLES = (3, 5)  # with one sample the clustered interval is Tango's
GRID_CASES = (30, 80)
TABLE_SCENARIO = (0.85, 0.5, 0.7)  # baseline rate, tau2, rho
MARGIN = 0.05


def run(grid_reps: int, reps: int, jobs: int) -> str:
    started = time.monotonic()
    lines: list[str] = []
    with ProcessPoolExecutor(jobs) as pool:
        grid = [
            (Scenario(b, c, tau2, rho), n, k, grid_reps)
            for b, c in GRID_RATES
            for tau2, rho in GRID_WITHIN
            for k in GRID_SAMPLES
            for n in GRID_CASES
        ]
        grid_results = list(pool.map(method_cell, grid, chunksize=1))

        base_rate, tau2, rho = TABLE_SCENARIO
        table = [
            (
                Scenario(base_rate, base_rate - MARGIN, tau2, rho),
                Scenario(base_rate, base_rate, tau2, rho),
                MARGIN,
                n,
                k,
                reps,
            )
            for k in (1, 3, 5)
            for n in (20, 50, 80, 200, 500)
        ]
        table_results = list(pool.map(decision_cell, table, chunksize=1))

        independent = Scenario(0.85, 0.85, 0.0, 0.0)
        widths = list(
            pool.map(width_cell, [(independent, 80, k, reps) for k in (1, 3, 5)], chunksize=1)
        )
        settle_inputs = [
            (1, 0, 80, 0.02, reps),
            (0, 1, 80, 0.02, reps),
            (0, 0, 80, 0.02, reps),
            (2, 1, 80, 0.02, reps),
            (1, 0, 40, 0.05, reps),
        ]
        settles = list(pool.map(settle_cell, settle_inputs, chunksize=1))

    cells = len(grid)
    se = math.sqrt(0.95 * 0.05 / grid_reps) * 100
    lines.append(
        f"Seed {SEED}. **Choosing the interval**: {cells} cells ({len(GRID_RATES)} pairs of "
        f"pass rates x {len(GRID_WITHIN)} kinds of within-case agreement x K in "
        f"{GRID_SAMPLES} x n in {GRID_CASES}), {grid_reps} simulated suites each "
        f"(a coverage of 95% is good to +-{se:.1f} points). For each method: its lowest "
        "coverage and where, its mean coverage, its highest share of lower bounds above the true "
        "difference (the side a false PASS comes from; 2.5% is the target) and its mean width."
    )
    lines.append("")
    lines.append(
        "| method | K | n | lowest coverage | at | mean coverage | highest low-side miss "
        "| mean width |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for name in METHODS:
        for k in GRID_SAMPLES:
            for n in GRID_CASES:
                cell_results = [
                    (cell, result[name])
                    for cell, result in zip(grid, grid_results, strict=True)
                    if cell[1] == n and cell[2] == k
                ]
                worst_cell, (coverage, _, _) = min(cell_results, key=lambda c: c[1][0])
                mean = sum(r[0] for _, r in cell_results) / len(cell_results)
                miss = max(r[1] for _, r in cell_results)
                width = sum(r[2] for _, r in cell_results) / len(cell_results)
                lines.append(
                    f"| {name} | {k} | {n} | {coverage * 100:.1f}% | {worst_cell[0].label()} "
                    f"| {mean * 100:.1f}% | {miss * 100:.1f}% | {width:.3f} |"
                )
    lines.append("")
    low_cells = {
        name: sum(
            1
            for cell, result in zip(grid, grid_results, strict=True)
            if result[name][0] < 0.94 - 2 * se / 100
        )
        for name in METHODS
    }
    lines.append(
        "Cells whose coverage is below 94% by more than two standard errors: "
        + ", ".join(f"{name} {count} of {cells}" for name, count in low_cells.items())
        + "."
    )
    lines.append("")
    lines.append(
        f"**Verdicts.** Baseline {base_rate:.0%}, case share tau2 = {tau2}, rho = {rho}, "
        f"margin {MARGIN * 100:.0f} points. Coverage, false PASS and false FAIL with the "
        f"candidate exactly {MARGIN * 100:.0f} points worse (each side should stay near 2.5%); "
        "PASS when the candidate is exactly as good:"
    )
    lines.append("")
    lines.append("| K | n | coverage | false PASS | false FAIL | PASS when equal |")
    lines.append("|---|---|---|---|---|---|")
    for cell, (coverage, false_pass, false_fail, passed) in zip(table, table_results, strict=True):
        lines.append(
            f"| {cell[4]} | {cell[3]} | {coverage * 100:.1f}% | {false_pass * 100:.1f}% "
            f"| {false_fail * 100:.1f}% | {passed * 100:.1f}% |"
        )
    lines.append("")
    lines.append(
        "**Samples sharpen.** Two models each right 85% of the time at random (samples "
        "independent), 80 cases:"
    )
    lines.append("")
    lines.append(
        "| K | mean width | width / K=1 | coverage | Tango on averaged counts: width, / K=1 |"
    )
    lines.append("|---|---|---|---|---|")
    for k, (width, coverage, averaged) in zip((1, 3, 5), widths, strict=True):
        lines.append(
            f"| {k} | {width:.3f} | {width / widths[0][0]:.2f} | {coverage * 100:.1f}% "
            f"| {averaged:.3f}, {averaged / widths[0][2]:.2f} |"
        )
    lines.append("")
    lines.append(
        "**Cases to settle.** Stated size for an even chance, and the share of simulated "
        "reruns of that size, at the observed rates, that settle the verdict:"
    )
    lines.append("")
    lines.append("| observed | margin | clears at observed rates | even chance | reruns settled |")
    lines.append("|---|---|---|---|---|")
    for (better, worse, n, margin, _), (point, size, share) in zip(
        settle_inputs, settles, strict=True
    ):
        lines.append(
            f"| {better} better, {worse} worse of {n} | {margin * 100:.0f} pts | {point} "
            f"| {size} | {share * 100:.0f}% |"
        )
    print(f"{time.monotonic() - started:.0f} s with {jobs} processes", file=sys.stderr)
    return "\n".join(lines)


SEQUENTIAL_CASES = (500, 2000)


def sequential_cell(args: tuple[int, int, int, int]) -> tuple[int, int, Tally]:
    truth, n, reps, seed = args
    return truth, n, simulate(TRUTHS[truth], n, MARGIN, reps, seed)


def run_sequential(reps: int, jobs: int) -> str:
    """Sequential verdicts against full runs of the same suites (scripts/sequential_sim.py)."""
    started = time.monotonic()
    cells = [
        (t, n, reps, _seed("sequential", t, n))
        for t in range(len(TRUTHS))
        for n in SEQUENTIAL_CASES
    ]
    with ProcessPoolExecutor(jobs) as pool:
        found = list(pool.map(sequential_cell, cells, chunksize=1))
    lines = [f"Seed {SEED}, margin {MARGIN * 100:.0f} points, one sample per case, {reps} "
             "suites per row; the stage plans:", ""]  # fmt: skip
    for n in SEQUENTIAL_CASES:
        stages = plan_stages(n, MARGIN)
        alphas = look_alphas(len(stages))
        lines.append(
            f"- {n} cases: looks after {', '.join(map(str, stages))} cases; interim looks at "
            f"{(1 - alphas[0]) * 100:.4g}% confidence, the final look at "
            f"{(1 - alphas[-1]) * 100:.4g}%."
        )
    lines += [
        "",
        "| truth | cases | sequential PASS / FAIL / INCONCLUSIVE | full PASS / FAIL "
        "/ INCONCLUSIVE | same verdict | PASS against FAIL | cases (calls) used |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, n, tally in found:
        seq, full = tally.sequential, tally.full
        assert seq is not None and full is not None
        share = tally.cases_used / (tally.reps * n)
        r = tally.reps

        def pct(count: int, r: int = r) -> str:
            return f"{count / r * 100:.1f}%"

        lines.append(
            f"| {TRUTHS[t].name} | {n} | {pct(seq['PASS'])} / {pct(seq['FAIL'])} / "
            f"{pct(seq['INCONCLUSIVE'])} | {pct(full['PASS'])} / {pct(full['FAIL'])} / "
            f"{pct(full['INCONCLUSIVE'])} | {pct(tally.agree)} "
            f"| {pct(tally.contradict)} | {share * 100:.1f}% |"
        )
    print(f"{time.monotonic() - started:.0f} s with {jobs} processes", file=sys.stderr)
    return "\n".join(lines)


def replace_block(text: str, markers: tuple[str, str], block: str) -> str:
    head, rest = text.split(markers[0], 1)
    _, tail = rest.split(markers[1], 1)
    return f"{head}{markers[0]}\n{block}\n{markers[1]}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid-reps", type=int, default=2000, help="suites per grid cell")
    parser.add_argument("--reps", type=int, default=4000, help="suites per table cell")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--sequential-reps", type=int, default=2000, help="suites per sequential row"
    )
    parser.add_argument(
        "--only-sequential", action="store_true", help="only the sequential verdicts' table"
    )
    parser.add_argument("--write", action="store_true", help=f"replace the tables in {DOC}")
    args = parser.parse_args()
    tables = None if args.only_sequential else run(args.grid_reps, args.reps, args.jobs)
    sequential = run_sequential(args.sequential_reps, args.jobs)
    if tables is not None:
        print(tables)
    print("\n**Sequential verdicts**\n")
    print(sequential)
    if args.write:
        text = DOC.read_text()
        if tables is not None:
            text = replace_block(text, (START, END), tables)
        DOC.write_text(replace_block(text, SEQUENTIAL, sequential))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
