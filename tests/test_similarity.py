"""chrF similarity of two answers: values computed by hand from the definition."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.evals.similarity import chrf
from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import case_of, correct, run_dirs, summary_of, write_workspace


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


# --- by meaning: the registry's embedding model, end to end ------------------------------------

NO_COST_GATE = {"cost_increase": "null"}  # the other wording is longer, so dearer
COSINES = {"c006": 0.65, "c007": 0.05, "c008": -0.8, "c009": 0.96}  # the rest answer alike


@pytest.fixture
def embedding_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-similarity")

    def candidate(request: Request) -> Reply:
        case = case_of(request)
        return Reply(text=f"In other words, {case}." if case in COSINES else f"answer-{case}")

    # Unit vectors: the baseline's answer along x, the candidate's at the planned cosine.
    vectors = {f"answer-{case}": [1.0, 0.0] for case in COSINES}
    for case, cos in COSINES.items():
        vectors[f"In other words, {case}."] = [cos, math.sqrt(1 - cos * cos)]
    with ScriptedServer({"good": correct(), "cand": candidate}, vectors=vectors) as server:
        yield server


@pytest.mark.parametrize("workers", ["1", "2"])  # 2: embeddings are asked of worker processes
def test_with_an_embedding_model_similarity_is_the_cosine_of_the_answers(
    cli: CliRunner, tmp_path: Path, embedding_server: ScriptedServer, workers: str
) -> None:
    server = embedding_server
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=10,
        checks="[{type: not_refusal}]",
        gates=NO_COST_GATE,  # the wording differs, the answers are all fine
        extra_models=f'  openai/emb: {{api_base: "{server.api_base}", api_key_env: TEST_LLM_KEY}}',
        settings={"embedding_model": "openai/emb"},
    )
    first = invoke(cli, "run", "dep", "--no-progress", "--workers", workers, cwd=root)
    assert first.exit_code in (0, 3), first.output
    # Four pairs differ, each embedded once in one request; identical answers are not sent.
    assert sum(server.embedded.values()) == 8
    assert set(server.embedded) == {f"answer-{c}" for c in COSINES} | {
        f"In other words, {c}." for c in COSINES
    }
    similarity = summary_of(run_dirs(root)[0])["candidates"]["openai/cand"]["similarity"]
    assert similarity["metric"] == "cosine similarity of openai/emb's embeddings"
    assert similarity["cases"] == 10 and similarity["unmeasured"] == 0
    # By hand: six answers alike (1 each) and the four planned cosines, over ten cases.
    assert similarity["mean"] == pytest.approx((6 + 0.65 + 0.05 - 0.8 + 0.96) / 10)
    assert similarity["histogram"] == [2, 0, 0, 0, 0, 0, 1, 0, 0, 7]
    assert [(d["case"], d["similarity"]) for d in similarity["least_similar"]] == [
        ("c008", -0.8), ("c007", 0.05), ("c006", 0.65), ("c009", 0.96),
    ]  # fmt: skip
    second = invoke(cli, "run", "dep", "--no-progress", cwd=root)
    assert second.exit_code == first.exit_code
    assert sum(server.embedded.values()) == 8  # served from the journal's cache


def test_without_an_embedding_model_similarity_stays_chrf(
    cli: CliRunner, tmp_path: Path, embedding_server: ScriptedServer
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        embedding_server.api_base,
        cases=10,
        checks="[{type: not_refusal}]",
        gates=NO_COST_GATE,
    )
    assert invoke(cli, "run", "dep", "--no-progress", cwd=root).exit_code in (0, 3)
    similarity = summary_of(run_dirs(root)[0])["candidates"]["openai/cand"]["similarity"]
    assert similarity["metric"].startswith("chrF")
    assert sum(embedding_server.embedded.values()) == 0
