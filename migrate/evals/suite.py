"""Eval suites: JSONL cases, or promptfoo-style `tests:` YAML."""

from __future__ import annotations

from pathlib import Path

from migrate.yamlsource import load_yaml_file


def count_cases(path: Path) -> int:
    """How many cases a suite file holds, without validating them (for runbooks)."""
    if path.suffix in {".yaml", ".yml"}:
        data = load_yaml_file(path).data
        tests = data.get("tests") if isinstance(data, dict) else data
        return len(tests) if isinstance(tests, list) else 0
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip() and not line.lstrip().startswith("//"))
