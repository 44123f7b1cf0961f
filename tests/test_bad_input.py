"""Bad input: fuzzed registries and suites, oversized and hostile files, malicious
templates, and model or registry text that tries to break the reports and the feed.

The only outcomes of a bad file are success or one clean error (exit code 2) naming the
file; never a traceback, never an internal error.
"""

from __future__ import annotations

import copy
import datetime as dt
import html.parser
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from migrate.errors import ExitCode, InputError
from migrate.evals.suite import load_suite
from migrate.registry.load import load_registry
from migrate.yamlsource import MAX_FILE_BYTES
from tests.conftest import REPO_ROOT, invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import case_of, correct, run_dirs, write_workspace

TODAY = "2026-11-26"
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
    derandomize=True,  # the same cases on every machine: a failure here is a real bug
)
TRIED: Counter[str] = Counter()  # fuzz cases per target, printed for docs/reliability.md


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


@pytest.fixture(scope="module", autouse=True)
def fuzz_report() -> Iterator[None]:
    yield
    if TRIED:
        print(f"\nfuzz cases tried: {sum(TRIED.values())} {dict(TRIED)}")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example workspace's files: fuzzed registries may reference them."""
    root = tmp_path_factory.mktemp("fuzz")
    for name in ("prompts", "evals"):
        shutil.copytree(REPO_ROOT / name, root / name)
    return root


EXAMPLE_REGISTRY = (REPO_ROOT / "models.yaml").read_text(encoding="utf-8")
EXAMPLE_DATA = yaml.safe_load(EXAMPLE_REGISTRY)
EXAMPLE_JSONL = (REPO_ROOT / "evals" / "billing.jsonl").read_text(encoding="utf-8")
EXAMPLE_PROMPTFOO = (REPO_ROOT / "evals" / "support_replies.yaml").read_text(encoding="utf-8")

# --- strategies -----------------------------------------------------------------------------

YAML_PIECES = [
    *":-{}[],&*!|>'\"#%@`?<=~ \t\n\r\\",
    *["- ", ": ", "\n  ", "\n    - ", "<<: ", "&a ", "*a", "!!str ", "!!binary ", "!!set "],
    *["!!python/object/apply:os.system ", "!!timestamp ", "? ", "--- ", "...\n", "%YAML 1.1\n"],
    *["version", "settings", "models", "dependencies", "owners", "model", "candidates"],
    *["1", "-1", "0x1F", "1e999", ".nan", ".inf", "2027-02-15", "2027-02-30", "null", "~"],
    *["true", "on", "é", "\u2028", "\x85", "\ufeff", "\x00", "\x1b", "\ud800", "😀"],
]
yaml_like = st.lists(st.sampled_from(YAML_PIECES), max_size=60).map("".join)
any_text = st.text(max_size=300)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.dates()
    | st.sampled_from(["2027-02-15", "openai/gpt-4.1", "a@b.co", "http://x", "{{ x }}", "../x"])
)
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["model", "owners"]), children, max_size=4
        )
    ),  # fmt: skip
    max_leaves=12,
)


