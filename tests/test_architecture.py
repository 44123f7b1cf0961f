"""The shape of the package: no import circle, no import that runs back up the layers, no
module a newcomer cannot read in one sitting, and docs/architecture.md naming only modules
that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "migrate"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
MAX_LINES = 450

# Lowest first. A module may import from its own layer or any layer below, never above.
LAYERS: list[tuple[str, ...]] = [
    (  # foundations: no domain knowledge
        "migrate.errors", "migrate.files", "migrate.secrets", "migrate.console",
        "migrate.yamlsource", "migrate.templating", "migrate.evals.stats", "migrate.evals.power",
        "migrate.evals.progress", "migrate.history.git", "migrate.lifecycle.names",
        "migrate.pacing", "migrate.yamlcache", "migrate.provider_errors", "migrate.evals.stages",
        "migrate.prices",
    ),
    (  # the registry and what follows from it without history
        "migrate.registry", "migrate.schedule", "migrate.lifecycle", "migrate.scan",
        "migrate.llm", "migrate.llm_batch", "migrate.routing", "migrate.evals.rundir",
        "migrate.evals.case",
        "migrate.evals.prompt", "migrate.evals.chat", "migrate.embeddings",
        "migrate.runbooks.merge",
    ),
    (  # reading suites and scoring one output; the run record
        "migrate.evals.checks", "migrate.evals.judge", "migrate.evals.record",
        "migrate.evals.promptfoo", "migrate.evals.suite", "migrate.evals.record_pairs",
        "migrate.evals.record_cost", "migrate.evals.record_calls", "migrate.evals.record_metrics",
        "migrate.evals.record_batch",
        "migrate.evals.record_stages",
    ),
    (  # a run's pure steps and its record's readers
        "migrate.evals.journal", "migrate.evals.scoring", "migrate.evals.metrics",
        "migrate.evals.verdict", "migrate.evals.results", "migrate.evals.inputs",
        "migrate.evals.runner", "migrate.evals.calls", "migrate.history.runs",
        "migrate.evals.preflight", "migrate.evals.pairwise", "migrate.evals.similarity",
        "migrate.cases", "migrate.evals.grading", "migrate.evals.cost", "migrate.evals.batch",
        "migrate.evals.sequential", "migrate.evals.facts", "migrate.evals.workers",
        "migrate.evals.worker",
    ),
    ("migrate.reports",),
    (  # flows that tie the pieces together
        "migrate.evals.flow", "migrate.evals.provenance", "migrate.workspace", "migrate.signoff",
        "migrate.runbooks",
        "migrate.calendar", "migrate.scaffolding", "migrate.schedule.status",
        "migrate.evals.spend",
    ),
    ("migrate.commands",),
    ("migrate.cli", "migrate.cli_common", "migrate.cli_cases", "migrate.__main__"),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    if module == "migrate":  # the package itself holds only its version
        return 0
    best, rank = "", -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, index
    return rank


def imports_of(module: str) -> set[str]:
    """Every project module `module` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name in MODULES and name not in {module, "migrate"}:
                found.add(name)
    # `from a.b import c` names module a.b.c when it exists, else a.b
    return {n for n in found if not any(m.startswith(n + ".") for m in found) or n in MODULES}


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m, p in MODULES.items() if layer_of(m) < 0 and p.read_text().strip()]
    assert unplaced == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_up_the_layers(module: str) -> None:
    upward = sorted(d for d in GRAPH[module] if layer_of(d) > layer_of(module))
    assert upward == [], f"{module} (layer {layer_of(module)}) imports from higher layers"


def test_no_import_circle() -> None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting[visiting.index(module) :], module])
        visiting.append(module)
        for dependency in sorted(GRAPH[module]):
            visit(dependency)
        visiting.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_no_module_is_longer_than_a_sitting() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_runs_layout_is_spelled_in_one_module() -> None:
    spelled = [
        module
        for module, path in MODULES.items()
        if re.search(r"""["'/]runs["'/]|parents\[[24]\]""", path.read_text(encoding="utf-8"))
    ]
    assert spelled == ["migrate.evals.rundir"]


def test_architecture_names_only_modules_that_exist() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = set(re.findall(r"`(migrate/[\w/]+(?:\.py|/))`", text))
    assert len(named) >= 20, "the page should name the modules a newcomer opens"
    missing = sorted(n for n in named if not (PACKAGE.parent / n).exists())
    assert missing == []


def test_one_module_opens_git() -> None:
    """GitPython is imported by migrate/history/git.py alone; the rest ask it."""
    importers = sorted(
        module
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Import) and any(a.name == "git" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.module == "git")
    )
    assert set(importers) == {"migrate.history.git"}
