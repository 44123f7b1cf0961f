"""`migrate sync`: lifecycle dates from litellm's bundled model map and a deprecations feed.

The bundled map is the real file of the installed litellm, read here independently with
`json` to know what sync should find; feeds are files or a server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import http.server
import importlib.util
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, invoke, write
from typer.testing import CliRunner

from migrate.lifecycle.compare import compare
from migrate.lifecycle.names import base_name, looks_like_model_id, split_model_id, strip_region
from migrate.lifecycle.sources import (
    LifecycleRecord,
    Source,
    feed_families,
    feed_records,
    litellm_records,
    read_litellm_map,
)
from migrate.lifecycle.write import Edit, apply_edits
from migrate.registry.load import load_registry

TODAY = dt.date(2026, 11, 26)


def bundled_map() -> dict[str, Any]:
    """litellm's model map, read straight from the installed package."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    data: dict[str, Any] = json.loads(
        (folder / "model_prices_and_context_window_backup.json").read_text(encoding="utf-8")
    )
    return data


def bundled_date(key: str) -> dt.date:
    value = bundled_map()[key]["deprecation_date"]
    return dt.date.fromisoformat(value)


def sync(cli: CliRunner, registry: Path, *extra: str) -> Any:
    return invoke(cli, "sync", "--registry", str(registry), "--today", TODAY.isoformat(), *extra)


def comment_lines(text: str) -> list[str]:
    """Every comment in a YAML text (full-line and trailing), in order."""
    return [m.group(0).strip() for m in re.finditer(r"#[^\n]*", text)]


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("openai/gpt-4o-2024-08-06", ("openai", "gpt-4o-2024-08-06")),
        ("gpt-4o", (None, "gpt-4o")),
        ("bedrock/converse/anthropic.claude-x-v1:0", ("bedrock", "anthropic.claude-x-v1:0")),
        ("bedrock_converse/us.anthropic.claude-x-v1:0", ("bedrock", "us.anthropic.claude-x-v1:0")),
        ("vertex_ai/claude-3-5-haiku@20241022", ("vertex_ai", "claude-3-5-haiku@20241022")),
        ("gemini/gemini-2.5-pro", ("gemini", "gemini-2.5-pro")),
    ],
)
def test_split_model_id(model_id: str, expected: tuple[str | None, str]) -> None:
    assert split_model_id(model_id) == expected


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # not the same model as gpt-4o
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5"),
        ("us-east-1/anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5"),
        ("mistral-large-2512", "mistral-large"),
        ("mistral-large-latest", "mistral-large"),
        ("gemini-1.5-pro-001", "gemini-1.5-pro"),
        ("claude-3-5-haiku@20241022", "claude-3-5-haiku"),
        ("gpt-4.1", "gpt-4.1"),
    ],
)
def test_base_name_removes_snapshot_suffixes(name: str, base: str) -> None:
    assert base_name(name) == base


def test_strip_region_keeps_vendor_prefixes() -> None:
    assert strip_region("eu.anthropic.claude-x-v1:0") == "anthropic.claude-x-v1:0"
    assert strip_region("anthropic.claude-x-v1:0") == "anthropic.claude-x-v1:0"
    assert strip_region("us.amazon.nova-pro-v1:0") == "amazon.nova-pro-v1:0"


@pytest.mark.parametrize(
    ("token", "specific"),
    [
        ("gpt-4o", True),
        ("llama3", True),
        ("o1", False),
        ("chat", False),
        ("sonar", False),
        ("2024-08-06", False),
        ("gpt-4", True),
    ],
)
def test_looks_like_model_id(token: str, specific: bool) -> None:
    assert looks_like_model_id(token) is specific


# --- sources -------------------------------------------------------------------------------


