"""Runbook merging (pure, with property tests) and the template loader."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.runbooks.merge import (
    FACTS_BEGIN,
    FACTS_END,
    SIGNOFFS_MARKER,
    checked_steps,
    merge_runbook,
    step_id,
)
from migrate.templating import (
    TemplateError,
    Templates,
    packaged_template_names,
    render_template,
)

# ---------------------------------------------------------------------------------------------
# A small runbook "template" for the merge tests: facts, steps and static lines.

STEPS = [("notice", "Read the notice"), ("rebaseline", "Re-baseline"), ("signoff", "Sign off")]


def render(facts: list[str], steps: list[tuple[str, str]] = STEPS) -> str:
    lines = ["# Runbook: billing", "", FACTS_BEGIN, *facts, FACTS_END, "", "## Checklist", ""]
    lines += [f"- [ ] {text} <!-- step:{ident} -->" for ident, text in steps]
    lines += ["", "## Notes", "", "## Sign-off", "", SIGNOFFS_MARKER]
    return "\n".join(lines) + "\n"


def tick(text: str, ident: str, mark: str = "x") -> str:
    return re.sub(
        rf"^- \[ \](.*<!-- step:{ident} -->)$", rf"- [{mark}]\1", text, count=1, flags=re.M
    )


def insert_after(text: str, anchor: str, *new_lines: str) -> str:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if anchor in line)
    return "\n".join(lines[: index + 1] + list(new_lines) + lines[index + 1 :]) + "\n"


OLD_FACTS = ["- Retires: 2027-01-14 (in 91 days)", "- Owner: alice"]
NEW_FACTS = ["- Retires: 2027-02-15 (in 123 days)", "- Owner: alice", "- Candidates: gpt-5.4"]


def test_first_rendering_is_written_as_is() -> None:
    assert merge_runbook(None, render(OLD_FACTS)) == render(OLD_FACTS)
    assert merge_runbook("", render(OLD_FACTS)) == render(OLD_FACTS)


def test_facts_are_replaced_and_ticks_notes_and_signoffs_kept() -> None:
    old = render(OLD_FACTS)
    old = tick(old, "notice")
    old = tick(old, "rebaseline", "X")
    old = insert_after(old, "step:rebaseline", "  - ran it twice, the judge timed out once")
    old = insert_after(old, "## Notes", "", "Bob says the new model is fine for German.")
    old = insert_after(old, SIGNOFFS_MARKER, "- 2027-01-20 approve by alice@example.com (run 1)")

    merged = merge_runbook(old, render(NEW_FACTS))

    assert "2027-02-15" in merged and "2027-01-14" not in merged
    assert "- Candidates: gpt-5.4" in merged
    assert checked_steps(merged) == {"notice": True, "rebaseline": True, "signoff": False}
    assert "- [X] Re-baseline <!-- step:rebaseline -->" in merged  # the person's X stays an X
    lines = merged.splitlines()
    note = lines.index("  - ran it twice, the judge timed out once")
    assert lines[note - 1] == "- [X] Re-baseline <!-- step:rebaseline -->"
    german = lines.index("Bob says the new model is fine for German.")
    assert lines[german - 2 : german] == ["## Notes", ""]
    assert lines[-2:] == [SIGNOFFS_MARKER, "- 2027-01-20 approve by alice@example.com (run 1)"]
    assert merge_runbook(merged, render(NEW_FACTS)) == merged


def test_a_ticked_step_stays_ticked_when_its_text_changes_or_it_moves() -> None:
    old = tick(render(OLD_FACTS), "signoff")
    old = insert_after(old, "step:signoff", "  - approved in the review meeting")
    reworded = [
        ("signoff", "Decide and sign off: `migrate signoff billing`"),
        ("notice", "Read the notice"),
        ("rebaseline", "Re-baseline"),
    ]
    merged = merge_runbook(old, render(NEW_FACTS, reworded))
    assert checked_steps(merged) == {"signoff": True, "notice": False, "rebaseline": False}
    lines = merged.splitlines()
    step = lines.index("- [x] Decide and sign off: `migrate signoff billing` <!-- step:signoff -->")
    assert lines[step + 1] == "  - approved in the review meeting"  # the note moved with it
    assert merged.count("step:signoff") == 1


def test_human_text_inside_a_facts_block_is_generated_text() -> None:
    old = insert_after(render(OLD_FACTS), "- Owner: alice", "my note in the facts")
    assert "my note in the facts" not in merge_runbook(old, render(NEW_FACTS))


def test_a_deleted_step_comes_back_unticked_and_nothing_else_is_lost() -> None:
    old = render(OLD_FACTS)
    old = insert_after(old, "step:notice", "  - the notice says nothing about tools")
    old = "\n".join(line for line in old.splitlines() if "step:notice" not in line) + "\n"
    merged = merge_runbook(old, render(NEW_FACTS))
    assert checked_steps(merged)["notice"] is False
    assert "  - the notice says nothing about tools" in merged
    assert merge_runbook(merged, render(NEW_FACTS)) == merged


def test_edited_template_text_is_kept_beside_the_fresh_line() -> None:
    old = render(OLD_FACTS).replace("## Notes", "## Notes (Alice, Bob)")
    merged = merge_runbook(old, render(NEW_FACTS))
    lines = merged.splitlines()
    assert "## Notes (Alice, Bob)" in lines and "## Notes" in lines
    assert merge_runbook(merged, render(NEW_FACTS)) == merged


def test_a_step_the_template_dropped_is_kept_as_the_person_left_it() -> None:
    old = tick(render(OLD_FACTS), "notice")
    merged = merge_runbook(old, render(NEW_FACTS, STEPS[1:]))
    assert "- [x] Read the notice <!-- step:notice -->" in merged


def test_a_copied_step_line_is_a_persons_line() -> None:
    old = insert_after(
        render(OLD_FACTS), "step:signoff", "- [x] Tell the sales team <!-- step:signoff -->"
    )
    merged = merge_runbook(old, render(NEW_FACTS))
    assert "- [ ] Sign off <!-- step:signoff -->" in merged  # the template's own, not ticked
    assert "- [x] Tell the sales team <!-- step:signoff -->" in merged
    assert merge_runbook(merged, render(NEW_FACTS)) == merged


def test_a_broken_facts_block_loses_nothing_and_settles() -> None:
    old = render(OLD_FACTS).replace(FACTS_END + "\n", "")  # the end marker was deleted
    old = insert_after(old, "## Checklist", "a note after the broken block")
    merged = merge_runbook(old, render(NEW_FACTS))
    assert "a note after the broken block" in merged
    assert merged.count(FACTS_BEGIN) == 1 and merged.count(FACTS_END) == 1
    again = merge_runbook(merged, render(NEW_FACTS))
    assert again == merged


def test_windows_line_endings_and_stripped_trailing_blanks_match() -> None:
    fresh = render(NEW_FACTS).replace("## Checklist", "## Checklist  ")
    old = tick(render(OLD_FACTS), "notice").replace("\n", "\r\n")
    merged = merge_runbook(old, fresh)
    assert "\r" not in merged
    assert merged.count("## Checklist") == 1
    assert checked_steps(merged)["notice"] is True


def test_step_id_parsing() -> None:
    assert step_id("- [ ] Do it <!-- step:do-it -->") == "do-it"
    assert step_id("  * [X] Do it <!--step:x.1-->  ") == "x.1"
    assert step_id("- [ ] no id") is None
    assert step_id("- [] Do it <!-- step:a -->") is None
    steps = checked_steps(f"{FACTS_BEGIN}\n- [x] a fact <!-- step:fake -->\n{FACTS_END}\n")
    assert steps == {}


# ---------------------------------------------------------------------------------------------
# Property tests: random ticks and random human lines survive a regeneration with new facts.

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
human_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=_LINE_BREAKS),
    max_size=30,
).filter(lambda s: step_id(s) is None and "migrate:facts" not in s)
fact_line = st.text(alphabet="abcdefghij -:0123456789", max_size=20).map(lambda s: f"- {s}")
step_texts = st.lists(
    st.text(alphabet="abcdefghij `-", min_size=1, max_size=15), min_size=3, max_size=3
)


@st.composite
def edited_runbooks(draw: st.DrawFn) -> tuple[str, str, list[str], dict[str, bool]]:
    """(old file a person edited, new rendering, the lines they added in file order, ticks)."""
    old_facts = draw(st.lists(fact_line, max_size=6))
    new_facts = draw(st.lists(fact_line, max_size=6))
    old_steps = [(ident, text) for (ident, _), text in zip(STEPS, draw(step_texts), strict=True)]
    new_steps = [(ident, text) for (ident, _), text in zip(STEPS, draw(step_texts), strict=True)]
    if draw(st.booleans()):  # the template moved its steps around
        new_steps = draw(st.permutations(new_steps))
    ticks = {ident: draw(st.sampled_from(["", "x", "X"])) for ident, _ in STEPS}
    old = render(old_facts, old_steps)
    for ident, mark in ticks.items():
        if mark:
            old = tick(old, ident, mark)
    lines = old.splitlines()
    facts_start, facts_end = lines.index(FACTS_BEGIN), lines.index(FACTS_END)
    # A person writes anywhere but inside the facts block (position i: before line i).
    outside = [i for i in range(len(lines) + 1) if not facts_start < i <= facts_end]
    added = draw(st.lists(st.tuples(st.sampled_from(outside), human_text), max_size=8))
    edited: list[str] = []
    humans: list[str] = []
    for i in range(len(lines) + 1):
        here = [text for position, text in added if position == i]
        edited += here
        humans += here
        if i < len(lines):
            edited.append(lines[i])
    marks = {ident: bool(mark) for ident, mark in ticks.items()}
    return "\n".join(edited) + "\n", render(new_facts, new_steps), humans, marks


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(edited_runbooks())
def test_ticks_and_human_lines_survive_regeneration(
    case: tuple[str, str, list[str], dict[str, bool]],
) -> None:
    old, new, human_lines, ticks = case
    merged = merge_runbook(old, new)
    merged_lines = [line.rstrip() for line in merged.splitlines()]

    assert checked_steps(merged) == ticks
    # Every line of the new rendering is there, and every line a person added.
    need = Counter(line.rstrip() for line in new.splitlines() if step_id(line) is None)
    need.update(line.rstrip() for line in human_lines)
    have = Counter(merged_lines)
    assert all(have[line] >= count for line, count in need.items())
    if [step_id(line) for line in old.splitlines() if step_id(line)] == [
        step_id(line) for line in new.splitlines() if step_id(line)
    ]:  # (lines after a step that moved move with it)
        assert _is_subsequence([h.rstrip() for h in human_lines], merged_lines)
    # Regeneration is idempotent.
    assert merge_runbook(merged, new) == merged


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(edited_runbooks(), st.data())
def test_human_lines_stay_after_their_anchor(
    case: tuple[str, str, list[str], dict[str, bool]], data: st.DataObject
) -> None:
    """A person's line right after a step stays after that step (whatever else changed)."""
    old, new, _, _ = case
    ident = data.draw(st.sampled_from([ident for ident, _ in STEPS]))
    note = f"note for {ident}: {data.draw(human_text)}"
    lines = old.splitlines()
    at = next(i for i, line in enumerate(lines) if step_id(line) == ident)
    lines.insert(at + 1, note)
    merged = merge_runbook("\n".join(lines) + "\n", new).splitlines()
    step_at = next(i for i, line in enumerate(merged) if step_id(line) == ident)
    assert merged[step_at + 1] == note


