"""`migrate run` on a promptfoo suite, end to end: litellm over HTTP to the scripted server,
promptfoo's weights and test threshold deciding each case, stored checks read back by
`migrate report`, and junit.xml valid against the xunit plugin's schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema

from tests.conftest import invoke
from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import candidate, correct, run_dirs, summary_of, write_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SCHEMA = Path(__file__).parent / "junit" / "junit-10.xsd"
CASES = [f"c{i:03d}" for i in range(12)]
# Exact answers pass both assertions (score 1); the candidate's wordy right answers fail
# `equals` but pass `contains`, which weighs 3 of 4: score 0.75, which the test threshold
# accepts; its wrong answers score 0. Without promptfoo's weighting every wordy answer
# would fail; with it only the wrong ones do.
SUITE = f"""\
description: promptfoo suite through a run
prompts: [prompt.md.j2]
providers: [openai:chat:whatever]
defaultTest:
  threshold: 0.75
  assert:
    - type: equals
      value: "answer-{{{{case}}}}"
    - type: contains
      value: "answer-{{{{case}}}}"
      weight: 3
tests:
  - description: case
    vars:
      case: [{", ".join(CASES)}]
"""


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-7f3a9c21e4b8")


def test_a_promptfoo_suite_runs_with_promptfoos_scoring(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=candidate(wrong={"c003", "c007"}))
    root = write_workspace(tmp_path / "ws", server.api_base, checks="[]")
    (root / "evals" / "suite.yaml").write_text(SUITE, encoding="utf-8")
    registry = root / "models.yaml"
    text = registry.read_text(encoding="utf-8").replace("evals/suite.jsonl", "evals/suite.yaml")
    registry.write_text(text, encoding="utf-8")

    first = invoke(cli, "run", "dep", "--today", "2026-11-26", "--no-progress", cwd=root)
    (run_dir,) = run_dirs(root)
    summary = summary_of(run_dir)
    # list expansion numbers the cases from 1: c003 is case-4, c007 is case-8
    assert summary["candidates"]["openai/cand"]["regressions"] == ["case-4", "case-8"]
    assert summary["candidates"]["openai/cand"]["improvements"] == []
    xmlschema.XMLSchema10(SCHEMA).validate(str(run_dir / "junit.xml"))

    (run_dir / "report.md").unlink()
    again = invoke(cli, "report", run_dir.name, cwd=root)  # the stored checks read back
    assert again.exit_code == first.exit_code, again.output
    assert summary_of(run_dir)["candidates"] == summary["candidates"]