def test_litellm_records_strip_provider_prefixes_and_read_dates() -> None:
    records = {
        r.key: r
        for r in litellm_records(
            {
                "sample_spec": {"deprecation_date": "date when the model becomes deprecated"},
                "gpt-4o": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "deprecation_date": "2027-01-14",
                },
                "gemini/gemini-2.0-flash": {"litellm_provider": "gemini", "mode": "chat"},
                "us.anthropic.claude-x-v1:0": {
                    "litellm_provider": "bedrock_converse",
                    "deprecation_date": "2027-04-08",
                    "deprecation_source": "https://aws.example/notice",
                },
                "low/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "mode": "image"},
            }
        )
    }
    assert "sample_spec" not in records
    assert records["gpt-4o"].family == "openai"
    assert records["gpt-4o"].retires == dt.date(2027, 1, 14)
    assert records["gemini/gemini-2.0-flash"].name == "gemini-2.0-flash"
    assert records["gemini/gemini-2.0-flash"].retires is None
    bedrock = records["us.anthropic.claude-x-v1:0"]
    assert (bedrock.family, bedrock.url) == ("bedrock", "https://aws.example/notice")
    assert records["low/1024-x-1024/gpt-image-1"].name == "low/1024-x-1024/gpt-image-1"


def test_the_bundled_map_is_read_without_importing_litellm() -> None:
    code = (
        "import sys\n"
        "from migrate.lifecycle.sources import read_litellm_map\n"
        "source = read_litellm_map()\n"
        "print(len(source.records), 'litellm' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout.split()
    assert out == [str(len(bundled_map()) - 1), "False"]  # everything but sample_spec


def test_sync_and_scan_never_import_litellm(tmp_path: Path) -> None:
    """Both read the model map as JSON: no command without a model call pays for litellm."""
    write(tmp_path / "models.yaml", "version: 1\nmodels:\n  openai/gpt-4o-2024-08-06: {}\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from migrate.cli import app\n"
        "runner = CliRunner()\n"
        "codes = [runner.invoke(app, args).exit_code for args in (['sync'], ['scan'])]\n"
        "print(codes, 'litellm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout  # fmt: skip
    assert out.strip() == "[0, 0] False"


def test_feed_records_accept_both_replacement_spellings_and_skip_headlines() -> None:
    records, skipped = feed_records(
        [
            {
                "provider": "OpenAI",
                "model_id": "gpt-4o-2024-05-13",
                "announcement_date": "2026-04-01",
                "shutdown_date": "2026-10-01",
                "replacement_model": "gpt-4.1",
                "url": "https://platform.openai.com/docs/deprecations",
            },
            {
                "provider": "Anthropic",
                "model_id": "claude-3-opus-20240229",
                "shutdown_date": "2026-01-05T00:00:00Z",
                "replacement_models": ["claude-opus-4-1"],
            },
            {"provider": "OpenAI", "model_id": "Legacy GPT model snapshots", "shutdown_date": ""},
            {"provider": "Google", "model_id": "gemini-1.5-pro-002", "shutdown_date": ""},
            "not an entry",
        ]
    )
    assert skipped == 2
    openai = records[0]
    assert (openai.family, openai.retires, openai.deprecated, openai.replacements) == (
        "openai",
        dt.date(2026, 10, 1),
        dt.date(2026, 4, 1),
        ("gpt-4.1",),
    )
    assert records[1].retires == dt.date(2026, 1, 5)
    assert records[1].replacements == ("claude-opus-4-1",)
    google = [r for r in records if r.key == "gemini-1.5-pro-002"]
    assert {r.family for r in google} == {"gemini", "vertex_ai"}
    assert all(r.retires is None for r in google)


def test_feed_records_find_the_list_inside_an_object() -> None:
    records, _ = feed_records(
        {
            "generated": "2026-11-01",
            "deprecations": [
                {
                    "provider": "AWS Bedrock",
                    "model_id": "anthropic.claude-v2:1",
                    "shutdown_date": "2026-07-21",
                }
            ],
        }
    )
    assert [(r.family, r.name) for r in records] == [("bedrock", "anthropic.claude-v2:1")]


@pytest.mark.parametrize(
    ("provider", "families"),
    [
        ("OpenAI", ("openai",)),
        ("Azure OpenAI", ("azure", "azure_ai")),
        ("Amazon Bedrock", ("bedrock",)),
        ("Google Vertex AI", ("vertex_ai",)),
        ("Together AI", ("together_ai",)),
    ],
)
def test_feed_provider_names(provider: str, families: tuple[str, ...]) -> None:
    assert feed_families(provider) == families


# --- compare -------------------------------------------------------------------------------


def registry_of(tmp_path: Path, models: str) -> Any:
    path = write(tmp_path / "models.yaml", "version: 1\nmodels:\n" + models)
    return load_registry(path, check_files=False)


def litellm_source(entries: dict[str, Any]) -> Source:
    return Source("litellm", "litellm test", "map.json", tuple(litellm_records(entries)))


def feed_source(entries: list[Any]) -> Source:
    return Source("feed", "feed test.json", "test.json", tuple(feed_records(entries)[0]))


LITELLM = {
    "gpt-4o-2024-08-06": {
        "litellm_provider": "openai",
        "mode": "chat",
        "deprecation_date": "2027-01-14",
    },
    "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "deprecation_date": "2027-02-01"},
    "claude-sonnet-4-5-20250929": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "deprecation_date": "2026-11-30",
    },
    "anthropic.claude-sonnet-4-5-20250929-v1:0": {
        "litellm_provider": "bedrock_converse",
        "deprecation_date": "2027-04-08",
    },
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": {
        "litellm_provider": "bedrock_converse",
        "deprecation_date": "2027-04-08",
    },
    "azure/gpt-4o": {"litellm_provider": "azure", "mode": "chat", "deprecation_date": "2026-12-01"},
}


