"""Every command has --help text that mentions each of its options (as sqlite-utils'
tests/test_docs.py does for its documentation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from conftest import invoke
from typer.testing import CliRunner

from migrate import __version__
from migrate.cli import app

ROOT = typer.main.get_command(app)  # a click group (typer ships its own copy of click)
COMMANDS = sorted(ROOT.commands)  # type: ignore[attr-defined]
# Every command a user runs, by its words: groups (`migrate cases`) contribute their commands.
LEAVES = {
    " ".join([name, *([sub] if sub else [])]): (
        ROOT.commands[name].commands[sub] if sub else ROOT.commands[name]  # type: ignore[attr-defined]
    )
    for name in COMMANDS
    for sub in (sorted(getattr(ROOT.commands[name], "commands", {})) or [None])  # type: ignore[attr-defined]
}
DOCUMENTED = ["init", "check", "status", "calendar", "plan", "run", "report", "signoff", "sync",
              "scan", "cases"]  # fmt: skip


def test_every_documented_command_exists() -> None:
    assert set(DOCUMENTED) <= set(COMMANDS)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_root_help_lists_every_command_and_the_exit_codes(cli: CliRunner, flag: str) -> None:
    result = invoke(cli, flag)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: migrate ")
    for name in COMMANDS:
        assert f"\n  {name} " in result.stdout, f"{name} missing from migrate --help"
    for code in ("0 ok or PASS", "1 FAIL", "2 usage or registry error", "3 INCONCLUSIVE",
                 "4 infrastructure error"):  # fmt: skip
        assert code in " ".join(result.stdout.split())
    assert "--version" in result.stdout


def test_no_arguments_shows_the_help(cli: CliRunner) -> None:
    result = invoke(cli)
    assert "Usage: migrate " in result.stdout + result.stderr
    assert result.exit_code in (0, 2)  # click's no_args_is_help exits 2 since click 8.2


def test_version(cli: CliRunner) -> None:
    result = invoke(cli, "--version")
    assert result.exit_code == 0
    assert result.stdout == f"migrate {__version__}\n"


@pytest.mark.parametrize("name", sorted({*COMMANDS, *LEAVES}))
def test_command_help_mentions_every_option(cli: CliRunner, name: str) -> None:
    command = LEAVES.get(name) or ROOT.commands[name]  # type: ignore[attr-defined]
    assert command.help and command.help.strip(), f"{name} has no docstring"
    result = invoke(cli, *name.split(), "--help")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith(f"Usage: migrate {name}")
    assert " ".join(command.help.split()[:6]) in " ".join(text.split())
    for param in command.params:
        if param.param_type_name == "option":
            assert param.help, f"migrate {name}: {param.opts[0]} has no help text"
            for flag in [*param.opts, *param.secondary_opts]:
                assert flag in text, f"migrate {name} --help does not mention {flag}"
        elif param.param_type_name == "argument":
            assert param.name in text
            assert param.help and " ".join(param.help.split()) in " ".join(text.split())


@pytest.mark.parametrize("name", [n for n in LEAVES if n not in {"init", "scan", "report"}])
def test_commands_that_read_dates_take_today(name: str) -> None:
    flags = {flag for p in LEAVES[name].params for flag in p.opts}
    assert "--today" in flags


@pytest.mark.parametrize("name", [n for n in LEAVES if n != "init"])
def test_commands_that_read_the_registry_take_registry_and_json(cli: CliRunner, name: str) -> None:
    flags = {flag for p in LEAVES[name].params for flag in p.opts}
    assert {"--registry", "--json"} <= flags
    assert "MIGRATE_REGISTRY" in invoke(cli, *name.split(), "--help").stdout


REGISTRY = """\
version: 1
models:
  vendor/old: {retires: 2027-06-30}
dependencies:
  DEP:
    model: vendor/old
    owners: [alice@example.com]
"""


def test_registry_before_the_command_works_as_the_help_says(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("first", "second", "third"):
        (tmp_path / f"{name}.yaml").write_text(REGISTRY.replace("DEP", f"{name}-dep"))

    def due(*args: str) -> list[str]:
        result = invoke(cli, *args, "--today", "2026-10-15", "--json", cwd=tmp_path)
        assert result.exit_code == 0, result.output + result.stderr
        return [entry["dependency"] for entry in json.loads(result.stdout)["due"]]

    assert "--registry" in invoke(cli, "--help").stdout
    assert due("--registry", "first.yaml", "plan", "--no-write") == ["first-dep"]
    assert due("-r", "first.yaml", "plan", "--no-write") == ["first-dep"]
    # the command's own option wins over the one before it
    assert due("--registry", "first.yaml", "plan", "-r", "second.yaml", "--no-write") == [
        "second-dep"
    ]
    # given before the command, it wins over the environment; the environment is used
    # when neither is given
    monkeypatch.setenv("MIGRATE_REGISTRY", "third.yaml")
    assert due("--registry", "first.yaml", "plan", "--no-write") == ["first-dep"]
    assert due("plan", "--no-write") == ["third-dep"]
    status = invoke(cli, "--registry", "second.yaml", "status", "--json", cwd=tmp_path)
    assert [row["dependency"] for row in json.loads(status.stdout)] == ["second-dep"]
