"""How different does the candidate feel? The similarity of its answer to the baseline's,
case by case, even where no check fails. Pure.

The metric is chrF (Popović, 2015) with beta = 1, so that it is symmetric: the texts'
character n-grams of orders 1 to 6, whitespace removed; for each order, the F1 of n-gram
precision and recall (counts clipped, as BLEU clips them); the score is the mean F1 over
the orders that both texts are long enough to have. Identical answers score 1, answers that
share no character 0. It measures wording, not meaning: a paraphrase scores lower than its
sense deserves, and answers are compared on their first SIMILARITY_CHARS characters.
"""

from __future__ import annotations

from collections import Counter

from migrate.evals.record import Entry, EntryKey
from migrate.evals.record_pairs import SimilaritySummary
from migrate.evals.scoring import CaseResult
from migrate.evals.stats import quantile

METRIC = "chrF (character 1- to 6-grams, F1, whitespace removed)"
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
) -> SimilaritySummary:
    """Each case's mean similarity over the samples both models answered, summarised."""
    scored: list[tuple[float, str, str, str]] = []  # score, case, baseline, candidate
    for row in rows:
        pairs = []
        for sample in range(samples):
            base = _text(entries, baseline, row.case.id, sample)
            cand = _text(entries, candidate, row.case.id, sample)
            if base is not None and cand is not None:
                pairs.append((chrf(base, cand), base, cand))
        if pairs:
            mean = sum(p[0] for p in pairs) / len(pairs)
            worst = min(pairs, key=lambda p: p[0])
            scored.append((mean, row.case.id, worst[1], worst[2]))
    values = [s[0] for s in scored]
    histogram = [0] * 10
    for value in values:
        histogram[min(int(value * 10), 9)] += 1
    least = sorted(scored, key=lambda s: (s[0], s[1]))[:LEAST_SIMILAR]
    return SimilaritySummary(
        metric=METRIC,
        cases=len(values),
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