def test_exact_matches_across_provider_prefixes_become_changes(tmp_path: Path) -> None:
    registry = registry_of(
        tmp_path,
        (
            "  openai/gpt-4o-2024-08-06: {}\n"
            "  anthropic/claude-sonnet-4-5-20250929: {}\n"
            "  bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0: {}\n"
            "  bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0: {}\n"
        ),
    )
    report = compare(registry, [litellm_source(LITELLM)])
    assert [(c.model, c.field, c.value, c.source_id) for c in report.changes] == [
        ("openai/gpt-4o-2024-08-06", "retires", dt.date(2027, 1, 14), "gpt-4o-2024-08-06"),
        (
            "anthropic/claude-sonnet-4-5-20250929",
            "retires",
            dt.date(2026, 11, 30),
            "claude-sonnet-4-5-20250929",
        ),
        (
            "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
            "retires",
            dt.date(2027, 4, 8),
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "retires",
            dt.date(2027, 4, 8),
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
    ]
    assert report.suggestions == []
    assert report.changes[0].line == 3


def test_a_dated_alias_is_only_a_suggestion(tmp_path: Path) -> None:
    registry = registry_of(tmp_path, "  openai/gpt-4o: {}\n  openai/gpt-4o-mini-2024-07-18: {}\n")
    report = compare(registry, [litellm_source(LITELLM)])
    assert report.changes == []
    assert [(s.model, s.kind, s.source_ids, s.retires) for s in report.suggestions] == [
        ("openai/gpt-4o", "alias", ("gpt-4o-2024-08-06",), dt.date(2027, 1, 14)),
        ("openai/gpt-4o-mini-2024-07-18", "alias", ("gpt-4o-mini",), dt.date(2027, 2, 1)),
    ]


def test_another_region_is_only_a_suggestion(tmp_path: Path) -> None:
    registry = registry_of(tmp_path, "  bedrock/eu.anthropic.claude-sonnet-4-5-20250929-v1:0: {}\n")
    report = compare(registry, [litellm_source(LITELLM)])
    assert report.changes == []
    (suggestion,) = report.suggestions
    assert suggestion.kind == "region"
    assert suggestion.source_ids == (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    )


def test_another_provider_of_the_same_name_never_matches(tmp_path: Path) -> None:
    """azure/gpt-4o retires on its own date; it says nothing about openai/gpt-4o."""
    registry = registry_of(tmp_path, "  openai/gpt-4o: {}\n  azure/gpt-4o: {}\n")
    report = compare(registry, [litellm_source(LITELLM)])
    assert [(c.model, c.value) for c in report.changes] == [("azure/gpt-4o", dt.date(2026, 12, 1))]


def test_a_registry_date_is_never_overwritten_only_reported(tmp_path: Path) -> None:
    registry = registry_of(
        tmp_path,
        (
            "  openai/gpt-4o-2024-08-06:\n"
            "    retires: 2027-03-01\n"
            "  openai/gpt-4o-mini: {retires: 2027-02-01}\n"
        ),
    )
    report = compare(registry, [litellm_source(LITELLM)])
    assert report.changes == []
    (disagreement,) = report.disagreements
    assert (
        disagreement.model,
        disagreement.registry,
        disagreement.source_value,
        disagreement.line,
    ) == ("openai/gpt-4o-2024-08-06", dt.date(2027, 3, 1), dt.date(2027, 1, 14), 4)


def test_a_model_no_source_knows_is_listed_as_unmatched(tmp_path: Path, cli: CliRunner) -> None:
    registry = registry_of(tmp_path, "  openai/gpt-4o-2024-08-6: {}\n  openai/gpt-4o-mini: {}\n")
    report = compare(registry, [litellm_source(LITELLM)])
    assert report.unmatched == ["openai/gpt-4o-2024-08-6"]  # a typo: no snapshot, no alias
    result = sync(cli, registry.path)
    assert result.exit_code == 0
    assert (
        "Not in any source (a typo, or a model too new or too private to be listed): "
        "openai/gpt-4o-2024-08-6" in result.stdout
    )


def test_models_behind_an_api_base_are_skipped(tmp_path: Path) -> None:
    registry = registry_of(
        tmp_path, ("  openai/gpt-4o-mini: {api_base: 'http://127.0.0.1:8080/v1'}\n")
    )
    report = compare(registry, [litellm_source(LITELLM)])
    assert (report.models_checked, report.local_models, report.changes) == (
        0,
        ["openai/gpt-4o-mini"],
        [],
    )


FEED = [
    {
        "provider": "OpenAI",
        "model_id": "gpt-4o-2024-08-06",
        "announcement_date": "2026-06-02",
        "shutdown_date": "2027-01-10",
        "replacement_model": "gpt-4.1",
        "url": "https://platform.openai.com/docs/deprecations#gpt-4o",
    },
    {
        "provider": "Anthropic",
        "model_id": "claude-sonnet-4-5-20250929",
        "announcement_date": "2026-08-01",
        "shutdown_date": "2026-11-30",
        "replacement_models": ["claude-sonnet-4-6", "claude-opus-4-6"],
    },
]


def test_a_feed_adds_announcement_replacement_and_source(tmp_path: Path) -> None:
    registry = registry_of(
        tmp_path,
        (
            "  openai/gpt-4o-2024-08-06: {}\n"
            "  anthropic/claude-sonnet-4-5-20250929: {retires: 2026-11-30}\n"
        ),
    )
    report = compare(registry, [litellm_source(LITELLM), feed_source(FEED)])
    changes = {(c.model, c.field): (c.value, c.source) for c in report.changes}
    assert changes == {
        # the feed, chosen by the user, outranks the bundled map on a missing date
        ("openai/gpt-4o-2024-08-06", "retires"): (dt.date(2027, 1, 10), "feed test.json"),
        ("openai/gpt-4o-2024-08-06", "deprecated"): (dt.date(2026, 6, 2), "feed test.json"),
        ("openai/gpt-4o-2024-08-06", "replacement"): ("openai/gpt-4.1", "feed test.json"),
        ("openai/gpt-4o-2024-08-06", "source"): (
            "https://platform.openai.com/docs/deprecations#gpt-4o",
            "feed test.json",
        ),
        ("anthropic/claude-sonnet-4-5-20250929", "deprecated"): (
            dt.date(2026, 8, 1),
            "feed test.json",
        ),
    }
    kinds = {(s.model, s.kind) for s in report.suggestions}
    assert kinds == {
        ("openai/gpt-4o-2024-08-06", "sources_disagree"),  # litellm says 2027-01-14
        ("anthropic/claude-sonnet-4-5-20250929", "replacements"),  # two: a person picks
    }


def test_a_feed_replacement_that_differs_is_a_disagreement(tmp_path: Path) -> None:
    registry = registry_of(
        tmp_path,
        ("  openai/gpt-4o-2024-08-06:\n    retires: 2027-01-10\n    replacement: openai/gpt-5.4\n"),
    )
    report = compare(registry, [feed_source(FEED)])
    assert [(d.field, d.registry, d.source_value) for d in report.disagreements] == [
        ("replacement", "openai/gpt-5.4", "openai/gpt-4.1")
    ]


def test_an_announcement_after_the_retirement_is_not_written(tmp_path: Path) -> None:
    registry = registry_of(tmp_path, "  openai/gpt-4o-2024-08-06: {retires: 2026-05-01}\n")
    report = compare(registry, [feed_source(FEED)])
    assert "deprecated" not in {c.field for c in report.changes}
    assert "order" in {s.kind for s in report.suggestions}


# --- write: the round trip keeps everything ------------------------------------------------

TRICKY = """\
# The registry. Comments everywhere must survive.
version: 1

models:
  # OpenAI
  openai/gpt-4o-2024-08-06:   # the main one
    replacement: openai/gpt-4.1
  openai/gpt-4.1: {}
  openai/gpt-4o-mini-2024-07-18:

  # Anthropic
  anthropic/claude-sonnet-4-5-20250929:
    source: "https://docs.anthropic.com/en/docs/about-claude/model-deprecations"   # notice

  # Bedrock
  bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0: {}    # flow
  # the tail of the models
dependencies:
  summarizer:
    model: openai/gpt-4o-2024-08-06
    owners: [alice@example.com]
    eval:
      cases: evals/x.jsonl
      checks:
        - {type: icontains, value: "{{ expected }}"}
"""

TRICKY_AFTER = """\
# The registry. Comments everywhere must survive.
version: 1

models:
  # OpenAI
  openai/gpt-4o-2024-08-06:   # the main one
    retires: 2027-01-14  # note a
    replacement: openai/gpt-4.1
  openai/gpt-4.1:
    retires: 2027-01-14  # note b
  openai/gpt-4o-mini-2024-07-18:
    retires: 2027-01-14  # note c

  # Anthropic
  anthropic/claude-sonnet-4-5-20250929:
    deprecated: 2026-08-01  # note d
    retires: 2026-11-30  # note e
    source: "https://docs.anthropic.com/en/docs/about-claude/model-deprecations"   # notice

  # Bedrock
  bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0:       # flow
    retires: 2027-04-08  # note f
    replacement: bedrock/anthropic.claude-sonnet-4-6  # note g
  # the tail of the models
dependencies:
  summarizer:
    model: openai/gpt-4o-2024-08-06
    owners: [alice@example.com]
    eval:
      cases: evals/x.jsonl
      checks:
        - {type: icontains, value: "{{ expected }}"}
"""


def test_apply_edits_keeps_every_comment_blank_line_and_key_order() -> None:
    edits = {
        "openai/gpt-4o-2024-08-06": [Edit("retires", dt.date(2027, 1, 14), "note a")],
        "openai/gpt-4.1": [Edit("retires", dt.date(2027, 1, 14), "note b")],
        "openai/gpt-4o-mini-2024-07-18": [Edit("retires", dt.date(2027, 1, 14), "note c")],
        "anthropic/claude-sonnet-4-5-20250929": [
            Edit("retires", dt.date(2026, 11, 30), "note e"),
            Edit("deprecated", dt.date(2026, 8, 1), "note d"),
        ],
        "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0": [
            Edit("replacement", "bedrock/anthropic.claude-sonnet-4-6", "note g"),
            Edit("retires", dt.date(2027, 4, 8), "note f"),
        ],
    }
    assert apply_edits(TRICKY, edits) == TRICKY_AFTER


def test_comment_lines_after_the_last_key_stay_after_the_new_one() -> None:
    text = "models:\n  a/x-1:\n    replacement: a/y-2\n\n  # about b\n  a/b-1: {}\n"
    out = apply_edits(text, {"a/x-1": [Edit("source", "https://n.example/a", "from feed")]})
    assert out == (
        "models:\n  a/x-1:\n    replacement: a/y-2\n"
        "    source: https://n.example/a  # from feed\n\n  # about b\n  a/b-1: {}\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        (REPO_ROOT / "models.yaml").read_text(encoding="utf-8"),
        "models:\n    a/b-1:\n        retires: 2027-01-01\nlist:\n-   x\n-   y\n",  # 4 spaces
        "models:\n  a/b-1: {}\nlist:\n- x\n- y\n",  # dashes flush with the key
        "---\nmodels:\n  a/b-1: {}  # c\n",
        "models:\r\n  a/b-1: {}\r\n",
    ],
)
def test_a_round_trip_without_edits_is_byte_identical(text: str) -> None:
    assert apply_edits(text, {}) == text


