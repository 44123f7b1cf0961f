"""The quarterly workflow, in this repository and in the scaffold: actionlint and zizmor find
nothing, and the workflow does what the cadence needs with least privilege."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO_ROOT
from test_init import EXAMPLE

from migrate.scaffolding import InstallSource, scaffold_files, scaffold_values

BIN = Path(sys.executable).parent
REPOSITORY_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "model-migrations.yml"
TEMPLATE = REPO_ROOT / "migrate" / "scaffold" / "dot_github" / "workflows"
TEMPLATE = TEMPLATE / "model-migrations.yml.tmpl"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
    return str(found)


def scaffold_workflow(directory: Path) -> Path:
    """The workflow `migrate init` writes, in a repository layout of its own."""
    values = scaffold_values(EXAMPLE, InstallSource("migrate==0.1.0"), "a@example.com",
                             EXAMPLE.retires)  # fmt: skip
    path = directory / ".github" / "workflows" / "model-migrations.yml"
    path.parent.mkdir(parents=True)
    path.write_bytes(scaffold_files(values)[".github/workflows/model-migrations.yml"])
    return path


@pytest.fixture(params=["repository", "scaffold"])
def workflow(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "repository":
        return REPOSITORY_WORKFLOW
    return scaffold_workflow(tmp_path)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_actionlint_finds_nothing(workflow: Path) -> None:
    result = subprocess.run([tool("actionlint"), "-no-color", str(workflow)],
                            capture_output=True, text=True, cwd=workflow.parent)  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_finds_nothing(workflow: Path, persona: str) -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", f"--persona={persona}", "--format=plain", str(workflow)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
    assert "suppressed" not in result.stdout + result.stderr


def test_the_repository_workflow_is_the_scaffold_installing_this_checkout() -> None:
    """One template, two copies: the repository's runs `pip install .`, nothing else differs."""
    rendered = TEMPLATE.read_text(encoding="utf-8").replace("@@requirement@@", ".")
    assert REPOSITORY_WORKFLOW.read_text(encoding="utf-8") == rendered


def test_quarterly_and_on_demand(workflow: Path) -> None:
    triggers = load(workflow)["on"]
    # The quarter's first day, and a daily collection of batches (a no-op without one out).
    assert triggers["schedule"] == [{"cron": "0 6 1 1,4,7,10 *"}, {"cron": "30 6 * * *"}]
    assert "workflow_dispatch" in triggers
    assert set(triggers) == {"schedule", "workflow_dispatch"}  # never pull_request_target


def test_least_privilege(workflow: Path) -> None:
    data = load(workflow)
    assert data["permissions"] == {}
    jobs = data["jobs"]
    assert {name: job["permissions"] for name, job in jobs.items()} == {
        "plan": {"contents": "read", "pages": "read"},
        "publish": {"pages": "write", "id-token": "write"},
        "evaluate": {"contents": "read"},
        "runbooks": {"contents": "write", "pull-requests": "write"},
    }


def steps(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in data["jobs"].items() for step in job["steps"]]


def test_actions_are_pinned_to_full_shas_with_a_version_comment(workflow: Path) -> None:
    text = workflow.read_text(encoding="utf-8")
    uses = [step["uses"] for _, step in steps(load(workflow)) if "uses" in step]
    assert uses, "the workflow uses actions"
    for action in uses:
        assert PINNED.match(action), action
    for line in re.findall(r"uses: (\S+.*)", text):
        assert re.fullmatch(r"\S+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_checkouts_do_not_persist_credentials(workflow: Path) -> None:
    checkouts = [s for _, s in steps(load(workflow)) if s.get("uses", "").startswith(
        "actions/checkout@")]  # fmt: skip
    assert len(checkouts) == 3
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_scripts_run_with_pipefail(workflow: Path) -> None:
    """`shell: bash` is bash -eo pipefail; the unspecified default would hide a failing
    `migrate check` behind `| tee`."""
    data = load(workflow)
    assert data["defaults"] == {"run": {"shell": "bash"}}
    assert all("shell" not in s for _, s in steps(data))


def test_no_expression_is_expanded_inside_a_script(workflow: Path) -> None:
    """Every value from outside reaches a script through `env`: no template injection."""
    for _, step in steps(load(workflow)):
        assert "${{" not in step.get("run", ""), step.get("name")


def test_secrets_only_reach_the_job_that_runs_models(workflow: Path) -> None:
    data = load(workflow)
    for name, job in data["jobs"].items():
        uses_secrets = "secrets." in yaml.safe_dump(job)
        assert uses_secrets == (name == "evaluate"), name
    assert data["jobs"]["evaluate"]["environment"]["name"] == "model-evals"
    run = next(s for _, s in steps(data) if "migrate run" in s.get("run", ""))
    assert run["if"] == "steps.keys.outputs.configured == 'true'"
    assert "OPENAI_API_KEY" in run["env"] and "ANTHROPIC_API_KEY" in run["env"]


def test_the_cadence(workflow: Path) -> None:
    data = load(workflow)
    scripts = {name: "\n".join(s.get("run", "") for s in job["steps"])
               for name, job in data["jobs"].items()}  # fmt: skip
    plan = scripts["plan"]
    for command in ("migrate check", "migrate sync", "migrate calendar --out",
                    "migrate plan --today"):  # fmt: skip
        assert command in plan
    assert "GITHUB_STEP_SUMMARY" in plan
    assert "migrate plan --today" in scripts["runbooks"] and "gh pr create" in scripts["runbooks"]
    assert 'migrate run "$DEPENDENCY"' in scripts["evaluate"]
    matrix = data["jobs"]["evaluate"]["strategy"]["matrix"]["dependency"]
    assert matrix == "${{ fromJSON(needs.plan.outputs.due) }}"
    uses = {s["uses"].split("@")[0] for _, s in steps(data) if "uses" in s}
    assert {"actions/upload-pages-artifact", "actions/deploy-pages"} <= uses
    assert data["jobs"]["publish"]["environment"]["name"] == "github-pages"


def test_the_plan_step_outputs_what_the_other_jobs_read(tmp_path: Path) -> None:
    """Run the plan step's script with `migrate` on PATH against the example workspace."""
    import json
    import os

    script = next(s["run"] for _, s in steps(load(REPOSITORY_WORKFLOW)) if s.get("id") == "plan")
    for name in ("models.yaml", "prompts", "evals"):
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy2(source, tmp_path / name)
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed here (GitHub's runners have it)")
    output = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "PATH": f"{BIN}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env, check=True,
                   capture_output=True, text=True)  # fmt: skip
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert set(values) == {"today", "quarter", "due"}
    assert re.fullmatch(r"\d{4}Q[1-4]", values["quarter"])
    assert isinstance(json.loads(values["due"]), list)
    assert (tmp_path / "plan.txt").read_text().startswith(values["quarter"])
