"""Reading promptfoo suites: YAML 1.2 scalars, tests in other files, ids, and refusals that
name file, line and key. Verdicts themselves are compared with promptfoo in
test_promptfoo_conformance.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from migrate.errors import InputError
from migrate.evals.suite import Case, load_suite
from tests.promptfoo.harness import HERE

JS_YAML = HERE / "node_modules" / "js-yaml" / "dist" / "js-yaml.mjs"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def cases(path: Path) -> list[Case]:
    return list(load_suite(path, path.name).cases)


def error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_suite(path, path.name)
    return caught.value.message


SCALARS = """
tests:
  - vars:
      yes_word: Yes
      on_word: on
      no_word: NO
      y: y
      octal_looking: 0755
      octal: 0o17
      hex: 0x1F
      underscored: 1_000
      exponent: 1e3
      tilde: ~
      half: .5
      plus: +12
      upper_true: TRUE
      sexagesimal: 1:30
      float_whole: 2.0
      quoted_number: "12"
"""
# By hand from the YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution):
# only true/True/TRUE (and false forms) are booleans, octal needs 0o, no underscores or
# base-60; JavaScript has one number type, so 2.0 is 2.
EXPECTED = {
    "yes_word": "Yes",
    "on_word": "on",
    "no_word": "NO",
    "y": "y",
    "octal_looking": 755,
    "octal": 15,
    "hex": 31,
    "underscored": "1_000",
    "exponent": 1000,
    "tilde": None,
    "half": 0.5,
    "plus": 12,
    "upper_true": True,
    "sexagesimal": "1:30",
    "float_whole": 2,
    "quoted_number": "12",
}


def test_yaml_scalars_are_read_by_the_yaml_1_2_core_schema(tmp_path: Path) -> None:
    (case,) = cases(write(tmp_path, "s.yaml", SCALARS))
    assert case.vars == EXPECTED
    assert isinstance(case.vars["float_whole"], int)


@pytest.mark.slow
@pytest.mark.skipif(
    not JS_YAML.exists() or shutil.which("node") is None, reason="js-yaml is not installed"
)
def test_yaml_scalars_match_js_yaml_itself(tmp_path: Path) -> None:
    script = (
        f"import * as yaml from {json.dumps(JS_YAML.as_uri())};\n"
        "import {readFileSync} from 'node:fs';\n"
        "const text = readFileSync(0, 'utf8');\n"
        "console.log(JSON.stringify(yaml.load(text, {schema: yaml.CORE_SCHEMA})));\n"
    )
    (tmp_path / "load.mjs").write_text(script, encoding="utf-8")
    done = subprocess.run(
        ["node", str(tmp_path / "load.mjs")],
        input=textwrap.dedent(SCALARS),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = json.loads(done.stdout)["tests"][0]["vars"]
    (case,) = cases(write(tmp_path, "s.yaml", SCALARS))
    assert case.vars == theirs


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-01-01", "'2024-01-01' is read by promptfoo as a date"),
        (".nan", "'.nan' is not a finite number; quote it"),
        ("9007199254740993", "'9007199254740993' is past what JavaScript holds exactly"),
        ("!!binary aGk=", "unsupported tag '!!binary'"),
    ],
)
def test_values_javascript_would_change_are_refused(
    tmp_path: Path, value: str, message: str
) -> None:
    path = write(tmp_path, "s.yaml", f"tests:\n  - vars:\n      when: {value}\n")
    assert error(path) == f"s.yaml:3: tests[0].vars.when: {message}" or error(path).startswith(
        f"s.yaml:3: tests[0].vars.when: {message}"
    )


def test_tests_from_files_keep_their_own_lines(tmp_path: Path) -> None:
    write(tmp_path, "data/more.yaml", "- vars: {q: a}\n- vars: {q: b}\n  asert: []\n")
    path = write(tmp_path, "suite.yaml", "tests:\n  - file://data/more.yaml\n")
    assert error(path) == "data/more.yaml:3: [1].asert: 'asert' is not supported here " + (
        "(promptfoo would act on it)"
    )


def test_csv_rows_become_tests_with_their_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "rows.csv",
        'question,__expected,__description\n"a, b","contains-any:""a, b""",first\n'
        '"multi\nline",icontains:LINE,second\n',
    )
    path = write(tmp_path, "suite.yaml", "tests: file://rows.csv\n")
    first, second = cases(path)
    assert (first.id, first.vars, first.line) == ("first", {"question": "a, b"}, 2)
    assert first.checks[0].value == ["a, b"]
    assert (second.id, second.line) == ("second", 3)
    write(tmp_path, "rows.csv", "question,__expected\na,b,c\n")
    assert error(path) == "rows.csv:2: 3 fields; the header has 2"


