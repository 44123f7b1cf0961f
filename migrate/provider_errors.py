"""How a provider's failure is named, and whether another attempt can fix it.

`classify` turns litellm's exceptions (and the HTTP status under them) into the error
classes a run records; the two sets say which classes a retry may fix and which say the
run itself is set up wrong.
"""

from __future__ import annotations

import json

from migrate.pacing import headers_of
from migrate.pacing import retry_after as retry_after_header

RETRYABLE = {
    "RateLimited",
    "Timeout",
    "ConnectionError",
    "ServerError",
    "MalformedResponse",
    "EmptyResponse",
}
# Errors that say the run is set up wrong (a key, a permission, a model name, a parameter):
# every call would fail the same way, so a run stops at the first one. A content filter or
# an overlong prompt, in contrast, belongs to one case.
CONFIGURATION_ERRORS = {
    "MissingKey",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "BadRequest",
    "Unprocessable",
}


def classify(exc: BaseException) -> tuple[str, float | None]:
    """An error class for the record, and the Retry-After delay when the server sent one."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    message = str(exc)
    if name in {"Timeout", "APITimeoutError"} or isinstance(exc, TimeoutError):
        return "Timeout", None
    if name == "RateLimitError" or status == 429:
        return "RateLimited", retry_after(exc)
    if name in {"APIConnectionError"} or "Connection error" in message:
        return "ConnectionError", None
    if _malformed(exc, message):
        return "MalformedResponse", None
    if name in {"InternalServerError", "ServiceUnavailableError", "BadGatewayError"} or (
        isinstance(status, int) and status >= 500
    ):
        return "ServerError", retry_after(exc)
    if name == "AuthenticationError" or status == 401:
        return "AuthenticationError", None
    if name == "PermissionDeniedError" or status == 403:
        return "PermissionDenied", None
    if name == "NotFoundError" or status == 404:
        return "NotFound", None
    if name == "ContextWindowExceededError":
        return "ContextWindowExceeded", None
    if name == "ContentPolicyViolationError":
        return "ContentFiltered", None
    if name in {"BadRequestError", "UnsupportedParamsError"} or status == 400:
        return "BadRequest", None
    if name == "UnprocessableEntityError" or status == 422:
        return "Unprocessable", None
    return name, None


# What litellm says when a 200 response is not a completion (it reports status 500).
_MALFORMED = ("Empty or invalid response", "Invalid response object", "provider returned 'choices'")


def _malformed(exc: BaseException, message: str) -> bool:
    """A body that is not JSON, or not a completion: litellm wraps the decoder's error (whose
    wording varies: "Expecting value", "Unterminated string", "Extra data", ...)."""
    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain, bounded
        if seen is None:
            break
        if isinstance(seen, json.JSONDecodeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return any(marker in message for marker in _MALFORMED)


def retry_after(exc: BaseException) -> float | None:
    """The delay a failed call's response asked for (Retry-After), if any."""
    return retry_after_header(headers_of(exc))
