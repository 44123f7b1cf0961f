"""chrF similarity of two answers: values computed by hand from the definition."""

from __future__ import annotations

import pytest

from migrate.evals.similarity import chrf


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # orders 1-3: unigrams 2 of 3 shared (F1 2/3), bigrams 1 of 2 (1/2), trigrams 0
        ("abc", "abd", (2 / 3 + 1 / 2 + 0) / 3),
        # unigrams: 2 matches, P 2/3, R 1, F1 0.8; bigrams: P 1/2, R 1, F1 2/3; no trigram in "ab"
        ("aab", "ab", (0.8 + 2 / 3) / 2),
        ("The same answer.", "The same answer.", 1.0),
        ("a b c", "abc", 1.0),  # whitespace is not compared
        ("xyz", "abc", 0.0),
        ("", "", 1.0),
        ("", "text", 0.0),
    ],
)
def test_chrf_by_hand(first: str, second: str, expected: float) -> None:
    assert chrf(first, second) == pytest.approx(expected)
    assert chrf(second, first) == pytest.approx(expected)  # beta = 1: symmetric


def test_a_paraphrase_is_closer_than_a_different_answer() -> None:
    base = "Your refund of 40 euros was sent to the card you paid with."
    close = "We sent your 40 euro refund to the card you paid with."
    other = "Sorry, I could not find that order."
    assert chrf(base, close) > chrf(base, other)
