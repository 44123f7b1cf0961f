"""The journal's batch lines: what a batch run submitted, written before and after each
step that could be lost, so that a run killed at any moment resumes without losing or
repeating a request.

`batch_intent` is written before anything is uploaded: the requests a batch will carry
(custom_id -> request hash) and a token the batch is created with (its metadata), by which
a resumed run finds a batch whose id it never journaled. `batch_submitted` records the
batch's id once the provider gave it; `batch_closed` records that the batch ended and every
result it brought back is journaled (or that no batch was ever created for the intent).
A request's result is an ordinary journal entry, filed as a synchronous call's would be.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from migrate.evals.record import EntryKey, RecordError

BATCH_KINDS = frozenset({"batch_intent", "batch_submitted", "batch_closed"})
NEVER_CREATED = "never_created"  # batch_closed's status when no batch was made


class _BatchLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_line(self) -> bytes:
        return (json.dumps(self.model_dump(), separators=(",", ":")) + "\n").encode()


class BatchIntent(_BatchLine):
    kind: Literal["batch_intent"] = "batch_intent"
    token: str
    model: str
    phase: str  # generate | judge
    requests: dict[str, str]  # custom_id -> journal.request_hash of the request sent
    at: str


class BatchSubmitted(_BatchLine):
    kind: Literal["batch_submitted"] = "batch_submitted"
    token: str
    batch_id: str
    file_id: str = ""  # "" when the batch was found by its token after a kill
    at: str


class BatchClosed(_BatchLine):
    kind: Literal["batch_closed"] = "batch_closed"
    token: str
    batch_id: str = ""
    status: str  # the provider's final status, or NEVER_CREATED
    note: str = ""  # why a batch failed as a whole, in the provider's words
    at: str


BatchEvent = Annotated[BatchIntent | BatchSubmitted | BatchClosed, Field(discriminator="kind")]
_EVENT: TypeAdapter[BatchIntent | BatchSubmitted | BatchClosed] = TypeAdapter(BatchEvent)


def batch_event_from_json(data: Any, where: str) -> BatchIntent | BatchSubmitted | BatchClosed:
    try:
        return _EVENT.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        at = ".".join(str(p) for p in error["loc"])
        raise RecordError(f"{where}: not a batch line ({at}: {error['msg']})") from None


def custom_id(key: EntryKey) -> str:
    """A request's id inside its batch (the batch is one model's): the rest of its key."""
    kind, _, case, sample, extra = key
    return json.dumps([kind, case, sample, extra], ensure_ascii=False, separators=(",", ":"))


def key_of(custom: str, model: str) -> EntryKey | None:
    """The journal key a custom_id of `model`'s batch stands for; None if not one of ours."""
    try:
        kind, case, sample, extra = json.loads(custom)
    except (ValueError, TypeError):
        return None
    if not (isinstance(kind, str) and isinstance(case, str) and isinstance(extra, str)):
        return None
    if not isinstance(sample, int):
        return None
    return (kind, model, case, sample, extra)
