"""Measure migrate against the latency bound, promptfoo and a bare litellm loop.

    .venv/bin/python benchmarks/run.py            # the full suite (about 12 minutes)
    .venv/bin/python benchmarks/run.py --quick    # small sizes, to try the harness
    .venv/bin/python benchmarks/run.py --batch-only   # 5b: a batch run killed twice
    .venv/bin/python benchmarks/run.py --sequential   # only 5a: sequential against full runs

Writes benchmarks/results.json (every figure) and benchmarks/results.md (the tables).
The scripted OpenAI-compatible server runs in a process of its own (benchmarks/server.py)
so that its CPU is never counted as the client's; every client is measured as a child
process with wait4(2): wall time, user+sys CPU and peak RSS. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from tests.support.scenarios import write_workspace  # noqa: E402

PYTHON = sys.executable
MIGRATE_BIN = Path(PYTHON).parent / "migrate"
MIGRATE = [str(MIGRATE_BIN)] if MIGRATE_BIN.exists() else [PYTHON, "-m", "migrate"]
PROMPTFOO_ENTRY = BENCH / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"
TODAY = "2026-11-26"
KEY = "sk-bench-0123456789"
EXAMPLE_FILES = ["models.yaml", "prompts", "evals", "templates"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- measuring child processes ---------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """user+sys CPU seconds of a running process, all its threads (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (worker processes included), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found += sorted(frontier)
    return found


def tree_cpu(pids: list[int]) -> float:
    """user+sys CPU of the processes, with what their reaped children used."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
    return total


def tree_memory(pids: list[int]) -> tuple[float, float]:
    """(PSS, RSS) of the processes together, in MB. PSS splits a page shared by several
    processes between them (the workers share litellm's pages with the process that forked
    them): their sum is the memory the processes take together; RSS sums count it twice."""
    pss = rss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return pss / 1024, rss / 1024


def cpu_at(samples: list[tuple[float, float]], when: float) -> float | None:
    """The CPU a process had used at wall-clock time `when` (the last sample before it)."""
    before = [cpu for at, cpu in samples if at <= when]
    return before[-1] if before else None


def measure(
    cmd: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    before_wait: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> dict[str, Any]:
    """Run `cmd` to completion: wall time, user+sys CPU and peak RSS from wait4(2)."""
    out_path = cwd / f".bench-out-{time.monotonic_ns()}"
    err_path = out_path.with_suffix(".err")
    load = os.getloadavg()[0]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        spawned_at = time.time()
        started = time.perf_counter()
        # An installed package runs from compiled bytecode: an environment that forbids
        # writing it (PYTHONDONTWRITEBYTECODE) would have every command compile migrate's
        # source again, which no user pays.
        child_env = {**os.environ, **(env or {})}
        child_env.pop("PYTHONDONTWRITEBYTECODE", None)
        process = subprocess.Popen(list(cmd), cwd=cwd, env=child_env, stdout=out, stderr=err)
        if before_wait is not None:
            before_wait(process)
        deadline = time.monotonic() + timeout
        cpu_samples: list[tuple[float, float]] = []  # (wall clock, the child's CPU so far)
        next_sample = next_tree = 0.0
        tree: list[int] = [process.pid]
        peak_pss = peak_rss = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            if time.monotonic() >= next_tree:  # workers come and go: look every 100 ms
                tree = process_tree(process.pid)
                pss, rss = tree_memory(tree)
                peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
                next_tree = time.monotonic() + 0.1
            if time.monotonic() >= next_sample:
                cpu = tree_cpu(tree) if len(tree) > 1 else process_cpu(process.pid)
                if cpu is not None:
                    cpu_samples.append((time.time(), cpu))
                next_sample = time.monotonic() + 0.01
            time.sleep(0.002)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    return {
        "cmd": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)),
        "exit_code": process.returncode,
        "spawned_at": spawned_at,
        "wall": wall,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # the largest one process reached
        "processes": len(tree),
        "peak_tree_pss_mb": peak_pss,  # every process of the run together, sampled
        "peak_tree_rss_mb": peak_rss,
        "load_1min_before": load,
        "cpu_samples": cpu_samples,
        "stdout": stdout,
        "stderr": stderr,
    }


class Server:
    """benchmarks/server.py in its own process, driven over its stdin."""

    def __init__(
        self, latency: float, models: str = "good,cand", rate_limit: str | None = None
    ) -> None:
        self.latency = latency
        limit = ["--rate-limit", rate_limit] if rate_limit else []
        self.process = subprocess.Popen(
            [
                PYTHON,
                str(BENCH / "server.py"),
                "--latency",
                str(latency),
                "--models",
                models,
                *limit,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self._read()["port"])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server stopped")
        result: dict[str, Any] = json.loads(line)
        return result

    def command(self, name: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        return self._read()

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def reset(self) -> None:
        self.command("reset")

    def close(self) -> None:
        try:
            self.command("quit")
        except (OSError, RuntimeError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- the workloads ------------------------------------------------------------------------


def run_settings(concurrency: int) -> str:
    return (
        f"{{concurrency: {concurrency}, timeout_seconds: 60, max_retries: 4, max_error_rate: 0.1}}"
    )


def migrate_env() -> dict[str, str]:
    return {"TEST_LLM_KEY": KEY, "MIGRATE_DEBUG": ""}


def migrate_run_cmd() -> list[str]:
    # --full: every case, as promptfoo and the bare loop call every case; a sequential run
    # of two identical models would stop once their verdict is settled.
    return [*MIGRATE, "run", "dep", "--today", TODAY, "--no-progress", "--full"]


def journal_of(root: Path) -> Path | None:
    found = sorted(root.glob("runbooks/*/dep/runs/*/journal.jsonl"))
    return found[0] if found else None


def journal_keys(path: Path) -> list[tuple[str, str, int]]:
    keys = []
    for line in path.read_bytes().splitlines(keepends=True):
        if not line.endswith(b"\n"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        keys.append((data["model"], data["case"], data["sample"]))
    return keys


def timeline(result: dict[str, Any], stats: dict[str, Any], latency: float) -> None:
    """Split a client's wall time at the server's first and last request: startup (to the
    first call), the call phase (first call to the last answer) and the tail (scoring,
    reports, exit)."""
    result["calls"] = stats["calls"]
    result["max_in_flight"] = stats["max_in_flight"]
    result["connections"] = stats["connections"]
    first, last = stats["first_request_at"], stats["last_request_at"]
    if first is None or last is None:
        return
    spawned, ended = result["spawned_at"], result["spawned_at"] + result["wall"]
    result["time_to_first_call"] = first - spawned
    result["call_phase"] = last + latency - first
    result["tail"] = ended - (last + latency)
    cpu_first = cpu_at(result["cpu_samples"], first)
    cpu_last = cpu_at(result["cpu_samples"], last + latency)
    if cpu_first is not None and cpu_last is not None and stats["calls"]:
        result["call_phase_cpu"] = cpu_last - cpu_first


def run_migrate(
    server: Server, root: Path, cases: int, concurrency: int, *extra: str
) -> dict[str, Any]:
    write_workspace(root, server.api_base, cases=cases, run_settings=run_settings(concurrency))
    server.reset()
    result = measure([*migrate_run_cmd(), *extra], root, migrate_env())
    timeline(result, server.stats(), server.latency)
    return result


def promptfoo_config(root: Path, api_base: str, cases: int) -> Path:
    """The same cases, prompt, models, parameters and checks as the migrate workspace."""
    root.mkdir(parents=True, exist_ok=True)
    messages = [
        {"role": "system", "content": "Answer with the case's answer."},
        {"role": "user", "content": "Question about case {{case}}."},
    ]
    (root / "prompt.json").write_text(json.dumps(messages), encoding="utf-8")
    config = {
        "description": "migrate benchmark",
        "prompts": ["file://prompt.json"],
        "providers": [
            {
                "id": f"openai:chat:{model}",
                "config": {
                    "apiBaseUrl": api_base,
                    "apiKey": KEY,
                    "temperature": 0,
                    "max_tokens": 50,
                },
            }
            for model in ("good", "cand")
        ],
        "defaultTest": {
            "assert": [
                {"type": "icontains", "value": "{{expected}}"},
                {"type": "not-is-refusal"},
            ]
        },
        "tests": [
            {"vars": {"case": f"c{i:03d}", "expected": f"answer-c{i:03d}"}} for i in range(cases)
        ],
    }
    path = root / "promptfooconfig.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def run_promptfoo(server: Server, root: Path, cases: int, concurrency: int) -> dict[str, Any]:
    config = promptfoo_config(root, server.api_base, cases)
    env = {
        "PROMPTFOO_CONFIG_DIR": str(root / ".promptfoo"),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CACHE_ENABLED": "false",
        "OPENAI_API_KEY": KEY,
    }
    cmd = [
        "node",
        str(PROMPTFOO_ENTRY),
        "eval",
        "-c",
        str(config),
        "-j",
        str(concurrency),
        "--no-cache",
        "--no-table",
        "--no-progress-bar",
        "-o",
        str(root / "output.json"),
    ]
    server.reset()
    result = measure(cmd, root, env)
    timeline(result, server.stats(), server.latency)
    try:
        output = json.loads((root / "output.json").read_text(encoding="utf-8"))
        result["passed"] = output["results"]["stats"]["successes"]
    except (OSError, ValueError, KeyError):
        result["passed"] = None
    return result


def run_bare(server: Server, root: Path, cases: int, concurrency: int) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    cmd = [
        PYTHON,
        str(BENCH / "bare_litellm.py"),
        "--api-base",
        server.api_base,
        "--cases",
        str(cases),
        "--concurrency",
        str(concurrency),
    ]
    server.reset()
    result = measure(cmd, root, {"BENCH_LLM_KEY": KEY})
    timeline(result, server.stats(), server.latency)
    try:
        result["inside"] = json.loads(result["stdout"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        result["inside"] = None
    return result


def run_import_only(root: Path) -> dict[str, Any]:
    code = "import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'; import litellm"
    return measure([PYTHON, "-c", code], root)


def comparison(
    server: Server, work: Path, cases: int, concurrency: int, repeat: int, promptfoo: bool
) -> dict[str, Any]:
    """migrate, promptfoo, the bare loop and a bare import, interleaved, `repeat` times."""
    runs: dict[str, list[dict[str, Any]]] = {
        "migrate": [],
        "bare_litellm": [],
        "import_litellm": [],
    }
    if promptfoo:
        runs["promptfoo"] = []
    order = list(runs)
    for rep in range(repeat):
        rotated = order[rep % len(order) :] + order[: rep % len(order)]
        for name in rotated:
            log(f"comparison {rep + 1}/{repeat}: {name}")
            where = work / f"{name}-{rep}"
            if name == "migrate":
                runs[name].append(run_migrate(server, where, cases, concurrency))
            elif name == "promptfoo":
                runs[name].append(run_promptfoo(server, where, cases, concurrency))
            elif name == "bare_litellm":
                runs[name].append(run_bare(server, where, cases, concurrency))
            else:
                where.mkdir(parents=True, exist_ok=True)
                runs[name].append(run_import_only(where))
            last = runs[name][-1]
            log(
                f"  wall {last['wall']:.2f} s, cpu {last['cpu']:.2f} s, "
                f"rss {last['peak_rss_mb']:.0f} MB, calls {last.get('calls')}, "
                f"exit {last['exit_code']}, load {last['load_1min_before']:.1f}"
            )
    return runs


def summary_429s(root: Path) -> int | None:
    """The 429s a finished migrate run reports in its summary (all models)."""
    found = sorted(root.glob("runbooks/*/dep/runs/*/summary.json"))
    if not found:
        return None
    calls = json.loads(found[-1].read_text(encoding="utf-8")).get("calls", {})
    return sum(calls.get("rate_limited", {}).values())


def rate_limited(
    work: Path,
    cases: int,
    limit: str,
    latency: float,
    concurrency: int,
    repeat: int,
    promptfoo: bool,
) -> dict[str, Any]:
    """migrate and promptfoo against a server allowing N requests per window (one allowance
    for both models, OpenAI's x-ratelimit-* headers on every answer, 429 and Retry-After past
    it), interleaved, `repeat` times each."""
    per_window, _, seconds = limit.partition("/")
    calls, window = 2 * cases, float(seconds)
    # Windows follow one another from the first request: the last of the calls leaves when
    # the window it fits in opens, and is answered one latency later.
    allowed = (math.ceil(calls / int(per_window)) - 1) * window + latency
    server = Server(latency, rate_limit=limit)
    runs: dict[str, list[dict[str, Any]]] = {"migrate": []}
    if promptfoo:
        runs["promptfoo"] = []
    try:
        for rep in range(repeat):
            order = list(runs) if rep % 2 == 0 else list(runs)[::-1]
            for name in order:
                log(f"rate-limited {rep + 1}/{repeat}: {name}")
                where = work / f"rate-{name}-{rep}"
                if name == "migrate":
                    result = run_migrate(server, where, cases, concurrency)
                    result["reported_429s"] = summary_429s(where)
                else:
                    result = run_promptfoo(server, where, cases, concurrency)
                refused = sum(server.stats()["refused"].values())
                result.update(refused=refused, requests=result.get("calls"))
                result["answered"] = (result["requests"] or 0) - refused
                runs[name].append(result)
                log(
                    f"  wall {result['wall']:.1f} s (the limit allows {allowed:.1f} s), "
                    f"{refused} of {result['requests']} requests refused, "
                    f"exit {result['exit_code']}, load {result['load_1min_before']:.1f}"
                )
    finally:
        server.close()
    summary: dict[str, Any] = {}
    for name, group in runs.items():
        summary[name] = {
            "wall": med(group, "wall"),
            "wall_range": spread(group, "wall"),
            "vs_allowed": med(group, "wall") / allowed,
            "call_phase": statistics.median(r.get("call_phase") or math.nan for r in group),
            "time_to_first_call": statistics.median(
                r.get("time_to_first_call") or math.nan for r in group
            ),
            "refused": statistics.median(r["refused"] for r in group),
            "requests": statistics.median(r["requests"] or 0 for r in group),
            "refused_share": statistics.median(
                r["refused"] / r["requests"] if r["requests"] else math.nan for r in group
            ),
            "all_answered": all(r["answered"] == calls for r in group),
            "exit_codes": sorted({r["exit_code"] for r in group}),
        }
        summary[name]["call_phase_vs_allowed"] = summary[name]["call_phase"] / allowed
        if name == "migrate":
            summary[name]["summary_counts_every_429"] = all(
                r["reported_429s"] == r["refused"] for r in group
            )
    return {
        "cases": cases,
        "calls": calls,
        "limit": limit,
        "latency": latency,
        "concurrency": concurrency,
        "allowed": allowed,
        "runs": runs,
        "summary": summary,
    }


def network_probe(server: Server, root: Path) -> dict[str, Any]:
    """A small `migrate run` with every off-loopback connection or lookup logged."""
    write_workspace(root, server.api_base, cases=20, run_settings=run_settings(8))
    log_path = root / "network.log"
    env = {
        **migrate_env(),
        "PYTHONPATH": str(BENCH / "netguard"),
        "BENCH_NET_LOG": str(log_path),
    }
    server.reset()
    result = measure(migrate_run_cmd(), root, env)
    attempts = log_path.read_text().splitlines() if log_path.exists() else []
    return {
        "exit_code": result["exit_code"],
        "calls": server.stats()["calls"],
        "off_loopback": sorted(set(attempts)),
    }


def rerun_unchanged(server: Server, root: Path) -> dict[str, Any]:
    """The same `migrate run` again in a workspace where it just finished."""
    server.reset()
    result = measure(migrate_run_cmd(), root, migrate_env())
    result["calls"] = server.stats()["calls"]
    result["reused"] = "Unchanged since run" in result["stdout"]
    return result


def resume_after_kill(server: Server, root: Path, cases: int, concurrency: int) -> dict[str, Any]:
    """Kill a run with SIGKILL half way, rerun it: calls made by the rerun, its wall time."""
    write_workspace(root, server.api_base, cases=cases, run_settings=run_settings(concurrency))
    total = cases * 2
    server.reset()
    process = subprocess.Popen(
        migrate_run_cmd(),
        cwd=root,
        env={**os.environ, **migrate_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    journaled = 0
    while time.monotonic() < deadline and process.poll() is None:
        journal = journal_of(root)
        if journal is not None and journal.exists():
            journaled = journal.read_bytes().count(b"\n")
            if journaled >= total // 2:
                break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    journal = journal_of(root)
    assert journal is not None
    at_kill = len(set(journal_keys(journal)))
    before = server.stats()
    result = measure(migrate_run_cmd(), root, migrate_env())
    after = server.stats()
    keys = journal_keys(journal)
    result.update(
        calls_total=total,
        journaled_at_kill=at_kill,
        calls_before_kill=before["calls"],
        calls_by_rerun=after["calls"] - before["calls"],
        needed_by_rerun=total - at_kill,
        repeated_requests=after["repeated_requests"],
        journal_entries=len(keys),
        journal_unique=len(set(keys)),
        resumed="Resumed run" in result["stdout"],
    )
    return result


def batch_kill_resume(work: Path, cases: int) -> dict[str, Any]:
    """5b: a batch run against the scripted files and batches endpoints, killed while
    submitting and while collecting, one batch expiring half way; then finished. Its cost
    per case against a synchronous run of the same suite, at litellm's prices."""
    from tests.support.openai_server import ScriptedServer
    from tests.support.scenarios import correct

    models = ("gpt-4o-mini", "gpt-4o")  # litellm's map has both prices of both

    def workspace(root: Path) -> Path:
        write_workspace(root, api_base, cases=cases, baseline=models[0], candidates=models[1:])
        registry = (root / "models.yaml").read_text()
        registry = registry.replace(", input_cost_per_mtok: 1, output_cost_per_mtok: 2", "")
        (root / "models.yaml").write_text(registry)
        return root

    def invoke(root: Path, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*migrate_run_cmd(), *extra],
            cwd=root,
            env={**os.environ, **migrate_env()},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def kill_when(process: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 300
        while not ready() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.communicate()

    with ScriptedServer({m: correct() for m in models}) as server:
        api_base = server.api_base
        sync_root = workspace(work / "batch-sync")
        invoke(sync_root).communicate()
        sync = json.loads(next(sync_root.glob("runbooks/*/dep/runs/*/summary.json")).read_text())
        root = workspace(work / "batch")
        script = server.batch_script
        script.create_delay, script.expire_after, script.expire_batches = 120, cases // 2, 1
        steps: list[dict[str, Any]] = []
        started = time.monotonic()

        def journal_kinds() -> dict[str, int]:
            journal = journal_of(root)
            kinds = (
                [json.loads(x)["kind"] for x in journal.read_text().splitlines()] if journal else []
            )
            return {k: kinds.count(k) for k in sorted(set(kinds))}

        kill_when(invoke(root, "--batch"), lambda: len(server.batches) == 1)
        steps.append(
            {
                "step": "killed between creating a batch and journaling its id",
                "batches_on_server": len(server.batches),
                "journal": journal_kinds(),
            }
        )
        script.create_delay = 0
        for _ in range(3):  # reconcile and submit; poll; collect (one batch expired)
            process = invoke(root, "--batch")
            out, _ = process.communicate()
            steps.append(
                {"step": "rerun", "exit": process.returncode, "said": out.splitlines()[1:]}
            )
        script.results_delay = 120
        asked = server.results_asked
        kill_when(invoke(root, "--batch"), lambda: server.results_asked > asked)
        steps.append({"step": "killed while reading a batch's results", "journal": journal_kinds()})
        script.results_delay = 0
        rounds, code = 0, 5
        while code == 5 and rounds < 10:
            process = invoke(root, "--batch")
            process.communicate()
            code, rounds = process.returncode, rounds + 1
        steps.append({"step": "finished", "invocations": rounds, "exit": code})
        wall = time.monotonic() - started
        run_dir = next(root.glob("runbooks/*/dep/runs/*"))
        rows = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()]
        calls = [(r["model"], r["case"], r["sample"]) for r in rows if "case" in r]
        summary = json.loads((run_dir / "summary.json").read_text())
        expected = {(f"openai/{m}", f"c{i:03d}", 0) for m in models for i in range(cases)}
        cost = {
            m: {
                "sync_per_case": sync["metrics"][f"openai/{m}"]["cost_per_case"],
                "batch_per_case": summary["metrics"][f"openai/{m}"]["cost_per_case"],
            }
            for m in models
        }
        for figures in cost.values():
            figures["ratio"] = figures["batch_per_case"] / figures["sync_per_case"]
        return {
            "cases": cases,
            "requests": len(expected),
            "steps": steps,
            "wall": wall,
            "batches_created": len(server.batches),
            "lost": len(expected - set(calls)),
            "journaled_twice": len(calls) - len(set(calls)),
            "executed_twice": sum(n - 1 for n in server.batch_lines.values() if n > 1),
            "answered_twice": sum(n - 1 for n in server.batch_answered.values() if n > 1),
            "lines_executed": sum(server.batch_lines.values()),
            "verdict": summary["verdict"],
            "sync_verdict": sync["verdict"],
            "cost": cost,
        }


# --- commands that make no model call ------------------------------------------------------


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    base = {
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_DATE": "2026-10-01T12:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-10-01T12:00:00+00:00",
    }
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env={**os.environ, **base, **(env or {})},
        check=True,
        capture_output=True,
    )


