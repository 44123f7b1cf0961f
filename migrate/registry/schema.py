"""The registry's shape: what `models.yaml` may contain, validated strictly."""

from __future__ import annotations

import datetime as dt
import re
import types
from typing import Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from migrate.secrets import looks_like_key

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The checks a registry may name (`eval.checks`) and JSONL cases carry.
CoreCheckType = Literal[
    "equals",
    "contains",
    "icontains",
    "not_contains",
    "starts_with",
    "contains_any",
    "icontains_any",
    "contains_all",
    "icontains_all",
    "regex",
    "is_json",
    "contains_json",
    "json_schema",
    "max_chars",
    "not_refusal",
    "llm_judge",
    "pairwise",  # the judge compares the candidate's answer with the baseline's, both orders
]
# promptfoo's assertions, kept under their own names: promptfoo suites only, scored by
# promptfoo's rules (migrate/evals/promptfoo). Each also comes negated ("not-").
PromptfooCheckType = Literal[
    "promptfoo:equals",
    "promptfoo:contains",
    "promptfoo:icontains",
    "promptfoo:contains-any",
    "promptfoo:icontains-any",
    "promptfoo:contains-all",
    "promptfoo:icontains-all",
    "promptfoo:starts-with",
    "promptfoo:regex",
    "promptfoo:is-json",
    "promptfoo:contains-json",
    "promptfoo:javascript",
    "promptfoo:python",
    "promptfoo:levenshtein",
    "promptfoo:rouge-n",
    "promptfoo:is-valid-openai-tools-call",
    "promptfoo:is-valid-openai-function-call",
    "promptfoo:latency",
    "promptfoo:cost",
    "promptfoo:similar",
    "promptfoo:similar:cosine",
    "promptfoo:similar:dot",
    "promptfoo:similar:euclidean",
    "promptfoo:llm-rubric",
    "promptfoo:factuality",
    "promptfoo:model-graded-factuality",
    "promptfoo:model-graded-closedqa",
    "promptfoo:g-eval",
    "promptfoo:answer-relevance",
    "promptfoo:context-faithfulness",
    "promptfoo:context-recall",
    "promptfoo:context-relevance",
]
# Every check `migrate run` applies (a stored run may hold any of them).
CheckType = Literal[CoreCheckType, PromptfooCheckType]


class Strict(BaseModel):
    """What a user writes: unknown keys are errors and values are never coerced across types
    (`"30"` or `yes` is not a number of days, `0` is not a date)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# A lifecycle date outside these years is a typo (0207-01-14), and the date arithmetic of
# reminders, windows and margins would overflow near year 1 or 9999.
EARLIEST_DATE, LATEST_DATE = dt.date(1970, 1, 1), dt.date(2199, 12, 31)


def _iso_date(value: Any) -> Any:
    """Accept a quoted ISO date (`"2027-01-14"`) as well as YAML's unquoted date."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a real date") from None
    if type(value) is dt.date and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(
            f"'{value}' is not between {EARLIEST_DATE.year} and {LATEST_DATE.year} (a typo?)"
        )
    return value


# IANA names are Area/Location (or a legacy single word like UTC); the zoneinfo folder also
# holds files that are not zone names, and ZoneInfo reads any path it is given.
_IANA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")
_NOT_ZONE_NAMES = {"localtime", "posixrules", "Factory", "leapseconds", "tzdata.zi"}


class WindowSettings(Strict):
    start_day: int = Field(
        default=8, ge=1, le=90, description="day of the quarter the window opens"
    )
    length_days: int = Field(default=21, ge=1, le=90)

    @model_validator(mode="after")
    def _inside_quarter(self) -> WindowSettings:
        if self.start_day + self.length_days - 1 > 90:
            raise ValueError("the window must fit in a quarter: start_day + length_days - 1 <= 90")
        return self


