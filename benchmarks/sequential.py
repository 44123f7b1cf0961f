"""Benchmark 5a: calls to a verdict, sequential against full, on planted-truth suites.

    .venv/bin/python benchmarks/sequential.py            # 500 and 2,000 cases, 1,000 seeds
    .venv/bin/python benchmarks/sequential.py --quick    # 500 cases, 100 seeds

For each suite size and planted truth (a candidate wrong on 15% of cases, an identical one,
one wrong on 5% of cases: exactly at the 5-point margin) it makes two real `migrate run`s
through litellm against the scripted local server (tests/support/openai_server.py): one
sequential, one `--full` in a fresh workspace (no cache), and counts the calls the server
received and the wall time of each. The agreement of the two verdicts over seeds comes
from the seeded simulation of the same design (scripts/sequential_sim.py), which uses
migrate's own stage plan and interval. Writes benchmarks/sequential.json and prints the
table for benchmarks/README.md. Called by benchmarks/run.py (`--sequential`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from sequential_sim import Truth, simulate  # noqa: E402

from tests.support.openai_server import ScriptedServer  # noqa: E402
from tests.support.scenarios import candidate, case_ids, correct, write_workspace  # noqa: E402

MARGIN = 0.05
KEY = "sk-bench-0123456789"
TRUTHS = [("clearly worse", 0.15), ("identical", 0.0), ("at the margin", 0.05)]
VERDICTS = {0: "PASS", 1: "FAIL", 3: "INCONCLUSIVE", 4: "ERROR"}


def planted(cases: int, share: float) -> set[str]:
    """`share` of the cases, spread evenly over the suite (a stride, not its head)."""
    return {c for i, c in enumerate(case_ids(cases)) if (i * 7919) % 100 < share * 100}


def migrate_run(root: Path, *args: str) -> tuple[int, float, dict[str, Any]]:
    cmd = [sys.executable, "-m", "migrate", "run", "dep", "--today", "2026-11-26"]
    started = time.monotonic()
    done = subprocess.run(
        [*cmd, "--no-progress", "--json", *args],
        cwd=root,
        env={**os.environ, "TEST_LLM_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.monotonic() - started
    if done.returncode not in VERDICTS:
        raise RuntimeError(f"migrate run failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.returncode, wall, json.loads(done.stdout)


def one_size(server: ScriptedServer, work: Path, cases: int) -> list[dict[str, Any]]:
    rows = []
    for name, share in TRUTHS:
        server.behaviours.update(
            good=correct(), cand=candidate(wrong=planted(cases, share), chatty=False)
        )
        row: dict[str, Any] = {"truth": name, "cases": cases, "wrong": share}
        for mode, args in (("sequential", ()), ("full", ("--full",))):
            root = write_workspace(
                work / f"{cases}-{name.replace(' ', '-')}-{mode}",
                server.api_base,
                cases=cases,
                gates={"pass_rate_drop": MARGIN},
                run_settings="{concurrency: 32, timeout_seconds: 60, max_retries: 4}",
            )
            before = sum(server.calls.values())
            code, wall, summary = migrate_run(root, *args)
            stop = summary.get("stopping") or {}
            row[mode] = {
                "verdict": VERDICTS[code],
                "calls": sum(server.calls.values()) - before,
                "wall": round(wall, 2),
                "cases_used": stop.get("cases_used", cases),
                "stage": stop.get("stage"),
                "stages": stop.get("stages"),
                "cost_saved": stop.get("cost_saved"),
            }
            print(f"  {cases} cases, {name}, {mode}: {row[mode]}", file=sys.stderr, flush=True)
        row["calls_ratio"] = row["sequential"]["calls"] / row["full"]["calls"]
        row["wall_ratio"] = row["sequential"]["wall"] / row["full"]["wall"]
        rows.append(row)
    return rows


def over_seeds(cases: int, reps: int) -> list[dict[str, Any]]:
    found = []
    for index, (name, share) in enumerate(TRUTHS):
        tally = simulate(Truth(name, share, 0.0), cases, MARGIN, reps, seed=5_000 + index)
        assert tally.sequential is not None and tally.full is not None
        found.append(
            {
                "truth": name,
                "cases": cases,
                "seeds": reps,
                "agreement": tally.agree / reps,
                "contradictions": tally.contradict / reps,
                "sequential": {k: v / reps for k, v in tally.sequential.items()},
                "full": {k: v / reps for k, v in tally.full.items()},
                "cases_used": tally.cases_used / (reps * cases),
            }
        )
    return found


def render(results: dict[str, Any]) -> str:
    lines = [
        "| cases | truth | sequential: verdict, stage, calls, wall | full: verdict, calls, "
        "wall | calls | wall |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["runs"]:
        s, f = row["sequential"], row["full"]
        lines.append(
            f"| {row['cases']} | {row['truth']} | {s['verdict']}, {s['stage']} of "
            f"{s['stages']}, {s['calls']}, {s['wall']:.1f} s | {f['verdict']}, {f['calls']}, "
            f"{f['wall']:.1f} s | {row['calls_ratio'] * 100:.1f}% | "
            f"{row['wall_ratio'] * 100:.0f}% |"
        )
    lines += [
        "",
        "| cases | truth | seeds | same verdict | PASS against FAIL | sequential PASS / FAIL "
        "| full PASS / FAIL | cases (calls) used |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["seeds"]:
        s, f = row["sequential"], row["full"]
        lines.append(
            f"| {row['cases']} | {row['truth']} | {row['seeds']} | {row['agreement'] * 100:.1f}% "
            f"| {row['contradictions'] * 100:.1f}% | {s['PASS'] * 100:.1f}% / "
            f"{s['FAIL'] * 100:.1f}% | {f['PASS'] * 100:.1f}% / {f['FAIL'] * 100:.1f}% | "
            f"{row['cases_used'] * 100:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def run(sizes: list[int], reps: int, output: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"margin": MARGIN, "runs": [], "seeds": []}
    with tempfile.TemporaryDirectory(prefix="migrate-seq-") as work, ScriptedServer({}) as server:
        for cases in sizes:
            results["runs"] += one_size(server, Path(work), cases)
    for cases in sizes:
        results["seeds"] += over_seeds(cases, reps)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 cases, 100 seeds")
    parser.add_argument("--seeds", type=int, default=1000, help="simulated suites per row")
    parser.add_argument("--output", type=Path, default=BENCH / "sequential.json")
    args = parser.parse_args()
    sizes = [500] if args.quick else [500, 2000]
    results = run(sizes, 100 if args.quick else args.seeds, args.output)
    print(render(results))


if __name__ == "__main__":
    main()
