"""Planning a run's calls: which generation and judge requests are still missing from the
journal, and which earlier calls can be served from the cache."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from migrate.evals.grading import EMBEDDING, GRADE, GRADER_PARAMS, Graders, grade_extra, replay
from migrate.evals.inputs import RunInputs
from migrate.evals.journal import read_journal, request_hash
from migrate.evals.judge import (
    ORDERS,
    judge_extra,
    judge_messages,
    judge_params,
    pairwise_extra,
    pairwise_messages,
)
from migrate.evals.promptfoo.assertions import TransformError, needs_judge
from migrate.evals.promptfoo.seams import call_facts
from migrate.evals.record import Entry, EntryKey, read_manifest, try_read
from migrate.evals.rundir import JOURNAL_FILE
from migrate.evals.runner import CallSpec
from migrate.evals.similarity import SIMILAR, similarity_texts
from migrate.llm import CallRecord


def generation_specs(inputs: RunInputs, done: set[EntryKey]) -> list[CallSpec]:
    """Every generation call of the run not yet journaled: case by case, so that a run
    stopped half way has both sides of the cases it reached."""
    manifest = inputs.manifest
    targets = [manifest.baseline, *manifest.candidates]
    specs = []
    for case in inputs.cases:
        messages = inputs.messages[case.id]
        for sample in range(manifest.samples):
            for target in targets:
                if ("generate", target.model, case.id, sample, "") in done:
                    continue
                params = manifest.params_for(target.model)
                request = request_hash(target.model, target.api_base, messages, params, sample)
                specs.append(
                    CallSpec("generate", target, case.id, sample, "", messages, params, request)
                )
    return specs


def judge_specs(inputs: RunInputs, entries: dict[EntryKey, Entry]) -> list[CallSpec]:
    """Every judge call whose answer is journaled and whose verdict is not."""
    manifest = inputs.manifest
    judge = manifest.judge
    if judge is None:
        return []
    params = judge_params(manifest.model_params, judge.model)
    specs = []
    for case in inputs.cases:
        for index, check in enumerate(inputs.checks_for[case.id]):
            if check.type == "pairwise":
                specs += _pairwise_specs(inputs, entries, case.id, index, check.rubric, params)
                continue
            if check.type != "llm_judge":
                continue
            for target in [manifest.baseline, *manifest.candidates]:
                for sample in range(manifest.samples):
                    extra = judge_extra(target.model, index)
                    if ("judge", judge.model, case.id, sample, extra) in entries:
                        continue
                    generated = entries.get(("generate", target.model, case.id, sample, ""))
                    if generated is None or generated.record.error is not None:
                        continue
                    messages = judge_messages(
                        inputs.messages[case.id],
                        generated.record.text or "",
                        check.rubric or str(check.value),
                        case.expected,
                    )
                    request = request_hash(judge.model, judge.api_base, messages, params, sample)
                    specs.append(
                        CallSpec("judge", judge, case.id, sample, extra, messages, params, request)
                    )
    return specs


def grade_specs(inputs: RunInputs, entries: dict[EntryKey, Entry]) -> list[CallSpec]:
    """The next step of every grading conversation whose answer is journaled and whose
    verdict is not: one call per conversation (a conversation's steps depend on each other's
    replies, so a run asks again once these are journaled)."""
    manifest = inputs.manifest
    graders = Graders(manifest.judge, manifest.graders)
    specs = []
    for case in inputs.cases:
        checks = inputs.checks_for[case.id]
        if not any(needs_judge(check) for check in checks):
            continue
        prompt = call_facts(inputs.messages[case.id], None, None).prompt
        for target in [manifest.baseline, *manifest.candidates]:
            for sample in range(manifest.samples):
                generated = entries.get(("generate", target.model, case.id, sample, ""))
                if generated is None or generated.record.error is not None:
                    continue
                for index, check in enumerate(checks):
                    if not needs_judge(check):
                        continue
                    try:
                        conversation = replay(
                            check, index, target.model, case, sample,
                            generated.record.text or "", prompt, graders, entries,
                        )  # fmt: skip
                    except TransformError:
                        continue  # the answer cannot be graded: scoring says why
                    step, grader = conversation.step, conversation.target
                    if step is None or grader is None:
                        continue
                    extra = grade_extra(target.model, index, len(conversation.replies))
                    own = manifest.model_params.get(grader.model, {})
                    messages = step.messages or []
                    params = (
                        {**own, "input": list(step.embed)}
                        if step.messages is None
                        else {**GRADER_PARAMS, **own}
                    )
                    request = request_hash(grader.model, grader.api_base, messages, params, sample)
                    specs.append(
                        CallSpec(
                            GRADE,
                            grader,
                            case.id,
                            sample,
                            extra,
                            messages,
                            params,
                            request,
                            embedding=step.messages is None,
                        )
                    )
    return specs


def similarity_specs(inputs: RunInputs, entries: dict[EntryKey, Entry]) -> list[CallSpec]:
    """One embedding request per candidate answer whose baseline answer differs from it
    (identical answers are similar by definition) and whose similarity is not journaled:
    both answers in one request, so their vectors come from the same call."""
    manifest = inputs.manifest
    embedder = manifest.graders.get(EMBEDDING)
    if embedder is None:
        return []
    params = manifest.model_params.get(embedder.model, {})
    specs = []
    for case in inputs.cases:
        for sample in range(manifest.samples):
            base = entries.get(("generate", manifest.baseline.model, case.id, sample, ""))
            if base is None or base.record.error is not None:
                continue
            for target in manifest.candidates:
                if (SIMILAR, embedder.model, case.id, sample, target.model) in entries:
                    continue
                cand = entries.get(("generate", target.model, case.id, sample, ""))
                if cand is None or cand.record.error is not None:
                    continue
                texts = similarity_texts(base.record.text or "", cand.record.text or "")
                if texts is None:
                    continue
                request_params = {**params, "input": texts}
                request = request_hash(embedder.model, embedder.api_base, [], request_params, 0)
                specs.append(
                    CallSpec(
                        SIMILAR,
                        embedder,
                        case.id,
                        sample,
                        target.model,
                        [],
                        request_params,
                        request,
                        embedding=True,
                    )  # fmt: skip
                )
    return specs


def _pairwise_specs(
    inputs: RunInputs,
    entries: dict[EntryKey, Entry],
    case_id: str,
    index: int,
    rubric: str | None,
    params: dict[str, Any],
) -> list[CallSpec]:
    """Each candidate's answer against the baseline's, sample by sample, in both orders."""
    manifest = inputs.manifest
    judge = manifest.judge
    assert judge is not None
    specs = []
    for target in manifest.candidates:
        for sample in range(manifest.samples):
            answers = []
            for model in (manifest.baseline.model, target.model):
                generated = entries.get(("generate", model, case_id, sample, ""))
                if generated is not None and generated.record.error is None:
                    answers.append(generated.record.text or "")
            if len(answers) < 2:
                continue  # one side has no answer: nothing to compare
            for order in ORDERS:
                extra = pairwise_extra(target.model, index, order)
                if ("judge", judge.model, case_id, sample, extra) in entries:
                    continue
                first, second = answers if order == "AB" else reversed(answers)
                messages = pairwise_messages(inputs.messages[case_id], first, second, rubric)
                request = request_hash(judge.model, judge.api_base, messages, params, sample)
                specs.append(
                    CallSpec("judge", judge, case_id, sample, extra, messages, params, request)
                )
    return specs


def cache_from_runs(
    run_dirs: list[Path], exclude: Path, now: dt.datetime, max_age_days: float
) -> dict[str, CallRecord]:
    """Successful calls from this dependency's recent runs, by request hash."""
    cache: dict[str, CallRecord] = {}
    horizon = now - dt.timedelta(days=max_age_days)
    for run_dir in run_dirs:
        if run_dir == exclude:
            continue
        manifest = try_read(read_manifest, run_dir)
        started = started_at(manifest.started_at) if manifest else None
        if started is None or started < horizon:
            continue
        for entry in read_journal(run_dir / JOURNAL_FILE):
            if entry.record.error is None:
                cache.setdefault(entry.request, entry.record)
    return cache


def started_at(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
