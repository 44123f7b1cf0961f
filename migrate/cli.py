"""The command line: parses options and hands plain values to one function per command.

Commands import their implementation lazily so that `migrate --help` and the planning
commands never pay for litellm (several seconds to import).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from migrate.cli_cases import cases_app
from migrate.cli_common import (
    JsonOption,
    RegistryOption,
    TodayOption,
    now,
    parse_today,
    registry_of,
    run_command,
    show_version,
)

app = typer.Typer(
    name="migrate",
    help="Turn LLM model migration from a fire drill into a calendar event.\n\n"
    "Reads ./models.yaml (or --registry / $MIGRATE_REGISTRY). Exit codes: 0 ok or PASS, "
    "1 FAIL, 2 usage or registry error, 3 INCONCLUSIVE, 4 infrastructure error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a local may hold an API key
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            "-r",
            metavar="FILE",
            help="The registry file for the command that follows (its own --registry wins) "
            "[default: $MIGRATE_REGISTRY, else ./models.yaml].",
        ),
    ] = None,
) -> None:
    """Turn LLM model migration from a fire drill into a calendar event."""


@app.command()
def check(
    ctx: typer.Context,
    registry: RegistryOption = None,
    today: TodayOption = None,
    json: JsonOption = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also preflight every model as `migrate run` would: provider known, key "
            "variable set, parameters accepted. No model is called.",
        ),
    ] = False,
) -> None:
    """Validate the registry; warn on near deadlines; fail on retirements inside the safety
    margin without an approved sign-off. Fast enough for a pre-commit hook."""
    from migrate.commands import check as command

    day = parse_today(today)
    run_command(lambda: command.run(registry_of(ctx, registry), day, json, deep, os.environ))


@app.command()
def status(
    ctx: typer.Context,
    registry: RegistryOption = None,
    today: TodayOption = None,
    json: JsonOption = False,
) -> None:
    """One table: dependency, model, retirement, days left, window, last verdict, sign-off,
    baseline age and owner activity."""
    from migrate.commands import status as command

    day = parse_today(today)
    run_command(lambda: command.run(registry_of(ctx, registry), day, json))


@app.command()
def calendar(
    ctx: typer.Context,
    registry: RegistryOption = None,
    today: TodayOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The feed file; the previous feed there is the state that keeps "
            "UIDs and SEQUENCE stable [default: calendar.ics beside the registry; "
            "calendar-<owner>.ics with --owner].",
        ),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", metavar="EMAIL", help="Only this owner's dependencies.")
    ] = None,
    quarters: Annotated[
        int, typer.Option("--quarters", min=1, max=20, help="How many quarters ahead to publish.")
    ] = 4,
    json: JsonOption = False,
) -> None:
    """Write the ICS feed of migration windows, review meetings and retirement deadlines."""
    from migrate.commands import calendar as command

    day = parse_today(today)
    run_command(lambda: command.run(registry_of(ctx, registry), day, out, owner, quarters, json))


@app.command()
def plan(
    ctx: typer.Context,
    registry: RegistryOption = None,
    today: TodayOption = None,
    quarter: Annotated[
        str | None,
        typer.Option(
            "--quarter",
            "-q",
            metavar="YYYYQn",
            help="The quarter to plan [default: the quarter of the next migration window].",
        ),
    ] = None,
    write: Annotated[
        bool,
        typer.Option("--write/--no-write", help="Write the runbooks (or only list what is due)."),
    ] = True,
    json: JsonOption = False,
) -> None:
    """List what is due in a quarter and why; write one runbook per due dependency under
    runbooks/<quarter>/, keeping every ticked box and every line a person added."""
    from migrate.commands import plan as command

    day = parse_today(today)
    run_command(lambda: command.run(registry_of(ctx, registry), day, quarter, write, json))


@app.command(name="run")
def run_(
    ctx: typer.Context,
    dependency: Annotated[str, typer.Argument(help="The dependency id from the registry.")],
    registry: RegistryOption = None,
    today: TodayOption = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate",
            "-c",
            help="Evaluate this candidate (repeatable) [default: the dependency's candidates].",
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples", "-k", min=1, max=100, help="Samples per case [default: eval.samples]."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-j",
            min=1,
            max=512,
            help="Calls in flight at most [default: settings.run.concurrency].",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=256,
            help="Processes making the calls, for a fast or self-hosted server where CPU is "
            "the limit; 1: this process [default: settings.run.workers, else, on Linux, "
            "every core when the run has more than 300 calls].",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0.1, help="Seconds per call [default: settings.run.timeout_seconds]."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="Only the first N cases (a quick look, not a verdict)."
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="RUN_ID",
            help="Continue this run (default: the latest unfinished "
            "run with the same inputs is continued automatically).",
        ),
    ] = None,
    new: Annotated[
        bool, typer.Option("--new", help="Start a fresh run even if an unfinished one matches.")
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Serve identical requests from this dependency's runs of "
            "the last settings.run.cache_max_age_days days.",
        ),
    ] = True,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            metavar="USD",
            min=0.0,
            help="Refuse to start when the estimated cost exceeds this (exit 2); stop calling "
            "once the spend reaches it (resume with a larger budget).",
        ),
    ] = None,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Send the calls through the providers' batch APIs, at batch prices: exit 5 "
            "while batches are out; run the same command again to collect "
            "[default: settings.run.batch].",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Run every case, even where a sequential run would stop once the verdict is "
            "settled [default: settings.run.sequential].",
        ),
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")
    ] = True,
    json: JsonOption = False,
) -> None:
    """Re-baseline the current model, run the candidate(s), diff them with paired statistics
    and write the sign-off report. The exit code is the verdict."""
    from migrate.commands import run as command

    day = parse_today(today)
    run_command(
        lambda: command.run(
            registry_of(ctx, registry),
            day,
            dependency,
            candidates=candidate or None,
            samples=samples,
            concurrency=concurrency,
            workers=workers,
            timeout=timeout,
            limit=limit,
            resume=resume,
            new=new,
            use_cache=cache,
            budget=budget,
            batch=batch,
            full=full,
            progress=progress,
            as_json=json,
            now=now,
        )
    )


@app.command()
def report(
    ctx: typer.Context,
    run: Annotated[
        str, typer.Argument(help="A run directory, or a run id (searched under runbooks/).")
    ],
    registry: RegistryOption = None,
    json: JsonOption = False,
) -> None:
    """Re-render a run's summary.json, report.md, report.html and junit.xml from its journal,
    without a model call."""
    from migrate.commands import report as command

    run_command(lambda: command.run(registry_of(ctx, registry), run, json, now))


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"
    keep = "keep"


@app.command()
def signoff(
    ctx: typer.Context,
    dependency: Annotated[str, typer.Argument(help="The dependency id from the registry.")],
    decision: Annotated[
        Decision,
        typer.Option(
            "--decision",
            "-d",
            help="approve the candidate, reject it, or keep the current model.",
            case_sensitive=False,
        ),
    ],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Who decides (an owner).")],
    note: Annotated[str | None, typer.Option("--note", help="Why, in a sentence.")] = None,
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            metavar="REASON",
            help="Approve despite a FAIL or INCONCLUSIVE verdict, "
            "or as a non-owner; the reason is recorded.",
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", metavar="RUN_ID", help="Decide on this run [default: the latest]."),
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option("--candidate", "-c", help="The approved candidate, when the run had several."),
    ] = None,
    registry: RegistryOption = None,
    today: TodayOption = None,
    json: JsonOption = False,
) -> None:
    """Record an owner's decision on the latest run and commit it to git with a
    Signed-off-by trailer. Nothing is pushed."""
    from migrate.commands import signoff as command

    day = parse_today(today)
    run_command(
        lambda: command.run(
            registry_of(ctx, registry),
            day,
            dependency,
            decision.value,
            by,
            note=note,
            override=override,
            run_id=run,
            candidate=candidate,
            as_json=json,
        )
    )


@app.command()
def sync(
    ctx: typer.Context,
    registry: RegistryOption = None,
    today: TodayOption = None,
    feed: Annotated[
        str | None,
        typer.Option(
            "--feed",
            metavar="FILE_OR_URL",
            help="A deprecations feed in the deprecations.info JSON format.",
        ),
    ] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write", help="Write exact-match dates into models.yaml, keeping every comment."
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Compare registry lifecycle dates with litellm's bundled model map and a deprecations
    feed; report (or write) the differences."""
    from migrate.commands import sync as command

    day = parse_today(today)
    run_command(lambda: command.run(registry_of(ctx, registry), day, feed, write, json))


@app.command()
def scan(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="The repository to scan [default: the registry's repository]."),
    ] = None,
    registry: RegistryOption = None,
    json: JsonOption = False,
) -> None:
    """Find model ids in the repository's tracked files that the registry does not know.
    Exit 1 when there are any."""
    from migrate.commands import scan as command

    run_command(lambda: command.run(registry_of(ctx, registry), path, json))


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the workspace.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    today: TodayOption = None,
) -> None:
    """Scaffold a workspace: models.yaml, templates/, an example prompt and eval suite, the
    quarterly workflow and a pre-commit entry."""
    from migrate.commands import init as command

    day = parse_today(today)
    run_command(lambda: command.run(directory, force, day))


app.add_typer(cases_app)


def main() -> None:
    # pydantic searches every installed distribution's entry points for plugins the first
    # time it builds a model (a tenth of a planning command's start); migrate uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app(prog_name="migrate")


if __name__ == "__main__":  # pragma: no cover
    main()
