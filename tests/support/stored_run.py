"""A stored run written by hand in the on-disk format, version 1, without calling a model.

`migrate run` leaves `runbooks/<quarter>/<dependency>/runs/<run-id>/` holding run.json
(the manifest), cases.jsonl (the rendered inputs), journal.jsonl (one line per finished
call) and summary.json (written last: the run is finished); `migrate signoff` adds
signoff.json. The files are spelled out here, independently of the code that writes them,
so that a test built on them also checks that a version-1 run directory keeps reading.

Each case passes on the baseline; a candidate passes every case when its verdict is PASS
and fails the first one otherwise (a regression). The journal's answers agree with that
under the stored check, so `migrate report` re-scores them to the same outcomes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
EXIT_CODES = {"PASS": 0, "BASELINE": 0, "FAIL": 1, "INCONCLUSIVE": 3, "ERROR": 4}
_RANK = {"PASS": 3, "INCONCLUSIVE": 2, "FAIL": 1, "ERROR": 0}
# The suite's one check: the baseline's answers hold "summary", a failing candidate's do not.
CHECK = {"type": "icontains", "value": "summary", "schema": None, "rubric": None, "negate": False}
GATES = {
    "pass_rate_drop": 0.02,
    "refusal_rate_increase": 0.01,
    "p95_latency_increase": 0.25,
    "cost_increase": 0.15,
}


@dataclass(frozen=True)
class StoredRun:
    """What the files of a stored run say; `directory` is where they are."""

    directory: Path
    run_id: str
    quarter: str
    verdict: str


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _target(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "api_base": None,
        "api_key_env": None,
        "input_cost_per_mtok": None,
        "output_cost_per_mtok": None,
        "max_concurrency": None,
    }


def _wilson(passed: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (95%)."""
    p = passed / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _metrics(passed: int, cases: int) -> dict[str, Any]:
    low, high = _wilson(passed, cases)
    return {
        "cases": cases,
        "samples": cases,
        "scored": cases,
        "errors": 0,
        "error_rate": 0.0,
        "errors_by_class": {},
        "pass_rate": passed / cases,
        "pass_rate_low": low,
        "pass_rate_high": high,
        "refusal_rate": 0.0,
        "json_valid_rate": 0.0,
        "output_tokens_median": 12.0,
        "output_tokens_p95": 12.0,
        "output_chars_median": 40.0,
        "latency_p50": 0.5,
        "latency_p95": 0.5,
        "cost_total": 0.0,
        "cost_per_case": 0.0,
        "cost_known": True,
        "calls_cached": 0,
        "error_messages": {},
        "rate_limited": 0,
    }


def _comparison(verdict: str, regressions: list[str], cases: int) -> dict[str, Any]:
    status = {"PASS": "holds", "FAIL": "broken"}.get(verdict, "unclear")
    diff = -len(regressions) / cases
    return {
        "verdict": verdict,
        "regressions": regressions,
        "improvements": [],
        "flaky": [],
        "unscored": [],
        "paired_cases": cases,
        "pass_rate_diff": {
            "estimate": diff,
            "low": diff - 0.01,
            "high": diff + 0.01,
            "method": "Tango score interval (exact McNemar p-value)",
            "mcnemar_exact_p": 1.0,
            "bootstrap_low": None,
            "bootstrap_high": None,
        },
        "gates": [
            {
                "name": "pass_rate_drop",
                "threshold": GATES["pass_rate_drop"],
                "observed": diff,
                "status": status,
                "detail": f"difference {diff * 100:+.1f} pts",
            }
        ],
        "cases_to_settle": None,
        "explanation": f"{verdict}: written by tests/support/stored_run.py",
        "pairwise": None,  # no pairwise check in this suite
        "similarity": None,  # written before answers were compared for similarity
    }