@st.composite
def mutated_text(draw: st.DrawFn, base: str) -> str:
    """A valid file with a few line-level edits: deletions, duplicates, swaps, re-indents,
    truncation and random insertions."""
    lines = base.splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not lines:
            break
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        operation = draw(
            st.sampled_from(["delete", "duplicate", "swap", "indent", "cut", "insert", "char"])
        )
        if operation == "delete":
            del lines[i]
        elif operation == "duplicate":
            lines.insert(i, lines[i])
        elif operation == "swap":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif operation == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "   ", "\t", "      "])) + lines[i].lstrip()
        elif operation == "cut":
            lines[i] = lines[i][: draw(st.integers(min_value=0, max_value=len(lines[i])))]
        elif operation == "insert":
            lines.insert(i, draw(yaml_like | any_text) + "\n")
        else:
            position = draw(st.integers(min_value=0, max_value=max(0, len(lines[i]) - 1)))
            lines[i] = (
                lines[i][:position] + draw(st.sampled_from(YAML_PIECES)) + lines[i][position + 1 :]
            )
    return "".join(lines)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_data(draw: st.DrawFn, base: Any) -> Any:
    """Valid data with a value replaced by a random tree, a key removed or a key added."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        operation = draw(st.sampled_from(["replace", "remove", "add"]))
        if operation == "replace":
            parent[path[-1]] = draw(trees)
        elif operation == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(trees)
        else:
            parent.append(draw(trees))
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# --- the loaders, called directly -----------------------------------------------------------


def load_registry_text(root: Path, text: str) -> None:
    path = root / "models.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_registry(path)
    except InputError as exc:
        assert exc.exit_code == ExitCode.USAGE
        assert exc.message.startswith(str(path)), exc.message
        assert "Traceback" not in exc.message


@given(text=yaml_like | any_text)
@fuzz(400)
def test_fuzz_registry_random_text(scratch: Path, text: str) -> None:
    TRIED["registry: random text"] += 1
    load_registry_text(scratch, text)


@given(text=mutated_text(EXAMPLE_REGISTRY))
@fuzz(400)
def test_fuzz_registry_mutated_lines(scratch: Path, text: str) -> None:
    TRIED["registry: mutated lines"] += 1
    load_registry_text(scratch, text)


@given(data=mutated_data(EXAMPLE_DATA))
@fuzz(500)
def test_fuzz_registry_mutated_values(scratch: Path, data: Any) -> None:
    TRIED["registry: mutated values"] += 1
    load_registry_text(scratch, dump(data))


def load_suite_text(root: Path, name: str, text: str) -> None:
    path = root / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        suite = load_suite(path)
    except InputError as exc:
        assert exc.exit_code == ExitCode.USAGE
        assert exc.message.startswith(str(path)), exc.message
        return
    assert suite.cases and len({c.id for c in suite.cases}) == len(suite.cases)


json_lines = st.lists(
    st.one_of(
        trees.map(lambda t: json.dumps(t, default=str)),
        st.fixed_dictionaries(
            {"id": scalars, "vars": trees},
            optional={"expected": trees, "checks": trees, "bogus": trees},
        ).map(lambda t: json.dumps(t, default=str)),
        any_text.map(lambda t: t.replace("\n", " ")),
    ),
    min_size=1,
    max_size=8,
).map("\n".join)


@given(text=json_lines | mutated_text(EXAMPLE_JSONL))
@fuzz(500)
def test_fuzz_jsonl_suites(scratch: Path, text: str) -> None:
    TRIED["suite: JSONL"] += 1
    load_suite_text(scratch, "fuzz.jsonl", text)


promptfoo = st.fixed_dictionaries(
    {
        "tests": st.lists(
            trees
            | st.fixed_dictionaries(
                {"vars": trees},
                optional={
                    "assert": st.lists(
                        st.fixed_dictionaries({"type": scalars}, optional={"value": trees}) | trees,
                        max_size=3,
                    ),
                    "description": scalars,
                    "id": scalars,
                },
            ),
            max_size=5,
        )
    },  # fmt: skip
    optional={"defaultTest": trees},
)


@given(
    text=promptfoo.map(dump)
    | mutated_text(EXAMPLE_PROMPTFOO)
    | mutated_data(yaml.safe_load(EXAMPLE_PROMPTFOO)).map(dump)
)
@fuzz(500)
def test_fuzz_promptfoo_suites(scratch: Path, text: str) -> None:
    TRIED["suite: promptfoo YAML"] += 1
    load_suite_text(scratch, "fuzz.yaml", text)


# --- through the command line ---------------------------------------------------------------


def assert_clean(result: Any, allowed: set[int]) -> None:
    """An allowed exit code; an error is one `migrate: error:` message, never a traceback."""
    assert result.exit_code in allowed, (result.exit_code, result.output)
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.output
    if result.exit_code == ExitCode.USAGE:
        assert result.stderr.startswith("migrate: error: "), result.stderr


@given(text=mutated_text(EXAMPLE_REGISTRY) | mutated_data(EXAMPLE_DATA).map(dump))
@fuzz(120)
def test_fuzz_migrate_check(scratch: Path, text: str) -> None:
    TRIED["CLI: migrate check"] += 1
    (scratch / "models.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    result = invoke(CliRunner(), "check", "--today", TODAY, cwd=scratch)
    assert_clean(result, {0, 1, 2})  # 1: a retirement inside the margin without sign-off


@pytest.fixture(scope="module")
def run_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with ScriptedServer({"good": correct(), "cand": correct()}) as server:
        root = write_workspace(tmp_path_factory.mktemp("run"), server.api_base, cases=3)
        yield root


@pytest.mark.slow
@given(text=json_lines | mutated_text(EXAMPLE_JSONL.replace('"vars": {', '"vars": {"case": 1, ')))
@fuzz(40)
def test_fuzz_migrate_run_with_a_bad_suite(
    run_workspace: Path, text: str, monkeypatch_env: None
) -> None:
    TRIED["CLI: migrate run"] += 1
    (run_workspace / "evals" / "suite.jsonl").write_text(
        text, encoding="utf-8", errors="surrogatepass"
    )
    result = invoke(
        CliRunner(), "run", "dep", "--today", TODAY, "--no-progress", "--limit", "2",
        cwd=run_workspace,
    )  # fmt: skip
    assert_clean(result, {0, 1, 2, 3})


@pytest.fixture(scope="module")
def monkeypatch_env() -> Iterator[None]:
    old = os.environ.get("TEST_LLM_KEY")
    os.environ["TEST_LLM_KEY"] = "sk-test-fuzz-0123456789"
    yield
    if old is None:
        del os.environ["TEST_LLM_KEY"]
    else:
        os.environ["TEST_LLM_KEY"] = old


# --- oversized, deep and exploding files ----------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("version: 1\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 1), "the limit is"),
        ("version: " + "[" * 20_000 + "]" * 20_000 + "\n", "maximum nesting depth"),
        ("".join(" " * i + f"k{i}:\n" for i in range(200)), "deeper than"),
        ("version: 1\n" + BOMB, "an alias bomb?"),
        ("a: &a [*a]\n", "an alias"),
        ("version: 1\nmodels: !!python/object/apply:os.system [echo pwned]\n", "unsupported tag"),
        ("\x00version: 1\n", "control characters are not allowed"),
        (b"version: 1\n\xff\n", "not UTF-8"),
    ],
    ids=[
        "oversized",
        "deep-flow",
        "deep-block",
        "alias-bomb",
        "alias-loop",
        "python-tag",
        "control-char",
        "not-utf8",
    ],  # fmt: skip
)
def test_hostile_registry_is_refused_with_a_message(
    tmp_path: Path, cli: CliRunner, content: str | bytes, message: str
) -> None:
    path = tmp_path / "models.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = invoke(cli, "check", "--today", TODAY, cwd=tmp_path)
    assert_clean(result, {2})
    assert message in result.stderr, result.stderr
    assert result.stderr.count("\n") <= 3  # one message, not a dump


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("suite.jsonl", '{"id": "a", "vars": {}}\n' * (MAX_FILE_BYTES // 24 + 1), "the limit is"),
        ("suite.jsonl", '{"id": "a", "vars": ' + "[" * 50_000 + "]" * 50_000 + "}\n", "deeply"),
        ("suite.jsonl", '{"id": "a", "vars": {"n": ' + "9" * 5000 + "}}\n", "not valid JSON"),
        (
            "suite.yaml",
            "tests:\n" + BOMB.replace("\n", "\n  ").replace("a: ", "- a: ", 1),
            "alias bomb",
        ),  # fmt: skip
    ],
    ids=["oversized", "deep-json", "huge-integer", "alias-bomb"],
)
def test_hostile_suite_is_refused_before_any_call(
    tmp_path: Path, cli: CliRunner, name: str, content: str, message: str, monkeypatch_env: None
) -> None:
    with ScriptedServer({"good": correct(), "cand": correct()}) as server:
        root = write_workspace(tmp_path / "ws", server.api_base, cases=2)
        (root / "evals" / name).write_text(content, encoding="utf-8")
        registry = root / "models.yaml"
        registry.write_text(registry.read_text().replace("evals/suite.jsonl", f"evals/{name}"))
        result = invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)
        assert_clean(result, {2})
        assert message in result.stderr, result.stderr
        assert server.total_calls() == 0 and not run_dirs(root)


# --- templates are sandboxed ----------------------------------------------------------------

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}",
    "{{ lipsum.__globals__['os'].popen('touch pwned').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch pwned') }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ (0).__class__.__base__.__subclasses__() }}",
    "{{ config }}{{ request }}",
    "{% include '../models.yaml' %}",
    "{% include '/etc/passwd' %}",
    "{{ range(10**9) | list | length }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_a_malicious_template_override_cannot_reach_python(
    tmp_path: Path, cli: CliRunner, payload: str
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(REPO_ROOT / "prompts", root / "prompts")
    shutil.copytree(REPO_ROOT / "evals", root / "evals")
    shutil.copy2(REPO_ROOT / "models.yaml", root / "models.yaml")
    (root / "templates").mkdir()
    (root / "templates" / "runbook.md.j2").write_text(f"# Runbook\n\n{payload}\n")
    result = invoke(cli, "plan", "--today", "2026-11-02", cwd=root)
    assert_clean(result, {2})
    assert "template error" in result.stderr, result.stderr
    assert "templates/runbook.md.j2:3" in result.stderr
    assert not (root / "pwned").exists() and not (root / "runbooks").exists()


# --- model output cannot break the reports --------------------------------------------------

HOSTILE_OUTPUT = (
    "<script>alert('x')</script>\n\n# Injected heading\n\n```\nunclosed fence\n\n"
    "</pre></td></tr></table>\n\n## Another injected heading\n<img src=x onerror=alert(1)>\n"
    "| a | table |\n|---|---|\n<!-- comment -->"
)


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes += [name for name, _ in attrs]


@pytest.mark.slow
def test_model_output_is_escaped_in_html_and_cannot_restructure_the_markdown(
    tmp_path: Path, cli: CliRunner, monkeypatch_env: None
) -> None:
    wrong = {"c001", "c003"}

    def hostile(request: Request) -> Reply:
        case = case_of(request)
        return Reply(text=HOSTILE_OUTPUT if case in wrong else f"answer-{case}")

    with ScriptedServer({"good": correct(), "cand": hostile}) as server:
        root = write_workspace(tmp_path / "ws", server.api_base, cases=6)
        result = invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)
    assert result.exit_code in (1, 3), result.output
    verdict = {1: "FAIL", 3: "INCONCLUSIVE"}[result.exit_code]
    assert result.stdout.startswith(f"{verdict}: dep (6 cases, 1 sample; "), result.stdout
    assert "  openai/cand: " + verdict + ": 2 regressions, " in result.stdout
    run_dir = run_dirs(root)[0]

    page = (run_dir / "report.html").read_text(encoding="utf-8")
    tags = _Tags()
    tags.feed(page)
    assert tags.tags["script"] == 0 and tags.tags["img"] == 0
    assert not any(name.startswith("on") for name in tags.attributes)
    assert "&lt;script&gt;alert(" in page

    report = (run_dir / "report.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").parse(report)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [h for h in headings if "Injected" in h or "injected" in h], headings
    assert [h for h in headings if h.startswith("`")] == ["`c001`", "`c003`"]
    assert headings[-1] == "Reproducibility"  # nothing after the outputs was swallowed
    rendered = MarkdownIt("commonmark").render(report)
    assert "<script>" not in rendered and "<img" not in rendered


# --- registry text cannot break the calendar feed -------------------------------------------

EVIL = "Bills; invoices, a \\n\nBEGIN:VEVENT\nUID:evil@x\nSUMMARY:Injected\nEND:VEVENT"


def evil_registry(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = f"""\
version: 1
settings: {{timezone: Europe/Berlin, calendar_name: "Team; calendar, with\\nBEGIN:VCALENDAR"}}
models:
  "vendor/old;x,y\\\\z":
    retires: 2027-02-15
    replacement: vendor/new
    source: "https://example.com/notice?a=1;b=2,c"
  vendor/new: {{}}
