"""`migrate scan`: model ids in tracked files that the registry does not cover.

Repositories are real git repositories in temporary folders; the vocabulary is the
installed litellm's model map plus the registry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import git, init_repo, invoke, write
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from migrate.lifecycle.sources import LifecycleRecord
from migrate.scan.repository import MAX_FILE_BYTES
from migrate.scan.vocabulary import Coverage, build_vocabulary

REGISTRY = """\
version: 1
settings:
  scan_allow: {allow}
models:
  openai/gpt-4o-2024-08-06: {{}}
  bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0: {{}}
{extra}"""


def repository(root: Path, files: dict[str, str], *, allow: str = "[]", extra: str = "") -> Path:
    """A git repository holding a registry and `files`, all committed."""
    init_repo(root)
    write(root / "models.yaml", REGISTRY.format(allow=allow, extra=extra))
    for name, text in files.items():
        write(root / name, text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def scan(cli: CliRunner, root: Path, *extra: str) -> Any:
    return invoke(cli, "scan", *extra, cwd=root)


APP = """\
import litellm


def summarize(text: str) -> str:
    response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    return response.choices[0].message.content
"""
COLUMN = APP.splitlines()[4].index("gpt-4o-mini") + 1


def test_an_unregistered_model_fails_naming_file_and_line(tmp_path: Path, cli: CliRunner) -> None:
    root = repository(tmp_path / "repo", {"app/summarize.py": APP})
    result = scan(cli, root)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"app/summarize.py:5:{COLUMN}: gpt-4o-mini is not in the registry (add openai/gpt-4o-mini "
        "under models in models.yaml, or gpt-4o-mini to settings.scan_allow)"
    )
    assert result.stderr.splitlines()[1].strip() == (
        'response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", '
        '"content": text}])'
    )
    assert "1 unregistered use of gpt-4o-mini" in result.stdout


@pytest.mark.parametrize(
    ("allow", "extra"),
    [
        ("[]", "  openai/gpt-4o-mini: {}\n"),  # registered under its litellm name
        ("[gpt-4o-mini]", ""),  # a deliberate exception
        ("[openai/gpt-4o-mini]", ""),
        ("['gpt-4o-*']", ""),  # a glob
    ],
)
def test_registering_or_allowing_the_model_passes(
    tmp_path: Path, cli: CliRunner, allow: str, extra: str
) -> None:
    root = repository(tmp_path / "repo", {"app/summarize.py": APP}, allow=allow, extra=extra)
    result = scan(cli, root)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_json_output(tmp_path: Path, cli: CliRunner) -> None:
    root = repository(
        tmp_path / "repo",
        {
            "app/summarize.py": APP,
            "config/llm.yaml": "primary: openai/gpt-4o-2024-08-06\nfallback: gpt-4.1\n",
        },
    )
    result = scan(cli, root, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["repository"] == str(root.resolve())
    assert data["registered_uses"] == 1
    assert data["unregistered_models"] == ["gpt-4.1", "gpt-4o-mini"]
    assert data["unregistered"] == [
        {
            "file": "app/summarize.py",
            "line": 5,
            "column": COLUMN,
            "model": "gpt-4o-mini",
            "text": APP.splitlines()[4].strip(),
            "suggestion": "openai/gpt-4o-mini",
        },
        {
            "file": "config/llm.yaml",
            "line": 2,
            "column": 11,
            "model": "gpt-4.1",
            "text": "fallback: gpt-4.1",
            "suggestion": "openai/gpt-4.1",
        },
    ]


def test_untracked_ignored_binary_and_huge_files_are_not_read(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = repository(
        tmp_path / "repo",
        {".gitignore": "secret.env\n", "ok.py": "MODEL = 'openai/gpt-4o-2024-08-06'\n"},
    )
    write(root / "untracked.py", 'model = "gpt-4o-mini"\n')
    write(root / "secret.env", "MODEL=gpt-4o-mini\n")
    (root / "blob.bin").write_bytes(b"\x00\x01gpt-4o-mini\x00")
    (root / "dump.txt").write_text("gpt-4o-mini\n" + "x" * MAX_FILE_BYTES, encoding="utf-8")
    git(root, "add", "blob.bin", "dump.txt")
    git(root, "commit", "-q", "-m", "data")
    result = scan(cli, root, "--json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["files_skipped"] == {"binary": 1, "large": 1}
    assert data["files_scanned"] == 2  # .gitignore and ok.py; the registry is never scanned
    assert data["registered_uses"] == 1


def test_the_registry_itself_is_not_scanned(tmp_path: Path, cli: CliRunner) -> None:
    root = repository(tmp_path / "repo", {}, extra="    # was gpt-4o-mini until May\n")
    result = scan(cli, root)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Scanned 0 tracked files: 0 uses of registered models.\n"


def test_a_deleted_but_tracked_file_is_skipped(tmp_path: Path, cli: CliRunner) -> None:
    root = repository(tmp_path / "repo", {"old.py": 'model = "gpt-4o-mini"\n'})
    (root / "old.py").unlink()
    result = scan(cli, root)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Scanned 0 tracked files: 0 uses of registered models.\n"


WHOLE_TOKENS = """\
a = "gpt-4o-mini-2024-07-18"      # a longer id: reported as itself
b = "my-gpt-4o-mini"              # not a model id
c = "gpt-4o-mini_v2"              # not a model id
d = "gpt-4.10"                    # a version nobody released
o1 = chat(o1)                     # too generic to be a model
e = "https://api.example.com/v1/models/gpt-4.1-nano?x=1"
f = "GPT-4o"                      # prose spelling, not an id
g = 'model:gpt-4o'
"""


def test_only_whole_tokens_that_look_like_model_ids_are_found(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = repository(tmp_path / "repo", {"tokens.py": WHOLE_TOKENS})
    data = json.loads(scan(cli, root, "--json").stdout)
    found = [(u["line"], u["model"]) for u in data["unregistered"]]
    assert found == [(1, "gpt-4o-mini-2024-07-18"), (6, "gpt-4.1-nano"), (8, "gpt-4o")]


def test_provider_prefixes_decide_coverage(tmp_path: Path, cli: CliRunner) -> None:
    root = repository(
        tmp_path / "repo",
        {
            "a.py": 'BARE = "gpt-4o-2024-08-06"\n',  # openai/gpt-4o-2024-08-06 covers it
            "b.py": 'AZURE = "azure/gpt-4o-2024-08-06"\n',  # another provider's deployment
            "c.py": 'PROXY = "litellm_proxy/openai/gpt-4o-2024-08-06"\n',
            "d.py": 'client.converse(modelId="anthropic.claude-sonnet-4-5-20250929-v1:0")\n',
            "e.py": 'client.converse(modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0")\n',
        },
    )
    data = json.loads(scan(cli, root, "--json").stdout)
    assert data["registered_uses"] == 3
    assert [(u["file"], u["model"], u["column"]) for u in data["unregistered"]] == [
        ("b.py", "azure/gpt-4o-2024-08-06", 10),
        ("e.py", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 26),
    ]
    assert data["unregistered"][1]["suggestion"] == (
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    )


def test_a_path_limits_the_scan_to_a_folder(tmp_path: Path, cli: CliRunner) -> None:
    root = repository(
        tmp_path / "repo", {"app/a.py": "X = 'gpt-4o-mini'\n", "docs/b.md": "Use gpt-4.1.\n"}
    )
    data = json.loads(scan(cli, root, "docs", "--json").stdout)
    assert [u["file"] for u in data["unregistered"]] == ["docs/b.md"]


def test_by_default_the_whole_repository_of_the_registry_is_scanned(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = repository(tmp_path / "repo", {"app/a.py": "X = 'gpt-4o-mini'\n"})
    (root / "config").mkdir()
    git(root, "mv", "models.yaml", "config/models.yaml")
    git(root, "commit", "-q", "-m", "Move the registry")
    result = invoke(cli, "scan", "--registry", "../config/models.yaml", "--json", cwd=root / "app")
    assert result.exit_code == 1
    assert [u["file"] for u in json.loads(result.stdout)["unregistered"]] == ["app/a.py"]


def test_outside_a_repository_is_a_usage_error(tmp_path: Path, cli: CliRunner) -> None:
    write(tmp_path / "models.yaml", "version: 1\nmodels: {}\n")
    result = scan(cli, tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"migrate: error: {tmp_path.resolve()}: not inside a git repository (scan reads the "
        "tracked files)\n"
    )


def test_a_missing_registry_is_a_usage_error(tmp_path: Path, cli: CliRunner) -> None:
    root = init_repo(tmp_path / "repo")
    result = scan(cli, root)
    assert result.exit_code == 2
    assert result.stderr.startswith("migrate: error: models.yaml")


# --- the vocabulary, property-tested against a naive token lookup -------------------------

WORDS = ["gpt-4", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "claude-3-5-haiku", "llama3", "x/gpt-4o"]
NOISE = ["gpt", "4o", "mini", "model", "gpt-4x", "llama", "hello-world", "v1", "o1"]
SEPARATORS = [" ", "\n", '"', "'", ", ", "(", ")", "=", ": ", " # ", "\t", "[", "]"]


def records(words: list[str]) -> list[LifecycleRecord]:
    return [LifecycleRecord(key=w, family="openai", name=w, mode="chat") for w in words]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(WORDS + NOISE), st.sampled_from(SEPARATORS)), max_size=30)
)
def test_find_equals_a_naive_token_lookup(pieces: list[tuple[str, str]]) -> None:
    """Joined by separators, exactly the vocabulary words are found, in order, where they are."""
    vocabulary = build_vocabulary(records(WORDS), [])
    text = "".join(word + sep for word, sep in pieces)
    hits = list(vocabulary.find(text))
    assert [h.token for h in hits] == [w for w, _ in pieces if w in WORDS]
    lines = text.split("\n")
    for hit in hits:
        line = lines[hit.line - 1]
        assert line[hit.column - 1 :].startswith(hit.token)
    if hits:
        assert vocabulary.might_contain(text.encode())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="gpt-4o.1mini/:_ \n\"'x", max_size=60))
def test_the_prefilter_never_hides_a_match(text: str) -> None:
    vocabulary = build_vocabulary(records(WORDS), ["openai/gpt-4o-2024-08-06"])
    if any(True for _ in vocabulary.find(text)):
        assert vocabulary.might_contain(text.encode())


def test_the_litellm_vocabulary_leaves_out_generic_names() -> None:
    from migrate.lifecycle.sources import read_litellm_map

    vocabulary = build_vocabulary(read_litellm_map().records, [])
    for generic in ("o1", "o3", "chat", "sonar", "auto"):
        assert generic not in vocabulary.suggestions
    for specific in ("gpt-4o-mini", "claude-sonnet-4-5-20250929", "o3-mini", "azure/o1"):
        assert specific in vocabulary.suggestions
    assert vocabulary.suggestions["gpt-4o-mini"] == "openai/gpt-4o-mini"
    assert not any(vocabulary.find("Set o1 = chat('auto') and 2024-08-06 as the date.\n"))


def test_coverage_rules() -> None:
    coverage = Coverage.of(["openai/gpt-4o", "bedrock/converse/anthropic.claude-x-v1:0"], ["m-*"])
    assert coverage.registered("openai/gpt-4o")
    assert coverage.registered("gpt-4o")
    assert not coverage.registered("azure/gpt-4o")
    assert coverage.registered("anthropic.claude-x-v1:0")
    assert coverage.allowed("m-1") and coverage.allowed("vendor/m-1")
    assert not coverage.allowed("gpt-4o-mini")


def test_line_and_column_count_characters_not_bytes() -> None:
    vocabulary = build_vocabulary(records(WORDS), [])
    (hit,) = vocabulary.find("première ligne\n« gpt-4o » ici\n")
    assert (hit.line, hit.column, hit.text) == (2, 3, "« gpt-4o » ici")
    assert re.fullmatch(r"gpt-4o", hit.token)
