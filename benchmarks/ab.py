"""Interleaved A/B of the planning commands: another checkout (A) against this one (B).

    .venv/bin/python benchmarks/ab.py /path/to/other/checkout [--repeat 7]

Both run with this virtualenv's interpreter and packages, each with `PYTHONPATH` set to its
own checkout, one after the other in alternating order, so that the machine's load falls on
both alike. Two workloads: `--help`, `check`, `status`, `calendar` and `plan` on a git copy of
the example workspace (startup), and `calendar` then `plan --json` on a fresh copy of the
generated 1,000-dependency registry (scale). A first untimed round fills each side's caches
(the registry's parse, V8's answers): the timed rounds are what a second command pays. The
outputs of the last round are compared byte for byte (plan's JSON, calendar.ics).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PYTHON, REPO, TODAY, cpu_model, example_workspace, large_registry, measure  # noqa: E402

STARTUP = {
    "--help": ["--help"],
    "check": ["check", "--today", TODAY],
    "status": ["status", "--today", TODAY],
    "calendar": ["calendar", "--today", TODAY],
    "plan": ["plan", "--today", TODAY],
}


def migrate(checkout: Path, work: Path, side: str) -> tuple[list[str], dict[str, str]]:
    env = {"PYTHONPATH": str(checkout), "XDG_CACHE_HOME": str(work / f"cache-{side}")}
    return [PYTHON, "-m", "migrate"], env


def startup(work: Path, sides: dict[str, Path], repeat: int) -> dict[str, Any]:
    timed: dict[str, dict[str, list[dict[str, Any]]]] = {s: {c: [] for c in STARTUP} for s in sides}
    roots = {s: example_workspace(work / f"example-{s}") for s in sides}
    for round_ in range(repeat + 1):
        for name, args in STARTUP.items():
            order = list(sides) if round_ % 2 else list(reversed(sides))
            for side in order:
                cmd, env = migrate(sides[side], work, side)
                run = measure([*cmd, *args], roots[side], env)
                if round_:
                    timed[side][name].append(run)
    return timed


def scale(work: Path, sides: dict[str, Path], repeat: int, dependencies: int) -> dict[str, Any]:
    template = large_registry(work / "registry", dependencies)
    timed: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    outputs: dict[str, tuple[str, bytes]] = {}
    for round_ in range(repeat + 1):
        order = list(sides) if round_ % 2 else list(reversed(sides))
        for side in order:
            root = work / f"registry-{side}-{round_}"
            shutil.copytree(template, root, symlinks=True)
            cmd, env = migrate(sides[side], work, side)
            calendar = measure([*cmd, "calendar", "--today", TODAY], root, env)
            plan = measure([*cmd, "plan", "--today", TODAY, "--json"], root, env)
            for run in (calendar, plan):
                if run["exit_code"] != 0:
                    raise SystemExit(f"{side}: {run['cmd']} failed: {run['stderr'][-2000:]}")
            outputs[side] = (plan["stdout"], (root / "calendar.ics").read_bytes())
            if round_:
                timed[side].append({"calendar": calendar, "plan": plan})
            shutil.rmtree(root)
    return {"timed": timed, "same_output": len(set(outputs.values())) == 1}


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="the other checkout (A)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dependencies", type=int, default=1000)
    options = parser.parse_args()
    sides = {"A": options.base.resolve(), "B": REPO}
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load before {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="migrate-ab-") as folder:
        work = Path(folder)
        boot = startup(work, sides, options.repeat)
        print(f"startup, median of {options.repeat} (wall s / CPU s), B/A:")
        for name in STARTUP:
            a, b = boot["A"][name], boot["B"][name]
            wa, wb, ca, cb = (median(a, "wall"), median(b, "wall"),
                              median(a, "cpu"), median(b, "cpu"))  # fmt: skip
            print(f"  {name:9s} A {wa:.3f} / {ca:.3f}  B {wb:.3f} / {cb:.3f}  "
                  f"wall {wb / wa:.2f}x  CPU {cb / ca:.2f}x")  # fmt: skip
        big = scale(work, sides, options.repeat, options.dependencies)
        print(f"{options.dependencies} dependencies, median of {options.repeat}, B/A:")
        for step in ("calendar", "plan"):
            a = [r[step] for r in big["timed"]["A"]]
            b = [r[step] for r in big["timed"]["B"]]
            print(f"  {step:9s} A {median(a, 'wall'):.3f} / {median(a, 'cpu'):.3f}  "
                  f"B {median(b, 'wall'):.3f} / {median(b, 'cpu'):.3f}  "
                  f"wall {median(b, 'wall') / median(a, 'wall'):.2f}x  "
                  f"CPU {median(b, 'cpu') / median(a, 'cpu'):.2f}x")  # fmt: skip
        totals = {s: statistics.median(r["calendar"]["wall"] + r["plan"]["wall"]
                                       for r in big["timed"][s]) for s in sides}  # fmt: skip
        print(f"  calendar + plan: A {totals['A']:.3f} s, B {totals['B']:.3f} s "
              f"({totals['B'] / totals['A']:.2f}x); same output: {big['same_output']}")  # fmt: skip
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
