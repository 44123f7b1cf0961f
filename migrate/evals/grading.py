"""promptfoo's model-graded assertions in a run: which model grades, and how far each
grading conversation has got in the journal.

Each graded assertion of each answer is a short conversation with a grader
(`graders.next_step`): one call per step, each journaled as its own entry keyed
(grade, grader model, case, sample, "<judged model>|<check index>|step-<n>"). `replay`
reads a conversation back from the journal: the replies so far and the step still to
make, so a resumed run continues at the next step and never asks a grader twice, and
scoring reads the verdict from the same replies.

The grader of a step is the assertion's (or its test's) `provider` when it names one for
that kind of call, else the registry's `settings.judge_model` (text) or
`settings.embedding_model` (embeddings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from migrate.evals.case import Case, CheckSpec
from migrate.evals.checks import JudgeVerdict
from migrate.evals.promptfoo.assertions import EMBEDDED, GRADED, base_type, graded_output
from migrate.evals.promptfoo.graders import GradingStep, next_step, parse_grade
from migrate.evals.promptfoo.seams import GraderModel, grader_model
from migrate.evals.record import Entry, EntryKey
from migrate.llm import Target

GRADE = "grade"  # the journal kind of a grader call
GRADER_PARAMS: dict[str, Any] = {"temperature": 0}
EMBEDDING = "embedding"  # the key of settings.embedding_model among a run's graders
MAX_STEPS = 64  # no grader's conversation is longer (g-eval: two per criterion)

Kind = Literal["text", "embedding"]


def kinds_needed(spec: CheckSpec) -> list[Kind]:
    """The kinds of call a graded assertion makes: text (a judge), embeddings, or both."""
    kind = base_type(spec)
    kinds: list[Kind] = ["text"] if kind in GRADED else []
    if kind in EMBEDDED or kind == "answer-relevance":
        kinds.append("embedding")
    return kinds


def grader_key(named: GraderModel, kind: Kind) -> str:
    """A named grader's key among a run's graders: the kind of call, its model, and its
    server when given ("text:openai/gpt-4.1", "embedding:openai/emb http://...")."""
    key = f"{kind}:{named.model}"
    return f"{key} {named.api_base}" if named.api_base else key


def grade_extra(judged_model: str, check_index: int, step: int) -> str:
    """The journal's `extra` of a grader call: whose answer, which check, which step."""
    return f"{judged_model}|{check_index}|step-{step}"


@dataclass(frozen=True)
class Graders:
    """A run's graders: the judge model and the targets keyed by `grader_key`/`EMBEDDING`."""

    judge: Target | None
    named: Mapping[str, Target]

    def target(self, spec: CheckSpec, kind: Kind) -> Target | None:
        named = grader_model(spec, kind)
        if named is not None:
            return self.named.get(grader_key(named, kind))
        return self.judge if kind == "text" else self.named.get(EMBEDDING)


def step_kind(step: GradingStep) -> Kind:
    return "text" if step.messages is not None else "embedding"


@dataclass
class Conversation:
    """A grading conversation as far as the journal holds it."""

    replies: list[Any] = field(default_factory=list)
    step: GradingStep | None = None  # the call still to make; None when done or failed
    target: Target | None = None  # the step's grader
    error: str | None = None  # why it cannot finish (a grader call failed)

    def verdict(self, spec: CheckSpec, case: Case, prompt: str) -> JudgeVerdict | None:
        """The grade, once every step is answered; None while a step is missing or failed."""
        if self.step is not None or self.error is not None:
            return None
        return parse_grade(spec, self.replies, case, prompt)


def _vectors(text: str | None, count: int) -> list[list[float]] | None:
    try:
        vectors = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(vectors, list) or len(vectors) != count:
        return None
    for vector in vectors:
        if not isinstance(vector, list) or not vector:
            return None
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in vector):
            return None
    return vectors


def replay(
    spec: CheckSpec,
    check_index: int,
    judged_model: str,
    case: Case,
    sample: int,
    answer: str,
    prompt: str,
    graders: Graders,
    entries: Mapping[EntryKey, Entry],
) -> Conversation:
    """A conversation's replies from the journal and the step it still needs.
    TransformError when the assertion's transform cannot run on `answer`."""
    output = graded_output(spec, answer, case, prompt)
    conversation = Conversation()
    replies = conversation.replies
    for _ in range(MAX_STEPS):
        step = next_step(spec, output, case, prompt, replies)
        if step is None:
            return conversation
        kind = step_kind(step)
        target = graders.target(spec, kind)
        if target is None:  # a stored run edited by hand, or one without the grader
            conversation.error = f"NoGrader({kind})"
            return conversation
        extra = grade_extra(judged_model, check_index, len(replies))
        entry = entries.get((GRADE, target.model, case.id, sample, extra))
        if entry is None:
            conversation.step, conversation.target = step, target
            return conversation
        if entry.record.error is not None:
            conversation.error = f"Grader{entry.record.error}"
            return conversation
        if kind == "text":
            replies.append(entry.record.text or "")
            continue
        vectors = _vectors(entry.record.text, len(step.embed))
        if vectors is None:
            conversation.error = "GraderMalformedResponse"
            return conversation
        replies.append(vectors)
    conversation.error = "GraderTooManySteps"
    return conversation
