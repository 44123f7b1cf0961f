"""`migrate cases import`: logged production traffic into a dependency's JSONL suite.

Read, refuse what is not understood, scrub personal data, drop duplicates (within the file
and against the suite), draw the sample, then write the suite once, atomically: an error
at any step writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.cases.dedup import DuplicateFinder, exact_key, near_text
from migrate.cases.pii import DEFAULT_PHONE_REGIONS, Scrubber
from migrate.cases.sources import Record, read_source
from migrate.errors import InputError, Problem, UsageError
from migrate.evals.prompt import PromptTemplate, environment
from migrate.evals.suite import CASE_ID, Case, load_suite
from migrate.files import relative_to, write_atomic
from migrate.registry.load import Registry
from migrate.yamlsource import MAX_FILE_BYTES


@dataclass(frozen=True)
class ImportOptions:
    mapping: dict[str, str] = field(default_factory=dict)  # prompt variable -> field
    id_field: str | None = None
    sample: int | None = None
    seed: int = 0
    scrub: bool = True
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS


@dataclass
class ImportResult:
    suite: str  # the suite file, relative to the workspace
    source: str
    kind: str  # chat | records
    read: int
    duplicates: Counter[str]  # exact | near (within the file) | suite (already in it)
    sampled_out: int
    added: list[str]  # the new cases' ids, in file order
    scrubbed: Counter[str] | None  # kind -> values replaced; None with --no-scrub
    suite_cases: int  # after the import


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """`["name=customer.name", ...]` -> {"name": "customer.name"}; UsageError otherwise."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, source = pair.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise UsageError(f"--map {pair!r}: expected VAR=FIELD")
        if name in mapping:
            raise UsageError(f"--map {name}=...: given twice")
        mapping[name] = source
    return mapping


def prompt_variables(prompts: list[PromptTemplate]) -> set[str]:
    from jinja2 import meta

    names: set[str] = set()
    for prompt in prompts:
        names |= meta.find_undeclared_variables(environment().parse(prompt.source))
    return names


def import_cases(
    registry: Registry, dependency: str, file: Path, options: ImportOptions, today: dt.date
) -> ImportResult:
    root = registry.root
    entry = registry.dependencies.get(dependency)
    if entry is None:
        raise UsageError(registry.unknown_dependency(dependency))
    if entry.eval is None:
        where = f"{registry.display_path()}:{registry.line_of('dependencies', dependency)}"
        raise UsageError(
            f"{where}: dependency '{dependency}' has no eval suite; add "
            f"'eval: {{cases: evals/{dependency}.jsonl}}' and import again"
        )
    suite_path = root / entry.eval.cases
    suite_display = relative_to(suite_path, Path.cwd())
    if suite_path.suffix.lower() not in {".jsonl", ".ndjson"}:
        raise UsageError(
            f"{suite_display}: imported cases go into a JSONL suite; this one is "
            f"{suite_path.suffix or 'not JSONL'} (point eval.cases at a .jsonl file)"
        )
    source_display = relative_to(file, Path.cwd())
    prompts = [
        PromptTemplate.from_file(root / name, relative_to(root / name, Path.cwd()))
        for name in entry.prompt_files
    ]
    source = read_source(
        file, source_display, options.mapping, options.id_field, prompt_variables(prompts)
    )
    existing_text, existing = _existing(suite_path, suite_display)
    finder = DuplicateFinder()
    for case in existing:
        messages = case.messages or _rendered(prompts, case, suite_display)
        finder.add(case.id, exact_key(messages), near_text(case.messages, case.vars))
    ids = {case.id for case in existing}

    scrubber = Scrubber(options.phone_regions) if options.scrub else None
    kept: list[tuple[str, Record]] = []
    duplicates: Counter[str] = Counter()
    suite_ids = set(ids)
    stem = _slug(file.stem)
    for record in source.records:
        if scrubber is not None:
            _scrub(record, scrubber)
        messages = record.messages or _rendered(
            prompts, Case(id="new", vars=record.vars or {}, line=record.line), source_display
        )
        key = exact_key(messages)
        text = near_text(record.messages, record.vars)
        found = finder.find(key, text)
        if found is not None:
            duplicates["suite" if found[1] in suite_ids else found[0]] += 1
            continue
        case_id = _new_id(stem, key, ids)
        ids.add(case_id)
        finder.add(case_id, key, text)
        kept.append((case_id, record))
    chosen = kept
    if options.sample is not None and options.sample < len(kept):
        picked = set(random.Random(options.seed).sample(range(len(kept)), options.sample))
        chosen = [item for index, item in enumerate(kept) if index in picked]
    source_path = relative_to(file, root)
    lines = [
        json.dumps(_case_json(case_id, record, source_path, today), ensure_ascii=False)
        for case_id, record in chosen
    ]
    if lines:
        text = existing_text
        if text and not text.endswith("\n"):
            text += "\n"
        text += "\n".join(lines) + "\n"
        size = len(text.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise UsageError(
                f"{suite_display} would be {size:,} bytes, past the {MAX_FILE_BYTES:,} a suite "
                "may hold: import a --sample"
            )
        write_atomic(suite_path, text)
    return ImportResult(
        suite=suite_display,
        source=source_display,
        kind=source.kind,
        read=len(source.records),
        duplicates=duplicates,
        sampled_out=len(kept) - len(chosen),
        added=[case_id for case_id, _ in chosen],
        scrubbed=scrubber.counts if scrubber is not None else None,
        suite_cases=len(existing) + len(chosen),
    )


def _existing(path: Path, display: str) -> tuple[str, list[Case]]:
    if not path.exists():
        return "", []
    from migrate.yamlsource import read_text_limited

    text = read_text_limited(path, display)
    if not any(line.strip() and not line.lstrip().startswith("//") for line in text.split("\n")):
        return text, []
    return text, list(load_suite(path, display).cases)


def _rendered(prompts: list[PromptTemplate], case: Case, display: str) -> list[dict[str, str]]:
    if not prompts:
        raise InputError(
            [Problem(display, case.line, "vars", "the dependency has no prompt to render")]
        )
    variables = dict(case.vars)
    variables.setdefault("expected", case.expected)
    return prompts[0].render(variables, case.id, case.line, display)


def _scrub(record: Record, scrubber: Scrubber) -> None:
    texts = [m["content"] for m in record.messages or []]
    texts.append(json.dumps([record.vars, record.expected, record.original_id]))
    scrubber.new_case(*texts)
    if record.messages is not None:
        record.messages = [{**m, "content": scrubber.scrub(m["content"])} for m in record.messages]
    record.vars = scrubber.scrub_value(record.vars)
    record.expected = scrubber.scrub_value(record.expected)
    record.original_id = scrubber.scrub_value(record.original_id)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40]
    return slug or "imported"


def _new_id(stem: str, key: str, taken: set[str]) -> str:
    """A stable id from the request's content: the same request gets the same id."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    for length in range(10, 65):
        case_id = f"{stem}-{digest[:length]}"
        if case_id not in taken:
            assert CASE_ID.fullmatch(case_id)
            return case_id
    raise UsageError(f"cannot name a new case: '{stem}-{digest}' is taken")  # pragma: no cover


def _case_json(case_id: str, record: Record, source: str, today: dt.date) -> dict[str, Any]:
    data: dict[str, Any] = {"id": case_id}
    if record.messages is not None:
        data["messages"] = record.messages
    else:
        data["vars"] = record.vars
    if record.expected is not None:
        data["expected"] = record.expected
    data["provenance"] = {
        "source": source,
        "line": record.line,
        "imported": today.isoformat(),
        "original_id": record.original_id,
    }
    return data
