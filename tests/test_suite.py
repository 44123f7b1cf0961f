"""Eval suites (JSONL and promptfoo-style YAML) and prompt templates: what loads, and one
located message for everything that does not."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.errors import InputError
from migrate.evals.prompt import PromptTemplate, split_messages
from migrate.evals.suite import CheckSpec, Suite, count_cases, load_suite


def suite_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(path: Path) -> Suite:
    return load_suite(path, path.name)


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load(path)
    return caught.value.message


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_loads_cases_with_their_lines(tmp_path: Path) -> None:
    path = suite_file(
        tmp_path,
        "billing.jsonl",
        """
        // invoices from the March close
        {"id": "hetzner-march", "vars": {"vendor": "Hetzner"}, "expected": "Hetzner"}

        {"id": 17, "vars": {"vendor": "Röstwerk"}, "description": "coffee", "metadata": {"q": 1}}
        {"id": "json-one", "vars": {}, "checks": [{"type": "is_json"}, {"type": "max_chars", "value": 90}]}
        """,  # noqa: E501
    )
    suite = load(path)
    assert [c.id for c in suite.cases] == ["hetzner-march", "17", "json-one"]
    assert [c.line for c in suite.cases] == [2, 4, 5]
    assert suite.cases[0].vars == {"vendor": "Hetzner"} and suite.cases[0].expected == "Hetzner"
    assert suite.cases[1].expected is None and suite.cases[1].checks == ()
    assert suite.cases[2].checks == (
        CheckSpec(type="is_json"),
        CheckSpec(type="max_chars", value=90),
    )
    assert len(suite) == 3
    assert count_cases(path) == 3
    assert len(suite.sha256) == 64


def test_jsonl_line_separators_inside_strings_stay_in_their_line(tmp_path: Path) -> None:
    # JSON allows U+2028 unescaped in a string; it does not end a JSONL line.
    first = json.dumps({"id": "a", "vars": {"q": "one\u2028two\x85three"}}, ensure_ascii=False)
    path = tmp_path / "sep.jsonl"
    path.write_text("\ufeff" + first + '\n{"id": "b"}\n{"id": "c", "bad": 1}\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load(path)
    assert caught.value.message == "sep.jsonl:3: bad: unknown key"
    path.write_text("\ufeff" + first + '\n{"id": "b"}\n', encoding="utf-8")
    assert load(path).cases[0].vars == {"q": "one\u2028two\x85three"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a"}\n{"id": "b", "vars": {"x": 1}\n', "s.jsonl:2: not valid JSON: Expecting"),
        ('{"vars": {"q": "hi"}}\n', "s.jsonl:1: id: every case needs an 'id'"),
        ('{"id": ""}\n', "s.jsonl:1: id: every case needs an 'id'"),
        ('{"id": "has space"}\n', "s.jsonl:1: id: every case needs an 'id'"),
        ('{"id": "trailing-newline\\n"}\n', "s.jsonl:1: id: every case needs an 'id'"),
        ('{"id": true}\n', "s.jsonl:1: id: every case needs an 'id'"),
        ('{"id": "a"}\n\n{"id": "a"}\n', "s.jsonl:3: id: duplicate case id 'a' (first on line 1)"),
        ('{"id": 1}\n{"id": "1"}\n', "s.jsonl:2: id: duplicate case id '1' (first on line 1)"),
        ('{"id": "a", "expect": "x"}\n', "s.jsonl:1: expect: unknown key"),
        ('{"id": "a", "vars": ["x"]}\n', "s.jsonl:1: vars: expected an object"),
        ('["a"]\n', "s.jsonl:1: each line must be a JSON object"),
        ('{"id": "a", "checks": {"type": "is_json"}}\n', "s.jsonl:1: checks: expected a list"),
        (
            '{"id": "a", "checks": [{"type": "is_json"}, {"type": "contains_every"}]}\n',
            "s.jsonl:1: checks[1].type: Input should be 'equals'",
        ),
        (
            '{"id": "a", "checks": [{"type": "is_json"}, {"type": "contains_all"}]}\n',
            "s.jsonl:1: checks[1]: check 'contains_all' needs a list of strings as its 'value'",
        ),
        (
            '{"id": "a", "checks": [{"type": "contains", "valeu": "x"}]}\n',
            "s.jsonl:1: checks[0].valeu: unknown key",
        ),
        (
            '{"id": "a", "checks": [{"type": "regex", "value": "(unclosed"}]}\n',
            "s.jsonl:1: checks[0]: invalid regular expression",
        ),
        ('{"id": "a", "n": 1' + "0" * 5000 + "}\n", "s.jsonl:1: not valid JSON: Exceeds the limit"),
        ("[" * 100_000 + "\n", "s.jsonl:1: JSON nested too deeply"),
        ("", "s.jsonl: the suite has no cases"),
        ("// only a comment\n\n", "s.jsonl: the suite has no cases"),
    ],
)
def test_bad_jsonl_names_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(text, encoding="utf-8")
    assert error_of(path).startswith(message)


def test_non_utf8_suite_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "caf\xe9"}\n')
    assert error_of(path) == "s.jsonl:2: not UTF-8 text: byte 0xe9 at column 12"


def test_missing_suite_file(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.jsonl") == "nope.jsonl: file not found"


# Hypothesis: whatever the bytes of a line, the loader either loads or says which line.

VALID_LINE = json.dumps(
    {"id": "case-1", "vars": {"q": "hi"}, "expected": "x", "checks": [{"type": "is_json"}]}
)


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    )


def mutated(line: str) -> st.SearchStrategy[str]:
    def apply(edits: list[tuple[int, int, str]]) -> str:
        text = line
        for position, length, insert in edits:
            position %= len(text) + 1
            text = text[:position] + insert + text[position + length :]
        return text

    edit = st.tuples(st.integers(0, 200), st.integers(0, 3), st.text(max_size=3))
    return st.lists(edit, min_size=1, max_size=4).map(apply)


random_lines = (
    mutated(VALID_LINE)
    | st.text(max_size=60)
    | json_values().map(json.dumps)
    | st.dictionaries(
        st.sampled_from(["id", "vars", "expected", "checks", "description", "metadata", "x"]),
        json_values(),
    ).map(json.dumps)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(random_lines, min_size=0, max_size=5))
def test_jsonl_loader_only_loads_or_raises_input_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        suite = load(path)
    except InputError as exc:
        assert exc.message.startswith("s.jsonl")
        assert "\n" not in exc.message
    else:
        assert len(suite) >= 1
        assert len({c.id for c in suite.cases}) == len(suite)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=80))
def test_jsonl_loader_on_arbitrary_bytes(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.jsonl"
    path.write_bytes(raw)
    try:
        load(path)
    except InputError as exc:
        assert exc.message.startswith("s.jsonl")


# --- promptfoo-style YAML (more in test_promptfoo_loader.py) ---------------------------------


def test_promptfoo_default_test_and_ids(tmp_path: Path) -> None:
    path = suite_file(
        tmp_path,
        "tests.yaml",
        """
        defaultTest:
          vars: {facts: "Returns within 30 days", tone: warm}
          assert:
            - {type: not-icontains, value: "guarantee"}
        tests:
          - description: Late parcel
            vars: {email: "Where is it?", tone: curt}
          - description: Late parcel
            vars: {email: "Still waiting"}
            assert:
              - {type: icontains, value: "sorry"}
          - description: "Späte Lieferung!!"
            vars: {email: "Wo ist es?"}
          - vars: {email: "no description"}
          - id: explicit-7
            description: Late parcel
            vars: {email: "x"}
          - description: "日本語"
            vars: {email: "y"}
        """,
    )
    suite = load(path)
    assert [c.id for c in suite.cases] == [
        "late-parcel",
        "late-parcel-2",  # the same description twice: the second gets its position
        "sp-te-lieferung",
        "test-4",
        "explicit-7",
        "test-6",  # nothing left of the description after slugging
    ]
    first, second = suite.cases[:2]
    assert first.vars == {
        "facts": "Returns within 30 days",
        "tone": "curt",  # the test's own vars win over defaultTest's
        "email": "Where is it?",
    }
    guarantee = CheckSpec(type="promptfoo:icontains", value="guarantee", negate=True)
    assert first.checks == (guarantee,)
    assert second.checks == (guarantee, CheckSpec(type="promptfoo:icontains", value="sorry"))
    assert [c.line for c in suite.cases] == [6, 8, 12, 14, 15, 18]
    assert count_cases(path) == 6


def test_promptfoo_top_level_list_of_tests(tmp_path: Path) -> None:
    path = suite_file(tmp_path, "t.yml", "- vars: {q: a}\n- vars: {q: b}\n")
    assert [c.id for c in load(path).cases] == ["test-1", "test-2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tests:\n  - vars: {q: a}\n  - vars: {q: b}\n    assert:\n      - type: not-is-xml\n",
            "t.yaml:5: tests[1].assert[0].type: unsupported assertion type 'not-is-xml'",
        ),
        (
            "tests:\n  - vars: {q: a}\n    asert: []\n",
            "t.yaml:3: tests[0].asert: 'asert' is not supported here",
        ),
        ("tests:\n  - vars: 7\n", "t.yaml:2: tests[0].vars: expected a mapping"),
        ("tests:\n  - 7\n", "t.yaml:2: tests[0]: expected a test (a mapping)"),
        ("tests:\n  - vars: {}\n    assert: {type: x}\n", "t.yaml:3: tests[0].assert: expected"),
        (
            "tests:\n  - vars: {}\n    assert:\n      - {value: x}\n",
            "t.yaml:4: tests[0].assert[0]: expected an assertion (a mapping with a 'type')",
        ),
        (
            "tests:\n  - vars: {}\n    assert:\n      - {type: contains}\n",
            "t.yaml:4: tests[0].assert[0].value: 'contains' needs a string or number value",
        ),
        (
            "tests:\n  - vars: {}\n    assert:\n      - {type: contains-any, value: []}\n",
            "t.yaml:4: tests[0].assert[0].value: 'contains-any' needs a list of values",
        ),
        (
            "tests:\n  - vars: {}\n    assert:\n      - {type: llm-rubric}\n",
            "t.yaml:4: tests[0].assert[0].value: 'llm-rubric' needs its criterion as text",
        ),
        (
            "tests:\n  - vars: {}\n    assert:\n      - {type: regex, value: '(x'}\n",
            "t.yaml:4: tests[0].assert[0].value: JavaScript rejects this regular expression: "
            "Invalid regular expression: /(x/: Unterminated group",
        ),
        (
            "tests:\n  - vars: {}\n    assert:\n      - {type: regex, value: '(?i)x'}\n",
            "t.yaml:4: tests[0].assert[0].value: JavaScript rejects this regular expression: "
            "Invalid regular expression: /(?i)x/: Invalid group",
        ),
        (
            "tests:\n  - vars: {}\n    assert:\n"
            "      - {type: equals, value: a, rubricPrompt: x}\n",
            "t.yaml:4: tests[0].assert[0].rubricPrompt: 'rubricPrompt' is not supported here",
        ),
        ("tests:\n  - id: 'two words'\n", "t.yaml:2: tests[0].id: a case id may hold"),
        (
            "tests:\n  - {id: same, vars: {}}\n  - {id: same, vars: {}}\n",
            "t.yaml:3: id: duplicate case id 'same' (first on line 2)",
        ),
        ("defaultTest: [a]\ntests:\n  - vars: {}\n", "t.yaml:1: defaultTest: expected a mapping"),
        (
            "defaultTest:\n  vars: 1\ntests:\n  - vars: {}\n",
            "t.yaml:2: defaultTest.vars: expected a mapping",
        ),
        (
            "defaultTest:\n  assert: contains\ntests:\n  - vars: {}\n",
            "t.yaml:2: defaultTest.assert: expected a list",
        ),
        (
            "defaultTest:\n  assert:\n    - {type: ruby, value: x}\ntests:\n  - vars: {}\n",
            "t.yaml:3: defaultTest.assert[0].type: unsupported assertion type 'ruby'",
        ),
        (
            "defaultTest:\n  provider: x\ntests:\n  - vars: {}\n",
            "t.yaml:2: defaultTest.provider: 'provider' is not supported here",
        ),
        ("scenarios: []\ntests: []\n", "t.yaml:1: scenarios: 'scenarios' is not supported here"),
        ("tests: []\n", "t.yaml: the suite has no cases"),
        ("tests:\n  - vars: {a: 1\n", "t.yaml:2: YAML syntax error"),
    ],
)
def test_bad_promptfoo_suites_name_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    assert error_of(path).startswith(message)


def test_promptfoo_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(b"tests:\n  - vars: {q: \xff}\n")
    assert error_of(path).startswith("t.yaml:2: not UTF-8 text: byte 0xff")


def test_the_example_suites_all_load() -> None:
    from conftest import REPO_ROOT

    for path in sorted((REPO_ROOT / "evals").iterdir()):
        suite = load(path)
        assert len(suite) == count_cases(path), path.name


# --- prompt templates ----------------------------------------------------------------------


def test_prompt_sections_become_messages() -> None:
    template = PromptTemplate(
        "[system]\nYou route tickets.\n\n[user]\nSubject: {{ subject }}\n\n{{ body }}\n"
        "[assistant]\nbilling\n[user]\nAnd this one?\n",
        "prompts/t.md.j2",
    )
    messages = template.render({"subject": "Invoice", "body": "Charged twice"}, "t1", 1, "s.jsonl")
    assert messages == [
        {"role": "system", "content": "You route tickets."},
        {"role": "user", "content": "Subject: Invoice\n\nCharged twice"},
        {"role": "assistant", "content": "billing"},
        {"role": "user", "content": "And this one?"},
    ]


def test_prompt_without_markers_is_one_user_message() -> None:
    template = PromptTemplate("Rewrite: {{ question }}\n", "p.j2")
    assert template.render({"question": "tents?"}, "q", 1, "s.jsonl") == [
        {"role": "user", "content": "Rewrite: tents?"}
    ]


def test_text_before_the_first_marker_and_marker_lookalikes() -> None:
    assert split_messages("Context first\n[system]\nBe brief\n") == [
        {"role": "user", "content": "Context first"},
        {"role": "system", "content": "Be brief"},
    ]
    # A marker must stand alone on its line; inline mentions are text.
    assert split_messages("[system] is a word here\n[user]  \nhi") == [
        {"role": "user", "content": "[system] is a word here"},
        {"role": "user", "content": "hi"},
    ]
    assert split_messages("[system]\nonly a system prompt") == [
        {"role": "system", "content": "only a system prompt"},
        {"role": "user", "content": ""},
    ]


def test_a_missing_variable_names_the_suite_line_and_the_prompt() -> None:
    template = PromptTemplate("[user]\n{{ vendor }} {{ total }}\n", "prompts/billing.md.j2")
    with pytest.raises(InputError) as caught:
        template.render({"vendor": "Hetzner"}, "hetzner-march", 7, "evals/billing.jsonl")
    assert caught.value.message == (
        "evals/billing.jsonl:7: vars: case 'hetzner-march': 'total' is undefined "
        "(used by the prompt prompts/billing.md.j2)"
    )


def test_a_template_syntax_error_names_the_prompt_line() -> None:
    with pytest.raises(InputError) as caught:
        PromptTemplate("[user]\nline two\n{% for x in items %}\n", "p.j2")
    assert caught.value.message.startswith("p.j2:3: template error: Unexpected end of template")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vendor.__class__.__init__.__globals__ }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_prompt_templates_are_sandboxed(source: str) -> None:
    template = PromptTemplate("[user]\n" + source, "p.j2")
    with pytest.raises(InputError) as caught:
        template.render({"vendor": "x"}, "c1", 2, "s.jsonl")
    assert caught.value.message.startswith("p.j2:2: case 'c1': ")
    assert "unsafe" in caught.value.message or "undefined" in caught.value.message


def test_a_template_runtime_error_is_a_located_message() -> None:
    template = PromptTemplate("[user]\n\n{{ total / count }}\n", "p.j2")
    with pytest.raises(InputError) as caught:
        template.render({"total": 10, "count": 0}, "c1", 2, "s.jsonl")
    assert caught.value.message == "p.j2:3: case 'c1': ZeroDivisionError: division by zero"
