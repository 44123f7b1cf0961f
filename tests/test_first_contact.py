"""A user's first real run: a provider that refuses the key, a parameter or the model name.

Each refusal costs a handful of calls at most, exits 4 (or 2 when preflight sees it without
a call), and the provider's own words reach the CLI and the report. The refusals below are
shaped as OpenAI's API sends them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import correct, run_dirs, summary_of, write_workspace

pytestmark = pytest.mark.timeout(300)
TODAY = "2026-11-26"
CASES = 40


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-5d1e0c77aa42")


def openai_error(status: int, message: str, code: str, param: str | None = None) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return Reply(status=status, body=json.dumps({"error": error}).encode())


REFUSALS = {
    "401 key": openai_error(
        401,
        "Incorrect API key provided: sk-test-****aa42. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_api_key",
    ),
    "400 temperature": openai_error(
        400,
        "Unsupported value: 'temperature' does not support 0 with this model. Only the "
        "default (1) value is supported.",
        "unsupported_value",
        "temperature",
    ),
    "404 model": openai_error(
        404,
        "The model `cand` does not exist or you do not have access to it.",
        "model_not_found",
    ),
}
# What each refusal's message must still say when it reaches the user.
WORDS = {
    "401 key": "Incorrect API key provided",
    "400 temperature": "'temperature' does not support 0 with this model",
    "404 model": "The model `cand` does not exist",
}


def run(cli, root: Path):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_refusal_stops_the_run_after_a_handful_of_calls_and_says_why(
    cli, tmp_path: Path, server: ScriptedServer, refusal: str
) -> None:
    server.behaviours.update(good=correct(), cand=lambda request: REFUSALS[refusal])
    root = write_workspace(tmp_path / "ws", server.api_base, cases=CASES)
    result = run(cli, root)
    assert result.exit_code == 4, result.output
    assert server.calls["cand"] == 1  # the canary; never retried, nothing after it
    assert server.total_calls() <= 2
    assert WORDS[refusal] in result.stdout
    [run_dir] = run_dirs(root)
    assert WORDS[refusal] in (run_dir / "report.md").read_text(encoding="utf-8")
    assert WORDS[refusal] in html.unescape((run_dir / "report.html").read_text(encoding="utf-8"))
    summary = summary_of(run_dir)
    assert summary["verdict"] == "ERROR"
    metrics = summary["metrics"]["openai/cand"]
    kind = {"401 key": "AuthenticationError", "400 temperature": "BadRequest"}.get(
        refusal, "NotFound"
    )
    assert metrics["errors_by_class"] == {kind: 1, "NotAttempted": CASES - 1}
    assert WORDS[refusal] in metrics["error_messages"][kind]
    assert "sk-test-SENTINEL" not in result.output


def test_after_the_key_is_fixed_a_rerun_calls_afresh(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    refusing = {"on": True}

    def cand(request: Request) -> Reply:
        return REFUSALS["401 key"] if refusing["on"] else correct()(request)

    server.behaviours.update(good=correct(), cand=cand)
    root = write_workspace(tmp_path / "ws", server.api_base, cases=10)
    assert run(cli, root).exit_code == 4
    refusing["on"] = False
    result = run(cli, root)
    assert result.exit_code in (0, 3), result.output  # a verdict, not the cached ERROR
    assert len(run_dirs(root)) == 2
    assert summary_of(run_dirs(root)[-1])["calls"]["errors"] == 0


def test_a_model_that_keeps_failing_alike_is_stopped_and_the_rest_not_attempted(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=lambda request: Reply(status=503))
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=CASES,
        run_settings="{concurrency: 1, timeout_seconds: 10, max_retries: 1, max_error_rate: 0.1}",
    )
    result = run(cli, root)
    assert result.exit_code == 4, result.output
    # five failed calls, each tried twice (one retry), then nothing more
    assert server.calls["cand"] == 5 * 2
    errors = summary_of(run_dirs(root)[0])["metrics"]["openai/cand"]["errors_by_class"]
    assert errors == {"ServerError": 5, "NotAttempted": CASES - 5}


REASONING = (
    '  openai/o3-mini: {{api_base: "{base}", api_key_env: TEST_LLM_KEY, '
    "input_cost_per_mtok: 1, output_cost_per_mtok: 2{extra}}}"
)


def reasoning_workspace(root: Path, api_base: str, extra: str = "") -> Path:
    write_workspace(root, api_base, cases=5)
    registry = root / "models.yaml"
    text = registry.read_text(encoding="utf-8")
    text = text.replace(
        "models:\n", "models:\n" + REASONING.format(base=api_base, extra=extra) + "\n"
    )
    text = text.replace("candidates: [openai/cand]", "candidates: [openai/o3-mini]")
    registry.write_text(text, encoding="utf-8")
    return root


def test_preflight_refuses_a_parameter_the_model_does_not_take_before_any_call(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), **{"o3-mini": correct()})
    root = reasoning_workspace(tmp_path / "ws", server.api_base)
    result = run(cli, root)
    assert result.exit_code == 2, result.output
    assert server.total_calls() == 0
    assert "openai/o3-mini (candidate): litellm refuses its parameters" in result.stderr
    assert "temperature=0" in result.stderr
    assert "drop_params: true" in result.stderr
    assert not run_dirs(root)


def test_a_models_own_params_and_drop_params_let_the_same_dependency_run(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    sent: list[dict[str, object]] = []

    def o3(request: Request) -> Reply:
        sent.append(request.body)
        return correct()(request)

    server.behaviours.update(good=correct(), **{"o3-mini": o3})
    root = reasoning_workspace(tmp_path / "ws", server.api_base, ", drop_params: true")
    result = run(cli, root)
    assert result.exit_code in (0, 3), result.output
    assert sent and all("temperature" not in body for body in sent)
    manifest = json.loads((run_dirs(root)[0] / "run.json").read_text(encoding="utf-8"))
    assert manifest["candidates"][0]["drop_params"] is True


def test_init_then_check_deep_is_clean_with_a_key_set(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workspace `init` writes can run its own candidate: litellm accepts its params."""
    root = tmp_path / "new"
    root.mkdir()
    assert invoke(cli, "init", str(root), "--today", TODAY).exit_code == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    result = invoke(cli, "check", "--deep", "--today", TODAY, cwd=root)
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.stdout


def test_check_deep_names_the_missing_key_variable_of_each_dependency(
    cli, tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_workspace(tmp_path / "ws", server.api_base, cases=3)
    monkeypatch.delenv("TEST_LLM_KEY")
    result = invoke(cli, "check", "--deep", "--today", TODAY, cwd=root)
    assert result.exit_code == 1
    assert "dep: openai/good (current): set the environment variable TEST_LLM_KEY" in result.stderr
    assert "dep: openai/cand (candidate): set the environment variable TEST_LLM_KEY" in (
        result.stderr
    )
    assert server.total_calls() == 0
