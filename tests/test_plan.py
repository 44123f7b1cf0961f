"""`migrate plan`: what is due and why, and the runbooks it writes, in real git repositories."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_as, git, init_repo, invoke, write
from typer.testing import CliRunner

from migrate.runbooks.merge import SIGNOFFS_MARKER, checked_steps
from tests.support.stored_run import store_run

TODAY = "2026-10-15"  # the next window is 2027Q1: 2027-01-08 to 2027-01-28

REGISTRY = """\
version: 1
settings:
  timezone: Europe/Berlin
  window: {start_day: 8, length_days: 21}
  review: {day: 8, time: "10:00", duration_minutes: 60}
  safety_margin_days: 30
  baseline_max_age_days: 90
  owner_inactive_days: 120
models:
  openai/gpt-4o-2024-08-06:
    deprecated: 2026-06-02
    retires: 2027-03-31
    replacement: openai/gpt-5.4
    source: https://platform.openai.com/docs/deprecations
  openai/gpt-5.4: {}
dependencies:
  billing-summarizer:
    description: Summarizes invoices for the billing pipeline
    model: openai/gpt-4o-2024-08-06
    candidates: [openai/gpt-5.4]
    owners: [alice@example.com, bob@example.com]
    prompt: prompts/billing.md.j2
    eval:
      cases: evals/billing.jsonl
      samples: 3
      checks: [{type: icontains, value: "{{ expected }}"}, {type: not_refusal}]
    gates: {pass_rate_drop: 0.02, cost_increase: 0.5}
  legacy-tagger:
    model: openai/gpt-4o-2024-08-06
    owners: [zoe@example.com]
    prompt: prompts/tags.md.j2
