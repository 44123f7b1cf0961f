"""`migrate cases import DEP FILE`: load, import, say what was added and scrubbed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from migrate.cases.importer import ImportOptions, ImportResult, import_cases, parse_mapping
from migrate.cases.pii import DEFAULT_PHONE_REGIONS, describe_counts
from migrate.console import print_json, say
from migrate.errors import ExitCode, UsageError
from migrate.registry.load import load_registry


def describe(result: ImportResult) -> list[str]:
    duplicates = result.duplicates
    dropped = sum(duplicates.values())
    lines = [
        f"Added {len(result.added)} case{'s' if len(result.added) != 1 else ''} to "
        f"{result.suite} ({result.suite_cases} in all) from {result.source}: "
        f"{result.read} {'requests' if result.kind == 'chat' else 'records'} read, "
        f"{dropped} duplicate{'s' if dropped != 1 else ''} dropped ({duplicates['exact']} "
        f"exact, {duplicates['near']} near, {duplicates['suite']} already in the suite)"
        + (f", {result.sampled_out} left out of the sample" if result.sampled_out else "")
        + "."
    ]
    if result.scrubbed is None:
        lines.append("Not scrubbed (--no-scrub): the cases hold the text as it was logged.")
    else:
        lines.append(f"Scrubbed: {describe_counts(result.scrubbed)}.")
    return lines


def import_(
    registry_path: Path,
    today: dt.date,
    dependency: str,
    file: Path,
    *,
    mapping: list[str],
    id_field: str | None,
    sample: int | None,
    seed: int,
    scrub: bool,
    phone_regions: list[str] | None,
    as_json: bool,
) -> int:
    regions = tuple(r.upper() for r in phone_regions) if phone_regions else DEFAULT_PHONE_REGIONS
    _check_regions(regions)
    registry = load_registry(registry_path, check_files=False)
    options = ImportOptions(
        mapping=parse_mapping(mapping),
        id_field=id_field,
        sample=sample,
        seed=seed,
        scrub=scrub,
        phone_regions=regions,
    )
    result = import_cases(registry, dependency, file, options, today)
    if as_json:
        print_json(
            {
                "suite": result.suite,
                "source": result.source,
                "format": result.kind,
                "read": result.read,
                "duplicates": {k: result.duplicates[k] for k in ("exact", "near", "suite")},
                "sampled_out": result.sampled_out,
                "added": result.added,
                "suite_cases": result.suite_cases,
                "scrubbed": dict(result.scrubbed) if result.scrubbed is not None else None,
            }
        )
    else:
        for line in describe(result):
            say(line)
    return ExitCode.OK


def _check_regions(regions: tuple[str, ...]) -> None:
    import phonenumbers

    known = phonenumbers.SUPPORTED_REGIONS
    for region in regions:
        if region not in known:
            raise UsageError(f"--phone-region {region}: not a region libphonenumber knows")