def store_run(
    root: Path,
    *,
    finished: dt.date | dt.datetime,
    run_id: str | None = None,
    dependency: str = "summarizer",
    quarter: str | None = None,
    baseline: str = "vendor/old",
    candidates: Mapping[str, str] | None = None,
    verdict: str | None = None,
    cases: Sequence[str] = ("one",),
    suite: str = "evals/summary.jsonl",
    suite_sha256: str | None = None,
    prompt: str = "prompts/summary.md.j2",
    decision: str | None = None,
    by: str = "alice@example.com",
) -> StoredRun:
    """A finished run of `dependency` under `root`, and its sign-off when `decision` is set.

    `candidates` maps each candidate to its verdict (default: vendor/new, PASS); the run's
    verdict is the best of theirs (BASELINE with none) unless `verdict` says otherwise. The
    run started five minutes before `finished` (a day: at 12:00 UTC), and its id is that
    moment unless `run_id` is given; the quarter is the one `finished` falls in.
    """
    if not isinstance(finished, dt.datetime):
        finished = dt.datetime(finished.year, finished.month, finished.day, 12, tzinfo=dt.UTC)
    started = finished - dt.timedelta(minutes=5)
    run_id = run_id or f"{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    quarter = quarter or quarter_of(finished.date())
    verdicts = dict({"vendor/new": "PASS"} if candidates is None else candidates)
    if verdict is None:
        verdict = max(verdicts.values(), key=_RANK.__getitem__) if verdicts else "BASELINE"
    directory = root / "runbooks" / quarter / dependency / "runs" / run_id
    models = [baseline, *verdicts]
    messages = {c: [{"role": "user", "content": f"Summarize {c}"}] for c in cases}
    suite_sha256 = suite_sha256 or _sha("".join(cases))
    stamp = started.isoformat(timespec="seconds")

    manifest = {
        "version": FORMAT_VERSION,
        "dependency": dependency,
        "quarter": quarter,
        "baseline": _target(baseline),
        "candidates": [_target(m) for m in verdicts],
        "judge": None,
        "params": {"temperature": 0},
        "samples": 1,
        "limit": None,
        "suite": {
            "path": suite,
            "sha256": suite_sha256,
            "cases": len(cases),
            "cases_in_file": len(cases),
        },
        "prompt": {"files": [prompt], "sha256": _sha(prompt)},
        "checks": [CHECK],
        "gates": GATES,
        "max_error_rate": 0.1,
        "inputs_sha256": _sha(json.dumps([models, messages], sort_keys=True)),
        "run_id": run_id,
        "started_at": stamp,
        "reproducibility": {
            "migrate_version": "0.1.0",
            "litellm_version": "1.110.2",
            "python": "3.11.7",
            "last_commits": {prompt: None, suite: None},
        },
    }
    _dump(directory / "run.json", manifest)
    (directory / "cases.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "checks": [],
                    "expected": None,
                    "id": c,
                    "line": line,
                    "messages": messages[c],
                    "vars": {"text": c},
                },
                sort_keys=True,
            )  # fmt: skip
            + "\n"
            for line, c in enumerate(cases, start=1)
        ),
        encoding="utf-8",
    )

    failed = {m: [cases[0]] if v != "PASS" else [] for m, v in verdicts.items()}
    failed[baseline] = []
    journal = []
    for model in models:
        for case in cases:
            record = {
                "text": "wrong" if case in failed[model] else f"A summary of {case}",
                "finish_reason": "stop",
                "prompt_tokens": 30,
                "completion_tokens": 12,
                "cost": 0.0,
                "latency": 0.5,
                "error": None,
                "error_message": None,
                "attempts": 1,
            }
            entry = {
                "kind": "generate",
                "model": model,
                "case": case,
                "sample": 0,
                "extra": "",
                "request": _sha(json.dumps([model, messages[case]])),
                "at": stamp,
                "cached": False,
                "record": record,
            }
            journal.append(json.dumps(entry, separators=(",", ":")) + "\n")
    (directory / "journal.jsonl").write_text("".join(journal), encoding="utf-8")

    summary = {
        "version": FORMAT_VERSION,
        "run_id": run_id,
        "dependency": dependency,
        "quarter": quarter,
        "started_at": stamp,
        "finished_at": finished.isoformat(timespec="seconds"),
        "models": {"baseline": baseline, "candidates": list(verdicts), "judge": None},
        "suite": {**manifest["suite"], "samples": 1},
        "verdict": verdict,
        "exit_code": EXIT_CODES[verdict],
        "infrastructure_failure": "too many calls failed" if verdict == "ERROR" else None,
        "metrics": {m: _metrics(len(cases) - len(failed[m]), len(cases)) for m in models},
        "candidates": {m: _comparison(v, failed[m], len(cases)) for m, v in verdicts.items()},
        "drift": {
            "previous_run": None,
            "common_cases": 0,
            "changed": [],
            "previous_pass_rate": None,
            "current_pass_rate": None,
        },
        "outcomes": {m: {c: 0.0 if c in failed[m] else 1.0 for c in cases} for m in models},
        "calls": {
            "journaled": len(journal),
            "cached": 0,
            "errors": 0,
            "made_this_time": len(journal),
            "rate_limited": {},
        },
        "reproducibility": manifest["reproducibility"],
    }
    _dump(directory / "summary.json", summary)
    if decision is not None:
        store_signoff(directory, decision, by=by, at=finished.date())
    return StoredRun(directory, run_id, quarter, verdict)


def store_signoff(
    directory: Path, decision: str, *, by: str = "alice@example.com", at: dt.date
) -> Path:
    """signoff.json for the stored run in `directory`, as `migrate signoff` writes it."""
    summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    candidates = list(summary["candidates"])
    candidate = candidates[0] if decision == "approve" and candidates else None
    record = {
        "version": FORMAT_VERSION,
        "dependency": summary["dependency"],
        "run_id": summary["run_id"],
        "decision": decision,
        "by": by,
        "at": at.isoformat(),
        "baseline": summary["models"]["baseline"],
        "candidate": candidate,
        "candidates": candidates,
        "verdict": summary["verdict"],
        "candidate_verdict": summary["candidates"][candidate]["verdict"] if candidate else None,
        "suite_sha256": summary["suite"]["sha256"],
        "note": None,
        "override": None,
        "overridden": [],
        "previous": [],
    }
    _dump(directory / "signoff.json", record)
    return directory / "signoff.json"
