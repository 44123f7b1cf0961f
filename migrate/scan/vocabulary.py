"""What `migrate scan` looks for, and whether the registry covers what it finds. Pure.

The vocabulary is every registry id (with and without its provider prefix) and every chat
model litellm knows, compiled into one regular expression shaped like a trie, so a file is
searched once whatever the number of models. Matches are whole tokens: `gpt-4` is not
found inside `gpt-4o` or `gpt-4.1`, nor `o1` anywhere (bare names need a digit or a hyphen
and four characters, see `names.looks_like_model_id`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from migrate.lifecycle.names import looks_like_model_id, registry_form, split_model_id
from migrate.lifecycle.sources import LifecycleRecord

SCANNED_MODES = ("chat", "responses")
_LEFT = r"(?<![A-Za-z0-9_.@-])"  # a token starts after a separator ('/' and ':' allowed)
_RIGHT = r"(?![A-Za-z0-9_-]|[.:/@][A-Za-z0-9])"  # and does not run on into a longer id
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
MAX_LINE_TEXT = 200

_Trie = dict[str, "_Trie"]
_ATOM_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_ATOM_TABLE = bytes(c if c in _ATOM_CHARS else 0x20 for c in range(256))
_ATOM_SPLIT = re.compile(r"[^A-Za-z0-9_-]+")


def _key_atom(token: str) -> bytes:
    """The atom of `token` least likely to occur by chance: with a digit or '-', longest."""
    atoms = [a for a in _ATOM_SPLIT.split(token) if a]
    return max(atoms, key=lambda a: (any(c.isdigit() or c == "-" for c in a), len(a))).encode()


@dataclass(frozen=True)
class Hit:
    line: int  # 1-based
    column: int  # 1-based, in characters
    token: str
    text: str  # the line, stripped and shortened


@dataclass(frozen=True)
class Vocabulary:
    pattern: re.Pattern[str]
    suggestions: dict[str, str]  # token -> the registry id to add for it
    providers: frozenset[str]  # prefixes that may precede a token: `openai/` + `gpt-4o`
    key_atoms: frozenset[bytes]  # one atom of every token (see might_contain)

    def might_contain(self, data: bytes) -> bool:
        """False only when no token can be in `data`: a cheap test before the regex.

        An atom is a maximal run of letters, digits, '_' and '-'. A token found as a whole
        token brings all of its atoms into the text as whole atoms, so a text holding none
        of the key atoms holds no token. Splitting bytes is several times faster than the
        regular expression, and most files of a repository mention no model at all.
        """
        return not self.key_atoms.isdisjoint(data.translate(_ATOM_TABLE).split())

    def find(self, text: str) -> Iterator[Hit]:
        """Every model id in `text`, with its line and column."""
        line = 1
        counted_to = 0
        for match in self.pattern.finditer(text):
            start = match.start()
            line += text.count("\n", counted_to, start)
            counted_to = start
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", start)
            if line_end < 0:
                line_end = len(text)
            token = match.group()
            begin = self._provider_prefix(text, line_start, start)
            if begin < start:
                token = text[begin:start] + token
            yield Hit(
                line,
                begin - line_start + 1,
                token,
                text[line_start:line_end].strip()[:MAX_LINE_TEXT],
            )

    def _provider_prefix(self, text: str, line_start: int, start: int) -> int:
        """Where a provider prefix written before the token (`openai/gpt-4o`) begins."""
        if start == line_start or text[start - 1] != "/":
            return start
        begin = start - 1
        while begin > line_start and text[begin - 1] in _PREFIX_CHARS:
            begin -= 1
        if text[begin : start - 1] in self.providers:
            return begin
        return start

    def suggestion(self, token: str) -> str | None:
        return self.suggestions.get(token)


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of `words`, longest first, shaped like a trie."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: _Trie) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: the longer continuations are tried first
            return body + "?" if len(branches) > 1 else "(?:" + body + ")?"
        return body

    return emit(trie)


def build_vocabulary(records: Iterable[LifecycleRecord], registry_ids: Iterable[str]) -> Vocabulary:
    """The tokens to look for: registry ids and litellm's chat models."""
    suggestions: dict[str, str] = {}
    providers: set[str] = set()
    chat = [r for r in records if r.mode in SCANNED_MODES]
    for record in chat:  # ids as litellm writes them first: bare `gpt-4o` is OpenAI's
        providers.update(p for p in (record.provider, record.family) if p)
        key_specific = "/" in record.key or looks_like_model_id(record.name)
        if key_specific and looks_like_model_id(record.key):
            suggestions.setdefault(record.key, registry_form(record.provider, record.key))
    for record in chat:  # then the names behind other providers' prefixes
        if record.name != record.key and looks_like_model_id(record.name):
            suggestions.setdefault(record.name, registry_form(record.provider, record.key))
    for model_id in registry_ids:
        suggestions[model_id] = model_id
        fam, name = split_model_id(model_id)
        if fam is not None:
            providers.add(model_id.split("/", 1)[0])
            if looks_like_model_id(name):
                suggestions.setdefault(name, model_id)
    words = sorted(suggestions)
    first = "".join(sorted({w[0] for w in words}))
    body = _trie_pattern(words) if words else "(?!)"
    lookahead = f"(?=[{re.escape(first)}])" if first else ""
    pattern = re.compile(f"{_LEFT}{lookahead}(?:{body}){_RIGHT}")
    key_atoms = frozenset(_key_atom(w) for w in words if any(_ATOM_SPLIT.split(w)))
    return Vocabulary(pattern, suggestions, frozenset(providers), key_atoms)


@dataclass(frozen=True)
class Coverage:
    """Whether the registry, or the scan allowlist, accounts for a token."""

    ids: frozenset[str]
    names: frozenset[str]  # registry ids without their provider prefix
    allow: tuple[str, ...]

    @classmethod
    def of(cls, registry_ids: Iterable[str], allow: Iterable[str]) -> Coverage:
        ids = frozenset(registry_ids)
        return cls(ids, frozenset(split_model_id(i)[1] for i in ids), tuple(allow))

    def registered(self, token: str) -> bool:
        # A bare `gpt-4o` is what `openai/gpt-4o` calls; `azure/gpt-4o` is another model.
        return token in self.ids or ("/" not in token and token in self.names)

    def allowed(self, token: str) -> bool:
        bare = split_model_id(token)[1]
        for entry in self.allow:
            entry_bare = split_model_id(entry)[1]
            if any(c in entry for c in "*?["):
                if fnmatchcase(token, entry) or fnmatchcase(bare, entry):
                    return True
            elif token == entry or bare == entry or ("/" not in token and token == entry_bare):
                return True
        return False
