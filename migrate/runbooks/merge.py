"""Merge a freshly rendered runbook into the one people have been editing. Pure: text in, text out.

A runbook has three kinds of lines:

- facts: the lines between `<!-- migrate:facts:begin -->` and `<!-- migrate:facts:end -->`
  are generated; regeneration replaces them wholesale;
- steps: checklist lines ending in `<!-- step:ID -->`; the template owns their text, the
  person owns the box: a ticked box ([x] or [X]) stays ticked, matched by ID, even when the
  step's text changes or the step moves;
- everything else. A line of the old file that the new rendering still has (matched in
  order, so that a person's extra blank line is not mistaken for the template's) is the
  template's; any other line is a person's and is kept, right after the nearest preceding
  line that still exists in the new rendering (a step, a template line, a facts block).

So nothing a person wrote is lost: a deleted step comes back unticked, an edited template
line is kept beside the fresh one, a step the template no longer renders is kept as it was.
Merging is idempotent: merging the result again with the same rendering changes nothing.

The one exception: a line that an earlier version of the packaged template rendered
outside the facts, and no person writes (`RETIRED_LINES`), is dropped rather than kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FACTS_BEGIN = "<!-- migrate:facts:begin -->"
FACTS_END = "<!-- migrate:facts:end -->"
SIGNOFFS_MARKER = "<!-- migrate:signoffs -->"

_FACTS_BEGIN = re.compile(r"^\s*<!--\s*migrate:facts:begin(?:\s+[\w.-]+)?\s*-->\s*$")
_FACTS_END = re.compile(r"^\s*<!--\s*migrate:facts:end(?:\s+[\w.-]+)?\s*-->\s*$")
_STEP = re.compile(
    r"^(?P<head>\s*[-*+]\s+\[)(?P<mark>[ xX])(?P<tail>\]\s.*?<!--\s*step:(?P<id>[A-Za-z0-9_.:-]+)"
    r"\s*-->)\s*$"
)

# Lines earlier packaged templates rendered outside the facts, which later ones moved into
# them: the header used to name the plan command, `--quarter` included when none was given.
RETIRED_LINES = (
    re.compile(r"^Written by `migrate plan[^`]*`\. Tick the boxes and add notes on their own$"),
)

# What a unit is, for matching: ("facts", begin line) | ("step", id) | ("text", line)
# | ("marker", line) for a facts marker that has no partner (never kept).
Key = tuple[str, str]


@dataclass(frozen=True)
class _Unit:
    key: Key
    lines: tuple[str, ...]
    mark: str = " "  # the checkbox of a step

    @property
    def checked(self) -> bool:
        return self.mark in "xX"


def step_id(line: str) -> str | None:
    """The id of a checklist step line, or None for any other line."""
    match = _STEP.match(line)
    return match.group("id") if match else None


def checked_steps(text: str) -> dict[str, bool]:
    """Each step id of a runbook (outside facts blocks) and whether its box is ticked."""
    return {u.key[1]: u.checked for u in _parse(text) if u.key[0] == "step"}


def _step_text(line: str) -> str:
    """A step line with its box emptied and trailing blanks removed, for comparison."""
    match = _STEP.match(line)
    assert match is not None
    return f"{match.group('head')} {match.group('tail')}"


def _parse(text: str) -> list[_Unit]:
    lines = text.splitlines()
    units: list[_Unit] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<!--" not in line:  # most lines: no marker, no step (and no regex to run)
            units.append(_Unit(("text", line.rstrip()), (line,)))
        elif _FACTS_BEGIN.match(line):
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if "<!--" in lines[j] and _FACTS_END.match(lines[j])
                ),
                None,
            )
            if end is not None:
                units.append(_Unit(("facts", line.strip()), tuple(lines[i : end + 1])))
                i = end + 1
                continue
            units.append(_Unit(("marker", line.rstrip()), (line,)))
        elif _FACTS_END.match(line):
            units.append(_Unit(("marker", line.rstrip()), (line,)))
        elif match := _STEP.match(line):
            units.append(_Unit(("step", match.group("id")), (line,), match.group("mark")))
        else:
            # Trailing blanks never decide: an editor that strips them keeps a line the same.
            units.append(_Unit(("text", line.rstrip()), (line,)))
        i += 1
    return units


def _demote_duplicate_steps(old: list[_Unit], new: list[_Unit]) -> list[_Unit]:
    """Keep one step per id in `old` (the one whose text the template renders, else the
    first); other lines with the same id are a person's and are treated as plain text."""
    new_text = {u.key[1]: _step_text(u.lines[0]) for u in new if u.key[0] == "step"}
    positions: dict[str, list[int]] = {}
    for index, unit in enumerate(old):
        if unit.key[0] == "step":
            positions.setdefault(unit.key[1], []).append(index)
    result = list(old)
    for ident, indexes in positions.items():
        if len(indexes) == 1:
            continue
        wanted = new_text.get(ident)
        primary = next((i for i in indexes if _step_text(old[i].lines[0]) == wanted), indexes[0])
        for i in indexes:
            if i != primary:
                result[i] = _Unit(("text", old[i].lines[0].rstrip()), old[i].lines)
    return result


