"""JavaScript for promptfoo suites, run in an embedded V8 isolate (mini-racer), not Node.

promptfoo runs `javascript` assertions, `transform`/`transformVars` snippets and `regex`
values in Node's V8. The same engine here gives the same answers where Python's `re`
would not: `$` before a trailing newline, `.` and `\\r`, `\\d` on non-ASCII digits,
UTF-16 code units, `(?<name>...)` groups, and `(?i)`, which JavaScript rejects.

The isolate is a sandbox: no file system, network, process or `require`. Every call has
a time limit and the isolate a heap limit; a runaway snippet fails its check, never the run.
"""

from __future__ import annotations

import json
import threading
from typing import Any

TIME_LIMIT_SECONDS = 5.0
MEMORY_LIMIT_BYTES = 256 * 1024 * 1024

# Helpers defined once per isolate. `__pfCall` builds the function the way promptfoo does
# (`new Function(...params, body)`) and reports either the value or the error message, so
# that a thrown error is data, not an exception crossing the boundary.
_PRELUDE = r"""
globalThis.console = {log() {}, info() {}, warn() {}, error() {}, debug() {}};
globalThis.__pfRegexTest = (pattern, text) => {
  try { return JSON.stringify({ok: true, value: new RegExp(pattern).test(text)}); }
  catch (e) { return JSON.stringify({ok: false, error: String(e && e.message || e)}); }
};
globalThis.__pfRegexError = (pattern) => {
  try { new RegExp(pattern); return JSON.stringify(""); }
  catch (e) { return JSON.stringify(String(e && e.message || e)); }
};
globalThis.__pfCall = async (params, body, args) => {
  try {
    const fn = new Function(...params, body);
    let value = await fn(...args);
    const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
    if (kind === "number" && !Number.isFinite(value)) value = String(value);
    return JSON.stringify({ok: true, kind, value: value === undefined ? null : value});
  } catch (e) {
    return JSON.stringify({ok: false, error: String(e && e.message || e)});
  }
};
"""


class JsError(Exception):
    """The snippet threw, timed out or ran out of memory; the message says which."""


class JsResult:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind  # JavaScript's typeof, with "null" and "array" told apart
        self.value = value


class _Isolate:
    def __init__(self) -> None:
        from py_mini_racer import MiniRacer  # only suites with JavaScript pay for V8

        self.racer = MiniRacer()
        self.racer.eval(_PRELUDE)

    def call_json(self, function: str, *args: Any) -> Any:
        from py_mini_racer import JSOOMException, JSTimeoutException

        payload = json.dumps(args, ensure_ascii=True)
        code = f"{function}(...{payload})"
        try:
            value: Any = self.racer.eval(
                code, timeout_sec=TIME_LIMIT_SECONDS, max_memory=MEMORY_LIMIT_BYTES
            )
            if not isinstance(value, str) and hasattr(value, "get"):  # a promise
                value = value.get(timeout=TIME_LIMIT_SECONDS)
        except JSTimeoutException:
            raise JsError(f"took longer than {TIME_LIMIT_SECONDS:g} s (time limit)") from None
        except JSOOMException:
            raise JsError(f"used more than {MEMORY_LIMIT_BYTES >> 20} MiB (memory limit)") from None
        except TimeoutError:
            raise JsError(f"took longer than {TIME_LIMIT_SECONDS:g} s (time limit)") from None
        return value if not isinstance(value, str) else json.loads(value)


_local = threading.local()


def _isolate() -> _Isolate:
    isolate = getattr(_local, "isolate", None)
    if not isinstance(isolate, _Isolate):
        isolate = _Isolate()
        _local.isolate = isolate
    return isolate


def _fresh_isolate() -> _Isolate:
    """A new isolate for the calling thread (after a limit was hit the old one is spent)."""
    isolate = _Isolate()
    _local.isolate = isolate
    return isolate


def regex_error(pattern: str) -> str | None:
    """JavaScript's complaint about `pattern` (as `new RegExp(pattern)`), or None."""
    message = _isolate().call_json("__pfRegexError", pattern)
    return str(message) or None


def regex_test(pattern: str, text: str) -> bool:
    """`new RegExp(pattern).test(text)`, exactly as Node evaluates it."""
    try:
        result = _isolate().call_json("__pfRegexTest", pattern, text)
    except JsError:
        _fresh_isolate()
        raise
    if not result["ok"]:
        raise JsError(f"Invalid regex pattern: {result['error']}")
    return bool(result["value"])


def call_function(params: list[str], body: str, args: list[Any]) -> JsResult:
    """Run `new Function(...params, body)(...args)` (awaiting a promise) in the sandbox."""
    try:
        result = _isolate().call_json("__pfCall", params, body, args)
    except JsError:
        _fresh_isolate()
        raise
    if not result["ok"]:
        raise JsError(str(result["error"]))
    return JsResult(str(result["kind"]), result["value"])


def module_body(source: str, function: str) -> str:
    """A function body that loads a CommonJS assertion file and calls what it exports
    (`function`, else the module itself, else its default), as promptfoo does."""
    name = json.dumps(function or None)
    return (
        "const module = {exports: {}};\n"
        f"(function (module, exports) {{\n{source}\n}})(module, module.exports);\n"
        f"const name = {name};\n"
        "const m = module.exports;\n"
        "const fn = name ? m[name] : (typeof m === 'function' ? m : m && m.default);\n"
        "if (typeof fn !== 'function') throw new Error('no function exported: ' + (name || ''));\n"
        "return fn(output, context);"
    )


def function_body(code: str) -> str:
    """promptfoo's reading of an assertion: one line is an expression, several a body.

    A one-liner that starts with a declaration (`const s = ...; s > 1`) returns its
    last statement.
    """
    trimmed = code.strip()
    while trimmed.endswith(";"):
        trimmed = trimmed[:-1].rstrip()
    if trimmed.startswith(("const ", "let ", "var ", "const\t", "let\t", "var\t")):
        cut = _last_statement_semicolon(trimmed)
        if cut != -1:
            statements, expression = trimmed[: cut + 1], trimmed[cut + 1 :].strip()
            if expression:
                return f"{statements} return {expression}"
        return trimmed
    return f"return {trimmed}"


def _last_statement_semicolon(code: str) -> int:
    single = double = template = False
    last = -1
    for index, char in enumerate(code):
        escaped = _escaped(code, index)
        if not escaped:
            if char == "'" and not double and not template:
                single = not single
            elif char == '"' and not single and not template:
                double = not double
            elif char == "`" and not single and not double:
                template = not template
        if char == ";" and not (single or double or template):
            last = index
    return last


def _escaped(code: str, index: int) -> bool:
    count = 0
    while index - count - 1 >= 0 and code[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