# --- the command ---------------------------------------------------------------------------

ACCEPTANCE = """\
# Our models. Dates come from `migrate sync`.
version: 1

settings:
  timezone: Europe/Berlin   # review meetings happen in Berlin

models:
  # OpenAI, dated snapshots
  openai/gpt-4o-2024-08-06: {}        # billing
  openai/gpt-4.1-mini-2025-04-14:     # tickets

  # Anthropic, direct
  anthropic/claude-sonnet-4-5-20250929:
    replacement: anthropic/claude-sonnet-4-6   # chosen by dana
  anthropic/claude-sonnet-4-6: {}

  # Anthropic through Amazon Bedrock, plain and a cross-region profile
  bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0: {}
  bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0: {}

dependencies: {}   # none yet
"""

# registry id -> the key of litellm's map that carries its date
ACCEPTANCE_IDS = {
    model: model.split("/", 1)[1]
    for model in (
        "openai/gpt-4o-2024-08-06",
        "openai/gpt-4.1-mini-2025-04-14",
        "anthropic/claude-sonnet-4-5-20250929",
        "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    )
}


def test_sync_finds_the_dates_litellm_knows_and_writes_them_keeping_comments(
    tmp_path: Path, cli: CliRunner
) -> None:
    path = write(tmp_path / "models.yaml", ACCEPTANCE)
    expected = {model: bundled_date(key) for model, key in ACCEPTANCE_IDS.items()}

    result = sync(cli, path)
    assert result.exit_code == 0, result.stderr
    for model, day in expected.items():
        assert f"{model}: retires {day.isoformat()} (from litellm " in result.stdout
    assert "Run `migrate sync --write` to add the 5 missing values" in result.stdout
    assert path.read_text(encoding="utf-8") == ACCEPTANCE  # a report changes nothing

    result = sync(cli, path, "--write")
    assert result.exit_code == 0, result.stderr
    assert "Wrote 5 values to" in result.stdout
    after = path.read_text(encoding="utf-8")
    registry = load_registry(path)
    assert {m: registry.models[m].retires for m in expected} == expected
    # every original comment is still there, in order, and each new key names its source
    original = comment_lines(ACCEPTANCE)
    kept = [c for c in comment_lines(after) if c in original]
    assert kept == original
    for model, key in ACCEPTANCE_IDS.items():
        line = after.split(f"  {model}:", 1)[1].split("retires:", 1)[1].split("\n", 1)[0]
        assert line.endswith(
            f"# migrate sync {TODAY.isoformat()}: litellm {bundled_litellm_version()} {key}"
        )
    # only lines were added: the old text is a subsequence of the new one (an entry's `{}`
    # goes when it gets keys, and its trailing comment may move to keep its column)
    new_lines = iter(after.splitlines())
    assert all(any(same_line(old, new) for new in new_lines) for old in ACCEPTANCE.splitlines())

    again = sync(cli, path, "--write")
    assert "No differences: every model a source knows agrees with it." in again.stdout
    assert path.read_text(encoding="utf-8") == after


def same_line(old: str, new: str) -> bool:
    def spaced(line: str) -> str:
        return re.sub(r"\s+#", " #", line)

    return spaced(old) in (spaced(new), spaced(new).replace(": #", ": {} #"), spaced(new) + " {}")


def bundled_litellm_version() -> str:
    from importlib.metadata import version

    return version("litellm")


def test_sync_json_output(tmp_path: Path, cli: CliRunner) -> None:
    path = write(tmp_path / "models.yaml", ACCEPTANCE)
    result = sync(cli, path, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["written"] is False
    assert data["models_checked"] == 6
    assert data["sources"][0]["kind"] == "litellm"
    assert data["sources"][0]["entries"] == len(bundled_map()) - 1
    first = data["changes"][0]
    assert first == {
        "model": "openai/gpt-4o-2024-08-06",
        "field": "retires",
        "value": bundled_date("gpt-4o-2024-08-06").isoformat(),
        "source": f"litellm {bundled_litellm_version()}",
        "source_id": "gpt-4o-2024-08-06",
        "line": 9,
    }
    assert data["disagreements"] == []


def test_sync_reports_a_disagreement_and_exits_zero(tmp_path: Path, cli: CliRunner) -> None:
    path = write(
        tmp_path / "models.yaml",
        ("version: 1\nmodels:\n  openai/gpt-4o-2024-08-06:\n    retires: 2030-01-01\n"),
    )
    before = path.read_bytes()
    result = sync(cli, path, "--write")
    assert result.exit_code == 0
    litellm_day = bundled_date("gpt-4o-2024-08-06").isoformat()
    assert (
        f"{path}:4: openai/gpt-4o-2024-08-06: retires is 2030-01-01 in the registry, "
        f"{litellm_day} in litellm"
    ) in result.stdout
    assert path.read_bytes() == before


def test_sync_with_a_feed_file_writes_what_the_feed_adds(tmp_path: Path, cli: CliRunner) -> None:
    path = write(
        tmp_path / "models.yaml",
        ("version: 1\nmodels:\n  openai/gpt-4o-2024-08-06: {}   # billing\n  openai/gpt-4.1: {}\n"),
    )
    feed = write(tmp_path / "sync_feed.json", json.dumps({"deprecations": FEED}))
    result = sync(cli, path, "--feed", str(feed), "--write")
    assert result.exit_code == 0, result.stderr
    registry = load_registry(path)
    model = registry.models["openai/gpt-4o-2024-08-06"]
    assert (model.deprecated, model.retires, model.replacement, model.source) == (
        dt.date(2026, 6, 2),
        dt.date(2027, 1, 10),
        "openai/gpt-4.1",
        "https://platform.openai.com/docs/deprecations#gpt-4o",
    )
    text = path.read_text(encoding="utf-8")
    assert "# billing" in text
    assert f"replacement: openai/gpt-4.1  # migrate sync {TODAY}: feed sync_feed.json" in text
    assert "says " + bundled_date("gpt-4o-2024-08-06").isoformat() in result.stdout


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def feed_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A static HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sync_fetches_a_feed_url(tmp_path: Path, cli: CliRunner, feed_server: str) -> None:
    write(tmp_path / "www" / "deprecations.json", json.dumps(FEED))
    path = write(tmp_path / "models.yaml", "version: 1\nmodels:\n  openai/gpt-4o-2024-08-06: {}\n")
    result = sync(cli, path, "--feed", f"{feed_server}/deprecations.json", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sources"][1]["label"] == f"feed {feed_server}/deprecations.json"
    assert {(c["field"], c["value"]) for c in data["changes"]} == {
        ("retires", "2027-01-10"),
        ("deprecated", "2026-06-02"),
        ("replacement", "openai/gpt-4.1"),
        ("source", "https://platform.openai.com/docs/deprecations#gpt-4o"),
    }


def test_a_missing_feed_url_is_a_usage_error(
    tmp_path: Path, cli: CliRunner, feed_server: str
) -> None:
    path = write(tmp_path / "models.yaml", "version: 1\nmodels: {}\n")
    result = sync(cli, path, "--feed", f"{feed_server}/nothing.json")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"migrate: error: feed {feed_server}/nothing.json: HTTP 404 File not found\n"
    )


def test_an_unreachable_feed_is_an_infrastructure_error(
    tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = write(tmp_path / "models.yaml", "version: 1\nmodels: {}\n")
    result = sync(cli, path, "--feed", f"http://127.0.0.1:{port}/feed.json")
    assert result.exit_code == 4
    assert result.stderr.startswith(
        f"migrate: error: feed http://127.0.0.1:{port}/feed.json: cannot fetch"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"count": 3}', "expected a JSON list of deprecations, or an object holding one"),
        (None, "file not found"),
    ],
)
def test_a_bad_feed_file_is_a_usage_error(
    tmp_path: Path, cli: CliRunner, content: str | None, message: str
) -> None:
    path = write(tmp_path / "models.yaml", "version: 1\nmodels: {}\n")
    feed = tmp_path / "sync_feed.json"
    if content is not None:
        feed.write_text(content, encoding="utf-8")
    result = sync(cli, path, "--feed", str(feed))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"migrate: error: feed {feed}: {message}")


def test_a_bad_registry_is_a_usage_error(tmp_path: Path, cli: CliRunner) -> None:
    path = write(tmp_path / "models.yaml", "version: 1\nmodels:\n  openai/x: {retires: soon}\n")
    result = sync(cli, path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"migrate: error: {path}:3: ")
    assert "retires" in result.stderr


def test_the_real_map_has_dates_for_the_example_registry() -> None:
    """The example workspace's dates are litellm's (what its comment promises)."""
    registry = load_registry(REPO_ROOT / "models.yaml")
    report = compare(registry, [read_litellm_map()])
    assert report.disagreements == []
    assert report.changes == []


def test_feed_source_records_type() -> None:
    record = feed_records([{"provider": "OpenAI", "model_id": "gpt-x-1"}])[0][0]
    assert isinstance(record, LifecycleRecord)
    assert record.retires is None and record.url is None
