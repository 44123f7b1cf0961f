"""How different does the candidate feel? The similarity of its answer to the baseline's,
case by case, even where no check fails. Pure.

The metric is chrF (Popović, 2015) with beta = 1, so that it is symmetric: the texts'
character n-grams of orders 1 to 6, whitespace removed; for each order, the F1 of n-gram
precision and recall (counts clipped, as BLEU clips them); the score is the mean F1 over
the orders that both texts are long enough to have. Identical answers score 1, answers that
share no character 0. It measures wording, not meaning: a paraphrase scores lower than its
sense deserves, and answers are compared on their first SIMILARITY_CHARS characters.

With `settings.embedding_model` set, similarity is by meaning instead: the cosine of the two
answers' embeddings, both embedded in one request through the model seam and journaled as a
`similar` entry (a rerun asks nothing again). Identical answers are 1 without a call; an
answer pair whose embedding failed is left out and counted apart, never scored by the other
metric, so one run's figures share one metric.
"""

from __future__ import annotations

import json
import math
from collections import Counter

from migrate.evals.record import Entry, EntryKey
from migrate.evals.record_pairs import SimilaritySummary
from migrate.evals.scoring import CaseResult
from migrate.evals.stats import quantile

METRIC = "chrF (character 1- to 6-grams, F1, whitespace removed)"
SIMILAR = "similar"  # the journal kind of an answer pair's embedding request
MAX_ORDER = 6
SIMILARITY_CHARS = 8000
LEAST_SIMILAR = 5
PREVIEW = 1500


def chrf(first: str, second: str) -> float:
    """The symmetric chrF similarity of two texts, in [0, 1]."""
    a = "".join(first[:SIMILARITY_CHARS].split())
    b = "".join(second[:SIMILARITY_CHARS].split())
    if a == b:
        return 1.0
    scores = []
    for order in range(1, MAX_ORDER + 1):
        grams_a = Counter(a[i : i + order] for i in range(len(a) - order + 1))
        grams_b = Counter(b[i : i + order] for i in range(len(b) - order + 1))
        if not grams_a or not grams_b:
            continue
        matches = sum((grams_a & grams_b).values())
        precision = matches / sum(grams_a.values())
        recall = matches / sum(grams_b.values())
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def similarity_texts(baseline: str, candidate: str) -> list[str] | None:
    """What an embedding request for the pair sends; None when the answers are identical."""
    if baseline == candidate:
        return None
    return [baseline[:SIMILARITY_CHARS], candidate[:SIMILARITY_CHARS]]


def embedding_metric(model: str) -> str:
    return f"cosine similarity of {model}'s embeddings"


def cosine(first: list[float], second: list[float]) -> float:
    norms = math.sqrt(sum(x * x for x in first)) * math.sqrt(sum(y * y for y in second))
    if len(first) != len(second) or norms == 0:
        raise ValueError("vectors of different lengths, or a zero vector")
    return sum(x * y for x, y in zip(first, second, strict=True)) / norms


def _embedded(entry: Entry | None) -> float | None:
    """The cosine of a `similar` entry's two vectors; None when it failed or is unreadable."""
    if entry is None or entry.record.error is not None:
        return None
    try:
        vectors = json.loads(entry.record.text or "")
        return cosine(vectors[0], vectors[1])
    except (ValueError, TypeError, IndexError):
        return None


def _text(entries: dict[EntryKey, Entry], model: str, case: str, sample: int) -> str | None:
    entry = entries.get(("generate", model, case, sample, ""))
    if entry is None or entry.record.error is not None:
        return None
    return entry.record.text or ""


def similarity(
    baseline: str,
    candidate: str,
    rows: list[CaseResult],
    samples: int,
    entries: dict[EntryKey, Entry],
    embedding_model: str | None = None,
) -> SimilaritySummary:
    """Each case's mean similarity over the samples both models answered, summarised: by
    chrF, or by the embeddings of `embedding_model` when the run has one."""
    scored: list[tuple[float, str, str, str]] = []  # score, case, baseline, candidate
    unmeasured = 0
    for row in rows:
        pairs = []
        for sample in range(samples):
            base = _text(entries, baseline, row.case.id, sample)
            cand = _text(entries, candidate, row.case.id, sample)
            if base is None or cand is None:
                continue
            if embedding_model is None:
                score: float | None = chrf(base, cand)
            elif base == cand:
                score = 1.0
            else:
                key = (SIMILAR, embedding_model, row.case.id, sample, candidate)
                score = _embedded(entries.get(key))
            if score is None:
                unmeasured += 1
            else:
                pairs.append((score, base, cand))
        if pairs:
            mean = sum(p[0] for p in pairs) / len(pairs)
            worst = min(pairs, key=lambda p: p[0])
            scored.append((mean, row.case.id, worst[1], worst[2]))
    values = [s[0] for s in scored]
    histogram = [0] * 10
    for value in values:  # a negative cosine counts in the lowest tenth
        histogram[max(0, min(int(value * 10), 9))] += 1
    least = sorted(scored, key=lambda s: (s[0], s[1]))[:LEAST_SIMILAR]
    return SimilaritySummary(
        metric=METRIC if embedding_model is None else embedding_metric(embedding_model),
        cases=len(values),
        unmeasured=unmeasured,
        mean=sum(values) / len(values) if values else None,
        quantiles={
            f"p{int(q * 100)}": round(at, 4)
            for q in (0.1, 0.25, 0.5, 0.75, 0.9)
            if (at := quantile(values, q)) is not None
        },
        histogram=histogram,
        least_similar=[
            {
                "case": case,
                "similarity": round(score, 4),
                "baseline": base[:PREVIEW],
                "candidate": cand[:PREVIEW],
            }
            for score, case, base, cand in least
            if score < 1.0
        ],
    )
