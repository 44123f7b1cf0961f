"""Duplicate requests: exact, and near (the same request with a typo, a greeting, a space).

- Exact: the same messages after whitespace runs are collapsed.
- Near: the Jaccard similarity of the two requests' sets of character 5-grams is at least
  NEAR_THRESHOLD (0.9), after lowercasing and reducing punctuation and whitespace to single
  spaces, and both hold the same numbers in the same order: numbers are what tell "where is
  order 5001?" from "where is order 5002?", two requests that differ in one character of
  many. For a chat request the text compared is its non-system messages (a shared system
  prompt would make every pair look alike); for a case with variables, their values.
  Candidate pairs are found with MinHash locality-sensitive hashing (one-permutation
  hashing with densification, 128 bins in 16 bands of 8, which finds a pair at 0.9
  similarity with probability 0.9999); each candidate is then confirmed by the exact
  Jaccard similarity, so the threshold is exact, never an estimate.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

NEAR_THRESHOLD = 0.9
SHINGLE = 5
BINS, BANDS = 128, 16
ROWS = BINS // BANDS
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads crc32's bits over 64
_MASK = (1 << 64) - 1
_EMPTY = 1 << 64
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)
_NUMBERS = re.compile(r"\d+")


def exact_key(messages: list[dict[str, str]]) -> str:
    """Equal for requests that differ only in whitespace."""
    flat = [[m["role"], " ".join(m["content"].split())] for m in messages]
    return hashlib.sha256(json.dumps(flat, ensure_ascii=False).encode()).hexdigest()


def near_text(messages: list[dict[str, str]] | None, variables: dict[str, Any] | None) -> str:
    """The part of a request that tells it apart from its neighbours."""
    if messages is not None:
        parts = [m["content"] for m in messages if m["role"] != "system"]
    else:
        parts = [json.dumps(v, ensure_ascii=False) for _, v in sorted((variables or {}).items())]
    return " ".join(_PUNCTUATION.sub(" ", " ".join(parts).lower()).split())


def shingles(text: str) -> set[int]:
    if len(text) <= SHINGLE:
        return {zlib.crc32(text.encode())}
    return {zlib.crc32(text[i : i + SHINGLE].encode()) for i in range(len(text) - SHINGLE + 1)}


def jaccard(a: set[int], b: set[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def sketch(items: set[int]) -> list[int]:
    """One-permutation MinHash: the minimum hash per bin, empty bins filled from the next
    non-empty bin to the right (Shrivastava and Li's densification by rotation)."""
    bins = [_EMPTY] * BINS
    for item in items:
        mixed = (item * _MIX) & _MASK
        index = mixed >> 57  # top 7 bits: the bin
        value = mixed & ((1 << 57) - 1)
        if value < bins[index]:
            bins[index] = value
    if all(v == _EMPTY for v in bins):
        return bins
    filled = list(bins)
    for index in range(BINS):
        step = 0
        while bins[(index + step) % BINS] == _EMPTY:
            step += 1
        if step:
            filled[index] = bins[(index + step) % BINS] + step * (1 << 57)
    return filled


@dataclass
class DuplicateFinder:
    """Remembers the requests seen so far; says which one a new request duplicates."""

    _exact: dict[str, str] = field(default_factory=dict)  # exact key -> case id
    _texts: dict[str, str] = field(default_factory=dict)  # case id -> near text
    _bands: dict[tuple[int, tuple[int, ...]], list[str]] = field(default_factory=dict)

    def find(self, key: str, text: str) -> tuple[str, str] | None:
        """("exact" | "near", the id of the earlier request), or None when it is new."""
        if key in self._exact:
            return "exact", self._exact[key]
        mine, numbers = shingles(text), _NUMBERS.findall(text)
        seen: set[str] = set()
        for band in self._band_keys(mine):
            for other in self._bands.get(band, []):
                if other in seen:
                    continue
                seen.add(other)
                theirs = self._texts[other]
                if (
                    _NUMBERS.findall(theirs) == numbers
                    and jaccard(mine, shingles(theirs)) >= NEAR_THRESHOLD
                ):
                    return "near", other
        return None

    def add(self, case_id: str, key: str, text: str) -> None:
        self._exact.setdefault(key, case_id)
        self._texts[case_id] = text
        for band in self._band_keys(shingles(text)):
            self._bands.setdefault(band, []).append(case_id)

    @staticmethod
    def _band_keys(items: set[int]) -> list[tuple[int, tuple[int, ...]]]:
        values = sketch(items)
        return [(b, tuple(values[b * ROWS : (b + 1) * ROWS])) for b in range(BANDS)]
