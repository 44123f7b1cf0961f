"""`migrate init`: a workspace that passes check, calendar and plan straight away, and that
never loses a file someone already has."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import git, init_repo, invoke, write
from pre_commit.clientlib import load_config
from test_sync import bundled_map
from typer.testing import CliRunner

from migrate.lifecycle.sources import LifecycleRecord
from migrate.registry.load import load_registry
from migrate.scaffolding import (
    EXAMPLE_MIN_DAYS,
    FALLBACK_EXAMPLE,
    ExampleModel,
    InstallSource,
    choose_example,
    hooks_block,
    scaffold_files,
    scaffold_values,
)

SCAFFOLDED = [
    ".github/workflows/model-migrations.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "evals/ticket_summary.jsonl",
    "models.yaml",
    "prompts/ticket_summary.md.j2",
]


def packaged_templates() -> dict[str, bytes]:
    folder = importlib.resources.files("migrate").joinpath("templates")
    return {e.name: e.read_bytes() for e in folder.iterdir() if e.is_file()}


def today() -> dt.date:
    return dt.datetime.now().astimezone().date()


def init(cli: CliRunner, directory: Path, *extra: str) -> Any:
    return invoke(cli, "init", str(directory), *extra)


def scaffolded(result: Any) -> None:
    """Exit 0, every file listed as created and the next steps said."""
    assert result.exit_code == 0, result.stderr
    for name in SCAFFOLDED:
        assert f"created  {name}\n" in result.stdout
    assert "\nNext:\n" in result.stdout


def test_init_then_check_calendar_and_plan_succeed(tmp_path: Path, cli: CliRunner) -> None:
    workspace = tmp_path / "new-workspace"
    result = init(cli, workspace)
    assert result.exit_code == 0, result.stderr
    for name in SCAFFOLDED:
        assert f"created  {name}\n" in result.stdout
        assert (workspace / name).is_file()
    for name, data in packaged_templates().items():
        assert (workspace / "templates" / name).read_bytes() == data

    # The example's 8 cases cannot PASS its 5-point margin; init said so, and check says so
    # with the cases it needs (by hand: 5 points need n > 3.8415 x 19 = 72.99, so 73).
    shortfall = (
        "ticket-summarizer: its 8-case suite cannot rule out a drop smaller than 32.4 points "
        "even if the models agree on every case, so its pass_rate_drop of 5 points can never "
        "PASS: grow the suite to 73 cases (`migrate cases import ticket-summarizer FILE` adds "
        "logged requests)"
    )
    assert f"\nBefore the example's first run (`migrate check` says it too):\n  {shortfall}\n" in (
        result.stdout
    )
    check = invoke(cli, "check", cwd=workspace)
    assert check.exit_code == 0, check.stdout + check.stderr
    assert "0 errors, 1 warning" in check.stdout
    assert check.stderr == f"models.yaml:58: warning: {shortfall}\n"
    calendar = invoke(cli, "calendar", cwd=workspace)
    assert calendar.exit_code == 0, calendar.stderr
    assert re.fullmatch(  # four windows, four reviews and the example's retirement
        r"Wrote calendar\.ics: 9 events for \d{4}Q[1-4]-\d{4}Q[1-4] "
        r"\(9 added, 0 changed, 0 unchanged, 0 cancelled\)\n",
        calendar.stdout,
    ), calendar.stdout
    assert (workspace / "calendar.ics").read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
    plan = invoke(cli, "plan", "--json", cwd=workspace)
    assert plan.exit_code == 0, plan.stderr
    due = json.loads(plan.stdout)["due"]
    assert [d["dependency"] for d in due] == ["ticket-summarizer"]
    assert (workspace / due[0]["runbook"]).is_file()


def test_the_example_dependency_is_on_a_real_model_with_its_real_date(
    tmp_path: Path, cli: CliRunner
) -> None:
    scaffolded(init(cli, tmp_path))
    registry = load_registry(tmp_path / "models.yaml")
    dependency = registry.dependencies["ticket-summarizer"]
    model = registry.models[dependency.model]
    litellm_key = dependency.model.removeprefix("openai/")
    assert bundled_map()[litellm_key]["deprecation_date"] == model.retires.isoformat()
    assert model.retires >= today() + dt.timedelta(days=EXAMPLE_MIN_DAYS)
    assert model.replacement == dependency.candidates[0]
    assert "deprecation_date" not in bundled_map()[dependency.candidates[0].split("/")[1]]
    local = registry.models["openai/local-model"]
    assert (local.api_base, local.api_key_env) == ("http://127.0.0.1:8080/v1", "LOCAL_LLM_KEY")
    assert registry.dependencies["ticket-summarizer"].owners == ["owner@example.com"]
    # the suite and the prompt are real: every case renders
    from migrate.evals.prompt import PromptTemplate
    from migrate.evals.suite import load_suite

    assert dependency.eval is not None
    suite = load_suite(tmp_path / dependency.eval.cases)
    prompt = PromptTemplate.from_file(tmp_path / dependency.prompt_files[0], "prompt")
    assert len(suite) == 8
    for case in suite.cases:
        assert prompt.render(case.vars, case.id, case.line, "suite")


def test_the_scaffold_is_clean_for_sync_and_scan(tmp_path: Path, cli: CliRunner) -> None:
    workspace = init_repo(tmp_path / "ws")
    scaffolded(init(cli, workspace))
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "Scaffold the workspace")
    sync = invoke(cli, "sync", "--json", cwd=workspace)
    assert sync.exit_code == 0
    assert json.loads(sync.stdout)["changes"] == []
    assert json.loads(sync.stdout)["disagreements"] == []
    scan = invoke(cli, "scan", cwd=workspace)
    assert scan.exit_code == 0, scan.stderr
    tracked = len(git(workspace, "ls-files").split()) - 1  # every file but the registry
    assert scan.stdout == f"Scanned {tracked} tracked files: 0 uses of registered models.\n"


def test_existing_files_are_skipped_and_listed(tmp_path: Path, cli: CliRunner) -> None:
    mine = write(tmp_path / "models.yaml", "# my registry\nversion: 1\n")
    write(tmp_path / "templates" / "runbook.md.j2", "my runbook\n")
    result = init(cli, tmp_path)
    assert result.exit_code == 0
    assert "skipped  models.yaml (exists; --force overwrites it)\n" in result.stdout
    assert "skipped  templates/runbook.md.j2 (exists; --force overwrites it)\n" in result.stdout
    assert "created  prompts/ticket_summary.md.j2\n" in result.stdout
    assert mine.read_text(encoding="utf-8") == "# my registry\nversion: 1\n"
    assert (tmp_path / "templates" / "runbook.md.j2").read_text(encoding="utf-8") == "my runbook\n"

    again = init(cli, tmp_path)
    assert again.exit_code == 0
    assert "created" not in again.stdout
    assert "Nothing written: every file of the workspace already exists" in again.stdout


def test_force_replaces_existing_files(tmp_path: Path, cli: CliRunner) -> None:
    write(tmp_path / "models.yaml", "# my registry\nversion: 1\n")
    result = init(cli, tmp_path, "--force")
    assert result.exit_code == 0
    assert "replaced models.yaml\n" in result.stdout
    assert load_registry(tmp_path / "models.yaml").dependencies


def test_init_into_a_file_is_a_usage_error(tmp_path: Path, cli: CliRunner) -> None:
    target = write(tmp_path / "taken", "a file\n")
    result = init(cli, target)
    assert result.exit_code == 2
    assert result.stderr == f"migrate: error: {target}: exists and is not a directory\n"


# --- choosing the example model (pure) -----------------------------------------------------


def snapshot(key: str, retires: str | None, url: str | None = None) -> LifecycleRecord:
    day = dt.date.fromisoformat(retires) if retires else None
    return LifecycleRecord(key, "openai", key, day, url=url, mode="chat", provider="openai")


RECORDS = [
    snapshot("gpt-4o-2024-08-06", "2027-01-14"),
    snapshot("gpt-5.1-2025-11-13", "2027-04-01", "https://example.com/deprecations"),
    snapshot("gpt-5-2025-08-07", "2026-12-11"),
    snapshot("gpt-4o-audio-preview-2024-12-17", "2027-06-01"),  # not a plain text snapshot
    snapshot("gpt-5.4", None),
    snapshot("gpt-5.10", None),
    snapshot("gpt-5.1", "2027-04-01"),  # has a date: never the candidate
    snapshot("gpt-6-preview", None),  # not a flagship name
]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-09-01", ("openai/gpt-5-2025-08-07", "2026-12-11")),  # soonest beyond 90 days
        ("2026-11-26", ("openai/gpt-5.1-2025-11-13", "2027-04-01")),
        ("2027-03-01", ("openai/gpt-5.1-2025-11-13", "2027-04-01")),  # none far enough: latest
    ],
)
def test_choose_example(day: str, expected: tuple[str, str]) -> None:
    example = choose_example(RECORDS, dt.date.fromisoformat(day))
    assert (example.model, example.retires.isoformat()) == expected
    assert example.candidate == "openai/gpt-5.10"  # 5.10 is newer than 5.4


def test_choose_example_takes_the_notice_url_or_the_provider_page() -> None:
    assert choose_example(RECORDS, dt.date(2026, 11, 26)).source == (
        "https://example.com/deprecations"
    )
    assert choose_example(RECORDS, dt.date(2026, 9, 1)).source == FALLBACK_EXAMPLE.source


def test_choose_example_without_any_dated_snapshot_falls_back() -> None:
    assert choose_example([snapshot("gpt-5.4", None)], dt.date(2026, 11, 26)) == FALLBACK_EXAMPLE


# --- the pre-commit entry ------------------------------------------------------------------

EXAMPLE = ExampleModel(
    "openai/gpt-x-2026-01-01", dt.date(2027, 6, 1), "openai/gpt-y", "https://e.x"
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (InstallSource("migrate==0.1.0"), {"repo": "local"}),
        (
            InstallSource(
                "migrate @ git+https://git.example.com/tools/migrate@v0.1.0",
                "https://git.example.com/tools/migrate",
                "v0.1.0",
            ),
            {"repo": "https://git.example.com/tools/migrate", "rev": "v0.1.0"},
        ),
    ],
)
def test_the_pre_commit_config_uses_migrate_hooks_and_is_valid(
    tmp_path: Path, source: InstallSource, expected: dict[str, str]
) -> None:
    values = scaffold_values(EXAMPLE, source, "a@example.com", dt.date(2026, 11, 26))
    files = scaffold_files(values)
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_bytes(files[".pre-commit-config.yaml"])
    loaded = load_config(str(config))  # pre-commit's own schema
    (repo,) = loaded["repos"]
    assert {k: repo[k] for k in expected} == expected
    assert [h["id"] for h in repo["hooks"]] == ["migrate-check", "migrate-scan"]
    assert hooks_block(source) in config.read_text(encoding="utf-8")
    workflow = files[".github/workflows/model-migrations.yml"].decode()
    assert f'MIGRATE_REQUIREMENT: "{source.requirement}"' in workflow
    assert "@@" not in "".join(f.decode(errors="replace") for f in files.values())


def test_a_command_in_an_empty_folder_points_to_init(cli: CliRunner, tmp_path: Path) -> None:
    result = invoke(cli, "plan", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        "migrate: error: models.yaml: file not found; no registry here yet: `migrate init` "
        "creates a workspace with one, or give its path with --registry FILE or "
        "$MIGRATE_REGISTRY\n"
    )
    elsewhere = invoke(cli, "status", "--registry", "team/models.yaml", cwd=tmp_path)
    assert "`migrate init team` creates a workspace with one" in elsewhere.stderr
    other = invoke(cli, "check", "--registry", "llm.yaml", cwd=tmp_path)
    assert other.stderr == (
        "migrate: error: llm.yaml: file not found; check the path (`migrate init` creates a "
        "models.yaml)\n"
    )
    # and the advice works: init, then the same command
    scaffolded(init(cli, tmp_path))
    assert invoke(cli, "plan", "--no-write", cwd=tmp_path).exit_code == 0
