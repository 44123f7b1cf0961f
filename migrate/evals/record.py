"""The run record: every file a run directory holds, as typed, versioned models.

This is the one owner of the on-disk format. `run.json` (the manifest: what was asked),
`cases.jsonl` (the cases with their rendered messages), `journal.jsonl` (one entry per
finished call), `summary.json` (what was found) and `signoff.json` (what an owner decided)
are read and written here and nowhere else; the rest of the code reads these models.
Adding a field to a file is one edit in this module.

Every file carries `version`; version 1 is the format of the first release and still reads.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from migrate.errors import ExitCode, UsageError
from migrate.evals.case import Case, check_from_json, check_identity
from migrate.evals.record_calls import DeploymentCalls
from migrate.evals.record_cost import RunCost
from migrate.evals.record_metrics import GateResult as GateResult
from migrate.evals.record_metrics import ModelMetrics as ModelMetrics
from migrate.evals.record_metrics import PassRateDiff as PassRateDiff
from migrate.evals.record_metrics import Settlement as Settlement
from migrate.evals.record_pairs import PairwiseSummary, SimilaritySummary
from migrate.evals.record_stages import StagePlan, Stopping
from migrate.evals.rundir import CASES_FILE, MANIFEST_FILE, SIGNOFF_FILE, SUMMARY_FILE
from migrate.files import write_atomic
from migrate.llm import CallRecord, Target
from migrate.registry.schema import Gates

FORMAT_VERSION = 1


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"  # too many calls failed: the run measured nothing it can stand on
    BASELINE = "BASELINE"  # a run without candidates: a fresh baseline only

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Verdict.PASS: ExitCode.OK,
    Verdict.BASELINE: ExitCode.OK,
    Verdict.FAIL: ExitCode.FAIL,
    Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
    Verdict.ERROR: ExitCode.INFRA,
}


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    KEEP = "keep"


class _Record(BaseModel):
    # Written by migrate itself; a key from a newer version is ignored, a wrong type refused.
    model_config = ConfigDict(extra="ignore", defer_build=True)


def _known_checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for check in checks:
        check_from_json(check)
    return checks


def _readable_message(message: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
        raise ValueError("a message without a string role and content")
    return message


StoredChecks = Annotated[list[dict[str, Any]], AfterValidator(_known_checks)]
Message = Annotated[dict[str, Any], AfterValidator(_readable_message)]


# --- run.json ------------------------------------------------------------------------------


class SuiteRef(_Record):
    path: str
    sha256: str
    cases: int
    cases_in_file: int


class PromptRef(_Record):
    files: list[str]
    sha256: str


class Manifest(_Record):
    """What a run asked for: enough to redo it, or to re-derive its results, without the
    registry."""

    version: int = FORMAT_VERSION
    dependency: str
    quarter: str
    baseline: Target
    candidates: list[Target]
    judge: Target | None = None
    graders: dict[str, Target] = Field(default_factory=dict)  # promptfoo's, see grading.py
    params: dict[str, Any]
    # models.<id>.params, per model, merged over `params` for that model's calls
    model_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    samples: int = Field(ge=1)
    limit: int | None = None
    suite: SuiteRef
    prompt: PromptRef
    checks: StoredChecks  # the dependency's checks, as check_json writes them
    gates: Gates
    max_error_rate: float
    inputs_sha256: str = ""
    run_id: str = ""
    started_at: str = ""
    reproducibility: dict[str, Any] = Field(default_factory=dict)
    sequential: StagePlan | None = None  # None: the whole suite in one stage

    @property
    def models(self) -> list[str]:
        return [self.baseline.model, *(c.model for c in self.candidates)]

    def params_for(self, model: str) -> dict[str, Any]:
        return {**self.params, **self.model_params.get(model, {})}

    def identity(self) -> dict[str, Any]:
        """The fields that decide the calls and the verdict (not when or where it ran)."""
        exclude = {"inputs_sha256", "quarter", "run_id", "started_at", "reproducibility"}
        data = self.model_dump(exclude=exclude | ({"sequential"} if not self.sequential else set()))
        # Fields added after version 1 count only when set, so a version 1 run keeps its
        # identity (and is still served from the cache).
        for added in ("model_params", "graders"):
            if not data[added]:
                del data[added]
        data["checks"] = [check_identity(c) for c in data["checks"]]
        for target in [data["baseline"], *data["candidates"], data["judge"]]:
            for name in ("drop_params", "deployments"):
                if target and not target[name]:
                    del target[name]
        return data


# --- cases.jsonl ---------------------------------------------------------------------------


class StoredCase(_Record):
    id: str
    vars: dict[str, Any]
    expected: Any = None
    line: int | None = None
    checks: StoredChecks = Field(default_factory=list)  # the case's own checks
    messages: list[Message]
    provenance: dict[str, Any] | None = None  # an imported case's source and import date


def case_from_record(stored: StoredCase) -> Case:
    return Case(
        id=stored.id,
        vars=stored.vars,
        expected=stored.expected,
        checks=tuple(check_from_json(c) for c in stored.checks),
        line=stored.line,
        provenance=stored.provenance,
    )


# --- journal.jsonl -------------------------------------------------------------------------

# (kind, model, case id, sample, extra): extra names the judged model and check for judges.
EntryKey = tuple[str, str, str, int, str]


class Entry(BaseModel):
    """One finished call, as one journal line."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str  # generate | judge
    model: str
    case: str
    sample: int
    extra: str = ""  # for judges: "<judged model>|<check index>"
    request: str  # journal.request_hash of the request
    at: str  # ISO timestamp when the call finished
    cached: bool = False
    record: CallRecord

    @property
    def key(self) -> EntryKey:
        return (self.kind, self.model, self.case, self.sample, self.extra)

    def to_line(self) -> bytes:
        data = self.model_dump()
        for name in ("rate_limited", "deployment", "refused_by"):
            if not data["record"][name]:  # written when set: earlier journals stay byte for byte
                del data["record"][name]
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            return line.encode()
        except UnicodeEncodeError:  # a lone surrogate: JSON's \u escape keeps it exactly
            return (json.dumps(data, separators=(",", ":")) + "\n").encode()