dependencies:
  billing:
    description: {json.dumps(EVIL)}
    model: "vendor/old;x,y\\\\z"
    candidates: [vendor/new]
    owners: ["o;ne,x@example.com", "two@example.com"]
"""
    (root / "models.yaml").write_text(text, encoding="utf-8")
    return root


def test_registry_text_cannot_inject_events_into_the_feed(tmp_path: Path, cli: CliRunner) -> None:
    import icalendar

    root = evil_registry(tmp_path / "ws")
    result = invoke(cli, "calendar", "--today", "2026-11-02", cwd=root)
    assert result.exit_code == 0, result.output
    assert result.stdout == (  # 4 windows, 4 reviews and the one retirement
        "Wrote calendar.ics: 9 events for 2027Q1-2027Q4 "
        "(9 added, 0 changed, 0 unchanged, 0 cancelled)\n"
    )
    raw = (root / "calendar.ics").read_bytes()
    physical = raw.decode("utf-8").split("\r\n")
    assert physical.count("BEGIN:VCALENDAR") == 1
    assert not [line for line in physical if line.startswith(("UID:evil", "SUMMARY:Injected"))]
    calendar = icalendar.Calendar.from_ical(raw)
    events = list(calendar.walk("VEVENT"))
    assert events and all(str(e["UID"]).endswith("@" + _slug(calendar)) for e in events)
    described = [str(e["DESCRIPTION"]) for e in events if EVIL in str(e.get("DESCRIPTION", ""))]
    assert described, "the description did not survive the round trip unchanged"
    assert any("o;ne,x@example.com" in str(e["DESCRIPTION"]) for e in events)
    assert "NAME:Team\\; calendar\\, with\\nBEGIN:VCALENDAR" in physical

    parsed = _icaljs(root / "calendar.ics")
    if parsed is not None:
        assert len(parsed["events"]) == len(events)
        assert any(EVIL in (e["description"] or "") for e in parsed["events"])
        assert not any(e["uid"].startswith("evil") for e in parsed["events"])


def _slug(calendar: Any) -> str:
    return str(calendar["X-WR-RELCALID"])


def _icaljs(path: Path) -> dict[str, Any] | None:
    """The feed as ical.js reads it, or None when node or ical.js is not installed here."""
    parser = REPO_ROOT / "tests" / "js" / "parse_ics.mjs"
    if shutil.which("node") is None or not (REPO_ROOT / "tests/js/node_modules/ical.js").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node and ical.js must be installed in CI (npm --prefix tests/js ci)")
        return None
    result = subprocess.run(
        ["node", str(parser), str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_ids_and_owners_with_line_breaks_are_refused(tmp_path: Path, cli: CliRunner) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "models.yaml").write_text(
        "version: 1\nmodels: {m: {}}\ndependencies:\n"
        '  "dep\\nBEGIN:VEVENT": {model: m, owners: ["a\\nb@example.com"]}\n',
        encoding="utf-8",
    )
    result = invoke(cli, "calendar", "--today", "2026-11-02", cwd=root)
    assert_clean(result, {2})
    assert re.search(r"models\.yaml:\d+", result.stderr)
    assert not (root / "calendar.ics").exists()


# --- dates at the edges -----------------------------------------------------------------------


def test_lifecycle_dates_outside_the_supported_years_are_refused(
    tmp_path: Path, cli: CliRunner
) -> None:
    (tmp_path / "models.yaml").write_text(
        "version: 1\nmodels:\n  a/old: {retires: 9999-12-31, deprecated: 0001-01-01}\n"
        "dependencies:\n  d: {model: a/old, owners: [x@example.com]}\n",
        encoding="utf-8",
    )
    result = invoke(cli, "calendar", "--today", TODAY, cwd=tmp_path)
    assert_clean(result, {2})
    assert "models.yaml:3: models[\"a/old\"].deprecated: '0001-01-01' is not between" in (
        result.stderr
    )
    result = invoke(cli, "check", "--today", "9999-12-20", cwd=tmp_path)
    assert result.exit_code == 2 and "'9999-12-20' is not between 1970 and 2199" in result.output


@given(
    retires=st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2199, 12, 31)),
    deprecated_before=st.integers(min_value=0, max_value=3000),
    today=st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2199, 12, 31)),
    margin=st.integers(min_value=0, max_value=365),
    reminders=st.lists(st.integers(min_value=0, max_value=3650), max_size=4),
    window=st.tuples(
        st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=30)
    ),
)
@fuzz(40)
def test_fuzz_dates_through_the_planning_commands(
    scratch: Path,
    retires: dt.date,
    deprecated_before: int,
    today: dt.date,
    margin: int,
    reminders: list[int],
    window: tuple[int, int],
) -> None:
    """Any supported date, margin, reminder and window: every planning command answers."""
    TRIED["CLI: dates through check, status, calendar, plan"] += 1
    deprecated = max(dt.date(1970, 1, 1), retires - dt.timedelta(days=deprecated_before))
    root = scratch / "dates"
    root.mkdir(exist_ok=True)
    (root / "models.yaml").write_text(
        "version: 1\n"
        f"settings: {{safety_margin_days: {margin}, reminders_days: {reminders}, "
        f"window: {{start_day: {window[0]}, length_days: {window[1]}}}}}\n"
        f"models:\n  a/old: {{retires: {retires}, deprecated: {deprecated}, replacement: a/new}}\n"
        "  a/new: {}\n"
        "dependencies:\n  d: {model: a/old, candidates: [a/new], owners: [x@example.com]}\n",
        encoding="utf-8",
    )
    for command in ("check", "status", "calendar", "plan"):
        result = invoke(CliRunner(), command, "--today", today.isoformat(), cwd=root)
        assert_clean(result, {0, 1})


# --- a run directory edited by hand -----------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, monkeypatch_env: None) -> Path:
    with ScriptedServer({"good": correct(), "cand": correct()}) as server:
        root = write_workspace(tmp_path_factory.mktemp("finished"), server.api_base, cases=4)
        result = invoke(CliRunner(), "run", "dep", "--today", TODAY, "--no-progress", cwd=root)
        assert result.exit_code in (0, 3), result.output
        verdict = {0: "PASS", 3: "INCONCLUSIVE"}[result.exit_code]
        assert result.stdout.startswith(f"{verdict}: dep (4 cases, 1 sample; "), result.stdout
    return run_dirs(root)[0]


@pytest.fixture(scope="module")
def stored_inputs(finished_run: Path) -> tuple[Any, list[Any]]:
    """The run's run.json and cases.jsonl as written."""
    manifest = json.loads((finished_run / "run.json").read_text(encoding="utf-8"))
    lines = (finished_run / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    return manifest, [json.loads(line) for line in lines]


@pytest.mark.slow
@given(data=st.data())
@fuzz(150)
def test_fuzz_migrate_report_on_an_edited_run_directory(
    finished_run: Path, stored_inputs: tuple[Any, list[Any]], data: st.DataObject
) -> None:
    """run.json and cases.jsonl edited by hand: `migrate report` re-renders or refuses."""
    TRIED["CLI: migrate report on an edited run"] += 1
    manifest, cases = stored_inputs
    manifest = data.draw(mutated_data(manifest) | st.just(manifest))
    cases = data.draw(mutated_data(cases) | st.just(cases))
    (finished_run / "run.json").write_text(json.dumps(manifest, default=str), encoding="utf-8")
    (finished_run / "cases.jsonl").write_text(
        "".join(json.dumps(case, default=str) + "\n" for case in cases), encoding="utf-8"
    )
    result = invoke(CliRunner(), "report", str(finished_run), cwd=finished_run)
    assert_clean(result, {0, 1, 2, 3, 4})
