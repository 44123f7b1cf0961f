"""`python` assertions: the user's code runs in a separate Python process with a time limit.

An inline value is the body of `main(output, context)` (one line is an expression to
return), as promptfoo wraps it; `file://x.py[:fn]` calls `fn` (default `get_assert`) from
that file, read when the suite was loaded. The process gets the output and the context as
JSON on stdin and answers with JSON on stdout; anything else it prints is ignored.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.evals.promptfoo.grades import Grade, script_result

if TYPE_CHECKING:
    from migrate.evals.case import Case, CheckSpec

TIME_LIMIT_SECONDS = 30.0

_RUNNER = r"""
import json, sys
_request = json.loads(sys.stdin.read())
_namespace = {"__name__": "promptfoo_assertion"}
exec(compile(_request["source"], _request["filename"], "exec"), _namespace)
_result = _namespace[_request["function"]](_request["output"], _request["context"])
sys.stdout.write("\n__MIGRATE_RESULT__" + json.dumps(_result))
"""


def inline_source(code: str) -> str:
    """promptfoo's wrapper around an inline assertion."""
    if "\n" not in code:
        return f"import json\n\ndef main(output, context):\n    return {code}\n"
    match = re.search(r"^(?!\s*$)\s+", code, re.MULTILINE)
    indent = match.group(0) if match else "    "
    body = "\n".join(f"{indent}{line}" for line in code.split("\n"))
    return f"import json\n\ndef main(output, context):\n{body}\n"


def run_python_assertion(
    spec: CheckSpec, value: Any, output: Any, case: Case, prompt: str
) -> Grade:
    if isinstance(value, dict) and "source" in value:  # file://x.py, read at load time
        source, function = str(value["source"]), str(value.get("function") or "get_assert")
        filename = str(value.get("file", "assertion.py"))
    else:
        source, function, filename = inline_source(str(value)), "main", "<assertion>"
    context = {"prompt": prompt, "vars": case.vars, "test": {"vars": case.vars}}
    if spec.config is not None:
        context["config"] = spec.config
    request = json.dumps(
        {
            "source": source,
            "function": function,
            "filename": filename,
            "output": output,
            "context": context,
        }
    )
    with tempfile.TemporaryDirectory(prefix="migrate-python-assert-") as folder:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", _RUNNER],
                input=request,
                capture_output=True,
                text=True,
                timeout=TIME_LIMIT_SECONDS,
                cwd=Path(folder),
            )
        except subprocess.TimeoutExpired:
            return Grade(False, 0.0, f"Python code took longer than {TIME_LIMIT_SECONDS:g} s")
    marker = "\n__MIGRATE_RESULT__"
    if done.returncode != 0 or marker not in done.stdout:
        last = (done.stderr.strip().splitlines() or ["no result"])[-1]
        return Grade(False, 0.0, f"Python code execution failed: {last}")
    result = json.loads(done.stdout.rsplit(marker, 1)[1])
    return _normalise(spec, result)


def _normalise(spec: CheckSpec, result: Any) -> Grade:
    if isinstance(result, str):
        lowered = result.lower()
        if lowered in {"true", "false"}:
            return script_result(spec, "boolean", lowered == "true", "Python code")
        if result.startswith("{"):
            try:
                result = json.loads(result)
            except ValueError:
                return Grade(False, 0.0, f"Invalid JSON when parsing result: {result}")
        else:
            try:
                return script_result(spec, "number", float(result), "Python code")
            except ValueError:
                return Grade(
                    False,
                    0.0,
                    "Python assertion must return a boolean, number, or "
                    f"{{pass, score, reason}} object. Instead got: {result}",
                )
    if isinstance(result, bool):
        return script_result(spec, "boolean", result, "Python code")
    if isinstance(result, int | float):
        return script_result(spec, "number", result, "Python code")
    if isinstance(result, dict) and "pass" in result and "score" in result:
        score = result["score"]
        passed = bool(result["pass"])
        if spec.threshold is not None and isinstance(score, int | float) and score < spec.threshold:
            passed = False
        return script_result(spec, "object", {**result, "pass": passed}, "Python code")
    return Grade(
        False,
        0.0,
        "Python assertion must return a boolean, number, or {pass, score, reason} object",
    )