class ReviewSettings(Strict):
    day: int = Field(default=8, ge=1, le=90, description="day of the quarter of the review meeting")
    time: str = "10:00"
    duration_minutes: int = Field(default=60, ge=5, le=600)

    @field_validator("time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("expected a 24-hour time like '10:00'")
        return value

    @property
    def start_time(self) -> dt.time:
        hours, minutes = self.time.split(":")
        return dt.time(int(hours), int(minutes))


WORKERS = "processes making a run's calls (`migrate run --workers`); default: on Linux, every core when the run has more than 300 calls, else 1 (the run's own process)"  # noqa: E501


class RunSettings(Strict):
    concurrency: int = Field(default=8, ge=1, le=512)
    workers: int | None = Field(default=None, ge=1, le=256, description=WORKERS)
    timeout_seconds: float = Field(default=60, gt=0, le=3600)
    max_retries: int = Field(default=4, ge=0, le=20)
    max_error_rate: float = Field(
        default=0.1, ge=0, le=1, description="share of failed calls past which a run is exit 4"
    )
    cache_max_age_days: float = Field(
        default=7,
        ge=0,
        le=365,
        description="how old a finished call may be to serve an identical request; a "
        "quarterly re-baseline is older, so it calls the model afresh",
    )
    batch: bool = Field(
        default=False,
        description="send a run's calls through the providers' batch APIs at batch prices "
        "(`migrate run --batch`): exit 5 until every batch is back",
    )
    sequential: bool = Field(
        default=True,
        description="take the cases in seeded random stages and stop once every candidate's "
        "verdict is settled (`migrate run --full` runs every case)",
    )


class SignoffSettings(Strict):
    commit_journal: bool = Field(
        default=True, description="commit the signed run's journal.jsonl with the sign-off"
    )


class Settings(Strict):
    timezone: str = "UTC"
    calendar_name: str = "LLM model migrations"
    window: WindowSettings = WindowSettings()
    review: ReviewSettings = ReviewSettings()
    reminders_days: list[int] = Field(default_factory=lambda: [60, 30, 14, 7, 1])
    safety_margin_days: int = Field(default=30, ge=0, le=365)
    baseline_max_age_days: int = Field(default=90, ge=1, le=3650)
    owner_inactive_days: int = Field(default=120, ge=1, le=3650)
    suite_max_age_days: int = Field(default=365, ge=1, le=3650)
    judge_model: str | None = None
    embedding_model: str | None = None  # for promptfoo's similar and answer-relevance
    signoff: SignoffSettings = SignoffSettings()
    run: RunSettings = RunSettings()
    scan_allow: list[str] = Field(
        default_factory=list, description="model ids `migrate scan` accepts without an entry"
    )

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        problem = ValueError(f"'{value}' is not an IANA time zone name (like Europe/Berlin)")
        if (
            len(value) > 64
            or not _IANA_NAME.fullmatch(value)
            or value in _NOT_ZONE_NAMES
            or value.split("/")[0] in {"posix", "right"}
        ):
            raise problem
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder like 'Europe'
            raise problem from None
        return value

    @field_validator("reminders_days")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 3650 for day in value):
            raise ValueError("reminder days must be between 0 and 3650")
        return sorted(set(value), reverse=True)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Deployment(Strict):
    """One place a model answers (a region, a key): calls spread over a model's deployments
    through litellm's Router, and fail over from one that errors to another."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    api_base: str | None = None  # else the model's api_base
    api_key_env: str | None = None  # else the model's api_key_env
    rpm: int | None = Field(default=None, ge=1, description="requests per minute it allows")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute it allows")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return Model._env_name(value)  # the model's own rule: a variable's name, never a key

    @field_validator("api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return Model._url(value)

    @model_validator(mode="after")
    def _somewhere(self) -> Deployment:
        if self.api_base is None and self.api_key_env is None:
            raise ValueError("a deployment names its api_base, its api_key_env, or both")
        return self

    @property
    def label(self) -> str:
        """How the journal and the reports name it: never a key, only where it is."""
        return self.name or self.api_base or self.api_key_env or ""


class Model(Strict):
    deprecated: dt.date | None = None
    retires: dt.date | None = None
    replacement: str | None = None
    source: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    # Prices for models litellm's cost map does not know (a local or fine-tuned model).
    input_cost_per_mtok: float | None = Field(default=None, ge=0)
    output_cost_per_mtok: float | None = Field(default=None, ge=0)
    # Calls in flight to this model at most: a local server has few slots (llama.cpp's -np).
    max_concurrency: int | None = Field(default=None, ge=1, le=512)
    # Merged over a dependency's params for this model (a reasoning model without
    # temperature, say); drop_params lets litellm drop what the model does not support.
    params: dict[str, Any] = Field(default_factory=dict)
    drop_params: bool = False
    # Several places the model answers, routed by litellm's Router; each inherits the
    # model's api_base and api_key_env where it names none.
    deployments: list[Deployment] = Field(default_factory=list)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # A Groq, Hugging Face or Google key can pass for a variable name; it would then be
        # printed as the name of the variable that is not set.
        if value is not None and (not ENV_NAME.fullmatch(value) or looks_like_key(value)):
            raise ValueError("expected the name of an environment variable, never the key")
        return value

    @field_validator("source", "api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://\S+$", value):
            raise ValueError("expected an http(s) URL")
        return value

    @field_validator("deployments")
    @classmethod
    def _distinct(cls, value: list[Deployment]) -> list[Deployment]:
        labels = [d.label for d in value]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(
                f"two deployments are both called '{twice[0]}': give each a distinct name"
            )
        return value

    _dates = field_validator("deprecated", "retires", mode="before")(_iso_date)

    @model_validator(mode="after")
    def _dates_in_order(self) -> Model:
        if self.deprecated and self.retires and self.deprecated > self.retires:
            raise ValueError("deprecated date is after the retirement date")
        return self


class Check(Strict):
    type: CoreCheckType
    value: str | int | float | list[str] | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    rubric: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _arguments(self) -> Check:
        needs_value = {
            "equals",
            "contains",
            "icontains",
            "not_contains",
            "starts_with",
            "regex",
            "max_chars",
        }
        needs_list = {"contains_any", "icontains_any", "contains_all", "icontains_all"}
        if self.type in needs_value and (self.value is None or isinstance(self.value, list)):
            raise ValueError(f"check '{self.type}' needs a 'value'")
        if self.type in needs_list and not (isinstance(self.value, list) and self.value):
            raise ValueError(f"check '{self.type}' needs a list of strings as its 'value'")
        if self.type == "max_chars" and not isinstance(self.value, int):
            raise ValueError("check 'max_chars' needs an integer 'value'")
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("check 'json_schema' needs a 'schema'")
        if self.type == "llm_judge" and not (self.rubric or self.value):
            raise ValueError("check 'llm_judge' needs a 'rubric'")
        if self.type == "regex":
            try:
                re.compile(str(self.value))
            except re.error as exc:
                if "{{" not in str(self.value):  # templated patterns are checked per case
                    raise ValueError(f"invalid regular expression: {exc}") from None
        return self


class EvalSuite(Strict):
    cases: str
    samples: int = Field(default=1, ge=1, le=100)
    checks: list[Check] = Field(default_factory=list)


class Gates(Strict):
    pass_rate_drop: float = Field(default=0.02, ge=0, le=1)
    refusal_rate_increase: float | None = Field(default=0.01, ge=0, le=1)
    p95_latency_increase: float | None = Field(default=0.25, ge=0)
    cost_increase: float | None = Field(default=0.15, ge=0)


class Dependency(Strict):
    description: str = ""
    model: str
    candidates: list[str] = Field(default_factory=list)
    owners: list[str] = Field(min_length=1)
    prompt: str | list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    eval: EvalSuite | None = None
    gates: Gates = Gates()
    volume: int | None = Field(default=None, ge=0)  # requests per month: projected cost

    @field_validator("owners")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for owner in value:
            if not EMAIL.fullmatch(owner):
                raise ValueError(f"'{owner}' is not an email address")
        return value

    @property
    def prompt_files(self) -> list[str]:
        if self.prompt is None:
            return []
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class RegistryFile(Strict):
    version: Literal[1]
    settings: Settings = Settings()
    models: dict[str, Model] = Field(default_factory=dict)
    dependencies: dict[str, Dependency] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        return None if isinstance(value, bool) else value  # `version: true` is not 1

    @field_validator("settings", "models", "dependencies", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        # `dependencies:` with every entry commented out means none yet.
        return {} if value is None else value

    @field_validator("models", mode="before")
    @classmethod
    def _empty_model_entries(cls, value: Any) -> Any:
        # `openai/gpt-4.1:` with nothing after it means "known, no lifecycle dates".
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation allows: each member of a union, else itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def keys_at(path: tuple[str | int, ...]) -> list[str]:
    """The keys the registry allows in the mapping at `path` (a key path into the file, like
    `("dependencies", "billing", "eval")`), as a user spells them; empty when `path` leads to
    no mapping with fixed keys."""
    node: Any = RegistryFile
    for part in path:
        following = None
        for member in _members(node):
            if isinstance(member, type) and issubclass(member, BaseModel):
                if isinstance(part, str):
                    following = next(
                        (f.annotation for n, f in member.model_fields.items()
                         if part in (n, f.alias)),
                        None,
                    )  # fmt: skip
            elif get_origin(member) is dict and isinstance(part, str):
                following = get_args(member)[1]
            elif get_origin(member) is list and isinstance(part, int):
                following = get_args(member)[0]
            if following is not None:
                break
        if following is None:
            return []
        node = following
    for member in _members(node):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return [f.alias or name for name, f in member.model_fields.items()]
    return []