@settings(max_examples=200)
@given(st.lists(fact_line, max_size=5), st.lists(fact_line, max_size=5), st.data())
def test_facts_block_holds_exactly_the_new_facts(
    old_facts: list[str], new_facts: list[str], data: st.DataObject
) -> None:
    old_facts = [f"{line} (old)" for line in old_facts]
    merged = merge_runbook(render(old_facts), render(new_facts))
    lines = merged.splitlines()
    block = lines[lines.index(FACTS_BEGIN) + 1 : lines.index(FACTS_END)]
    assert block == new_facts
    assert not any(line.endswith("(old)") for line in lines)


# ---------------------------------------------------------------------------------------------
# Templates: the one loader (workspace override first, then the packaged template).


def test_packaged_templates_are_package_data() -> None:
    assert {"runbook.md.j2", "checklist.j2"} <= set(packaged_template_names())
    assert Templates(None).source_of("runbook.md.j2") == "migrate/templates/runbook.md.j2"


def test_a_workspace_file_overrides_the_packaged_one_file_by_file(tmp_path: Path) -> None:
    write(
        tmp_path / "templates" / "checklist.j2",
        """
        {% macro step(id, text) %}* [ ] {{ text | upper }} <!-- step:{{ id }} -->{% endmacro %}
    """,
    )
    write(
        tmp_path / "templates" / "note.md.j2",
        """
        {% from "checklist.j2" import step %}
        {{ step("a", "do " ~ what) }}
    """,
    )
    templates = Templates(tmp_path)
    assert templates.render("note.md.j2", {"what": "it"}) == "* [ ] DO IT <!-- step:a -->\n"
    # The packaged macro is still reachable under migrate/.
    write(
        tmp_path / "templates" / "note.md.j2",
        """
        {% from "migrate/checklist.j2" import step %}
        {{ step("a", "do " ~ what) }}
    """,
    )
    assert templates.render("note.md.j2", {"what": "it"}) == "- [ ] do it <!-- step:a -->\n"
    assert templates.source_of("note.md.j2") == str(tmp_path / "templates" / "note.md.j2")


