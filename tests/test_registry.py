"""The registry loader: every bad registry is one message naming file, line and key path.

Errors are driven through the CLI (`migrate check --registry F`) because that is what a
user sees; the loader's robustness is shown by property tests on mutated registries.
"""

from __future__ import annotations

import copy
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, invoke, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from migrate.errors import InputError
from migrate.registry.load import load_registry, registry_path
from migrate.yamlsource import MAX_FILE_BYTES, parse_yaml

TODAY = "2026-10-01"

# Line numbers below are asserted exactly: keep this text's layout in sync with them.
BASE = """\
version: 1
settings:
  timezone: Europe/Berlin
  safety_margin_days: 30
models:
  openai/gpt-4o-2024-08-06:
    retires: 2027-01-14
    replacement: openai/gpt-5.4
  openai/gpt-5.4: {}
dependencies:
  billing-summarizer:
    model: openai/gpt-4o-2024-08-06
    candidates: [openai/gpt-5.4]
    owners: [alice@example.com]
    prompt: prompts/billing.md.j2
    eval:
      cases: evals/billing.jsonl
      samples: 3
  ticket-classifier:
    model: openai/gpt-5.4
    owners: [bob@example.com]
    prompt: prompts/tickets.md.j2
    eval: {cases: evals/tickets.jsonl}
"""


def make_workspace(root: Path, registry: str | bytes = BASE) -> Path:
    """A registry with the prompt and suite files it names; returns the registry path."""
    write(root / "prompts" / "billing.md.j2", "[user]\nSummarize {{ vendor }}\n")
    write(root / "prompts" / "tickets.md.j2", "[user]\n{{ subject }}\n")
    check = '"checks": [{"type": "not_refusal"}]'
    write(
        root / "evals" / "billing.jsonl", f'{{"id": "a", "vars": {{"vendor": "Acme"}}, {check}}}\n'
    )
    write(
        root / "evals" / "tickets.jsonl", f'{{"id": "b", "vars": {{"subject": "Hi"}}, {check}}}\n'
    )
    path = root / "models.yaml"
    if isinstance(registry, bytes):
        path.write_bytes(registry)
    else:
        path.write_text(registry, encoding="utf-8")
    return path


def replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the base registry"
    return text.replace(old, new)


def test_base_registry_is_valid(tmp_path: Path, cli: CliRunner) -> None:
    path = make_workspace(tmp_path)
    registry = load_registry(path)
    assert list(registry.dependencies) == ["billing-summarizer", "ticket-classifier"]
    assert registry.line_of("dependencies", "ticket-classifier", "model") == 20
    result = invoke(cli, "check", "--registry", str(path), "--today", TODAY)
    assert result.exit_code == 0, result.stderr
    # the retirement is 105 days away: past the 60-day warning horizon; the only warnings
    # are the one-case suites, which can never PASS the default 2-point margin (by hand:
    # 3.8415 / 4.8415 = 79.3 points is the smallest drop one case rules out)
    assert result.stdout == f"{path}: 2 dependencies, 2 models, 0 errors, 2 warnings\n"
    lines = result.stderr.splitlines()
    assert [line.split(": ")[2] for line in lines] == ["billing-summarizer", "ticket-classifier"]
    assert all("its 1-case suite cannot rule out a drop smaller than 79.3 points" in line
               and "grow the suite to 189 cases" in line for line in lines)  # fmt: skip


def alias_bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]")
    return "version: 1\n" + "\n".join(lines) + "\n"


