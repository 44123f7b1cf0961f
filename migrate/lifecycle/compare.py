"""Compare the registry's lifecycle dates with sources. Pure: registry and records in.

Matching is deliberately conservative. Only an exact match (the same id once the provider
prefix is removed, in the same provider family) can become a change that `--write` applies;
a dated alias (`gpt-4o` against `gpt-4o-2024-08-06`) or another Bedrock region of the same
model is only ever a suggestion. A value the registry already holds is never overwritten:
a different value in a source is reported as a disagreement for a person to settle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from migrate.lifecycle.names import base_name, split_model_id, strip_region
from migrate.lifecycle.sources import LifecycleRecord, Source
from migrate.registry.load import Registry
from migrate.registry.schema import Model

MAX_IDS_PER_SUGGESTION = 3


@dataclass(frozen=True)
class Change:
    """A value the registry lacks and an exact match supplies (`--write` adds it)."""

    model: str
    field: str  # retires | deprecated | replacement | source
    value: dt.date | str
    source: str  # the source's label, e.g. "litellm 1.110.2"
    source_id: str  # the id the source uses for the model
    line: int | None


@dataclass(frozen=True)
class Disagreement:
    """The registry holds a value and an exactly matching source says otherwise."""

    model: str
    field: str
    registry: dt.date | str
    source_value: dt.date | str
    source: str
    source_id: str
    line: int | None


@dataclass(frozen=True)
class Suggestion:
    """Something worth a look that is never written: inexact matches and open questions."""

    model: str
    kind: str  # alias | region | ambiguous | replacements | sources_disagree | order
    source: str
    source_ids: tuple[str, ...]
    retires: dt.date | None
    message: str
    line: int | None


@dataclass
class SyncReport:
    models_checked: int = 0
    local_models: list[str] = field(default_factory=list)  # served by api_base: skipped
    unmatched: list[str] = field(default_factory=list)  # no source knows them (a typo?)
    changes: list[Change] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)

    def changes_by_model(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.model, []).append(change)
        return grouped


class SourceIndex:
    """A source's records looked up by id, by (family, name) and by (family, base name)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._by_key: dict[str, list[LifecycleRecord]] = {}
        self._by_name: dict[tuple[str | None, str], list[LifecycleRecord]] = {}
        self._by_base: dict[tuple[str | None, str], list[LifecycleRecord]] = {}
        for record in source.records:
            self._by_key.setdefault(record.key.lower(), []).append(record)
            self._by_name.setdefault((record.family, record.name.lower()), []).append(record)
            self._by_base.setdefault((record.family, base_name(record.name)), []).append(record)

    def exact(self, model_id: str) -> list[LifecycleRecord]:
        """Records naming exactly this model: the same id, or the same name in its family."""
        by_key = self._by_key.get(model_id.lower())
        if by_key:
            return list(by_key)
        fam, name = split_model_id(model_id)
        if fam is None:
            return []
        return list(self._by_name.get((fam, name.lower()), []))

    def near(self, model_id: str) -> list[tuple[LifecycleRecord, str]]:
        """Records of the same model under another snapshot or region: (record, kind)."""
        fam, name = split_model_id(model_id)
        if fam is None:
            return []
        lowered = name.lower()
        out = []
        for record in self._by_base.get((fam, base_name(name)), []):
            other = record.name.lower()
            if other == lowered:
                continue
            kind = "region" if strip_region(other) == strip_region(lowered) else "alias"
            out.append((record, kind))
        return out


def compare(registry: Registry, sources: Sequence[Source]) -> SyncReport:
    """Every change, disagreement and suggestion for the registry's models."""
    # A feed the user chose outranks the bundled map when both name a missing date.
    ordered = sorted(sources, key=lambda s: s.kind != "feed")
    indexes = [SourceIndex(s) for s in ordered]
    report = SyncReport()
    for model_id, model in registry.models.items():
        if model.api_base is not None:
            report.local_models.append(model_id)  # a server of the user's own: no lifecycle
            continue
        report.models_checked += 1
        _compare_model(registry, model_id, model, indexes, report)
    return report


@dataclass(frozen=True)
class _Found:
    source: Source
    value: dt.date
    source_id: str


def _single(records: list[LifecycleRecord], attribute: str) -> tuple[dt.date | None, str, bool]:
    """The one date exact records agree on, the id carrying it, and whether they disagree."""
    dated = [(getattr(r, attribute), r.key) for r in records if getattr(r, attribute)]
    values = {value for value, _ in dated}
    if len(values) > 1:
        return None, ", ".join(sorted({key for _, key in dated})), True
    if not dated:
        return None, records[0].key if records else "", False
    return dated[0][0], dated[0][1], False