def test_an_override_added_or_changed_later_is_picked_up(tmp_path: Path) -> None:
    write(tmp_path / "other" / "x", "")
    context = {"what": "x"}
    with pytest.raises(TemplateError, match="template 'probe.j2' not found"):
        render_template("probe.j2", context, tmp_path)
    write(tmp_path / "templates" / "probe.j2", "one {{ what }}")
    assert render_template("probe.j2", context, tmp_path) == "one x"
    write(tmp_path / "templates" / "probe.j2", "two, longer {{ what }}")
    assert render_template("probe.j2", context, tmp_path) == "two, longer x"


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("line one\n{% if %}\n", 2, "Expected an expression"),
        ("a\nb\n{{ missing.value }}\n", 3, "'missing' is undefined"),
        ("a\n{{ 1 // 0 }}\n", 2, "ZeroDivisionError"),
        ("a\n\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n", 3, "is unsafe"),
        ('{% include "nowhere.j2" %}\n', 1, "template 'nowhere.j2' not found"),
    ],
)
def test_template_errors_name_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, line: int, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "templates" / "runbook.md.j2", source)
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path).render("runbook.md.j2", {})
    text = caught.value.message
    assert text.startswith(f"templates/runbook.md.j2:{line}: template error: "), text
    assert message in text
    assert "\n" not in text