# (case id, registry text, line or None, key path or "", words the message must hold)
ERROR_CASES: list[tuple[str, Callable[[], str | bytes], int | None, str, str]] = [
    (
        "bad-indentation",
        lambda: replace(
            BASE, "    owners: [alice@example.com]", "     owners: [alice@example.com]"
        ),
        14,
        "",
        "indentation",
    ),
    (
        "tab-indentation",
        lambda: replace(BASE, "    samples: 3\n", "\tsamples: 3\n"),
        18,
        "",
        "tab",
    ),
    (
        "unknown-key",
        lambda: replace(BASE, "    samples: 3\n", "    samples: 3\n    colour: blue\n"),
        19,
        "dependencies.billing-summarizer.colour",
        "unknown key (expected one of: description, model, candidates, owners, prompt, params, "
        "eval, gates, volume)",
    ),
    (
        "unknown-settings-key",
        lambda: replace(BASE, "safety_margin_days: 30", "safety_margin_dayz: 30"),
        4,
        "settings.safety_margin_dayz",
        "unknown key (did you mean 'safety_margin_days'?)",
    ),
    (
        "misspelt-top-level-key",
        lambda: replace(BASE, "settings:\n", "setings:\n"),
        2,
        "setings",
        "unknown key (did you mean 'settings'?)",
    ),
    (
        "misspelt-model-key",
        lambda: replace(BASE, "    replacement: openai/gpt-5.4", "    replacment: openai/gpt-5.4"),
        8,
        'models["openai/gpt-4o-2024-08-06"].replacment',
        "unknown key (did you mean 'replacement'?)",
    ),
    (
        "misspelt-suite-key",
        lambda: replace(BASE, "      samples: 3", "      sampels: 3"),
        18,
        "dependencies.billing-summarizer.eval.sampels",
        "unknown key (did you mean 'samples'?)",
    ),
    (
        "date-in-another-format",
        lambda: replace(BASE, "retires: 2027-01-14", "retires: 14.01.2027"),
        7,
        'models["openai/gpt-4o-2024-08-06"].retires',
        "expected a date, YYYY-MM-DD (got str '14.01.2027')",
    ),
    (
        "duplicate-dependency",
        lambda: BASE + "  billing-summarizer:\n    model: openai/gpt-5.4\n    owners: [x@y.io]\n",
        24,
        "dependencies.billing-summarizer",
        "duplicate key 'billing-summarizer'",
    ),
    (
        "impossible-date",
        lambda: replace(BASE, "retires: 2027-01-14", "retires: 2027-02-30"),
        7,
        'models["openai/gpt-4o-2024-08-06"].retires',
        "'2027-02-30' is not a real date",
    ),
    (
        "dependency-unknown-model",
        lambda: replace(BASE, "    model: openai/gpt-5.4\n", "    model: openai/gpt-9\n"),
        20,
        "dependencies.ticket-classifier.model",
        "unknown model 'openai/gpt-9'",
    ),
    (
        "candidate-unknown-model",
        lambda: replace(BASE, "[openai/gpt-5.4]", "[openai/gpt-5.4-nano]"),
        13,
        "dependencies.billing-summarizer.candidates[0]",
        "unknown model 'openai/gpt-5.4-nano'",
    ),
    (
        "embedding-model-unknown",
        lambda: replace(BASE, "  safety_margin_days: 30\n", "  embedding_model: openai/emb-9\n"),
        4,
        "settings.embedding_model",
        "unknown model 'openai/emb-9'",
    ),
    (
        "missing-eval-file",
        lambda: replace(BASE, "evals/tickets.jsonl", "evals/tikets.jsonl"),
        23,
        "dependencies.ticket-classifier.eval.cases",
        "eval suite file 'evals/tikets.jsonl' does not exist",
    ),
    (
        "missing-prompt-file",
        lambda: replace(BASE, "prompts/billing.md.j2", "prompts/billing.j2"),
        15,
        "dependencies.billing-summarizer.prompt",
        "prompt file 'prompts/billing.j2' does not exist",
    ),
    (
        "string-for-integer",
        lambda: replace(BASE, "samples: 3", 'samples: "3"'),
        18,
        "dependencies.billing-summarizer.eval.samples",
        "expected an integer (got str '3')",
    ),
    (
        "boolean-for-integer",
        lambda: replace(BASE, "safety_margin_days: 30", "safety_margin_days: yes"),
        4,
        "settings.safety_margin_days",
        "expected an integer (got bool True)",
    ),
    (
        "string-for-list",
        lambda: replace(BASE, "owners: [bob@example.com]", "owners: bob@example.com"),
        21,
        "dependencies.ticket-classifier.owners",
        "expected a list",
    ),
    (
        "number-for-prompt",
        lambda: replace(BASE, "prompt: prompts/tickets.md.j2", "prompt: 42"),
        22,
        "dependencies.ticket-classifier.prompt",
        "expected a string or a list (got int 42)",
    ),
    (
        "integer-for-date",
        lambda: replace(BASE, "retires: 2027-01-14", "retires: 0"),
        7,
        'models["openai/gpt-4o-2024-08-06"].retires',
        "expected a date, YYYY-MM-DD (got int 0)",
    ),
    (
        "scalar-for-mapping",
        lambda: replace(
            BASE,
            "settings:\n  timezone: Europe/Berlin\n  safety_margin_days: 30\n",
            "settings: strict\n",
        ),
        2,
        "settings",
        "expected a mapping",
    ),
    (
        "non-iana-timezone",
        lambda: replace(BASE, "Europe/Berlin", "Mars/Olympus_Mons"),
        3,
        "settings.timezone",
        "'Mars/Olympus_Mons' is not an IANA time zone name",
    ),
    (
        "local-file-timezone",
        lambda: replace(BASE, "Europe/Berlin", "localtime"),
        3,
        "settings.timezone",
        "not an IANA time zone name",
    ),
    (
        "timezone-folder",
        lambda: replace(BASE, "Europe/Berlin", "Europe"),
        3,
        "settings.timezone",
        "not an IANA time zone name",
    ),
    ("empty-file", lambda: "", None, "", "the file has no YAML content"),
    ("comments-only", lambda: "# nothing yet\n\n", None, "", "the file has no YAML content"),
    ("yaml-list", lambda: "- version: 1\n- models: {}\n", 1, "", "the file holds a list"),
    ("alias-bomb", alias_bomb, 2, "", "alias bomb"),
    (
        "invalid-utf8",
        lambda: replace(BASE, "  timezone: Europe/Berlin", "  calendar_name: Caf\udce9").encode(
            "utf-8", "surrogateescape"
        ),
        3,
        "",
        "not UTF-8 text: byte 0xe9 at column 21",
    ),
    (
        "unsupported-version",
        lambda: replace(BASE, "version: 1", "version: 2"),
        1,
        "version",
        "unsupported version",
    ),
    (
        "missing-required-key",
        lambda: replace(BASE, "    owners: [bob@example.com]\n", ""),
        19,
        "dependencies.ticket-classifier.owners",
        "required key is missing",
    ),
    (
        "self-referencing-alias",
        lambda: BASE + "extra: &loop {again: *loop}\n",
        24,
        "extra.again",
        "refers to a value that contains it",
    ),
    (
        "deployment-unknown-key",
        lambda: replace(
            BASE,
            "  openai/gpt-5.4: {}\n",
            "  openai/gpt-5.4:\n    deployments:\n"
            '      - {api_base: "http://127.0.0.1:1/v1", region: eu}\n',
        ),
        11,
        'models["openai/gpt-5.4"].deployments[0].region',
        "unknown key (expected one of: name, api_base, api_key_env, rpm, tpm)",
    ),
    (
        "deployment-says-nowhere",
        lambda: replace(
            BASE,
            "  openai/gpt-5.4: {}\n",
            "  openai/gpt-5.4:\n    deployments:\n      - {api_key_env: KEY_A}\n"
            "      - {rpm: 10}\n",
        ),
        12,
        'models["openai/gpt-5.4"].deployments[1]',
        "a deployment names its api_base, its api_key_env, or both",
    ),
    (
        "deployments-alike",
        lambda: replace(
            BASE,
            "  openai/gpt-5.4: {}\n",
            '  openai/gpt-5.4:\n    api_base: "http://127.0.0.1:1/v1"\n    deployments:\n'
            "      - {api_key_env: KEY_A}\n      - {api_key_env: KEY_A, rpm: 5}\n",
        ),
        11,
        'models["openai/gpt-5.4"].deployments',
        "two deployments are both called 'KEY_A': give each a distinct name",
    ),
    (
        "deployment-key-not-a-name",
        lambda: replace(
            BASE,
            "  openai/gpt-5.4: {}\n",
            "  openai/gpt-5.4:\n    deployments:\n"
            "      - {api_key_env: sk-proj-abcdefghijklmnopqrstuvwx}\n",
        ),
        11,
        'models["openai/gpt-5.4"].deployments[0].api_key_env',
        "expected the name of an environment variable, never the key",
    ),
]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_one_registry_error(result, path: Path, line: int | None, key: str, words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip("\n").split("\n")
    assert len(lines) == 1, f"expected exactly one message, got: {result.stderr}"
    where = f"{path}:{line}:" if line else f"{path}:"
    prefix = f"migrate: error: {where}"
    assert lines[0].startswith(prefix), lines[0]
    if line is None:  # no line number made up either
        assert not lines[0][len(prefix) :].lstrip()[:1].isdigit(), lines[0]
    if key:
        assert f" {key}: " in lines[0], lines[0]
    assert words in lines[0], lines[0]


@pytest.mark.parametrize(
    ("registry", "line", "key", "words"),
    [
        pytest.param(make(), line, key, words, id=name)
        for name, make, line, key, words in ERROR_CASES
    ],
)
def test_registry_error_is_one_message_with_file_line_and_key(
    tmp_path: Path, cli: CliRunner, registry: str | bytes, line: int | None, key: str, words: str
) -> None:
    path = make_workspace(tmp_path, registry)
    result = invoke(cli, "check", "--registry", str(path), "--today", TODAY)
    assert_one_registry_error(result, path, line, key, words)
    with pytest.raises(InputError):
        load_registry(path)


def test_file_over_the_size_limit(tmp_path: Path, cli: CliRunner) -> None:
    padding = "# " + "x" * 98 + "\n"
    text = BASE + padding * (MAX_FILE_BYTES // len(padding) + 1)
    path = make_workspace(tmp_path, text)
    assert path.stat().st_size > MAX_FILE_BYTES
    result = invoke(cli, "check", "--registry", str(path), "--today", TODAY)
    assert_one_registry_error(result, path, None, "", f"the limit is {MAX_FILE_BYTES:,}")


def test_missing_registry_file(tmp_path: Path, cli: CliRunner) -> None:
    path = tmp_path / "nowhere.yaml"
    result = invoke(cli, "check", "--registry", str(path))
    assert_one_registry_error(result, path, None, "", "file not found")


def test_registry_that_is_a_directory(tmp_path: Path, cli: CliRunner) -> None:
    result = invoke(cli, "check", "--registry", str(tmp_path))
    assert_one_registry_error(result, tmp_path, None, "", "cannot read")


def test_several_problems_are_listed_together_in_line_order(tmp_path: Path) -> None:
    text = replace(BASE, "prompts/billing.md.j2", "prompts/gone.md.j2")
    text = replace(text, "    model: openai/gpt-5.4\n", "    model: openai/gpt-9\n")
    path = make_workspace(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_registry(path)
    assert [(p.line, p.key_path) for p in caught.value.problems] == [
        (15, "dependencies.billing-summarizer.prompt"),
        (20, "dependencies.ticket-classifier.model"),
    ]
    assert "(and 1 more problem:)" in caught.value.message


def test_registry_env_var_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry_path(None) == Path("models.yaml")
    monkeypatch.setenv("MIGRATE_REGISTRY", str(tmp_path / "other.yaml"))
    assert registry_path(None) == tmp_path / "other.yaml"
    assert registry_path("given.yaml") == Path("given.yaml")


def test_registry_from_the_environment_through_the_cli(
    tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_workspace(tmp_path, replace(BASE, "openai/gpt-5.4]", "openai/nope]"))
    monkeypatch.setenv("MIGRATE_REGISTRY", str(path))
    result = invoke(cli, "check", "--today", TODAY, cwd=tmp_path / "prompts")
    assert_one_registry_error(
        result,
        path,
        13,
        "dependencies.billing-summarizer.candidates[0]",
        "unknown model 'openai/nope'",
    )


@pytest.mark.parametrize("command", ["plan", "calendar"])
def test_writing_commands_write_nothing_for_a_bad_registry(
    tmp_path: Path, cli: CliRunner, command: str
) -> None:
    path = make_workspace(tmp_path, replace(BASE, "samples: 3", "samples: three"))
    before = snapshot(tmp_path)
    result = invoke(cli, command, "--registry", str(path), "--today", TODAY, cwd=tmp_path)
    assert_one_registry_error(
        result, path, 18, "dependencies.billing-summarizer.eval.samples", "expected an integer"
    )
    assert snapshot(tmp_path) == before


# --- the YAML reader on its own ---------------------------------------------------------


def test_merge_keys_follow_yaml_rules_and_survive_aliases() -> None:
    text = """\
base: &base {pass_rate_drop: 0.02, cost_increase: 0.15}
strict: &strict
  <<: *base
  pass_rate_drop: 0.01
a: *strict
b: {<<: [*strict, *base], cost_increase: 0.5}
c:
  <<: &inner {<<: *base, cost_increase: 0.3}
d: *inner
"""
    data = parse_yaml(text, "f.yaml").data
    assert data["strict"] == {"pass_rate_drop": 0.01, "cost_increase": 0.15}
    assert data["a"] == data["strict"]  # the second walk of an aliased merge is not a duplicate
    assert data["b"] == {"pass_rate_drop": 0.01, "cost_increase": 0.5}
    assert data["c"] == {"pass_rate_drop": 0.02, "cost_increase": 0.3}
    assert data["d"] == data["c"]


def test_duplicate_keys_inside_a_merged_mapping_are_still_errors() -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml("a: &a {x: 1}\nb:\n  <<: *a\n  y: 1\n  y: 2\n", "f.yaml")
    assert str(caught.value.problems[0]) == "f.yaml:5: b.y: duplicate key 'y'"


def test_lines_are_recorded_for_every_key_path() -> None:
    located = parse_yaml(BASE, "models.yaml")
    assert located.line_of(("dependencies", "billing-summarizer", "eval", "samples")) == 18
    assert located.line_of(("models", "openai/gpt-4o-2024-08-06", "retires")) == 7
    assert located.line_of(("dependencies", "billing-summarizer", "candidates", 0)) == 13
    assert located.line_of(("dependencies", "billing-summarizer", "no-such-key")) == 11


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
        ("a: !custom x\n", "could not determine a constructor"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("~: 1\n", "unusable key"),
        ("a: 1\nb: \x07\n", "unacceptable character #x0007"),
        ("a: &a [*a]\n", "refers to a value that contains it"),
        ("a: {<<: 1}\n", "merge key"),
        ("[" * 2000 + "]" * 2000, "YAML syntax error"),
        ("a: " + "9" * 5000 + "\n", "cannot read"),
    ],
)
def test_hostile_yaml_is_an_input_error(text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "f.yaml")
    assert words in caught.value.message
    assert "\n" not in caught.value.message  # one line, no multi-line parser dump


# --- property tests: the loader only ever succeeds or raises InputError ------------------

BUNDLED = (REPO_ROOT / "models.yaml").read_text(encoding="utf-8")
BUNDLED_LINES = BUNDLED.splitlines(keepends=True)


@pytest.fixture(scope="module")
def bundled_workspace() -> Iterator[Path]:
    """The bundled registry's prompt and suite files, so mutants can pass file checks."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("prompts", "evals"):
            for source in (REPO_ROOT / name).iterdir():
                (root / name).mkdir(exist_ok=True)
                (root / name / source.name).write_bytes(source.read_bytes())
        yield root


def load_text(root: Path, data: bytes) -> None:
    path = root / "models.yaml"
    path.write_bytes(data)
    # YAML also breaks lines at \r, NEL, LS and PS: count lines the way splitlines does
    lines = max(len(data.decode("utf-8", "replace").splitlines()), data.count(b"\n") + 1)
    try:
        load_registry(path)
    except InputError as exc:
        assert exc.problems, "an InputError always names at least one problem"
        for problem in exc.problems:
            assert problem.file == str(path)
            assert problem.line is None or 1 <= problem.line <= lines
        assert "Traceback" not in exc.message


NOISE = st.text(
    alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \t\n\\") + ["é", "\x00", "\ufeff", "0"]),
    min_size=1,
    max_size=8,
)


@st.composite
def mutated_registry(draw: st.DrawFn) -> str:
    lines = list(BUNDLED_LINES)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "insert", "cut"]))
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(j, lines[i])
        elif kind == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            shift = draw(st.integers(-4, 4))
            stripped = lines[i].lstrip(" ")
            indent = max(0, len(lines[i]) - len(stripped) + shift)
            lines[i] = " " * indent + stripped
        elif kind == "insert":
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(NOISE) + lines[i][pos:]
        elif kind == "cut":
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + "\n"
    return "".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_registry())
def test_mutated_bundled_registry_loads_or_is_an_input_error(
    bundled_workspace: Path, text: str
) -> None:
    load_text(bundled_workspace, text.encode("utf-8", "surrogatepass"))


def test_mutations_do_reach_both_outcomes(bundled_workspace: Path) -> None:
    """The mutation strategy is not vacuous: some mutants load, many fail with a line."""
    rng = random.Random(7)
    loaded = failed = 0
    for _ in range(200):
        lines = list(BUNDLED_LINES)
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        path = bundled_workspace / "models.yaml"
        path.write_text("".join(lines), encoding="utf-8")
        try:
            load_registry(path)
            loaded += 1
        except InputError as exc:
            failed += 1
            assert exc.problems[0].line is not None
    assert loaded > 10 and failed > 10


YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.dates()
    | st.text(max_size=20)
)
REGISTRY_KEYS = st.sampled_from(
    [
        "version", "settings", "models", "dependencies", "timezone", "window", "start_day",
        "length_days", "review", "model", "candidates", "owners", "prompt", "eval", "cases",
        "checks", "type", "value", "gates", "retires", "deprecated", "replacement",
        "openai/gpt-4o-2024-08-06", "billing-summarizer", "schema", "samples", "params",
    ]
)  # fmt: skip
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(REGISTRY_KEYS | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(document=st.dictionaries(REGISTRY_KEYS, YAML_VALUES, max_size=5))
def test_random_registry_shaped_documents(bundled_workspace: Path, document: dict) -> None:  # type: ignore[type-arg]
    load_text(bundled_workspace, yaml.safe_dump(document, allow_unicode=True).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_random_bytes(bundled_workspace: Path, data: bytes) -> None:
    load_text(bundled_workspace, data)


def _key_paths(node: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _key_paths(value, (*prefix, index))


BUNDLED_DATA = parse_yaml(BUNDLED, "models.yaml").data
BUNDLED_PATHS = [path for path in _key_paths(BUNDLED_DATA) if path]


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.sampled_from(BUNDLED_PATHS), YAML_VALUES), min_size=1,
                      max_size=4))  # fmt: skip
def test_bundled_registry_with_values_of_any_type(bundled_workspace: Path, edits: list) -> None:  # type: ignore[type-arg]
    """Any value anywhere in a real registry: validation names it, whatever its type."""
    data = copy.deepcopy(BUNDLED_DATA)
    for path, value in edits:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced this path's parent
    load_text(bundled_workspace, yaml.safe_dump(data, allow_unicode=True).encode("utf-8"))
