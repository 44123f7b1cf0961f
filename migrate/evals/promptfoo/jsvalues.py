"""JavaScript's view of plain values: how promptfoo turns them into text and compares them.

promptfoo renders templates with nunjucks and compares with JavaScript, so `True` prints
as `true`, `[1, 2]` as `1,2`, `2.0` as `2`, and `1 == True` is false. Python's defaults
differ on each; these helpers give the JavaScript answer.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from migrate.evals.promptfoo.yaml12 import js_number


def js_number_string(value: float | int) -> str:
    """`String(n)` in JavaScript (shortest round-trip digits, JS exponent rules)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**21 else js_number_string(float(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    digits, exponent = _shortest(value)
    sign = "-" if value < 0 else ""
    point = exponent + 1  # position of the decimal point after the first digit
    if -6 < point <= 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


def _shortest(value: float) -> tuple[str, int]:
    text = repr(abs(value))
    mantissa, _, exp = text.partition("e")
    exponent = int(exp) if exp else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    leading_zeros = len(whole + fraction) - len((whole + fraction).lstrip("0"))
    exponent += len(whole) - 1 - leading_zeros
    return digits.rstrip("0") or "0", exponent


def js_string(value: Any) -> str:
    """`String(value)` as nunjucks prints it inside `{{ }}` (null and undefined print empty)."""
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return js_number_string(js_number(value) if isinstance(value, float) else value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def json_stringify(value: Any) -> str:
    """`JSON.stringify(value)` (compact, non-ASCII kept, integral floats without `.0`)."""
    return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return js_number(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def coerce_string(value: Any) -> str:
    """promptfoo's coerceString: text stays text, anything else becomes JSON."""
    return value if isinstance(value, str) else json_stringify(value)


def deep_equal(a: Any, b: Any) -> bool:
    """Node's util.isDeepStrictEqual for JSON values (booleans are not numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_parse(text: str) -> Any:
    """`JSON.parse(text)`: ValueError where JavaScript throws (NaN and Infinity included)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # nunjucks as promptfoo configures it: undefined prints empty, nothing is escaped.
    return SandboxedEnvironment(autoescape=False, finalize=js_string, keep_trailing_newline=True)


@lru_cache(maxsize=4096)
def _template(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def render(source: str, variables: dict[str, Any]) -> str:
    """Render an assertion value or metric name with the test's vars, as nunjucks does."""
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return source
    return _template(source).render(**variables)
