"""The floor migrate is compared with: the same calls as a `migrate run`, made by a bare
loop of `litellm.acompletion` under an asyncio.Semaphore, nothing else.

    python benchmarks/bare_litellm.py --api-base URL --cases 500 --concurrency 32

Prints one JSON line: calls, errors, and the CPU and wall time of the import and of the
call phase, measured inside the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from typing import Any

# As migrate does: the cost map comes from the installed package, not the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def messages_for(case: str) -> list[dict[str, str]]:
    """What migrate renders from the benchmark's prompt for one case."""
    return [
        {"role": "system", "content": "Answer with the case's answer."},
        {"role": "user", "content": f"Question about case {case}."},
    ]


async def call_all(args: argparse.Namespace, litellm: Any) -> tuple[int, int]:
    semaphore = asyncio.Semaphore(args.concurrency)
    errors = 0

    async def one(model: str, case: str) -> None:
        nonlocal errors
        async with semaphore:
            try:
                response = await litellm.acompletion(
                    model=model,
                    messages=messages_for(case),
                    temperature=0,
                    max_tokens=50,
                    timeout=60,
                    max_retries=0,
                    api_base=args.api_base,
                    api_key=os.environ.get("BENCH_LLM_KEY", "sk-bench"),
                )
                if f"answer-{case}" not in (response.choices[0].message.content or ""):
                    errors += 1
            except Exception as exc:
                errors += 1
                if errors <= 3:
                    print(f"{type(exc).__name__}: {exc}"[:300], file=sys.stderr)

    cases = [f"c{i:03d}" for i in range(args.cases)]
    models = [f"openai/{m}" for m in args.models.split(",")]
    # Case by case, both models, as `migrate run` orders its calls.
    await asyncio.gather(*(one(model, case) for case in cases for model in models))
    return len(cases) * len(models), errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--models", default="good,cand")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    wall0, cpu0 = time.perf_counter(), cpu()
    import litellm

    litellm.suppress_debug_info = True  # no banner on stderr per failed call
    wall1, cpu1 = time.perf_counter(), cpu()
    calls, errors = asyncio.run(call_all(args, litellm))
    wall2, cpu2 = time.perf_counter(), cpu()
    print(
        json.dumps(
            {
                "calls": calls,
                "errors": errors,
                "import_wall": wall1 - wall0,
                "import_cpu": cpu1 - cpu0,
                "calls_wall": wall2 - wall1,
                "calls_cpu": cpu2 - cpu1,
            }
        )
    )


if __name__ == "__main__":
    main()
