"""A run's cost: the estimate before the first call, --budget, the measured spend and the
projected monthly cost. Expected values are counted by hand in the comments."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from migrate.evals.cost import Price, approximate_tokens, estimate_run, projection
from migrate.evals.inputs import RunOptions, prepare
from migrate.registry.load import load_registry
from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import (
    candidate,
    case_of,
    correct,
    journal_keys,
    run_dirs,
    summary_of,
    write_workspace,
)

TODAY = "2026-11-26"
REGISTRY_PRICE = Price(1e-6, 2e-6, "registry")  # write_workspace: $1 and $2 per million


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-7f3a9c21e4b8")


def with_volume(root: Path, volume: int) -> None:
    registry = root / "models.yaml"
    registry.write_text(registry.read_text() + f"    volume: {volume}\n", encoding="utf-8")


def test_a_registry_price_comes_before_litellms_published_one() -> None:
    from migrate.llm import Target, litellm_module, price_for

    model_cost = litellm_module().model_cost
    # OpenAI's published price of gpt-4o-2024-08-06: $2.50 in, $10 out per million tokens.
    assert price_for(Target("openai/gpt-4o-2024-08-06"), model_cost) == pytest.approx(
        (2.5e-6, 10e-6, "litellm")
    )
    priced = Target("openai/gpt-4o-2024-08-06", input_cost_per_mtok=1, output_cost_per_mtok=3)
    assert price_for(priced, model_cost) == pytest.approx((1e-6, 3e-6, "registry"))
    assert price_for(Target("openai/unknown-local-model"), model_cost) is None


def test_a_budget_without_an_estimate_refuses() -> None:
    from migrate.errors import UsageError
    from migrate.evals.record_cost import CostEstimate
    from migrate.evals.spend import refuse_over_budget

    unknown = CostEstimate(tokens_counted_by="x", calls=4, unknown=["m: no known price"])
    with pytest.raises(UsageError, match="cannot be estimated: m: no known price"):
        refuse_over_budget(unknown, 1.0)
    refuse_over_budget(unknown, None)  # without a budget, an unknown cost starts the run
    known = CostEstimate(tokens_counted_by="x", calls=4, cost=0.5, already_spent=0.6)
    with pytest.raises(UsageError, match=r"\$1\.1000 \(\$0\.6000 already spent\)"):
        refuse_over_budget(known, 1.0)
    refuse_over_budget(known, 1.1)  # equal to the budget: it starts


def test_approximate_tokens_by_hand() -> None:
    # "Answer with the case's answer." is 30 characters: ceil(30/4) = 8, + 4 framing = 12;
    # "Question about case c000." is 25: ceil(25/4) = 7, + 4 = 11; + 3 priming the reply.
    messages = [
        {"role": "system", "content": "Answer with the case's answer."},
        {"role": "user", "content": "Question about case c000."},
    ]
    assert approximate_tokens("any", messages) == 26


def test_estimate_of_a_fresh_run_by_hand(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", "http://127.0.0.1:9/v1", cases=3, samples=2)
    inputs = prepare(load_registry(root / "models.yaml"), RunOptions("dep"), dt.date(2026, 11, 26))
    assert inputs.messages["c000"] == [
        {"role": "system", "content": "Answer with the case's answer."},
        {"role": "user", "content": "Question about case c000."},
    ]
    prices = {"openai/good": REGISTRY_PRICE, "openai/cand": REGISTRY_PRICE}
    # openai/good answered 4 tokens a call in an earlier run; openai/cand was never measured.
    estimate = estimate_run(inputs, set(), prices, {("generate", "openai/good"): 4.0})
    # 3 cases x 2 samples = 6 calls per model, 26 approximate input tokens each (see above).
    good, cand = estimate.models
    assert (good.model, good.calls, good.input_tokens) == ("openai/good", 6, 156)
    assert (cand.model, cand.calls, cand.input_tokens) == ("openai/cand", 6, 156)
    assert good.output_tokens_max == cand.output_tokens_max == 300  # 6 x max_tokens 50
    assert good.output_tokens_expected == 24 and cand.output_tokens_expected is None
    # good: 156 x $1e-6 + 24 x $2e-6 = $0.000204; at most 156e-6 + 300 x 2e-6 = $0.000756.
    assert good.cost == pytest.approx(0.000204) and good.cost_max == pytest.approx(0.000756)
    assert cand.cost == pytest.approx(0.000756)  # no measurement: the bound
    assert estimate.calls == 12 and estimate.input_tokens == 312
    assert estimate.cost == pytest.approx(0.000960)
    assert estimate.cost_max == pytest.approx(0.001512)
    # Calls already journaled are not estimated again: c000's two samples on good.
    done = {("generate", "openai/good", "c000", s, "") for s in (0, 1)}
    again = estimate_run(inputs, done, prices, {})
    assert [r.calls for r in again.models] == [4, 6]


def test_judge_calls_are_counted_by_the_checks_that_need_them(tmp_path: Path) -> None:
    root = write_workspace(
        tmp_path / "ws",
        "http://127.0.0.1:9/v1",
        cases=3,
        samples=2,
        checks='[{type: llm_judge, rubric: "is it right?"}, {type: pairwise}]',
        extra_models="  openai/judge: {input_cost_per_mtok: 1, output_cost_per_mtok: 2}",
    )
    registry_file = root / "models.yaml"
    with_judge = registry_file.read_text().replace(
        "settings:\n", "settings:\n  judge_model: openai/judge\n"
    )
    registry_file.write_text(with_judge, encoding="utf-8")
    inputs = prepare(load_registry(registry_file), RunOptions("dep"), dt.date(2026, 11, 26))
    estimate = estimate_run(inputs, set(), {}, {})
    judge = [r for r in estimate.models if r.role == "judge"]
    # llm_judge: 3 cases x 2 models x 2 samples = 12; pairwise: 3 cases x 1 candidate x
    # 2 samples x 2 orders = 12.
    assert [(r.model, r.calls) for r in judge] == [("openai/judge", 24)]
    assert judge[0].output_tokens_max == 24 * 400  # the judge's max_tokens
    assert estimate.cost is None and len(estimate.unknown) == 3  # no price was given


def test_projection_and_cost_tail_by_hand() -> None:
    # 20 cases at $0.000027 a request, one at $0.000109 (a 2-sample case: $0.000100 and
    # $0.000118, mean $0.000109): total 19 x 27e-6 + 109e-6 = $0.000622, mean $0.0000311.
    costs: dict[str, list[float | None]] = {f"c{i:03d}": [27e-6] for i in range(19)}
    costs["c019"] = [100e-6, 118e-6]
    found = projection("m", costs, 10_000)
    assert found.cases == 20
    assert found.cost_per_request == pytest.approx(31.1e-6)
    assert found.monthly_cost == pytest.approx(0.311)  # 10,000 x $0.0000311
    assert found.tail_cases == 1  # 5% of 20
    assert found.tail_share == pytest.approx(109 / 622)
    # A case with an unpriced call is left out rather than counted as free.
    assert projection("m", {"a": [None], "b": [1.0]}, None).cases == 1


def run(cli, root: Path, *args: str):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", *args, cwd=root)


def long_on(case: str) -> object:
    """Correct and terse, except a 50-token answer (max_tokens) on `case`."""

    def behave(request: Request) -> Reply:
        found = case_of(request)
        text = f"Sure! The answer you are looking for is answer-{found}."
        return Reply(text=text, completion_tokens=50 if found == case else None)

    return behave


@pytest.mark.slow
def test_run_records_estimate_spend_and_projection(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=long_on("c007"))
    root = write_workspace(tmp_path / "ws", server.api_base, gates={"cost_increase": "null"})
    with_volume(root, 10_000)
    result = run(cli, root)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("Estimate: 40 calls, ")
    out = result.stdout.splitlines()
    # The scripted server counts words: 5 + 4 prompt words; good answers 1 word
    # ("answer-c000"), cand 9 words, 50 tokens on c007. At $1 and $2 per million:
    # good 20 x (9 + 2) = $0.000220; cand 19 x (9 + 18) + (9 + 100) = $0.000622.
    assert any(line.startswith("  spent: $0.000842 (estimated $") for line in out), out
    cost = summary_of(run_dirs(root)[0])["cost"]
    assert cost["spent"] == pytest.approx(0.000842)
    assert cost["generate"]["openai/cand"] == {
        "calls": 20,
        "input_tokens": 180,
        "output_tokens": 19 * 9 + 50,
        "spent": pytest.approx(0.000622),
        "input_cost_per_mtok": 1.0,
        "output_cost_per_mtok": 2.0,
    }
    estimate = cost["estimate"]
    assert estimate["tokens_counted_by"] == "litellm.token_counter"
    assert [m["output_tokens_max"] for m in estimate["models"]] == [1000, 1000]  # 20 x 50
    assert estimate["cost_max"] >= cost["spent"]
    good, cand = cost["projections"]
    assert good["monthly_cost"] == pytest.approx(0.11)  # 10,000 x $0.000011
    assert good["tail_share"] == pytest.approx(0.05)  # 1 of 20 equal cases
    assert cand["monthly_cost"] == pytest.approx(0.311)  # 10,000 x $0.000622 / 20
    assert cand["tail_share"] == pytest.approx(109 / 622)
    report = (run_dirs(root)[0] / "report.md").read_text(encoding="utf-8")
    assert "Projected at 10,000 requests a month" in report
    assert "| openai/cand | $0.000031 | $0.31 | +$0.20 | 17.5% of the cost (1 of 20 cases) |" in (
        report
    )
    page = (run_dirs(root)[0] / "report.html").read_text(encoding="utf-8")
    assert "<td>$0.31</td><td>+$0.20</td>" in page
    # plan, once `dep` is due, expects the answers this run measured: good 1 token a call,
    # cand (19 x 9 + 50) / 20 = 11.05; 20 calls each of 26 approximate input tokens (see
    # test_approximate_tokens_by_hand): good 520e-6 + 20 x 2e-6, cand 520e-6 + 221 x 2e-6.
    registry = root / "models.yaml"
    registry.write_text(
        registry.read_text().replace("  openai/good: {", "  openai/good: {retires: 2027-06-30, "),
        encoding="utf-8",
    )
    planned = invoke(cli, "plan", "--today", TODAY, "--json", "--no-write", cwd=root)
    (due,) = json.loads(planned.stdout)["due"]
    assert due["estimated_cost"]["usd"] == pytest.approx(0.000560 + 0.000962)
    assert due["estimated_cost"]["usd_max"] == pytest.approx(2 * (0.000520 + 0.002))
    assert due["estimated_cost"]["monthly"] == {
        "openai/good": pytest.approx(0.11),
        "openai/cand": pytest.approx(0.311),
    }
    assert due["estimated_cost"]["from_run"] == run_dirs(root)[0].name


@pytest.mark.slow
def test_budget_below_the_estimate_refuses_without_a_call(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=candidate())
    root = write_workspace(tmp_path / "ws", server.api_base)
    # 40 calls with 50-token answers cost at least 40 x 50 x $2e-6 = $0.004 of output alone.
    result = run(cli, root, "--budget", "0.002")
    assert result.exit_code == 2, result.output
    assert "no call made: the estimated cost $" in result.stderr
    assert "exceeds the budget $0.002000" in result.stderr
    assert server.calls == {} and run_dirs(root) == []


@pytest.mark.slow
def test_budget_stops_a_run_that_resumes_with_a_larger_one(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=candidate(chatty=False))
    root = write_workspace(
        tmp_path / "ws", server.api_base, gates={"cost_increase": "null"}, run_settings=(
            "{concurrency: 1, timeout_seconds: 10, max_retries: 4, max_error_rate: 0.1}"
        ),
    )  # fmt: skip
    assert run(cli, root).exit_code == 3  # measures 1-token answers: the expected length
    # Now the candidate answers at max_tokens: each case costs good 9 + 1 x 2 = 11 and cand
    # 9 + 50 x 2 = 109 millionths, 120 a case; a $0.002 budget is reached on case 17's
    # candidate call (17 x 120 = 2040 >= 2000), one call at a time.
    server.behaviours["cand"] = lambda r: Reply(text=f"answer-{case_of(r)}", completion_tokens=50)
    result = run(cli, root, "--new", "--no-cache", "--budget", "0.002")
    assert result.exit_code == 3, result.output  # 17 agreeing cases cannot show a PASS
    stopped = run_dirs(root)[-1]
    assert not (stopped / "summary.json").exists()
    assert len(journal_keys(stopped)) == 34
    assert any(
        line.startswith("Stopped: the spend $0.002040 reached the budget $0.002000, before the "
                        f"calls of 3 cases; nothing more was called. Resume with `migrate run "
                        f"dep --resume {stopped.name} --budget USD`")
        for line in result.stdout.splitlines()
    ), result.stdout  # fmt: skip
    assert server.calls == {"good": 20 + 17, "cand": 20 + 17}
    # The same budget refuses to resume: $0.002040 spent and 3 cases to go.
    again = run(cli, root, "--resume", stopped.name, "--no-cache", "--budget", "0.002")
    assert again.exit_code == 2 and "already spent" in again.stderr, again.output
    done = run(cli, root, "--resume", stopped.name, "--no-cache", "--budget", "0.01")
    assert done.exit_code == 3, done.output
    assert server.calls == {"good": 40, "cand": 40}  # no call made twice
    summary = json.loads((stopped / "summary.json").read_text(encoding="utf-8"))
    assert summary["cost"]["spent"] == pytest.approx(20 * 0.000120)
    assert summary["cost"]["budget"] == 0.01


def test_plan_estimates_each_due_dependency_by_the_approximation(cli, tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", "http://127.0.0.1:9/v1", cases=3, samples=2)
    registry = root / "models.yaml"
    # Retiring soon, so `dep` is due; 12,000 requests a month.
    registry.write_text(
        registry.read_text().replace("  openai/good: {", "  openai/good: {retires: 2027-06-30, ")
        + "    volume: 12000\n",
        encoding="utf-8",
    )
    result = invoke(cli, "plan", "--today", TODAY, "--json", cwd=root)
    assert result.exit_code == 0, result.output
    (due,) = json.loads(result.stdout)["due"]
    cost = due["estimated_cost"]
    # 6 calls per model of 26 approximate tokens (test_approximate_tokens_by_hand), 300 output
    # tokens at most per model: 2 x (156 x $1e-6 + 300 x $2e-6) = $0.001512.
    assert cost["calls"] == 12 and cost["input_tokens"] == 312
    assert cost["usd"] == pytest.approx(0.001512) and cost["usd_max"] == pytest.approx(0.001512)
    assert cost["tokens_counted_by"].startswith("approximation")
    assert cost["volume"] == 12000 and cost["monthly"] is None  # no run has measured it yet
    runbook = (root / due["runbook"]).read_text(encoding="utf-8")
    assert "- Estimated cost of `migrate run dep`: $0.001512 for 12 calls (at most $0.001512" in (
        runbook
    )


def test_plan_prices_a_model_the_registry_does_not_price_from_litellms_map(
    cli, tmp_path: Path
) -> None:
    """Without registry prices and without a run, planning prices each model as `migrate
    run` would, from the map litellm ships; the expected prices are litellm's own, read from
    litellm imported in this process (planning reads the file as data)."""
    import litellm

    current, candidate_model = "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"
    root = write_workspace(
        tmp_path / "ws", "http://127.0.0.1:9/v1", cases=3, samples=2,
        baseline=current, candidates=(candidate_model,),
    )  # fmt: skip
    registry = root / "models.yaml"
    text = registry.read_text().replace(", input_cost_per_mtok: 1, output_cost_per_mtok: 2", "")
    registry.write_text(
        text.replace(f"  openai/{current}: {{", f"  openai/{current}: {{retires: 2027-06-30, "),
        encoding="utf-8",
    )
    result = invoke(cli, "plan", "--today", TODAY, "--json", cwd=root)
    assert result.exit_code == 0, result.output
    (due,) = json.loads(result.stdout)["due"]
    cost = due["estimated_cost"]
    # As in test_plan_estimates_each_due_dependency_by_the_approximation: per model, 6 calls
    # of 26 approximate tokens (156 in) and at most 6 x 50 = 300 output tokens.
    assert cost["calls"] == 12 and cost["input_tokens"] == 312 and cost["unknown"] is None
    expected = sum(
        156 * litellm.model_cost[name]["input_cost_per_token"]
        + 300 * litellm.model_cost[name]["output_cost_per_token"]
        for name in (current, candidate_model)
    )
    assert cost["usd"] == pytest.approx(expected) and cost["usd_max"] == pytest.approx(expected)
