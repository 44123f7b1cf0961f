"""promptfoo itself and migrate on the same suites and server: identical verdicts.

Each folder under tests/promptfoo/suites holds a promptfoo config written for this test.
promptfoo 0.121.20 (pinned in tests/promptfoo/package.json, installed by scripts/test)
runs it against the scripted server; migrate loads the same file, asks the same server
the same prompts and scores the answers. Every (test, model) verdict must agree, and so
must every answer (proof that both sent the same prompt).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.promptfoo.harness import (
    Server,
    behaviours,
    promptfoo_available,
    run_migrate,
    run_promptfoo,
)
from tests.support.openai_server import ScriptedServer

SUITES = Path(__file__).parent / "promptfoo" / "suites"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not promptfoo_available(), reason="promptfoo is not installed (scripts/test installs it)"
    ),
]


@pytest.fixture(scope="module")
def server():
    with Server(behaviours()) as running:
        yield running


@pytest.mark.parametrize("suite", sorted(p.name for p in SUITES.iterdir() if p.is_dir()))
def test_same_verdicts_as_promptfoo(suite: str, server: ScriptedServer, tmp_path: Path) -> None:
    config = SUITES / suite / "promptfooconfig.yaml"
    theirs = run_promptfoo(config, server, tmp_path)
    ours = run_migrate(config, server)
    assert [(v.test, v.model) for v in ours] == [(v.test, v.model) for v in theirs]
    answers = [
        (o.test, o.model, o.output, t.output)
        for o, t in zip(ours, theirs, strict=True)
        if o.output != t.output and t.error is None
    ]
    assert not answers, f"different answers (so different prompts): {answers}"
    disagreements = [
        (
            o.test,
            o.model,
            o.output,
            f"promptfoo {t.passed} ({t.error})",
            f"migrate {o.passed} ({o.error})",
        )
        for o, t in zip(ours, theirs, strict=True)
        if o.passed != t.passed
    ]
    assert not disagreements, "\n".join(map(str, disagreements))
    # the suite exercises both outcomes, so agreement is not agreement on "all pass"
    assert {v.passed for v in theirs} == {True, False}


def test_the_example_workspace_suite_runs_unchanged_in_promptfoo(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """evals/support_replies.yaml as it is, with a prompt and the models given to promptfoo
    on its command line: the scripted model answers with the test's facts and a signature."""
    config = Path(__file__).parent.parent / "evals" / "support_replies.yaml"
    template = "Reply: {{facts}}\n\nThe Acme Outdoor team"
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(template, encoding="utf-8")
    providers = ("-r", "openai:chat:echo", "-r", "openai:chat:shout")
    theirs = run_promptfoo(config, server, tmp_path, ("-p", str(prompt), *providers))
    ours = run_migrate(config, server, template)
    assert [(v.test, v.model, v.output) for v in ours] == [
        (v.test, v.model, v.output) for v in theirs
    ]
    assert not any("Invalid regex" in (t.error or "") for t in theirs)  # (?i) was refused
    assert [v.passed for v in ours] == [v.passed for v in theirs]
    assert {v.passed for v in theirs} == {True, False}
