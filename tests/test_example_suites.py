"""The bundled example workspace's eval suites: they parse, their ids are unique and stable,
every case renders its dependency's prompt with all variables present, and each
expectation is one a model can meet from what the prompt shows it."""

from __future__ import annotations

import collections
import json
import re
from typing import Any

import jinja2
import jinja2.meta
import pytest
from conftest import REPO_ROOT

from migrate.evals.suite import Case, load_suite
from migrate.registry.load import load_registry

REGISTRY = load_registry(REPO_ROOT / "models.yaml")
SIZES = {
    "billing-summarizer": 40,
    "ticket-classifier": 60,
    "contract-extractor": 30,
    "search-query-rewriter": 40,
    "release-notes-writer": 25,
    "faq-answerer": 30,
    "support-reply-drafter": 20,
}
QUEUES = {"billing", "shipping", "returns", "account", "technical", "sales", "privacy", "other"}
ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
ROLE = re.compile(r"^\[(system|user)\][ \t]*$", re.MULTILINE)


def suite_of(dependency: str) -> list[Case]:
    dep = REGISTRY.dependencies[dependency]
    assert dep.eval is not None
    return list(load_suite(REGISTRY.root / dep.eval.cases).cases)


def prompt_source(dependency: str) -> str:
    (prompt,) = REGISTRY.dependencies[dependency].prompt_files
    return (REGISTRY.root / prompt).read_text(encoding="utf-8")


def sections(text: str) -> dict[str, str]:
    parts = ROLE.split(text)
    assert parts[0].strip() == "", "text before the first [system]/[user] line"
    return {role: body.strip() for role, body in zip(parts[1::2], parts[2::2], strict=True)}


def rendered(dependency: str, case: Case) -> dict[str, str]:
    return sections(ENV.from_string(prompt_source(dependency)).render(**case.vars))


def test_every_dependency_has_a_suite_of_the_planned_size() -> None:
    assert set(SIZES) == set(REGISTRY.dependencies)
    for dependency, size in SIZES.items():
        assert len(suite_of(dependency)) == size, dependency


@pytest.mark.parametrize("dependency", sorted(SIZES))
def test_ids_are_unique_stable_kebab_case(dependency: str) -> None:
    cases = suite_of(dependency)
    ids = [case.id for case in cases]
    assert len(set(ids)) == len(ids)
    for case_id in ids:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", case_id), case_id
        assert "placeholder" not in case_id


@pytest.mark.parametrize("dependency", sorted(SIZES))
def test_every_case_renders_its_prompt_with_exactly_the_prompt_variables(
    dependency: str,
) -> None:
    source = prompt_source(dependency)
    wanted = jinja2.meta.find_undeclared_variables(ENV.parse(source))
    for case in suite_of(dependency):
        assert set(case.vars) == wanted, f"{dependency} {case.id}: {sorted(case.vars)}"
        messages = rendered(dependency, case)  # StrictUndefined: a missing variable raises
        assert set(messages) == {"system", "user"}
        assert messages["user"], f"{case.id}: empty user message"


@pytest.mark.parametrize("dependency", sorted(SIZES))
def test_registry_checks_render_for_every_case(dependency: str) -> None:
    """`{{ expected }}` in the registry's checks needs an expected value in every case."""
    dep = REGISTRY.dependencies[dependency]
    assert dep.eval is not None
    templated = [c.value for c in dep.eval.checks if isinstance(c.value, str) and "{{" in c.value]
    for case in suite_of(dependency):
        for value in templated:
            text = ENV.from_string(value).render(**case.vars, expected=case.expected,
                                                 vars=case.vars)  # fmt: skip
            assert text.strip(), f"{case.id}: check {value!r} renders empty"


@pytest.mark.parametrize("dependency", sorted(SIZES))
def test_no_two_cases_share_their_inputs(dependency: str) -> None:
    seen = collections.Counter(json.dumps(c.vars, sort_keys=True) for c in suite_of(dependency))
    assert max(seen.values()) == 1


def test_ticket_queues_are_the_eight_and_balanced() -> None:
    counts = collections.Counter(case.expected for case in suite_of("ticket-classifier"))
    assert set(counts) == QUEUES
    assert max(counts.values()) - min(counts.values()) <= 1


def test_billing_expectations_are_shown_in_the_prompt() -> None:
    for case in suite_of("billing-summarizer"):
        items = case.vars["items"]
        assert all(set(item) == {"description", "amount"} for item in items)
        assert case.expected in case.vars["vendor"] or case.expected == case.vars["total"]
        assert case.expected in rendered("billing-summarizer", case)["user"]


def test_billing_totals_add_up() -> None:
    for case in suite_of("billing-summarizer"):
        total = sum(float(item["amount"]) for item in case.vars["items"])
        assert abs(total - float(case.vars["total"])) < 0.005, case.id


def test_contract_party_appears_verbatim_and_json_safely() -> None:
    for case in suite_of("contract-extractor"):
        assert case.expected in case.vars["contract"], case.id
        assert json.dumps(case.expected)[1:-1] == case.expected  # no escaping in JSON output


def test_query_keywords_come_from_the_question() -> None:
    for case in suite_of("search-query-rewriter"):
        assert case.expected == case.expected.lower()
        assert case.expected in case.vars["question"].lower(), case.id


def test_faq_answers_are_in_the_shop_facts() -> None:
    for case in suite_of("faq-answerer"):
        assert case.expected in rendered("faq-answerer", case)["system"], case.id
        assert len(case.expected) <= 12  # short enough for a tiny local model to say


def test_release_notes_inputs_hold_no_heading_marks() -> None:
    for case in suite_of("release-notes-writer"):
        assert len(case.vars["pull_requests"]) >= 2
        assert not any("#" in title for title in case.vars["pull_requests"]), case.id


def test_release_notes_extra_checks_forbid_internal_changes_only() -> None:
    """A per-case `not_contains` names something from an internal pull request title."""
    internal = re.compile(
        r"(?i)\b(bump|upgrade|refactor|ci|chore|migrate|add|remove|update|rewrite|move|"
        r"internal|rename|drop|set up|data pipeline)\b"
    )
    for case in suite_of("release-notes-writer"):
        for check in case.checks:
            if check.type == "not_contains":
                titles = [t for t in case.vars["pull_requests"] if str(check.value) in t]
                assert titles and all(internal.search(t) for t in titles), (case.id, check)


def test_support_replies_use_promptfoo_asserts() -> None:
    cases = suite_of("support-reply-drafter")
    kinds: set[str] = set()
    for case in cases:
        own = case.checks[2:]  # the first two come from defaultTest
        assert len(own) >= 2, case.id
        kinds |= {("not-" if c.negate else "") + c.type.removeprefix("promptfoo:") for c in own}
    assert {"icontains", "contains", "regex", "not-contains", "icontains-any"} <= kinds


def test_suite_files_are_utf8_jsonl_with_one_case_per_line() -> None:
    for path in sorted((REPO_ROOT / "evals").glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert all(line.strip() for line in lines), f"{path.name}: blank line"
        for line in lines:
            data: dict[str, Any] = json.loads(line)
            assert set(data) <= {"id", "vars", "expected", "checks"}