def entry_from_json(data: Any, where: str) -> Entry:
    """A journal entry read back; RecordError naming `where` when it is not one."""
    try:
        return Entry.model_validate(data)
    except ValidationError as exc:
        raise RecordError(f"{where}: not a journal entry ({_first_problem(exc)})") from None


# --- summary.json --------------------------------------------------------------------------


class Models(_Record):
    baseline: str
    candidates: list[str]
    judge: str | None = None


class SuiteSummary(SuiteRef):
    cases_in_file: int = 0
    samples: int = 1


class CandidateSummary(_Record):
    verdict: Verdict
    regressions: list[str] = Field(default_factory=list)
    improvements: list[str] = Field(default_factory=list)
    flaky: list[str] = Field(default_factory=list)
    unscored: list[str] = Field(default_factory=list)
    paired_cases: int = 0
    pass_rate_diff: PassRateDiff | None = None
    gates: list[GateResult] = Field(default_factory=list)
    cases_to_settle: int | None = None  # settlement.for_even_chance
    settlement: Settlement | None = None
    explanation: str = ""
    pairwise: PairwiseSummary | None = None  # with a pairwise check: losses are regressions
    similarity: SimilaritySummary | None = None


class Drift(_Record):
    previous_run: str | None = None
    common_cases: int = 0
    changed: list[dict[str, Any]] = Field(default_factory=list)
    previous_pass_rate: float | None = None
    current_pass_rate: float | None = None


class Calls(_Record):
    journaled: int = 0
    cached: int = 0
    errors: int = 0
    made_this_time: int = 0
    cost: float | None = None  # USD of the calls made, judges' and graders' too; see results
    # Requests refused with 429, by model: every model called, the judge included.
    rate_limited: dict[str, int] = Field(default_factory=dict)
    deployments: dict[str, dict[str, DeploymentCalls]] = Field(default_factory=dict)


