"""JavaScript for promptfoo suites, run in an embedded V8 isolate (mini-racer), not Node.

promptfoo runs `javascript` assertions, `transform`/`transformVars` snippets and `regex`
values in Node's V8. The same engine here gives the same answers where Python's `re`
would not: `$` before a trailing newline, `.` and `\\r`, `\\d` on non-ASCII digits,
UTF-16 code units, `(?<name>...)` groups, and `(?i)`, which JavaScript rejects.

The isolate is a sandbox: no file system, network, process or `require`. Every call has
a time limit and the isolate a heap limit; a runaway snippet fails its check, never the run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from migrate.files import write_atomic
from migrate.yamlcache import cache_folder

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
    """JavaScript's complaint about `pattern` (as `new RegExp(pattern)`), or None.

    V8's answers are kept as data (`_RegexAnswers`): loading a suite whose patterns were
    checked before by the same engine does not start V8 (about 0.12 s of every command).
    """
    answers = _RegexAnswers.shared()
    message = answers.get(pattern)
    if message is None:
        message = str(_isolate().call_json("__pfRegexError", pattern))
        answers.put(pattern, message)
    return message or None


class _RegexAnswers:
    """`new RegExp(pattern)`'s complaint ("" for none) by pattern, kept in one JSON file
    (`$XDG_CACHE_HOME/migrate/js/regex.json`), never a pickle. The file names the engine
    (mini-racer's version and the helpers above): another engine's answers are dropped,
    as is a file that does not read as this format."""

    FORMAT = "migrate-js-regex-1"
    KEPT = 4096  # answers kept; past that the file starts afresh

    _shared: _RegexAnswers | None = None
    _lock = threading.Lock()

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.engine = ""
        self.answers: dict[str, str] = {}
        self.loaded = False

    @classmethod
    def shared(cls) -> _RegexAnswers:
        folder = cache_folder("js")
        path = None if folder is None else folder / "regex.json"
        with cls._lock:
            if cls._shared is None or cls._shared.path != path:
                cls._shared = cls(path)
            return cls._shared

    def _load(self) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            engine = version("mini-racer")
        except PackageNotFoundError:
            engine = "none"
        prelude = hashlib.sha256(_PRELUDE.encode()).hexdigest()
        self.engine = f"{self.FORMAT} mini-racer {engine} {prelude}"
        self.loaded = True
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("engine") != self.engine:
            return
        answers = data.get("answers")
        if isinstance(answers, dict) and all(isinstance(v, str) for v in answers.values()):
            self.answers = answers

    @staticmethod
    def _key(pattern: str) -> str:
        return hashlib.sha256(pattern.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, pattern: str) -> str | None:
        with self._lock:
            if not self.loaded:
                self._load()
            return self.answers.get(self._key(pattern))

    def put(self, pattern: str, message: str) -> None:
        with self._lock:
            if len(self.answers) >= self.KEPT:
                self.answers = {}
            self.answers[self._key(pattern)] = message
            if self.path is None:
                return
            text = json.dumps({"engine": self.engine, "answers": self.answers})
            try:
                write_atomic(self.path, text)
            except OSError:  # a cache that cannot be written is only slower
                pass


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
