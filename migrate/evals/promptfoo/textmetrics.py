"""Text measures promptfoo's assertions use: edit distance, ROUGE-N, JSON found in text."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from migrate.evals.promptfoo.jsvalues import json_parse


def utf16_units(text: str) -> list[int]:
    """The UTF-16 code units of `text`: JavaScript strings count these, not code points."""
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i] | data[i + 1] << 8 for i in range(0, len(data), 2)]


def levenshtein(a: str, b: str) -> int:
    """Edit distance over UTF-16 code units (as fastest-levenshtein measures in promptfoo)."""
    import Levenshtein  # C implementation: outputs run to thousands of characters

    return int(Levenshtein.distance(utf16_units(a), utf16_units(b)))


# Penn Treebank tokenization, the steps js-rouge applies before counting n-grams.
_CONTRACTIONS = [
    re.compile(rf"(?<![\w\u200c\u200d]){pattern}(?![\w\u200c\u200d])", re.IGNORECASE)
    for pattern in (
        "(can)(not)",
        "(d)('ye)",
        "(gim)(me)",
        "(gon)(na)",
        "(got)(ta)",
        "(lem)(me)",
        "(more)('n)",
        "(wan)(na)(?= )",
        "('t)(is)",
        "('t)(was)",
    )
]


def treebank_tokens(text: str) -> list[str]:
    text = re.sub(r"[\s\u0085]+", " ", text).strip()
    if not text:
        return []

    def quote(match: re.Match[str]) -> str:
        start = match.start()
        opening = start == 0 or text[start - 1] in " ([{<"
        return " `` " if opening else " '' "

    text = re.sub(r"``|''|\"", quote, text)
    text = text.replace("...", " ... ")
    text = re.sub(r"[:,](?!\d)", lambda m: f" {m.group(0)} ", text)
    text = re.sub(r"[;@#$%&]", lambda m: f" {m.group(0)} ", text)
    text = re.sub(r"([^.])(?<!\b[A-Za-z]\.[A-Za-z])(\.)([\])}>'\s]*)$", r"\1 \2\3 ", text)
    text = re.sub(r"[?!]", lambda m: f" {m.group(0)} ", text)
    text = re.sub(r"[\][(){}<>]", lambda m: f" {m.group(0)} ", text)
    text = text.replace("--", " -- ")
    text = f" {text} "
    text = re.sub(r"([^'])' ", r"\1 ' ", text)
    text = re.sub(r"'([sSmMdD]) ", r" '\1 ", text)
    text = re.sub(r"('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r" \1 ", text)
    for pattern in _CONTRACTIONS:
        text = pattern.sub(lambda m: " " + " ".join(g for g in m.groups() if g) + " ", text)
    text = re.sub(r" {2,}", " ", text).strip(" ")
    return text.split(" ")


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    """ROUGE-N F1 with clipped n-gram counts, on lowercased text (promptfoo's rouge-n)."""
    cand = treebank_tokens(candidate.lower())
    ref = treebank_tokens(reference.lower())
    if len(cand) < n or len(ref) < n:
        return 0.0
    cand_grams, ref_grams = _ngrams(cand, n), _ngrams(ref, n)
    ref_counts = Counter(ref_grams)
    overlap = sum(min(c, ref_counts[g]) for g, c in Counter(cand_grams).items())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(cand_grams), overlap / len(ref_grams)
    if precision == recall:
        return precision
    return 2 * precision * recall / (precision + recall)


def _slash_comments_to_hash(text: str) -> str:
    """`// comment` to `# comment` outside quotes (promptfoo does this before parsing)."""
    out_lines = []
    for line in text.split("\n"):
        state, result, i = "normal", "", 0
        while i < len(line):
            char, nxt = line[i], line[i + 1 : i + 2]
            prev = line[i - 1] if i > 0 else ""
            if state == "normal":
                if char == "'" and not prev.isalpha():
                    state = "single"
                elif char == '"':
                    state = "double"
                elif char == "/" and nxt == "/":
                    token_start = 0
                    for j in range(i - 1, -1, -1):
                        if line[j].isspace():
                            token_start = j + 1
                            break
                    if "://" in line[token_start : i + 2]:
                        result += char
                        break
                    count = 2
                    while i + count < len(line) and line[i + count] == "/":
                        count += 1
                    result += "#" * (count // 2) + line[i + count :]
                    break
                result += char
            elif state == "single":
                result += char
                if char == "'" and not _escaped(line, i) and not nxt.isalpha():
                    state = "normal"
            else:
                result += char
                if char == '"' and not _escaped(line, i):
                    state = "normal"
            i += 1
        out_lines.append(result)
    return "\n".join(out_lines)


def _escaped(line: str, index: int) -> bool:
    count = 0
    while index - count - 1 >= 0 and line[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _parse_object(text: str) -> Any:
    try:
        return json_parse(text)
    except ValueError:
        pass
    from migrate.errors import InputError
    from migrate.evals.promptfoo.yaml12 import parse_yaml12

    try:  # promptfoo reads candidates as YAML: `{a: 1}` counts as an object too
        return parse_yaml12(_slash_comments_to_hash(text), "output").data
    except (InputError, RecursionError):
        return None


def json_objects(text: str, max_length: int = 100_000) -> list[Any]:
    """Every `{...}` object in `text`, scanning as promptfoo's contains-json does."""
    found: list[Any] = []
    i = 0
    while i < len(text):
        if text[i] == "{":
            opened, closed, j = 1, 0, i + 1
            while j < min(i + max_length, len(text)) and opened > closed:
                if text[j] == "{":
                    opened += 1
                if text[j] == "}":
                    closed += 1
                j += 1
                if opened == closed or j == len(text) or j == i + max_length:
                    candidate = text[i:j] + "}" * max(opened - closed, 0)
                    parsed = _parse_object(candidate)
                    if isinstance(parsed, dict | list):
                        found.append(parsed)
                        i = j - 1
                        break
                    if opened == closed:
                        break
        i += 1
    return found
