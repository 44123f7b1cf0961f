"""Runbooks: one living checklist per due dependency, regenerated without losing a person's
ticks and notes (`facts` gathers the template context, `merge` keeps the edits)."""

from __future__ import annotations

from migrate.evals.rundir import runbook_path
from migrate.runbooks.facts import RUNBOOK_TEMPLATE, SuiteSize, runbook_context
from migrate.runbooks.merge import (
    FACTS_BEGIN,
    FACTS_END,
    SIGNOFFS_MARKER,
    checked_steps,
    merge_runbook,
)

__all__ = [
    "FACTS_BEGIN",
    "FACTS_END",
    "RUNBOOK_TEMPLATE",
    "SIGNOFFS_MARKER",
    "SuiteSize",
    "checked_steps",
    "merge_runbook",
    "runbook_context",
    "runbook_path",
]