class Summary(_Record):
    """What a finished run found. Its presence marks the run finished."""

    version: int = FORMAT_VERSION
    run_id: str
    dependency: str
    quarter: str = ""  # "" in a summary written by hand: the run directory says it
    started_at: str = ""
    finished_at: str = ""
    models: Models
    suite: SuiteSummary | None = None
    verdict: Verdict
    exit_code: int = 0
    infrastructure_failure: str | None = None
    metrics: dict[str, ModelMetrics] = Field(default_factory=dict)
    candidates: dict[str, CandidateSummary] = Field(default_factory=dict)
    drift: Drift = Field(default_factory=Drift)
    outcomes: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    calls: Calls = Field(default_factory=Calls)
    cost: RunCost | None = None  # estimate, spend, projected monthly cost (record_cost.py)
    reproducibility: dict[str, Any] = Field(default_factory=dict)
    stopping: Stopping | None = None  # a sequential run: where it stopped


# --- signoff.json --------------------------------------------------------------------------


class SignoffRecord(_Record):
    """An owner's decision on one run; earlier decisions on the same run are kept in
    `previous`, oldest first."""

    version: int = FORMAT_VERSION
    dependency: str = ""
    run_id: str
    decision: Decision
    by: str
    at: str  # ISO date
    baseline: str | None = None
    candidate: str | None = None
    candidates: list[str] = Field(default_factory=list)
    verdict: Verdict | None = None
    candidate_verdict: Verdict | None = None
    suite_sha256: str | None = None
    note: str | None = None
    override: str | None = None
    overridden: list[str] = Field(default_factory=list)
    previous: list[dict[str, Any]] = Field(default_factory=list)


# --- reading and writing -------------------------------------------------------------------

R = TypeVar("R", bound=BaseModel)


class RecordError(UsageError):
    """A run directory's file that this version cannot read (edited by hand, or torn)."""


def _dump(record: BaseModel) -> str:
    # Python mode: an infinite ratio stays `Infinity`, as json.dumps has always written it.
    data = record.model_dump()
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _load(kind: type[R], path: Path) -> R:
    try:
        return kind.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise RecordError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValidationError as exc:
        raise RecordError(f"{path}: not a readable {path.name} ({_first_problem(exc)})") from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def read_manifest(run_dir: Path) -> Manifest:
    return _load(Manifest, run_dir / MANIFEST_FILE)


def read_summary(run_dir: Path) -> Summary:
    return _load(Summary, run_dir / SUMMARY_FILE)


def read_signoff(run_dir: Path) -> SignoffRecord:
    return _load(SignoffRecord, run_dir / SIGNOFF_FILE)


def try_read(reader: Any, run_dir: Path) -> Any:
    """`reader(run_dir)`, or None when the file is missing or unreadable."""
    try:
        return reader(run_dir)
    except RecordError:
        return None


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    write_atomic(run_dir / MANIFEST_FILE, _dump(manifest))


def write_summary(run_dir: Path, summary: Summary) -> None:
    write_atomic(run_dir / SUMMARY_FILE, _dump(summary))


def write_signoff(run_dir: Path, signoff: SignoffRecord) -> None:
    write_atomic(run_dir / SIGNOFF_FILE, _dump(signoff))


def write_cases(run_dir: Path, cases: list[StoredCase]) -> None:
    lines = [
        json.dumps(c.model_dump(), ensure_ascii=False, sort_keys=True, default=str) for c in cases
    ]
    write_atomic(run_dir / CASES_FILE, "\n".join(lines) + "\n")


def read_cases(run_dir: Path) -> list[StoredCase]:
    path = run_dir / CASES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot be read ({exc})") from None
    cases = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(StoredCase.model_validate_json(line))
        except ValidationError as exc:
            raise RecordError(
                f"{path}:{number}: not a readable case ({_first_problem(exc)})"
            ) from None
    return cases