def test_template_names_cannot_leave_the_folders(tmp_path: Path) -> None:
    write(tmp_path / "secret.j2", "secret")
    with pytest.raises(TemplateError, match="not found"):
        Templates(tmp_path / "ws").render("../secret.j2", {})


def test_markdown_is_not_escaped_and_undefined_is_strict(tmp_path: Path) -> None:
    write(tmp_path / "templates" / "t.j2", "{{ text }} {{ text | oneline }}\n")
    out = Templates(tmp_path).render("t.j2", {"text": "<a & b>\n  c"})
    assert out == "<a & b>\n  c <a & b> c\n"
    write(tmp_path / "templates" / "u.j2", textwrap.dedent("{{ thing.missing }}"))
    with pytest.raises(TemplateError, match="has no attribute 'missing'"):
        Templates(tmp_path).render("u.j2", {"thing": {}})


def test_html_templates_are_escaped_and_markdown_is_not(tmp_path: Path) -> None:
    write(tmp_path / "templates" / "page.html.j2", "<p>{{ text }}</p>")
    write(tmp_path / "templates" / "page.md.j2", "{{ text }}")
    templates = Templates(tmp_path)
    assert templates.render("page.html.j2", {"text": "<b>"}) == "<p>&lt;b&gt;</p>"
    assert templates.render("page.md.j2", {"text": "<b>"}) == "<b>"


def test_an_error_inside_a_packaged_macro_names_the_callers_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "templates" / "runbook.md.j2",
        '{% from "checklist.j2" import step %}\n\n{{ step("only-an-id") }}\n',
    )
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path).render("runbook.md.j2", {})
    assert caught.value.message.startswith("migrate/templates/checklist.j2:")
    assert caught.value.message.endswith(
        "template error: parameter 'text' was not provided (from templates/runbook.md.j2:3)"
    ), caught.value.message
