"""A case of an eval suite and the checks applied to its outputs: the values every suite
reader produces and every scorer reads."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from migrate.registry.schema import Check, CheckType

CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")  # used with fullmatch
CASE_ID_RULE = "letters, digits and . _ : / - (up to 200 characters)"


@dataclass(frozen=True)
class CheckSpec:
    """One check to apply to an output; `negate` inverts it (promptfoo's `not-` prefix)."""

    type: str
    value: Any = None
    schema: dict[str, Any] | None = None
    rubric: str | None = None
    negate: bool = False
    # promptfoo assertions (type "promptfoo:<name>") also carry these, as promptfoo reads them
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None
    transform: str | None = None  # the assertion's own output transform (JavaScript)
    output_transform: str | None = None  # the test's `options.transform`, applied first
    config: dict[str, Any] | None = None
    provider: Any = None  # the grader for model-graded assertions (promptfoo provider id)
    # the test's threshold, kept on each of its assertions so that a stored run (which
    # stores checks whole) scores the case the same way when read back
    case_threshold: float | None = None

    @classmethod
    def from_check(cls, check: Check) -> CheckSpec:
        return cls(
            type=check.type, value=check.value, schema=check.json_schema, rubric=check.rubric
        )

    def label(self, value: Any = None) -> str:
        """How the check reads in a report; `value` is the value rendered for a case."""
        name = ("not " if self.negate else "") + self.type.removeprefix("promptfoo:")
        shown = self.value if value is None else value
        if isinstance(shown, dict) and "source" in shown:  # a python file's code
            shown = f"file://{shown.get('file')}"
        if shown is not None and self.type != "llm_judge":
            return f"{name} {json.dumps(shown, ensure_ascii=False)[:60]}"
        return name


@dataclass(frozen=True)
class Case:
    id: str
    vars: dict[str, Any]
    expected: Any = None
    checks: tuple[CheckSpec, ...] = field(default=())
    line: int | None = None
    # promptfoo tests: the pass threshold of the weighted score, text around the rendered
    # prompt, and the file the test was read from when it is not the suite file itself
    threshold: float | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    prefix: str = ""
    suffix: str = ""
    source: str | None = None
    # logged production requests (`migrate cases import`)
    messages: list[dict[str, str]] | None = None  # sent as they are, without the prompt
    provenance: dict[str, Any] | None = None  # source, imported, original_id


# --- a check as the run record stores it ---------------------------------------------------


def check_json(spec: CheckSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


_V1_CHECK_FIELDS = {"type", "value", "schema", "rubric", "negate"}
_CHECK_DEFAULTS = {f.name: f.default for f in dataclasses.fields(CheckSpec)}


def check_identity(check: dict[str, Any]) -> dict[str, Any]:
    """A stored check as it counts for a run's identity: a field added after version 1
    counts only when set, so a version 1 run keeps its identity."""
    return {
        k: v
        for k, v in check.items()
        if k in _V1_CHECK_FIELDS or v != _CHECK_DEFAULTS.get(k, dataclasses.MISSING)
    }


def check_from_json(data: Any) -> CheckSpec:
    """A stored check; ValueError for one this version cannot apply (edited by hand)."""
    if not isinstance(data, dict):
        raise ValueError("a check that is not an object")
    known = {f.name for f in dataclasses.fields(CheckSpec)}
    try:
        spec = CheckSpec(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:  # a required field is missing
        raise ValueError(f"a check without its fields ({exc})") from None
    if spec.type not in CheckType.__args__ or not isinstance(spec.schema, dict | None):  # type: ignore[attr-defined]
        raise ValueError(f"unknown check {spec.type!r}")
    return dataclasses.replace(spec, negate=bool(spec.negate))
