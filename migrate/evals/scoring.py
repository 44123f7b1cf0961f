"""Score each sample of each case from the journal: pass, fail, or an error kept apart.

An errored call (after retries) or a missing judge verdict is an error, never a failure: an
errored sample is not scored, and a case with no scored sample drops out of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrate.evals.case import Case, CheckSpec
from migrate.evals.checks import JudgeVerdict, Score, judge_key, score
from migrate.evals.grading import Graders, replay
from migrate.evals.judge import judge_extra, parse_judge
from migrate.evals.promptfoo.assertions import TransformError, needs_judge
from migrate.evals.promptfoo.seams import call_facts
from migrate.evals.record import Entry, EntryKey


@dataclass
class Sample:
    index: int
    entry: Entry | None  # None: never recorded (the run did not finish)
    score: Score | None  # None when the call or its judge errored
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None or self.score is None:
            return "error"
        return "pass" if self.score.passed else "fail"


@dataclass
class CaseResult:
    case: Case
    samples: list[Sample]

    @property
    def scored(self) -> list[Sample]:
        return [s for s in self.samples if s.status != "error"]

    @property
    def pass_fraction(self) -> float | None:
        scored = self.scored
        if not scored:
            return None
        return sum(s.status == "pass" for s in scored) / len(scored)

    @property
    def refusal_fraction(self) -> float | None:
        scored = self.scored
        if not scored:
            return None
        return sum(bool(s.score and s.score.refusal) for s in scored) / len(scored)

    @property
    def flaky(self) -> bool:
        statuses = {s.status for s in self.scored}
        return statuses == {"pass", "fail"}


def score_model(
    model: str,
    cases: list[Case],
    samples: int,
    checks_for: dict[str, list[CheckSpec]],
    entries: dict[EntryKey, Entry],
    judge_model: str | None,
    messages: dict[str, list[dict[str, str]]] | None = None,
    params: dict[str, Any] | None = None,
    graders: Graders | None = None,
) -> list[CaseResult]:
    results = []
    for case in cases:
        checks = checks_for[case.id]
        rows = []
        for index in range(samples):
            entry = entries.get(("generate", model, case.id, index, ""))
            if entry is None:
                rows.append(Sample(index, None, None, "NotAttempted"))
                continue
            if entry.record.error is not None:
                rows.append(Sample(index, entry, None, entry.record.error))
                continue
            judges: dict[str, JudgeVerdict] = {}
            judge_error = None
            for check_index, spec in enumerate(checks):
                if spec.type != "llm_judge":
                    continue
                judged = entries.get(
                    ("judge", judge_model or "", case.id, index, judge_extra(model, check_index))
                )
                verdict = parse_judge(judged.record.text) if judged else None
                if verdict is None:
                    judge_error = (
                        "JudgeError"
                        if judged is None or judged.record.error is None
                        else f"Judge{judged.record.error}"
                    )
                    break
                judges[judge_key(check_index)] = verdict
            facts = call_facts(
                (messages or {}).get(case.id, []),
                entry.record.latency,
                entry.record.cost,
                params,
            )
            if judge_error is None and graders is not None:
                judge_error = _graded(
                    model, case, checks, index, entry, facts.prompt, graders, entries, judges
                )
            if judge_error:
                rows.append(Sample(index, entry, None, judge_error))
                continue
            scored = score(entry.record.text or "", case, checks, judges, facts)
            if scored.error is not None:  # the checks could not run: not the model's failure
                rows.append(Sample(index, entry, None, "CheckError"))
                continue
            rows.append(Sample(index, entry, scored))
        results.append(CaseResult(case, rows))
    return results


def _graded(
    model: str,
    case: Case,
    checks: list[CheckSpec],
    sample: int,
    entry: Entry,
    prompt: str,
    graders: Graders,
    entries: dict[EntryKey, Entry],
    judges: dict[str, JudgeVerdict],
) -> str | None:
    """The verdicts of the case's promptfoo graders on this answer, into `judges`; the
    error when one has none (a grader call failed, or the run stopped before it)."""
    for check_index, spec in enumerate(checks):
        if not needs_judge(spec):
            continue
        try:
            conversation = replay(
                spec, check_index, model, case, sample, entry.record.text or "", prompt,
                graders, entries,
            )  # fmt: skip
        except TransformError:  # promptfoo makes the test an error; so does scoring
            return "CheckError"
        verdict = conversation.verdict(spec, case, prompt)
        if verdict is None:
            return conversation.error or "NotGraded"
        judges[judge_key(check_index)] = verdict
    return None
