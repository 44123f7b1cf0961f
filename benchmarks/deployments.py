"""A 1,000-call `migrate run` with its models on one deployment, or on two.

    .venv/bin/python benchmarks/deployments.py              # about 6 minutes
    .venv/bin/python benchmarks/deployments.py --repeat 1   # about 3 minutes

Two scripted servers (benchmarks/server.py, each in a process of its own) stand for two
deployments. 500 cases x 2 models x K=1 = 1,000 calls at concurrency 32, answered after
200 ms. Three registries, run interleaved:

    plain        both models on server 1 through `api_base` (no Router)
    routed-one   both models with `deployments: [server 1]` (the Router, one deployment)
    routed-two   both models with `deployments: [server 1, server 2]`

twice: with no rate limit (the run is bound by its concurrency, so a second deployment
cannot shorten it: what the Router costs), and with each server allowing N requests per
window for both models together (`--rate-limit`, OpenAI's x-ratelimit-* headers, 429 and
Retry-After past it), where a second deployment doubles the allowance. Prints the medians
and writes benchmarks/deployments.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402
    BENCH,
    Server,
    log,
    measure,
    migrate_env,
    migrate_run_cmd,
    run_settings,
    timeline,
)

from tests.support.scenarios import write_workspace  # noqa: E402

CONFIGS = ("plain", "routed-one", "routed-two")


def workspace(root: Path, config: str, servers: list[Server], cases: int, concurrency: int) -> None:
    write_workspace(root, servers[0].api_base, cases=cases, run_settings=run_settings(concurrency))
    if config == "plain":
        return
    used = servers[:1] if config == "routed-one" else servers
    registry = root / "models.yaml"
    lines = registry.read_text(encoding="utf-8").splitlines()
    for model in ("good", "cand"):
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"  openai/{model}:")]
        lines[index : index + 1] = [
            f"  openai/{model}:",
            "    input_cost_per_mtok: 1",
            "    output_cost_per_mtok: 2",
            "    deployments:",
            *(
                f'      - {{name: s{n}, api_base: "{s.api_base}", api_key_env: TEST_LLM_KEY}}'
                for n, s in enumerate(used, 1)
            ),
        ]
    registry.write_text("\n".join(lines) + "\n", encoding="utf-8")


def one_run(
    work: Path, label: str, config: str, servers: list[Server], cases: int, concurrency: int
) -> dict[str, Any]:
    root = work / label
    workspace(root, config, servers, cases, concurrency)
    for server in servers:
        server.reset()
    result = measure(migrate_run_cmd(), root, migrate_env())
    stats = [server.stats() for server in servers]
    # The call phase runs from the first request either server saw to the last answer.
    firsts = [s["first_request_at"] for s in stats if s["first_request_at"] is not None]
    lasts = [s["last_request_at"] for s in stats if s["last_request_at"] is not None]
    merged = {
        "calls": sum(s["calls"] for s in stats),
        "max_in_flight": sum(s["max_in_flight"] for s in stats),
        "connections": sum(s["connections"] for s in stats),
        "first_request_at": min(firsts) if firsts else None,
        "last_request_at": max(lasts) if lasts else None,
    }
    timeline(result, merged, servers[0].latency)
    result["requests_by_server"] = [s["calls"] for s in stats]
    result["refused"] = sum(sum(s["refused"].values()) for s in stats)
    del result["cpu_samples"], result["stdout"]
    log(
        f"  {label}: exit {result['exit_code']}, wall {result['wall']:.1f} s, call phase "
        f"{result.get('call_phase', math.nan):.1f} s, CPU {result['cpu']:.1f} s, requests "
        f"{result['requests_by_server']}, refused {result['refused']}, "
        f"load {result['load_1min_before']:.1f}"
    )
    return result


def scenario(
    work: Path, name: str, limit: str | None, cases: int, concurrency: int, repeat: int
) -> dict[str, Any]:
    servers = [Server(0.2, rate_limit=limit), Server(0.2, rate_limit=limit)]
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    try:
        for rep in range(repeat):
            order = CONFIGS if rep % 2 == 0 else CONFIGS[::-1]
            for config in order:
                log(f"{name} {rep + 1}/{repeat}: {config}")
                runs[config].append(
                    one_run(work, f"{name}-{config}-{rep}", config, servers, cases, concurrency)
                )
    finally:
        for server in servers:
            server.close()
    medians = {
        config: {
            key: statistics.median(math.nan if r.get(key) is None else float(r[key]) for r in group)
            for key in ("wall", "call_phase", "cpu", "refused")
        }
        | {"exit_codes": sorted({r["exit_code"] for r in group})}
        for config, group in runs.items()
    }
    return {"limit": limit, "runs": runs, "medians": medians}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500, help="cases (x 2 models = calls)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each registry")
    parser.add_argument("--limit", default="200/10", help="N/SECONDS allowed per server")
    args = parser.parse_args()
    results: dict[str, Any] = {"cases": args.cases, "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory(prefix="migrate-deployments-") as tmp:
        work = Path(tmp)
        for name, limit in (("unlimited", None), ("rate-limited", args.limit)):
            results[name] = scenario(work, name, limit, args.cases, args.concurrency, args.repeat)
    (BENCH / "deployments.json").write_text(json.dumps(results, indent=2) + "\n")
    for name in ("unlimited", "rate-limited"):
        medians = results[name]["medians"]
        print(f"{name}:")
        for config, figures in medians.items():
            print(
                f"  {config:11} wall {figures['wall']:6.1f} s  call phase "
                f"{figures['call_phase']:6.1f} s  CPU {figures['cpu']:5.1f} s  "
                f"refused {figures['refused']:5.0f}  exit {figures['exit_codes']}"
            )
        ratio = medians["routed-two"]["wall"] / medians["plain"]["wall"]
        print(f"  two deployments / one (plain): wall x{ratio:.2f}")


if __name__ == "__main__":
    main()