def test_list_vars_expand_with_stable_ids(tmp_path: Path) -> None:
    text = "tests:\n  - description: Colours\n    vars: {c: [red, blue], n: [1, 2]}\n"
    path = write(tmp_path, "s.yaml", text)
    first = [(c.id, c.vars) for c in cases(path)]
    assert first == [
        ("colours-1", {"c": "red", "n": [1, 2]}),  # a list of numbers is one value
        ("colours-2", {"c": "blue", "n": [1, 2]}),
    ]
    assert [(c.id, c.vars) for c in cases(path)] == first  # the same ids on every load


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "scenarios: []\ntests: []\n",
            "s.yaml:1: scenarios: 'scenarios' is not supported here",
        ),
        (
            "tests:\n  - vars: file://v.yaml\n",
            "s.yaml:2: tests[0].vars: promptfoo reads no vars from 'file://v.yaml'",
        ),
        (
            "tests:\n  - options: {transform: \"require('fs')\"}\n",
            "s.yaml:2: tests[0].options.transform: this JavaScript needs Node",
        ),
        (
            "tests: file://gen.py\n",
            "s.yaml:1: tests: tests from 'file://gen.py' are not supported here",
        ),
        (
            "tests:\n  - assert:\n      - type: assert-set\n        assert: []\n",
            "s.yaml:3: tests[0].assert[0].type: unsupported assertion type 'assert-set'",
        ),
        (
            "tests:\n  - assert:\n      - {type: latency}\n",
            "s.yaml:3: tests[0].assert[0].threshold: 'latency' needs a threshold",
        ),
        (
            "tests:\n  - assert:\n      - {type: context-relevance}\n",
            "s.yaml:2: tests[0].vars: 'context-relevance' needs a 'query' var",
        ),
        (
            "tests:\n  - assert:\n      - {type: is-json, value: {type: object, foo: 1}}\n",
            "s.yaml:3: tests[0].assert[0].value: unknown JSON schema keyword 'foo'",
        ),
        (
            "tests:\n  - assert:\n      - {type: llm-rubric, value: x, provider: replicate:x}\n",
            's.yaml:3: tests[0].assert[0].provider: grader provider "replicate:x" is not',
        ),
        (
            "tests:\n  - vars: {a: file://missing.txt}\n",
            "s.yaml:2: tests[0].vars.a: no file matches 'file://missing.txt'",
        ),
        (  # a folder, not a file: said where the suite names it
            "tests:\n  - vars: {a: 'file://.'}\n",
            "s.yaml:2: tests[0].vars.a: 'file://.' names a folder, not a file",
        ),
        (
            "tests: 'file://.'\n",
            "s.yaml:1: tests: 'file://.' names a folder, not a file",
        ),
        (  # a file that is not there, named by an assertion
            "tests:\n  - assert:\n      - {type: python, value: 'file://check.py'}\n",
            "s.yaml:3: tests[0].assert[0].value: ",
        ),
        (
            "tests:\n  - assert:\n      - {$ref: '#/assertionTemplates/nope'}\n",
            "s.yaml:3: tests[0].assert[0][\"$ref\"]: '#/assertionTemplates/nope' names no",
        ),
        (
            "tests:\n  - providerOutput: hi\n",
            "s.yaml:2: tests[0].providerOutput: 'providerOutput' is not supported here",
        ),
        (
            "tests:\n  - assert:\n      - {type: contains, value: '{{ env.ORG_NAME }}'}\n",
            "s.yaml:3: tests[0].assert[0].value: '{{ env.… }}' reads the environment",
        ),
        (
            "tests:\n  - vars:\n      token: '{{env.API_TOKEN}}'\n",
            "s.yaml:3: tests[0].vars.token: '{{ env.… }}' reads the environment",
        ),
    ],
)
def test_what_is_not_understood_is_refused_with_file_line_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    assert error(write(tmp_path, "s.yaml", text)).startswith(message)


def test_an_assertion_template_and_default_test_merge_as_promptfoo_merges_them(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        """
        assertionTemplates:
          polite: {type: icontains, value: please, weight: 2}
        defaultTest:
          threshold: 0.5
          vars: {a: 1, b: 2}
          options: {prefix: "P:", transform: output.trim()}
          assert:
            - {type: not-contains, value: ERROR}
        tests:
          - vars: {b: 3}
            options: {suffix: ":S"}
            assert:
              - $ref: "#/assertionTemplates/polite"
          - threshold: 1
            options: {disableDefaultAsserts: true}
        """,
    )
    first, second = cases(path)
    assert first.vars == {"a": 1, "b": 3}
    assert (first.prefix, first.suffix, first.threshold) == ("P:", ":S", 0.5)
    assert [(c.type, c.value, c.weight, c.negate) for c in first.checks] == [
        ("promptfoo:contains", "ERROR", 1.0, True),
        ("promptfoo:icontains", "please", 2.0, False),
    ]
    assert all(c.output_transform == "output.trim()" for c in first.checks)
    assert (second.threshold, second.checks) == (1.0, ())