def example_workspace(root: Path) -> Path:
    """A copy of the repository's example workspace in a fresh git repository."""
    root.mkdir(parents=True)
    for name in EXAMPLE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy2(source, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Example workspace")
    return root


def imports_litellm(cmd: Sequence[str], root: Path) -> bool:
    """Whether the command imports litellm (python -X importtime)."""
    probe = [PYTHON, "-X", "importtime", "-m", "migrate", *cmd[len(MIGRATE) :]]
    done = subprocess.run(probe, cwd=root, capture_output=True, text=True)
    return re.search(r"\|\s+litellm(\.|$)", done.stderr, flags=re.MULTILINE) is not None


def startup(work: Path, repeat: int) -> dict[str, Any]:
    """`--help`, check, status, calendar and plan on the example workspace, `repeat` times
    each."""
    root = example_workspace(work / "example")
    commands = {
        "--help": [*MIGRATE, "--help"],
        "check": [*MIGRATE, "check", "--today", TODAY],
        "status": [*MIGRATE, "status", "--today", TODAY],
        "calendar": [*MIGRATE, "calendar", "--today", TODAY],
        "plan": [*MIGRATE, "plan", "--today", TODAY],
    }
    results: dict[str, Any] = {}
    for name, cmd in commands.items():
        runs = [measure(cmd, root) for _ in range(repeat)]
        results[name] = {
            "runs": runs,
            "wall_median": statistics.median(r["wall"] for r in runs),
            "wall_max": max(r["wall"] for r in runs),
            "cpu_median": statistics.median(r["cpu"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "exit_codes": sorted({r["exit_code"] for r in runs}),
            "imports_litellm": imports_litellm(cmd, root),
        }
        log(
            f"startup {name}: median {results[name]['wall_median']:.3f} s, "
            f"litellm imported: {results[name]['imports_litellm']}"
        )
    return results


def large_registry(root: Path, dependencies: int) -> Path:
    """A registry of `dependencies` dependencies over 60 models, 100 prompts, 100 suites
    and 50 owners, committed to a git repository by those owners."""
    root.mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "evals").mkdir()
    for i in range(100):
        (root / "prompts" / f"p{i:03d}.md.j2").write_text(
            f"[system]\nYou are feature {i}.\n\n[user]\n{{{{ question }}}}\n", encoding="utf-8"
        )
        (root / "evals" / f"s{i:03d}.jsonl").write_text(
            "".join(
                json.dumps({"id": f"q{j}", "vars": {"question": f"q{j}"}, "expected": f"a{j}"})
                + "\n"
                for j in range(20)
            ),
            encoding="utf-8",
        )
    lines = [
        "version: 1",
        "settings:",
        "  timezone: Europe/Berlin",
        "  window: {start_day: 8, length_days: 21}",
        '  review: {day: 8, time: "10:00", duration_minutes: 60}',
        "models:",
    ]
    first = dt.date(2027, 1, 10)
    for m in range(30):
        retires = first + dt.timedelta(days=17 * m)
        lines += [
            f"  openai/old-{m:02d}:",
            f"    deprecated: {retires - dt.timedelta(days=120)}",
            f"    retires: {retires}",
            f"    replacement: openai/new-{m:02d}",
            "    source: https://example.com/deprecations",
            f"  openai/new-{m:02d}: {{}}",
        ]
    lines.append("dependencies:")
    for d in range(dependencies):
        m = d % 30
        lines += [
            f"  feature-{d:04d}:",
            f"    description: Feature {d} of the product",
            f"    model: openai/old-{m:02d}",
            f"    candidates: [openai/new-{m:02d}]",
            f"    owners: [owner{d % 50:02d}@example.com, owner{(d + 7) % 50:02d}@example.com]",
            f"    prompt: prompts/p{d % 100:03d}.md.j2",
            "    params: {temperature: 0, max_tokens: 200}",
            "    eval:",
            f"      cases: evals/s{d % 100:03d}.jsonl",
            "      samples: 1",
            '      checks: [{type: icontains, value: "{{ expected }}"}]',
            "    gates: {pass_rate_drop: 0.02}",
        ]
    (root / "models.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    for owner in range(50):
        with (root / "prompts" / f"p{owner:03d}.md.j2").open("a") as prompt:
            prompt.write(f"\n{{# owner {owner} #}}\n")
        git(root, "add", "-A")
        when = f"2026-{(owner % 9) + 1:02d}-15T12:00:00+00:00"
        email = f"owner{owner:02d}@example.com"
        git(
            root,
            "commit",
            "-q",
            "-m",
            f"Change {owner}",
            env={
                "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_EMAIL": email,
                "GIT_AUTHOR_DATE": when,
                "GIT_COMMITTER_DATE": when,
            },
        )
    return root


def planning_at_scale(work: Path, dependencies: int, repeat: int) -> dict[str, Any]:
    """calendar + plan on a generated registry, each in a fresh copy, `repeat` times."""
    template = large_registry(work / "registry-template", dependencies)
    runs: list[dict[str, Any]] = []
    for rep in range(repeat):
        root = work / f"registry-{rep}"
        shutil.copytree(template, root, symlinks=True)
        # The registry's parse is kept under XDG_CACHE_HOME (migrate/yamlcache.py): the
        # first calendar of the first copy parses and keeps it, every later command reads it.
        cache = {"XDG_CACHE_HOME": str(work / "xdg-cache")}
        calendar = measure([*MIGRATE, "calendar", "--today", TODAY], root, cache)
        plan = measure([*MIGRATE, "plan", "--today", TODAY, "--json"], root, cache)
        try:
            due = len(json.loads(plan["stdout"] or "{}").get("due", []))
        except ValueError:
            due = None
        runs.append({"calendar": calendar, "plan": plan, "due": due})
        log(
            f"{dependencies} dependencies: calendar {calendar['wall']:.2f} s, "
            f"plan {plan['wall']:.2f} s ({due} due)"
        )
    total = [r["calendar"]["wall"] + r["plan"]["wall"] for r in runs]
    return {
        "dependencies": dependencies,
        "runs": runs,
        "calendar_wall_median": statistics.median(r["calendar"]["wall"] for r in runs),
        "plan_wall_median": statistics.median(r["plan"]["wall"] for r in runs),
        "total_wall_median": statistics.median(total),
        "due": runs[0]["due"],
    }


# --- the machine, the summary, the report --------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except OSError:
            return "unknown"

    try:
        promptfoo = json.loads((BENCH / "node_modules" / "promptfoo" / "package.json").read_text())[
            "version"
        ]
    except (OSError, ValueError, KeyError):
        promptfoo = None
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_start": list(os.getloadavg()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "litellm": version("litellm"),
        "migrate": version("migrate"),
        "migrate_commit": out(["git", "rev-parse", "--short", "HEAD"]),
        "migrate_uncommitted_changes": bool(out(["git", "status", "--porcelain", "migrate"])),
        "promptfoo": promptfoo,
        "node": out(["node", "--version"]),
    }


def ensure_promptfoo() -> bool:
    if PROMPTFOO_ENTRY.exists():
        return True
    if shutil.which("npm") is None:
        log("npm not found: promptfoo is skipped")
        return False
    log("installing promptfoo (npm ci in benchmarks/)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH, check=True
    )
    return PROMPTFOO_ENTRY.exists()


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def spread(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [min(float(r[key]) for r in runs), max(float(r[key]) for r in runs)]


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    params = results["parameters"]
    runs = results["comparison"]
    calls = params["cases"] * 2
    bound = math.ceil(calls / params["concurrency"]) * params["latency"]
    import_cpu = med(runs["import_litellm"], "cpu")
    tools: dict[str, Any] = {}
    for name in ("migrate", "promptfoo", "bare_litellm"):
        if name not in runs:
            continue
        group = runs[name]
        wall = med(group, "wall")
        cpu = med(group, "cpu")
        tools[name] = {
            "wall": wall,
            "wall_range": spread(group, "wall"),
            "cpu": cpu,
            "cpu_range": spread(group, "cpu"),
            "peak_rss_mb": med(group, "peak_rss_mb"),
            "calls_per_second": calls / wall,
            "vs_bound": wall / bound,
            "cpu_per_call_ms": 1000 * cpu / calls,
            "all_calls_made": all(r.get("calls") == calls for r in group),
            "exit_codes": sorted({r["exit_code"] for r in group}),
        }
        for key in ("time_to_first_call", "call_phase", "tail", "connections", "call_phase_cpu"):
            values = [r[key] for r in group if r.get(key) is not None]
            if values:
                tools[name][key] = statistics.median(values)
        if "call_phase" in tools[name]:
            tools[name]["call_phase_vs_bound"] = tools[name]["call_phase"] / bound
        if "call_phase_cpu" in tools[name]:
            tools[name]["call_phase_cpu_per_call_ms"] = 1000 * tools[name]["call_phase_cpu"] / calls
    inside = [r["inside"] for r in runs["bare_litellm"] if r.get("inside")]
    summary: dict[str, Any] = {
        "calls": calls,
        "latency_bound": bound,
        "import_litellm_cpu": import_cpu,
        "import_litellm_wall": med(runs["import_litellm"], "wall"),
        "tools": tools,
    }
    if inside:
        summary["bare_call_phase_cpu_per_call_ms"] = 1000 * statistics.median(
            i["calls_cpu"] / i["calls"] for i in inside
        )
    m, b = tools["migrate"], tools["bare_litellm"]
    summary["ratios"] = {
        "migrate_vs_bound": m["vs_bound"],
        "migrate_vs_promptfoo_wall": m["wall"] / tools["promptfoo"]["wall"]
        if "promptfoo" in tools
        else None,
        "migrate_vs_bare_wall": m["wall"] / b["wall"],
        "migrate_vs_bare_cpu_per_call": m["cpu"] / b["cpu"],
        "migrate_vs_bare_call_phase_cpu_per_call": m["call_phase_cpu"] / b["call_phase_cpu"]
        if "call_phase_cpu" in m and "call_phase_cpu" in b
        else None,
    }
    if "cpu_bound" in results:
        summary["cpu_bound"] = cpu_bound.summary(results["cpu_bound"])
    return summary


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    s = results["summary"]
    ratios = s["ratios"]
    rows = [
        ("migrate run wall <= 1.2 x latency bound", ratios["migrate_vs_bound"], 1.2),
    ]
    if ratios["migrate_vs_promptfoo_wall"] is not None:
        rows.append(
            ("migrate run wall <= 0.9 x promptfoo's", ratios["migrate_vs_promptfoo_wall"], 0.9)
        )
    cpu = s.get("cpu_bound")
    if cpu and "x_promptfoo_wall" in cpu.get(f"workers_{results['cpu_bound']['cores']}", {}):
        many = cpu[f"workers_{results['cpu_bound']['cores']}"]
        rows.append(("CPU-bound run, every core: wall <= 0.85 x promptfoo's",
                     many["x_promptfoo_wall"], 0.85))  # fmt: skip
    rows.append(
        (
            "migrate CPU per call <= 1.3 x bare litellm loop (during the calls)",
            ratios["migrate_vs_bare_call_phase_cpu_per_call"],
            1.3,
        )
    )
    rows.append(
        (
            "migrate CPU per call <= 1.3 x bare litellm loop (whole process)",
            ratios["migrate_vs_bare_cpu_per_call"],
            1.3,
        )
    )
    for name, data in results["startup"].items():
        rows.append((f"`migrate {name}` wall <= 0.5 s (median)", data["wall_median"], 0.5))
    scale = results["planning_at_scale"]
    rows.append(
        (
            f"calendar + plan, {scale['dependencies']} dependencies <= 2 s (median)",
            scale["total_wall_median"],
            2.0,
        )
    )
    limited = results.get("rate_limited")
    if limited:
        mine = limited["summary"]["migrate"]
        rows.append(
            (
                "rate-limited run: migrate wall <= 1.3 x the time the limit allows",
                mine["vs_allowed"],
                1.3,
            )
        )
        rows.append(
            ("rate-limited run: migrate requests refused <= 10%", mine["refused_share"], 0.1)
        )
        theirs = limited["summary"].get("promptfoo")
        if theirs:
            rows.append(
                ("rate-limited run: migrate wall <= promptfoo's", mine["wall"] / theirs["wall"], 1)
            )
            rows.append(
                (
                    "rate-limited run: migrate refusals <= promptfoo's",
                    mine["refused"] / max(theirs["refused"], 1),
                    1.0,
                )
            )
    rows.append(("rerun of an unchanged run: zero calls", results["rerun"]["calls"], 0))
    memory = results["memory"]
    rows.append(
        (
            f"{memory['cases']:,}-case run, all its processes together: peak PSS <= 500 MB",
            memory["run"]["peak_tree_pss_mb"],
            500,
        )
    )
    return [{"target": t, "measured": v, "limit": limit, "met": v <= limit} for t, v, limit in rows]


def trimmed(value: Any) -> Any:
    """The results without the children's full output (the tail of it is kept)."""
    if isinstance(value, dict):
        return {
            k: v[-1500:] if k in ("stdout", "stderr") and isinstance(v, str) else trimmed(v)
            for k, v in value.items()
            if k != "cpu_samples"
        }
    if isinstance(value, list):
        return [trimmed(v) for v in value]
    return value


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(results: dict[str, Any]) -> str:
    mach, params, s = results["machine"], results["parameters"], results["summary"]
    lines = [
        "# migrate benchmark results",
        "",
        f"Generated by `{results['command']}` on {results['finished_at']} "
        f"(migrate {mach['migrate']} at {mach['migrate_commit']}"
        + (", with uncommitted changes" if mach.get("migrate_uncommitted_changes") else "")
        + ").",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {mach['cpu_model']}, {mach['cores']} cores |",
        f"| load average (1, 5, 15 min) at start | "
        f"{', '.join(f'{x:.2f}' for x in mach['load_average_start'])} |",
        f"| load average at end | {', '.join(f'{x:.2f}' for x in results['load_average_end'])} |",
        f"| OS | {mach['os']} |",
        f"| Python | {mach['python']} |",
        f"| litellm | {mach['litellm']} |",
        f"| promptfoo | {mach['promptfoo'] or 'not installed'} (Node {mach['node']}) |",
        "",
        "The machine is shared: absolute times move with the load, so read the ratios, which",
        "come from runs interleaved in the same session. Each figure is the median of "
        f"{params['repeat']} runs; ranges are min-max.",
        "",
        "## migrate run against the latency bound, promptfoo and a bare litellm loop",
        "",
        f"{params['cases']} cases x 2 models x K=1 = {s['calls']} calls, concurrency "
        f"{params['concurrency']}, server latency {params['latency'] * 1000:.0f} ms. "
        f"Latency bound ceil(calls / concurrency) x latency = {s['latency_bound']:.2f} s.",
        "",
        "| | wall (s) | wall range | x bound | calls/s | CPU user+sys (s) | CPU/call (ms) "
        "| peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in s["tools"].items():
        lines.append(
            f"| {name} | {t['wall']:.2f} | {t['wall_range'][0]:.2f}-{t['wall_range'][1]:.2f} "
            f"| {t['vs_bound']:.2f} | {t['calls_per_second']:.0f} | {t['cpu']:.2f} "
            f"| {t['cpu_per_call_ms']:.2f} | {t['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "Where the wall time goes, from the server's first and last request: startup (process "
        "start to the first call), the call phase (first call to the last answer) and the "
        "tail (scoring, reports, exit).",
        "",
        "| | startup (s) | call phase (s) | call phase x bound | CPU/call in the call phase "
        "(ms) | tail (s) | connections |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, t in s["tools"].items():
        lines.append(
            f"| {name} | {fmt(t.get('time_to_first_call'))} | {fmt(t.get('call_phase'))} "
            f"| {fmt(t.get('call_phase_vs_bound'))} | {fmt(t.get('call_phase_cpu_per_call_ms'))} "
            f"| {fmt(t.get('tail'))} | {fmt(t.get('connections'))} |"
        )
    r = s["ratios"]
    lines += [
        "",
        f"`import litellm` alone: {s['import_litellm_wall']:.2f} s wall, "
        f"{s['import_litellm_cpu']:.2f} s CPU.",
        "",
        f"- migrate / latency bound: **{r['migrate_vs_bound']:.2f}** (its call phase alone: "
        f"{fmt(s['tools']['migrate'].get('call_phase_vs_bound'))})",
        f"- migrate / promptfoo, wall: **{fmt(r['migrate_vs_promptfoo_wall'])}**",
        f"- migrate / bare litellm loop, wall: **{r['migrate_vs_bare_wall']:.2f}**",
        "- migrate / bare litellm loop, CPU per call: "
        f"**{fmt(r['migrate_vs_bare_call_phase_cpu_per_call'])}** during the calls (what "
        "migrate's seam, runner and journal add to litellm's own work), "
        f"**{r['migrate_vs_bare_cpu_per_call']:.2f}** whole process (with startup, scoring, "
        "reports and exit)",
    ]
    if "bare_call_phase_cpu_per_call_ms" in s:
        lines.append(
            "- the bare loop's call phase alone, measured inside the process: "
            f"{s['bare_call_phase_cpu_per_call_ms']:.2f} ms CPU per call"
        )
    if "cpu_bound" in s:
        lines += ["", *cpu_bound.markdown(results["cpu_bound"], s["cpu_bound"])]
    lines += [
        "",
        "## Commands that make no model call",
        "",
        "On a git copy of the repository's example workspace (7 dependencies), "
        f"{params['startup_repeat']} runs each.",
        "",
        "| command | median wall (s) | max wall (s) | CPU (s) | peak RSS (MB) | imports litellm |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in results["startup"].items():
        lines.append(
            f"| `migrate {name}` | {d['wall_median']:.3f} | {d['wall_max']:.3f} "
            f"| {d['cpu_median']:.3f} | {d['peak_rss_mb']:.0f} "
            f"| {'yes' if d['imports_litellm'] else 'no'} |"
        )
    m = s["tools"]["migrate"]
    lines += [
        "",
        f"`migrate run` reaches its first model call {fmt(m.get('time_to_first_call'))} s after "
        "the process starts (median, the 500-case run above; it includes importing litellm).",
        "",
    ]
    scale = results["planning_at_scale"]
    lines += [
        f"## calendar + plan on a {scale['dependencies']:,}-dependency registry",
        "",
        f"Generated registry: 60 models, 100 prompts, 100 suites, 50 owners in git history; "
        f"{scale['due']} dependencies due. Fresh copy per run, "
        f"{len(scale['runs'])} runs.",
        "",
        "| | median wall (s) |",
        "|---|---|",
        f"| calendar | {scale['calendar_wall_median']:.2f} |",
        f"| plan | {scale['plan_wall_median']:.2f} |",
        f"| calendar + plan | {scale['total_wall_median']:.2f} |",
        "",
    ]
    limited = results.get("rate_limited")
    if limited:
        lines += [
            "## Under a provider's rate limit",
            "",
            f"{limited['cases']} cases x 2 models = {limited['calls']} calls, concurrency "
            f"{limited['concurrency']}, server latency {limited['latency'] * 1000:.0f} ms, "
            f"one allowance of {limited['limit'].replace('/', ' requests per ')} s for both "
            "models, OpenAI's `x-ratelimit-*` headers on every answer and 429 with "
            "Retry-After past it. The limit allows "
            f"{limited['allowed']:.1f} s from the first request to the last answer.",
            "",
            "| | wall (s) | wall range | x allowed | startup (s) | call phase (s) | call phase "
            "x allowed | refused | of requests |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, t in limited["summary"].items():
            lines.append(
                f"| {name} | {t['wall']:.1f} | {t['wall_range'][0]:.1f}-{t['wall_range'][1]:.1f} "
                f"| {t['vs_allowed']:.2f} | {fmt(t['time_to_first_call'], 1)} "
                f"| {fmt(t['call_phase'], 1)} | {fmt(t['call_phase_vs_allowed'])} "
                f"| {t['refused']:.0f} | {t['refused_share'] * 100:.1f}% |"
            )
        mine = limited["summary"]["migrate"]
        lines += [
            "",
            "migrate's summary counted every 429 the server sent: "
            f"{'yes' if mine.get('summary_counts_every_429') else 'NO'}.",
            "",
        ]
    rerun, resume = results["rerun"], results["resume"]
    lines += [
        "## Rerun and resume",
        "",
        f"- Rerun of the unchanged {s['calls']}-call run: **{rerun['calls']} calls**, "
        f"{rerun['wall']:.2f} s wall ({'reused' if rerun['reused'] else 'NOT reused'}).",
        f"- Resume: the run was killed with SIGKILL after {resume['journaled_at_kill']} of "
        f"{resume['calls_total']} calls were journaled; the rerun made "
        f"**{resume['calls_by_rerun']} calls** ({resume['needed_by_rerun']} were missing; "
        f"{resume['calls_by_rerun'] - resume['needed_by_rerun']} repeated calls that were in "
        f"flight at the kill) in {resume['wall']:.2f} s wall. The journal holds "
        f"{resume['journal_unique']} distinct calls in {resume['journal_entries']} entries.",
        "",
    ]
    memory = results["memory"]
    mr = memory["run"]
    lines += [
        f"## Memory: a {memory['cases']:,}-case run",
        "",
        f"{memory['cases']:,} cases x 2 models x K=1 = {memory['cases'] * 2:,} calls at "
        f"concurrency {params['concurrency']}, server latency "
        f"{memory['latency'] * 1000:.0f} ms.",
        "",
        f"- every process of the run together: peak PSS **{mr['peak_tree_pss_mb']:.0f} MB** "
        f"(RSS summed, counting shared pages once per process: "
        f"{mr['peak_tree_rss_mb']:.0f} MB); the largest process: RSS {mr['peak_rss_mb']:.0f} MB "
        f"(`import litellm` alone: "
        f"{med(results['comparison']['import_litellm'], 'peak_rss_mb'):.0f} MB)",
        f"- wall {mr['wall']:.1f} s, CPU {mr['cpu']:.1f} s, "
        f"{memory['cases'] * 2 / mr['wall']:.0f} calls/s, "
        f"{1000 * mr['cpu'] / (memory['cases'] * 2):.2f} ms CPU per call; all calls made: "
        f"{mr['calls'] == memory['cases'] * 2}",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {fmt(t['measured'])} | {'yes' if t['met'] else 'NO'} |")
    probe = results["network_probe"]
    lines += [
        "",
        "## Network",
        "",
        f"A {probe['calls']}-call `migrate run` with every socket connect and name lookup "
        "logged (benchmarks/netguard): "
        + (
            "no attempt to reach any host but the loopback server (litellm's cost map "
            "comes from the installed package)."
            if not probe["off_loopback"]
            else "attempts off the loopback: " + ", ".join(probe["off_loopback"])
        ),
    ]
    if "batch" in results:
        lines += batch_markdown(results["batch"])
    return "\n".join(lines) + "\n"


def batch_markdown(batch: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Batch run killed and resumed (5b)",
        "",
        f"{batch['requests']} requests ({batch['cases']} cases x 2 models) through the "
        f"scripted files and batches endpoints, killed while submitting and while reading "
        f"results, one batch expiring half way: {batch['batches_created']} batches made, "
        f"{batch['lost']} requests lost, {batch['journaled_twice']} journaled twice, "
        f"{batch['executed_twice']} executed twice; verdict {batch['verdict']} "
        f"(synchronous: {batch['sync_verdict']}).",
        "",
        "| model | cost per case, synchronous | cost per case, batch | ratio |",
        "|---|---|---|---|",
    ]
    for model, cost in batch["cost"].items():
        lines.append(
            f"| {model} | ${cost['sync_per_case']:.3g} | ${cost['batch_per_case']:.3g} "
            f"| {cost['ratio']:.3f} |"
        )
    return lines


import cpu_bound  # noqa: E402  (it imports this module's measuring tools)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500, help="cases of the comparison suite")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each comparison tool")
    parser.add_argument("--memory-cases", type=int, default=10_000)
    parser.add_argument("--memory-latency", type=float, default=0.005)
    parser.add_argument("--dependencies", type=int, default=1000)
    parser.add_argument("--startup-repeat", type=int, default=7)
    parser.add_argument("--no-promptfoo", action="store_true", help="skip promptfoo")
    parser.add_argument(
        "--rate-limit",
        default="100/10",
        metavar="N/SECONDS",
        help="the rate-limited run's allowance (requests per window)",
    )
    parser.add_argument("--rate-limit-cases", type=int, default=200)
    parser.add_argument("--rate-limit-repeat", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (100 cases, 1,000-case memory run)"
    )
    parser.add_argument("--batch-cases", type=int, default=500, help="cases of the batch run")
    parser.add_argument(
        "--batch-only", action="store_true", help="only 5b, the batch run; print its figures"
    )
    parser.add_argument("--cpu-bound-cases", type=int, default=500)
    parser.add_argument("--cpu-bound-latency", type=float, default=0.005)
    parser.add_argument("--cpu-bound-concurrency", type=int, default=64)
    parser.add_argument("--cpu-bound-repeat", type=int, default=3)
    parser.add_argument(
        "--cpu-bound-only", action="store_true", help="only the CPU-bound run (1 and N workers)"
    )
    parser.add_argument("--output", type=Path, default=BENCH, help="folder for results.*")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="only benchmark 5a: sequential against full runs (benchmarks/sequential.py)",
    )
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)  # every section writes its results there
    if args.sequential:
        sys.path.insert(0, str(BENCH))
        import sequential

        found = sequential.run([500] if args.quick else [500, 2000], 100 if args.quick else 1000,
                               args.output / "sequential.json")  # fmt: skip
        print(sequential.render(found))
        return
    if args.quick:
        args.cases, args.repeat, args.memory_cases = 100, 1, 1000
        args.dependencies, args.startup_repeat = 200, 2
        args.rate_limit, args.rate_limit_cases, args.rate_limit_repeat = "50/5", 100, 1
    if args.batch_only:
        work = Path(tempfile.mkdtemp(prefix="migrate-bench-"))
        try:
            batch = batch_kill_resume(work, args.batch_cases)
            print(json.dumps(batch, indent=2))
            print("\n".join(batch_markdown(batch)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    use_promptfoo = not args.no_promptfoo and ensure_promptfoo()
    if args.cpu_bound_only:
        work = Path(tempfile.mkdtemp(prefix="migrate-bench-"))
        try:
            section = cpu_bound.cpu_bound(work, args.cpu_bound_cases, args.cpu_bound_latency,
                                          args.cpu_bound_concurrency, args.cpu_bound_repeat,
                                          use_promptfoo)  # fmt: skip
        finally:
            shutil.rmtree(work, ignore_errors=True)
        found = cpu_bound.summary(section)
        (args.output / "cpu_bound.json").write_text(
            json.dumps(
                {"machine": machine(), "section": trimmed(section), "summary": found}, indent=2
            )
            + "\n"  # fmt: skip
        )
        print(f"CPU: {cpu_model()}\n" + "\n".join(cpu_bound.markdown(section, found)))
        return
    results: dict[str, Any] = {
        "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]),
        "machine": machine(),
        "parameters": {
            "cases": args.cases,
            "models": 2,
            "samples": 1,
            "latency": args.latency,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "startup_repeat": args.startup_repeat,
        },
    }
    log(f"CPU: {results['machine']['cpu_model']}, {results['machine']['cores']} cores")
    log(f"machine: {results['machine']}")
    work = Path(tempfile.mkdtemp(prefix="migrate-bench-"))
    try:
        server = Server(args.latency)
        try:
            results["comparison"] = comparison(
                server, work, args.cases, args.concurrency, args.repeat, use_promptfoo
            )
            last = work / f"migrate-{args.repeat - 1}"
            log("network probe")
            results["network_probe"] = network_probe(server, work / "network")
            log(f"  off-loopback attempts: {results['network_probe']['off_loopback']}")
            log("rerun of an unchanged run")
            results["rerun"] = rerun_unchanged(server, last)
            log("resume after SIGKILL")
            results["resume"] = resume_after_kill(
                server, work / "resume", args.cases, args.concurrency
            )
        finally:
            server.close()
        log(f"rate-limited run: {args.rate_limit} requests per window")
        results["rate_limited"] = rate_limited(
            work,
            args.rate_limit_cases,
            args.rate_limit,
            args.latency,
            args.concurrency,
            args.rate_limit_repeat,
            use_promptfoo,
        )
        log("CPU-bound run: 1 worker and every core")
        results["cpu_bound"] = cpu_bound.cpu_bound(
            work, args.cpu_bound_cases, args.cpu_bound_latency, args.cpu_bound_concurrency,
            args.cpu_bound_repeat, use_promptfoo,
        )  # fmt: skip
        log(f"batch run killed while submitting and while collecting: {args.batch_cases} cases")
        results["batch"] = batch_kill_resume(work, args.batch_cases)
        log("startup")
        results["startup"] = startup(work, args.startup_repeat)
        log(f"calendar + plan, {args.dependencies} dependencies")
        results["planning_at_scale"] = planning_at_scale(work, args.dependencies, 3)
        log(f"memory: {args.memory_cases} cases")
        fast = Server(args.memory_latency)
        try:
            run = run_migrate(fast, work / "memory", args.memory_cases, args.concurrency)
        finally:
            fast.close()
        results["memory"] = {
            "cases": args.memory_cases,
            "latency": args.memory_latency,
            "run": run,
        }
        log(f"memory: peak {run['peak_rss_mb']:.0f} MB, wall {run['wall']:.1f} s")
    finally:
        if args.keep:
            log(f"workspaces kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["load_average_end"] = list(os.getloadavg())
    results["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["summary"] = summarize(results)
    results["targets"] = targets(results)
    results = trimmed(results)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "results.md").write_text(render_markdown(results))
    log(f"wrote {args.output / 'results.md'} and results.json")
    print(render_markdown(results))


if __name__ == "__main__":
    main()