"""


def head(repo: Path) -> str:
    return git(repo, "log", "-1", "--format=%H").strip()


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Any]:
    """Two dependencies; zoe (legacy-tagger's only owner) last committed a year ago, bob
    keeps the registry, carol (not an owner) last changed the billing prompt, alice never
    committed."""
    root = init_repo(tmp_path / "ws")
    write(root / "prompts" / "tags.md.j2", "[user]\nTag {{ text }}\n")
    commit_as(root, "zoe@example.com", "2025-10-01", "Add the tagger prompt", "prompts")
    zoe = head(root)
    write(root / "models.yaml", REGISTRY)
    write(
        root / "evals" / "billing.jsonl",
        '{"id": "a", "vars": {}}\n{"id": "b", "vars": {}}\n\n{"id": "c", "vars": {}}\n',
    )
    write(root / "prompts" / "billing.md.j2", "[user]\nSummarize {{ vendor }}\n")
    commit_as(root, "bob@example.com", "2026-09-01", "Add the model registry")
    bob = head(root)
    write(root / "prompts" / "billing.md.j2", "[user]\nSummarize {{ vendor }} briefly\n")
    commit_as(
        root,
        "carol@example.com",
        "2026-10-01",
        "Tighten the billing prompt",
        "prompts/billing.md.j2",
    )
    carol = head(root)
    return {"root": root, "zoe": zoe, "bob": bob, "carol": carol}


def plan(cli: CliRunner, root: Path, *args: str) -> Any:
    return invoke(cli, "plan", "--today", TODAY, *args, cwd=root)


def plan_json(cli: CliRunner, root: Path, *args: str) -> dict[str, Any]:
    result = plan(cli, root, "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_dependency(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["dependency"]: entry for entry in data["due"]}


def test_json_shape_and_runbook_paths(cli: CliRunner, workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    data = plan_json(cli, root)
    assert data["quarter"] == "2027Q1"
    assert [e["dependency"] for e in data["due"]] == ["billing-summarizer", "legacy-tagger"]
    for entry in data["due"]:
        assert {
            "dependency",
            "model",
            "reasons",
            "urgent",
            "window_start",
            "window_end",
            "deadline",
            "runbook",
        } <= set(entry)
        assert entry["model"] == "openai/gpt-4o-2024-08-06"
        assert entry["urgent"] is False
        assert (entry["window_start"], entry["window_end"]) == ("2027-01-08", "2027-01-28")
        assert entry["deadline"] == "2027-03-01"
        assert entry["runbook"] == f"runbooks/2027Q1/{entry['dependency']}.md"
        assert (root / entry["runbook"]).is_file()
        assert entry["runbook_status"] == "created"
    assert sorted(p.name for p in (root / "runbooks" / "2027Q1").iterdir()) == [
        "billing-summarizer.md",
        "legacy-tagger.md",
    ]


def test_an_owner_idle_for_a_year_makes_the_dependency_due(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    due = by_dependency(plan_json(cli, workspace["root"]))
    assert due["legacy-tagger"]["reasons"] == [
        "retiring",
        "stale_baseline",
        "no_active_owner",
        "replacement_available",
    ]
    assert "no_active_owner" not in due["billing-summarizer"]["reasons"]  # bob is active
    runbook = (workspace["root"] / due["legacy-tagger"]["runbook"]).read_text()
    assert (
        f"- zoe@example.com: last commit 2025-10-01 `{workspace['zoe'][:10]}` "
        '"Add the tagger prompt" (379 days ago, inactive)'
    ) in runbook
    assert (
        "- `no_active_owner`: No owner has committed to this repository in the last 120 days."
    ) in runbook


def test_runbook_shows_the_facts(cli: CliRunner, workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    plan_json(cli, root)
    text = (root / "runbooks" / "2027Q1" / "billing-summarizer.md").read_text()
    bob, carol = workspace["bob"][:10], workspace["carol"][:10]
    for expected in [
        "# Migration runbook: billing-summarizer (2027Q1)",
        "## Facts (as of 2026-10-15)",
        "- Dependency: `billing-summarizer`: Summarizes invoices for the billing pipeline",
        "- Current model: `openai/gpt-4o-2024-08-06`",
        "- Retires: 2027-03-31 (in 167 days)",
        "- Latest safe date: 2027-03-01 (in 137 days; 30 days before retirement)",
        "- Deprecated: 2026-06-02",
        "- Notice: https://platform.openai.com/docs/deprecations",
        "- Replacement: `openai/gpt-5.4`",
        "- Candidates: `openai/gpt-5.4`",
        "- Migration window: 2027-01-08 to 2027-01-28 (opens in 85 days)",
        "- Review meeting: 2027-01-08, 10:00 to 11:00 (Europe/Berlin)",
        "- `retiring`: openai/gpt-4o-2024-08-06 retires on 2027-03-31 (167 days left); "
        "finishing in the 2027-01-08 to 2027-01-28 window keeps the 30-day safety margin "
        "(latest safe date 2027-03-01).",
        "- `stale_baseline`: No eval run has baselined openai/gpt-4o-2024-08-06",
        "- `replacement_available`: The provider names openai/gpt-5.4 as the replacement",
        "- alice@example.com: no commits found",
        f'- bob@example.com: last commit 2026-09-01 `{bob}` "Add the model registry" (44 days ago)',
        f"- `prompts/billing.md.j2`: last changed 2026-10-01 `{carol}` by Carol "
        '<carol@example.com> (14 days ago, not an owner): "Tighten the billing prompt"',
        "- Suite: `evals/billing.jsonl`, 3 cases x 3 samples; checks: icontains, not_refusal",
        "- Last baseline of `openai/gpt-4o-2024-08-06`: none",
        "- Last run: none",
        "- `pass_rate_drop` = 0.02:",
        "- `cost_increase` = 0.5: cost per case may rise by at most 50%",
        "- `p95_latency_increase` = 0.25:",
        "migrate run billing-summarizer\n",
        "migrate signoff billing-summarizer --decision approve --by bob@example.com\n",
        "migrate report RUN_ID\n",
    ]:
        assert expected in text, expected
    # Three cases at a 2-point margin: by hand, z^2/(3 + z^2) = 3.8415/6.8415 = 56.1 points is
    # the smallest drop perfect agreement rules out; 2 points need n > 3.8415 x 49 = 188.2.
    assert (
        "- [ ] Grow the suite to 189 cases (`evals/billing.jsonl` has 3): with 3, even perfect "
        "agreement cannot rule out a drop smaller than 56.1 points, so the 2-point "
        "pass_rate_drop can never PASS. <!-- step:grow-suite -->"
    ) in text
    assert list(checked_steps(text)) == [
        "notice",
        "grow-suite",
        "ownership",
        "rebaseline",
        "review",
        "signoff",
        "switch",
        "monitor",
    ]
    assert text.endswith(
        f"## Sign-off\n\nDecisions recorded by `migrate signoff` are added "
        f"below this line.\n\n{SIGNOFFS_MARKER}\n"
    )

    tagger = (root / "runbooks" / "2027Q1" / "legacy-tagger.md").read_text()
    assert "- Suite: none." in tagger
    assert "<!-- step:eval-suite -->" in tagger and "<!-- step:candidates -->" in tagger
    assert "- Candidates: none (add one under `candidates` in models.yaml)" in tagger


def test_last_run_verdict_and_baseline_age(cli: CliRunner, workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    run = store_run(
        root,
        finished=dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC),
        dependency="billing-summarizer",
        baseline="openai/gpt-4o-2024-08-06",
        candidates={"openai/gpt-5.4": "PASS"},
        suite="evals/billing.jsonl",
        prompt="prompts/billing_summary.md.j2",
    )
    assert run.run_id == "20261001T115500Z"
    due = by_dependency(plan_json(cli, root))
    # The replacement was evaluated; the baseline will be 99 days old when the window opens.
    assert due["billing-summarizer"]["reasons"] == ["retiring", "stale_baseline"]
    text = (root / due["billing-summarizer"]["runbook"]).read_text()
    assert (
        "- Last baseline of `openai/gpt-4o-2024-08-06`: 2026-10-01 (14 days old; "
        "re-baseline after 90)"
    ) in text
    assert (
        "- Last run: `20261001T115500Z` on 2026-10-01: PASS (`openai/gpt-4o-2024-08-06` "
        "against openai/gpt-5.4)"
    ) in text
    assert "migrate report 20261001T115500Z\n" in text
    assert (
        "The last baseline of openai/gpt-4o-2024-08-06 is from 2026-10-01, 99 days old "
        "when the window opens on 2027-01-08 (the limit is 90 days)."
    ) in text


def test_ticks_and_notes_survive_a_registry_date_change(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    path = root / "runbooks" / "2027Q1" / "billing-summarizer.md"
    plan_json(cli, root)
    text = path.read_text()
    text = text.replace("- [ ] Read the provider's notice", "- [x] Read the provider's notice")
    text = text.replace("- [ ] Check prompt ownership", "- [X] Check prompt ownership")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "<!-- step:ownership -->" in line)
    lines.insert(at + 1, "  - carol will own the prompt from now on (agreed 2026-10-16)")
    at = lines.index("## Notes")
    lines[at + 1 : at + 1] = ["", "The notice says the replacement has a longer context."]
    lines.append("- 2027-01-20: approve by bob@example.com on run 20270115-093000")
    path.write_text("\n".join(lines) + "\n")

    write(root / "models.yaml", REGISTRY.replace("retires: 2027-03-31", "retires: 2027-04-30"))
    commit_as(root, "bob@example.com", "2026-10-14", "OpenAI moved the retirement date")
    due = by_dependency(plan_json(cli, root))
    assert due["billing-summarizer"]["runbook_status"] == "updated"

    after = path.read_text()
    assert "- Retires: 2027-04-30 (in 197 days)" in after
    assert "- Retires: 2027-03-31" not in after
    assert "- Latest safe date: 2027-03-31 (in 167 days;" in after
    assert checked_steps(after) == {
        "notice": True,
        "grow-suite": False,
        "ownership": True,
        "rebaseline": False,
        "review": False,
        "signoff": False,
        "switch": False,
        "monitor": False,
    }
    new_lines = after.splitlines()
    at = next(i for i, line in enumerate(new_lines) if "<!-- step:ownership -->" in line)
    assert new_lines[at].startswith("- [X] Check prompt ownership")
    assert new_lines[at + 1] == "  - carol will own the prompt from now on (agreed 2026-10-16)"
    assert "The notice says the replacement has a longer context." in new_lines
    assert new_lines[-2:] == [
        SIGNOFFS_MARKER,
        "- 2027-01-20: approve by bob@example.com on run 20270115-093000",
    ]

    # Regenerating again changes nothing, and an unchanged runbook is not even rewritten.
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    due = by_dependency(plan_json(cli, root))
    assert due["billing-summarizer"]["runbook_status"] == "unchanged"
    assert path.read_text() == after
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_no_write_writes_nothing(cli: CliRunner, workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    data = plan_json(cli, root, "--no-write")
    assert [e["runbook_status"] for e in data["due"]] == ["not_written", "not_written"]
    assert data["due"][0]["runbook"] == "runbooks/2027Q1/billing-summarizer.md"
    result = plan(cli, root, "--no-write")
    assert result.exit_code == 0
    assert "Runbooks not written (--no-write)" in result.stdout
    assert not (root / "runbooks").exists()


def test_a_bad_registry_exits_2_and_writes_nothing(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    write(
        root / "models.yaml",
        REGISTRY.replace("  safety_margin_days: 30", "  safety_margin_days: thirty"),
    )
    result = plan(cli, root)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "migrate: error: models.yaml:6: settings.safety_margin_days:"
    ), result.stderr
    assert "Traceback" not in result.output
    assert not (root / "runbooks").exists()


def test_bad_quarter_exits_2(cli: CliRunner, workspace: dict[str, Any]) -> None:
    result = plan(cli, workspace["root"], "--quarter", "2027-Q5")
    assert result.exit_code == 2
    assert "'2027-Q5' is not a quarter; expected the form 2027Q1" in result.stderr


def test_a_later_quarter_is_projected_to_its_window(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    data = plan_json(cli, root, "--quarter", "2027Q2")
    assert data["quarter"] == "2027Q2" and data["as_of"] == "2027-04-08"
    # As of the Q2 window the retirement (2027-03-31) has passed: overdue and urgent.
    entry = by_dependency(data)["billing-summarizer"]
    assert entry["reasons"][0] == "overdue" and entry["urgent"] is True
    assert entry["runbook"] == "runbooks/2027Q2/billing-summarizer.md"
    text = (root / entry["runbook"]).read_text()
    assert "## Facts (as of 2027-04-08)" in text
    assert "openai/gpt-4o-2024-08-06 retired on 2027-03-31 (8 days ago)" in text
    assert "- Retired: 2027-03-31 (8 days ago)" in text
    assert "**Overdue: the model retired on 2027-03-31 and no migration is approved.**" in text


def test_a_window_that_already_opened_has_nothing_left(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    assert plan_json(cli, root, "--quarter", "2026Q4")["due"] == []
    result = plan(cli, root, "--quarter", "2026Q4")
    assert result.exit_code == 0
    assert "has already opened; nothing is left to plan in it" in result.stdout
    assert "migrate plan --quarter 2027Q1" in result.stdout
    assert not (root / "runbooks").exists()


def test_human_output_lists_what_is_due(cli: CliRunner, workspace: dict[str, Any]) -> None:
    result = plan(cli, workspace["root"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "2027Q1: migration window 2027-01-08 to 2027-01-28, as of 2026-10-15: 2 due"
    assert lines[2].split() == [
        "dependency",
        "model",
        "reasons",
        "urgent",
        "window",
        "deadline",
        "owners",
        "cost",
        "runbook",
    ]
    row = next(line for line in lines if line.startswith("legacy-tagger"))
    assert "retiring, stale_baseline, no_active_owner, replacement_available" in row
    assert "2027-01-08..2027-01-28  2027-03-01  zoe@example.com" in row
    assert row.endswith("runbooks/2027Q1/legacy-tagger.md")
    assert lines[-1] == "Runbooks under runbooks/2027Q1/: 2 created, 0 updated, 0 unchanged."


def test_a_workspace_template_overrides_the_packaged_one(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    write(
        root / "templates" / "runbook.md.j2",
        """
        {% from "checklist.j2" import step %}
        # {{ dependency.id }}: {{ model.name }} retires {{ model.retires }}
        {{ markers.facts_begin }}
        owners: {{ owners | map(attribute="email") | join(", ") }}
        {{ markers.facts_end }}
        {{ step("call-legal", "Ask legal about " ~ dependency.id) }}
    """,
    )
    plan_json(cli, root)
    text = (root / "runbooks" / "2027Q1" / "billing-summarizer.md").read_text()
    assert text == (
        "# billing-summarizer: openai/gpt-4o-2024-08-06 retires 2027-03-31\n"
        "<!-- migrate:facts:begin -->\n"
        "owners: alice@example.com, bob@example.com\n"
        "<!-- migrate:facts:end -->\n"
        "- [ ] Ask legal about billing-summarizer <!-- step:call-legal -->\n"
    )


def test_an_override_can_extend_the_packaged_runbook(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    write(
        root / "templates" / "runbook.md.j2",
        """
        {% extends "migrate/runbook.md.j2" %}
        {% from "checklist.j2" import step %}
        {% block checklist %}
        {{ super() -}}
        {{ step("tell-support", "Tell the support team the switch date for "
                ~ dependency.id ~ ".") }}
        {% endblock %}
        {% block notes %}
        ## Notes

        Escalate to #ml-platform if the verdict is INCONCLUSIVE.

        {% endblock %}
    """,
    )
    plan_json(cli, root)
    text = (root / "runbooks" / "2027Q1" / "billing-summarizer.md").read_text()
    assert "## Notes\n\nEscalate to #ml-platform if the verdict is INCONCLUSIVE.\n" in text
    assert "- Retires: 2027-03-31 (in 167 days)" in text  # the packaged facts are still there
    assert (
        "to it and deploy. <!-- step:switch -->\n"
        "- [ ] Monitor the feature for a week after the switch: errors, refusals, latency, cost "
        "and user reports. <!-- step:monitor -->\n"
        "- [ ] Tell the support team the switch date for billing-summarizer. "
        "<!-- step:tell-support -->\n"
    ) in text


def test_a_broken_override_exits_2_with_file_and_line_and_writes_nothing(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    plan_json(cli, root)
    path = root / "runbooks" / "2027Q1" / "billing-summarizer.md"
    before = path.read_text()
    write(root / "models.yaml", REGISTRY.replace("retires: 2027-03-31", "retires: 2027-04-30"))
    for source, expected in [
        ("# {{ dependency.id }}\n{% for x in %}\n", "templates/runbook.md.j2:2: template error:"),
        (
            "# {{ dependency.id }}\n\n{{ dependency.nmae }}\n",
            "templates/runbook.md.j2:3: template error: 'dict object' has no attribute 'nmae'",
        ),
    ]:
        write(root / "templates" / "runbook.md.j2", source)
        result = plan(cli, root)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"migrate: error: {expected}"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert path.read_text() == before
        assert sorted(p.name for p in path.parent.iterdir()) == [
            "billing-summarizer.md",
            "legacy-tagger.md",
        ]


def test_commands_name_a_registry_that_is_not_models_yaml(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    (root / "models.yaml").rename(root / "llm-registry.yaml")
    result = invoke(
        cli, "plan", "--today", TODAY, "--registry", "llm-registry.yaml", "--json", cwd=root
    )
    assert result.exit_code == 0, result.output
    due = by_dependency(json.loads(result.stdout))
    assert due["billing-summarizer"]["runbook"] == "runbooks/2027Q1/billing-summarizer.md"
    assert due["billing-summarizer"]["runbook_status"] == "created"
    text = (root / "runbooks" / "2027Q1" / "billing-summarizer.md").read_text()
    assert "migrate run billing-summarizer --registry llm-registry.yaml\n" in text
    assert "of `billing-summarizer` in llm-registry.yaml to it and deploy." in text


def test_outside_a_git_repository_owners_are_unknown(cli: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root / "models.yaml", REGISTRY)
    write(root / "prompts" / "billing.md.j2", "x\n")
    write(root / "prompts" / "tags.md.j2", "x\n")
    write(root / "evals" / "billing.jsonl", "")
    data = plan_json(cli, root)
    assert "no_active_owner" not in data["due"][1]["reasons"]
    text = (root / data["due"][0]["runbook"]).read_text()
    assert "- alice@example.com: git history unavailable" in text
    assert "- Suite: `evals/billing.jsonl`, 0 cases x 3 samples" in text


def test_the_bundled_example_workspace_plans(cli: CliRunner, example_workspace: Path) -> None:
    data = plan_json(cli, example_workspace)
    assert data["quarter"] == "2027Q1"
    urgent = [e["dependency"] for e in data["due"] if e["urgent"]]
    assert urgent == ["support-reply-drafter", "billing-summarizer", "ticket-classifier"]
    for entry in data["due"]:
        assert (example_workspace / entry["runbook"]).is_file()
    # A model without lifecycle dates has no notice to read.
    faq = (example_workspace / "runbooks" / "2027Q1" / "faq-answerer.md").read_text()
    assert "step:notice" not in faq and "step:rebaseline" in faq


def test_help_describes_the_command(cli: CliRunner) -> None:
    result = invoke(cli, "plan", "--help")
    assert result.exit_code == 0
    for option in ("--quarter", "--today", "--json", "--no-write", "--registry"):
        assert option in result.stdout


# --- urgent: due now, in no window -------------------------------------------------------


def test_an_urgent_dependency_is_due_now_with_no_window(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    # Retiring 2026-11-30 with a 30-day margin: the latest safe date, 2026-10-31, comes
    # before the next window (2027-01-08), so nothing may wait for that window or its review.
    root = workspace["root"]
    write(root / "models.yaml", REGISTRY.replace("retires: 2027-03-31", "retires: 2026-11-30"))
    data = plan_json(cli, root)
    assert data["quarter"] == "2027Q1"
    for entry in data["due"]:
        assert entry["urgent"] is True
        assert (entry["window_start"], entry["window_end"]) == (None, None)
        assert entry["deadline"] == "2026-10-31"
        # filed under the quarter of today (2026-10-15), not under the window's
        assert entry["runbook"] == f"runbooks/2026Q4/{entry['dependency']}.md"
        assert entry["runbook_status"] == "created"
    assert not (root / "runbooks" / "2027Q1").exists()
    text = (root / "runbooks" / "2026Q4" / "billing-summarizer.md").read_text()
    assert text.startswith("# Migration runbook: billing-summarizer (2026Q4)\n")
    for expected in [
        "**Urgent: no migration window ends 30 days before the retirement date. Migrate now, "
        "by 2026-10-31 (in 16 days).**",
        "- Latest safe date: 2026-10-31 (in 16 days; 30 days before retirement)",
        "- Migration window: none; no window ends by the latest safe date, so it is due now",
        "- Review meeting: none before the latest safe date; decide and sign off without "
        "waiting for one",
        "- `retiring`: openai/gpt-4o-2024-08-06 retires on 2026-11-30 (46 days left) and no "
        "migration window ends 30 days before that: migrate now, by 2026-10-31.",
    ]:
        assert expected in text, expected
    assert "2027-01" not in text  # neither the window nor the review after the deadline
    assert "opens in" not in text
    human = plan(cli, root, "--no-write").stdout
    assert "2 due (2 urgent: due now, not in this window)" in human
    row = next(line for line in human.splitlines() if line.startswith("legacy-tagger"))
    assert "URGENT  none: due now  2026-10-31" in row
    assert row.endswith("runbooks/2026Q4/legacy-tagger.md")
    assert "they go under runbooks/2026Q4/." in human


def test_an_urgent_runbook_names_the_review_only_when_it_comes_by_the_deadline(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    # Today Oct 1: the Oct 8-28 window ends after the latest safe date (Oct 16), but its
    # review meeting (Oct 8) comes before it.
    write(root / "models.yaml", REGISTRY.replace("retires: 2027-03-31", "retires: 2026-11-15"))
    result = invoke(cli, "plan", "--today", "2026-10-01", "--json", cwd=root)
    entry = by_dependency(json.loads(result.stdout))["billing-summarizer"]
    assert (entry["urgent"], entry["window_start"], entry["deadline"]) == (
        True,
        None,
        "2026-10-16",
    )
    text = (root / entry["runbook"]).read_text()
    assert entry["runbook"] == "runbooks/2026Q4/billing-summarizer.md"
    assert "- Review meeting: 2026-10-08, 10:00 to 11:00 (Europe/Berlin)" in text
    assert "- Migration window: none; no window ends by the latest safe date" in text


def test_a_runbook_says_the_plan_command_as_it_was_given(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    path = root / "runbooks" / "2027Q1" / "billing-summarizer.md"
    plan_json(cli, root)
    assert "Written by `migrate plan`.\n" in path.read_text()
    assert "--quarter" not in path.read_text()
    plan_json(cli, root, "--quarter", "2027Q1")
    text = path.read_text()
    assert "Written by `migrate plan --quarter 2027Q1`.\n" in text
    assert text.count("Written by") == 1  # a fact, rewritten: never kept as a stale copy


def test_a_runbook_of_an_earlier_release_loses_its_old_header_line(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    path = root / "runbooks" / "2027Q1" / "billing-summarizer.md"
    plan_json(cli, root)
    fresh = path.read_text()
    # what the header said before it moved into the facts, with a person's note below it
    old = fresh.replace(
        "Tick the boxes and add notes on their own\n",
        "Written by `migrate plan --quarter 2027Q1`. Tick the boxes and add notes on their own\n"
        "Our own note.\n",
    )
    path.write_text(old)
    plan_json(cli, root)
    text = path.read_text()
    assert "Written by `migrate plan --quarter" not in text
    assert text.count("Our own note.\n") == 1  # kept, beside the header's lines
    assert text.index("Our own note.") < text.index("<!-- migrate:facts:begin -->")
    assert text.count("Tick the boxes and add notes on their own\n") == 1


def test_a_runbook_no_longer_due_is_refreshed_not_left_to_contradict_its_signoff(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    path = root / "runbooks" / "2027Q1" / "billing-summarizer.md"
    plan_json(cli, root)
    text = path.read_text().replace("- [ ] Re-baseline", "- [x] Re-baseline")
    signed = "- 2026-10-14: approve by bob@example.com on run 20261014T115500Z"
    path.write_text(text + signed + "\n")  # as `migrate signoff` appends it
    # The team migrated to the replacement, ran it and signed off: nothing makes it due.
    write(
        root / "models.yaml",
        REGISTRY.replace(
            "    model: openai/gpt-4o-2024-08-06\n    candidates: [openai/gpt-5.4]",
            "    model: openai/gpt-5.4\n    candidates: [openai/gpt-4o-2024-08-06]",
        ),
    )
    commit_as(root, "bob@example.com", "2026-10-14", "Switch billing to gpt-5.4")
    store_run(
        root,
        finished=dt.date(2026, 10, 14),
        dependency="billing-summarizer",
        baseline="openai/gpt-5.4",
        candidates={"openai/gpt-4o-2024-08-06": "PASS"},
        suite="evals/billing.jsonl",
        decision="approve",
        by="bob@example.com",
    )
    data = plan_json(cli, root)
    assert [e["dependency"] for e in data["due"]] == ["legacy-tagger"]
    assert data["no_longer_due"] == [
        {
            "dependency": "billing-summarizer",
            "runbook": "runbooks/2027Q1/billing-summarizer.md",
            "runbook_status": "updated",
        }
    ]
    after = path.read_text()
    assert (
        "**No longer due as of 2026-10-15: nothing in the registry or the run history makes "
        "it due in 2027Q1 any more.**"
    ) in after
    assert "- Last run: none" not in after
    assert (
        "- Last run: `20261014T115500Z` on 2026-10-14: PASS (`openai/gpt-5.4` against "
        "openai/gpt-4o-2024-08-06); signed off: approve by bob@example.com on 2026-10-14"
    ) in after
    assert "- Nothing makes it due in 2027Q1 any more.\n" in after
    assert "- Migration window:" not in after and "- Review meeting:" not in after
    assert after.endswith(f"{SIGNOFFS_MARKER}\n{signed}\n")
    assert checked_steps(after)["rebaseline"] is True
    human = plan(cli, root).stdout
    assert (
        "No longer due: billing-summarizer (runbooks/2027Q1/billing-summarizer.md refreshed "
        "to say so)"
    ) in human
    assert plan_json(cli, root)["no_longer_due"][0]["runbook_status"] == "unchanged"


def test_a_runbook_of_a_dependency_now_urgent_points_to_its_new_runbook(
    cli: CliRunner, workspace: dict[str, Any]
) -> None:
    root = workspace["root"]
    plan_json(cli, root)  # due in the 2027Q1 window
    write(root / "models.yaml", REGISTRY.replace("retires: 2027-03-31", "retires: 2026-11-30"))
    data = plan_json(cli, root)  # the provider moved the date: urgent now
    assert {e["runbook"] for e in data["due"]} == {
        "runbooks/2026Q4/billing-summarizer.md",
        "runbooks/2026Q4/legacy-tagger.md",
    }
    assert [e["dependency"] for e in data["no_longer_due"]] == [
        "billing-summarizer",
        "legacy-tagger",
    ]
    old = (root / "runbooks" / "2027Q1" / "billing-summarizer.md").read_text()
    assert (
        "**Not due in 2027Q1 any more as of 2026-10-15: its runbook is now "
        "`runbooks/2026Q4/billing-summarizer.md`.**"
    ) in old
    assert "- Migration window: 2027-01-08" not in old


def test_a_runbook_counts_one_day_as_one_day(cli: CliRunner, workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    write(root / "models.yaml", REGISTRY.replace("safety_margin_days: 30", "safety_margin_days: 1"))
    store_run(
        root,
        finished=dt.date(2026, 10, 14),
        dependency="billing-summarizer",
        baseline="openai/gpt-4o-2024-08-06",
        suite="evals/billing.jsonl",
    )
    text = (root / plan_json(cli, root)["due"][0]["runbook"]).read_text()
    assert "- Latest safe date: 2027-03-30 (in 166 days; 1 day before retirement)" in text
    assert "- Last baseline of `openai/gpt-4o-2024-08-06`: 2026-10-14 (1 day old; " in text
    assert "keeps the 1-day safety margin" in text
    assert " 1 days" not in text
