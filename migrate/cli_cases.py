"""`migrate cases ...`: the options of the commands that grow a dependency's eval suite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrate.cli_common import (
    JsonOption,
    RegistryOption,
    TodayOption,
    parse_today,
    registry_of,
    run_command,
)

cases_app = typer.Typer(
    name="cases",
    help="Grow a dependency's eval suite from real traffic.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@cases_app.command(name="import")
def import_(
    ctx: typer.Context,
    dependency: Annotated[str, typer.Argument(help="The dependency id from the registry.")],
    file: Annotated[
        Path,
        typer.Argument(
            help='Logged requests or tickets: OpenAI chat JSONL ({"messages": [...]} per '
            "line), or records with one field per prompt variable (.jsonl, .json, .csv).",
            show_default=False,
        ),
    ],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="VAR=FIELD",
            help="Fill the prompt variable VAR from FIELD (a column, a key, or a dotted path "
            "like requester.email); repeatable. `id=FIELD` names the original id, "
            "`expected=FIELD` the reference answer. Without it, every column must be a "
            "prompt variable, `id` or `expected`.",
        ),
    ] = None,
    id_field: Annotated[
        str | None,
        typer.Option("--id-field", metavar="FIELD", help="The field with the original id."),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, metavar="N", help="Add N of the new cases at random."),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", help="Seed of the --sample draw.")
    ] = 0,
    scrub: Annotated[
        bool,
        typer.Option(
            "--scrub/--no-scrub",
            help="Replace e-mail addresses, phone numbers, card numbers, IBANs, IP addresses "
            "and API keys by placeholders before writing. --no-scrub writes them as logged.",
        ),
    ] = True,
    phone_region: Annotated[
        list[str] | None,
        typer.Option(
            "--phone-region",
            metavar="CC",
            help="Also find national phone numbers of this region (ISO 3166 code, "
            "repeatable) [default: US GB DE FR IN]; numbers with a + country code are "
            "always found.",
        ),
    ] = None,
    registry: RegistryOption = None,
    today: TodayOption = None,
    json: JsonOption = False,
) -> None:
    """Add logged production requests or support tickets to a dependency's suite: personal
    data scrubbed, duplicates dropped (also against the suite), provenance recorded. Bad
    input writes nothing and exits 2."""
    from migrate.commands import cases as command

    day = parse_today(today)
    run_command(
        lambda: command.import_(
            registry_of(ctx, registry),
            day,
            dependency,
            file,
            mapping=mapping or [],
            id_field=id_field,
            sample=sample,
            seed=seed,
            scrub=scrub,
            phone_regions=phone_region or None,
            as_json=json,
        )
    )
