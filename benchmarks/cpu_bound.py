"""The CPU-bound run: a fast server (5 ms), where the client's CPU is the limit.

    .venv/bin/python benchmarks/run.py --cpu-bound-only   # this section alone, a few minutes

500 cases x 2 models = 1,000 calls at concurrency 64: `migrate run --workers 1` (every call
on the run's own event loop), `migrate run --workers N` (N = the cores this process may
use) and promptfoo (`-j 64`), interleaved. Every process of a run is counted: CPU from
wait4(2) (worker processes are reaped inside the run's process tree), memory as the sum of
the tree's PSS, sampled every 100 ms (the workers share litellm's pages: summing their RSS
would count those pages once per worker).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from run import Server, log, run_migrate, run_promptfoo


def cpu_bound(
    work: Path, cases: int, latency: float, concurrency: int, repeat: int, promptfoo: bool
) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    clients = ["workers_1", f"workers_{cores}"] + (["promptfoo"] if promptfoo else [])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
    server = Server(latency)
    try:
        for rep in range(repeat):
            rotated = clients[rep % len(clients) :] + clients[: rep % len(clients)]
            for name in rotated:
                where = work / f"cpu-{name}-{rep}"
                if name == "promptfoo":
                    result = run_promptfoo(server, where, cases, concurrency)
                else:
                    workers = name.removeprefix("workers_")
                    result = run_migrate(server, where, cases, concurrency, "--workers", workers)
                runs[name].append(result)
                log(
                    f"cpu-bound {rep + 1}/{repeat} {name}: wall {result['wall']:.2f} s, "
                    f"cpu {result['cpu']:.2f} s, calls {result.get('calls')}, "
                    f"pss {result['peak_tree_pss_mb']:.0f} MB in {result['processes']} "
                    f"processes, exit {result['exit_code']}"
                )
    finally:
        server.close()
    return {"cases": cases, "latency": latency, "concurrency": concurrency, "cores": cores,
            "runs": runs}  # fmt: skip


def summary(section: dict[str, Any]) -> dict[str, Any]:
    """Medians per client, and the ratios against promptfoo and against one worker."""
    found: dict[str, Any] = {}
    for name, runs in section["runs"].items():
        found[name] = {
            key: statistics.median(r[key] for r in runs if r.get(key) is not None)
            for key in ("wall", "cpu", "call_phase", "peak_tree_pss_mb", "peak_tree_rss_mb")
            if any(r.get(key) is not None for r in runs)
        }
        found[name]["walls"] = sorted(r["wall"] for r in runs)
        found[name]["calls"] = [r.get("calls") for r in runs]
        found[name]["exit_codes"] = sorted({r["exit_code"] for r in runs})
    many = f"workers_{section['cores']}"
    if "promptfoo" in found:
        for name in ("workers_1", many):
            found[name]["x_promptfoo_wall"] = found[name]["wall"] / found["promptfoo"]["wall"]
    found[many]["x_one_worker_wall"] = found[many]["wall"] / found["workers_1"]["wall"]
    return found


def markdown(section: dict[str, Any], found: dict[str, Any]) -> list[str]:
    lines = [
        "## CPU-bound: a fast server, one worker and every core",
        "",
        f"{section['cases']} cases x 2 models = {2 * section['cases']} calls, concurrency "
        f"{section['concurrency']}, server latency {section['latency'] * 1000:.0f} ms, "
        f"{len(next(iter(section['runs'].values())))} runs each, interleaved; "
        f"{section['cores']} cores. CPU and memory count every process of a run "
        "(PSS: pages the workers share count once).",
        "",
        "| | wall median (s) | walls (s) | call phase (s) | CPU (s) | peak PSS, all processes (MB) "
        "| x promptfoo wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in found.items():
        lines.append(
            f"| {name.replace('_', ' ')} | {row['wall']:.2f} | "
            + ", ".join(f"{w:.2f}" for w in row["walls"])
            + f" | {row.get('call_phase', float('nan')):.2f} | {row['cpu']:.2f} | "
            f"{row.get('peak_tree_pss_mb', float('nan')):.0f} | "
            + (f"{row['x_promptfoo_wall']:.2f}" if "x_promptfoo_wall" in row else "")
            + " |"
        )
    many = found[f"workers_{section['cores']}"]
    lines += [
        "",
        f"- {section['cores']} workers / 1 worker, wall: **{many['x_one_worker_wall']:.2f}**",
    ]
    return lines