def _common_subsequence(a: Sequence[Key], b: Sequence[Key]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of `a` and `b`, in order."""
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    pairs = [(k, k) for k in range(start)]
    mid_a, mid_b = a[start:end_a], b[start:end_b]
    if mid_a and mid_b:
        n, m = len(mid_a), len(mid_b)
        # suffix[i][j]: the length of an LCS of mid_a[i:] and mid_b[j:]
        suffix = [[0] * (m + 1) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            row, below = suffix[i], suffix[i + 1]
            key = mid_a[i]
            for j in range(m - 1, -1, -1):
                row[j] = below[j + 1] + 1 if key == mid_b[j] else max(below[j], row[j + 1])
        i = j = 0
        while i < n and j < m:
            if mid_a[i] == mid_b[j]:
                pairs.append((start + i, start + j))
                i += 1
                j += 1
            elif suffix[i + 1][j] >= suffix[i][j + 1]:
                i += 1
            else:
                j += 1
    pairs.extend((end_a + k, end_b + k) for k in range(len(a) - end_a))
    return pairs


def merge_runbook(old: str | None, new: str) -> str:
    """`new` (a fresh rendering) with the ticked boxes and the lines people added to `old`."""
    rendered = _join(new.splitlines())
    if old is None or not old.strip() or old == rendered:  # nothing to keep, or nothing new
        return rendered
    fresh = _parse(new)
    previous = _demote_duplicate_steps(_parse(old), fresh)

    # Where each old unit went in the new rendering: matched in order first, then steps and
    # facts blocks that moved are found by their key.
    target: dict[int, int] = dict(
        _common_subsequence([u.key for u in previous], [u.key for u in fresh])
    )
    taken = set(target.values())
    for index, unit in enumerate(previous):
        if index in target or unit.key[0] not in ("step", "facts"):
            continue
        moved = next((j for j, u in enumerate(fresh) if u.key == unit.key and j not in taken), None)
        if moved is not None:
            target[index] = moved
            taken.add(moved)

    marks: dict[int, str] = {}
    kept: dict[int, list[str]] = {}  # new unit index (-1: the top) -> a person's lines after it
    anchor = -1
    for index, unit in enumerate(previous):
        if index in target:
            anchor = target[index]
            if unit.key[0] == "step":
                marks[anchor] = unit.mark
        elif unit.key[0] in ("facts", "marker"):
            continue  # generated: an old facts block, or a marker that lost its partner
        elif unit.key[0] == "text" and any(r.match(unit.key[1]) for r in RETIRED_LINES):
            continue  # generated by an earlier template
        else:
            kept.setdefault(anchor, []).extend(unit.lines)

    out: list[str] = list(kept.get(-1, []))
    for j, unit in enumerate(fresh):
        if unit.key[0] == "step" and marks.get(j, " ") in "xX" and not unit.checked:
            match = _STEP.match(unit.lines[0])
            assert match is not None
            out.append(f"{match.group('head')}{marks[j]}{match.group('tail')}")
        else:
            out.extend(unit.lines)
        out.extend(kept.get(j, []))
    return _join(out)


def _join(lines: Iterable[str]) -> str:
    text = "\n".join(lines)
    return text + "\n" if text else ""
