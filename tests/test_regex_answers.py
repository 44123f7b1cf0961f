"""V8's answers on a suite's regular expressions are kept as data: a suite loaded again is
checked without starting V8, and with the same outcome as V8 gave."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from migrate.errors import InputError
from migrate.evals.promptfoo import jsengine
from migrate.evals.suite import load_suite

# V8's own message (the same one tests/test_suite.py expects from a first load).
UNTERMINATED = (
    "t.yaml:4: tests[0].assert[0].value: JavaScript rejects this regular expression: "
    "Invalid regular expression: /(x/: Unterminated group"
)
SUITE = "tests:\n  - vars: {}\n    assert:\n      - {type: regex, value: '%s'}\n"


def answers_file() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "migrate" / "js" / "regex.json"


def outcome_without_v8(path: Path) -> tuple[str | None, bool]:
    """Load the suite in a thread of its own (V8 isolates are per thread): the refusal, if
    any, and whether that thread started V8."""
    found: dict[str, object] = {}

    def load() -> None:
        jsengine._RegexAnswers._shared = None  # a new process: the answers from the file
        try:
            load_suite(path, path.name)
            found["error"] = None
        except InputError as exc:
            found["error"] = exc.message
        found["v8"] = getattr(jsengine._local, "isolate", None) is not None

    thread = threading.Thread(target=load)
    thread.start()
    thread.join()
    return found["error"], bool(found["v8"])  # type: ignore[return-value]


@pytest.mark.parametrize(("pattern", "error"), [("(x", UNTERMINATED), (r"\b(7|seven) days", None)])
def test_a_suite_loaded_again_is_checked_from_the_kept_answers(
    tmp_path: Path, pattern: str, error: str | None
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SUITE % pattern, encoding="utf-8")
    assert outcome_without_v8(path) == (error, True)  # first: V8 answers
    kept = json.loads(answers_file().read_text(encoding="utf-8"))
    assert len(kept["answers"]) == 1 and "mini-racer" in kept["engine"]
    assert list(kept["answers"].values()) == [(error or "").split("this regular expression: ")[-1]]
    assert outcome_without_v8(path) == (error, False)  # again: same outcome, no V8


def test_answers_of_another_engine_or_an_unreadable_file_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SUITE % "(x", encoding="utf-8")
    assert outcome_without_v8(path) == (UNTERMINATED, True)
    kept = json.loads(answers_file().read_text(encoding="utf-8"))
    # The same pattern said to be valid, by another engine: ignored, V8 asked again.
    lying = {key: "" for key in kept["answers"]}
    answers_file().write_text(
        json.dumps({"engine": kept["engine"] + " other", "answers": lying}), encoding="utf-8"
    )
    assert outcome_without_v8(path) == (UNTERMINATED, True)
    answers_file().write_text('{"engine": ', encoding="utf-8")  # cut short
    assert outcome_without_v8(path) == (UNTERMINATED, True)
    assert json.loads(answers_file().read_text(encoding="utf-8"))["engine"] == kept["engine"]