def _compare_model(
    registry: Registry, model_id: str, model: Model, indexes: list[SourceIndex], report: SyncReport
) -> None:
    line = registry.line_of("models", model_id)

    def line_of(key: str) -> int | None:
        return registry.line_of("models", model_id, key)

    exact: list[tuple[Source, list[LifecycleRecord]]] = []
    near = False
    for index in indexes:
        records = index.exact(model_id)
        if records:
            exact.append((index.source, records))
        else:
            near = _suggest_near(model_id, model, index, line, report) or near
    if not exact and not near:
        report.unmatched.append(model_id)

    # retires
    found: list[_Found] = []
    for source, records in exact:
        retires, source_id, ambiguous = _single(records, "retires")
        if ambiguous:
            report.suggestions.append(
                Suggestion(
                    model_id,
                    "ambiguous",
                    source.label,
                    tuple(source_id.split(", ")),
                    None,
                    f"exact matches in {source.label} disagree on the retirement date",
                    line,
                )
            )
        elif retires is not None:
            found.append(_Found(source, retires, source_id))
    new_retires = model.retires
    if model.retires is None and found:
        chosen = found[0]
        new_retires = chosen.value
        report.changes.append(
            Change(model_id, "retires", chosen.value, chosen.source.label, chosen.source_id, line)
        )
        for other in found[1:]:
            if other.value != chosen.value:
                report.suggestions.append(
                    Suggestion(
                        model_id,
                        "sources_disagree",
                        other.source.label,
                        (other.source_id,),
                        other.value,
                        f"{other.source.label} says {other.value}; the "
                        f"{chosen.source.label} date {chosen.value} was taken",
                        line,
                    )
                )
    elif model.retires is not None:
        for item in found:
            if item.value != model.retires:
                report.disagreements.append(
                    Disagreement(
                        model_id,
                        "retires",
                        model.retires,
                        item.value,
                        item.source.label,
                        item.source_id,
                        line_of("retires"),
                    )
                )

    for source, records in exact:
        _feed_fields(model_id, model, source, records, new_retires, line, line_of, report)


def _suggest_near(
    model_id: str, model: Model, index: SourceIndex, line: int | None, report: SyncReport
) -> bool:
    """Suggest the dated records of other snapshots or regions; whether there were any."""
    groups: dict[tuple[str, dt.date], list[str]] = {}
    near = index.near(model_id)
    for record, kind in near:
        if record.retires is None or record.retires == model.retires:
            continue
        groups.setdefault((kind, record.retires), []).append(record.key)
    for (kind, retires), keys in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        keys = sorted(set(keys))
        shown = keys[:MAX_IDS_PER_SUGGESTION]
        more = f" and {len(keys) - len(shown)} more" if len(keys) > len(shown) else ""
        what = "another region of" if kind == "region" else "another snapshot or alias of"
        report.suggestions.append(
            Suggestion(
                model_id,
                kind,
                index.source.label,
                tuple(shown),
                retires,
                f"{', '.join(shown)}{more} ({what} this model) retires {retires} in "
                f"{index.source.label}; not an exact match, so nothing is written",
                line,
            )
        )
    return bool(near)


def _feed_fields(
    model_id: str,
    model: Model,
    source: Source,
    records: list[LifecycleRecord],
    retires: dt.date | None,
    line: int | None,
    line_of: Callable[[str], int | None],
    report: SyncReport,
) -> None:
    """`deprecated`, `replacement` and `source`: what a feed adds beyond the date."""
    deprecated, source_id, ambiguous = _single(records, "deprecated")
    if deprecated is not None and not ambiguous:
        if model.deprecated is None:
            if retires is None or deprecated <= retires:
                report.changes.append(
                    Change(model_id, "deprecated", deprecated, source.label, source_id, line)
                )
            else:
                report.suggestions.append(
                    Suggestion(
                        model_id,
                        "order",
                        source.label,
                        (source_id,),
                        retires,
                        f"{source.label} announces on {deprecated}, after the retirement date "
                        f"{retires}; not written",
                        line,
                    )
                )
        elif model.deprecated != deprecated:
            report.disagreements.append(
                Disagreement(
                    model_id,
                    "deprecated",
                    model.deprecated,
                    deprecated,
                    source.label,
                    source_id,
                    line_of("deprecated"),
                )
            )

    replacements: list[str] = []
    for record in records:
        for replacement in record.replacements:
            as_registry_id = _registry_id(replacement, model_id)
            if as_registry_id not in replacements:
                replacements.append(as_registry_id)
    first_id = records[0].key
    if replacements:
        if model.replacement is None and len(replacements) == 1:
            report.changes.append(
                Change(model_id, "replacement", replacements[0], source.label, first_id, line)
            )
        elif model.replacement is None:
            report.suggestions.append(
                Suggestion(
                    model_id,
                    "replacements",
                    source.label,
                    (first_id,),
                    retires,
                    f"{source.label} suggests replacements {', '.join(replacements)}; pick one",
                    line,
                )
            )
        elif model.replacement not in replacements:
            report.disagreements.append(
                Disagreement(
                    model_id,
                    "replacement",
                    model.replacement,
                    ", ".join(replacements),
                    source.label,
                    first_id,
                    line_of("replacement"),
                )
            )

    if model.source is None and source.kind == "feed":
        url = next((r.url for r in records if r.url), None)
        if url is not None:
            report.changes.append(Change(model_id, "source", url, source.label, first_id, line))


def _registry_id(replacement: str, model_id: str) -> str:
    """A feed's bare replacement in the registry's naming: `gpt-4.1` -> `openai/gpt-4.1`."""
    if "/" in replacement:
        return replacement
    prefix, sep, _ = model_id.partition("/")
    return f"{prefix}/{replacement}" if sep else replacement
