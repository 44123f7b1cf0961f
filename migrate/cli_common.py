"""What every command line command shares: the common options, how they are read, the one
clock, and the one handler that maps a user-facing error to a message and an exit code."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from migrate import __version__
from migrate.errors import ExitCode, MigrateError


def now() -> dt.datetime:
    """The one clock: every timestamp a command records comes from here."""
    return dt.datetime.now(dt.UTC)


def parse_today(value: str | None) -> dt.date:
    """`--today` as a date, or the local date when it is not given."""
    if value is None:
        return dt.datetime.now().astimezone().date()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None
    from migrate.registry.schema import EARLIEST_DATE, LATEST_DATE

    if not EARLIEST_DATE <= day <= LATEST_DATE:  # the schedule's arithmetic would overflow
        raise typer.BadParameter(
            f"'{value}' is not between {EARLIEST_DATE.year} and {LATEST_DATE.year}"
        )
    return day


RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-r",
        envvar="MIGRATE_REGISTRY",
        show_envvar=True,
        help="The registry file [default: ./models.yaml].",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TodayOption = Annotated[
    str | None,
    typer.Option(
        "--today",
        metavar="YYYY-MM-DD",
        help="Evaluate dates as of this day (reproducible output) [default: today].",
    ),
]


def run_command(command: Callable[[], int]) -> None:
    """Run a command; map user errors to one message and the documented exit code."""
    try:
        code = command()
    except MigrateError as exc:
        typer.echo(f"migrate: error: {exc.message}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        typer.echo("migrate: interrupted", err=True)
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:  # an internal error: short message, traceback only on request
        if os.environ.get("MIGRATE_DEBUG"):
            raise
        typer.echo(
            f"migrate: internal error: {type(exc).__name__}: {exc}\n"
            "(set MIGRATE_DEBUG=1 to see the traceback)",
            err=True,
        )
        raise typer.Exit(int(ExitCode.INFRA)) from None
    raise typer.Exit(int(code))


def registry_of(ctx: typer.Context, option: Path | None) -> Path:
    """The registry: the command's own --registry, else the one given before the command
    (`migrate --registry FILE plan`), else $MIGRATE_REGISTRY, else ./models.yaml."""
    from migrate.registry.load import registry_path

    source = ctx.get_parameter_source("registry")
    given_here = option is not None and source is not None and source.name == "COMMANDLINE"
    before = ctx.find_root().params.get("registry")
    chosen = option if given_here or before is None else before
    return registry_path(str(chosen) if chosen else None)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"migrate {__version__}")
        raise typer.Exit()
