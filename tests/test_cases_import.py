"""`migrate cases import`: logged traffic into a suite, scrubbed, deduplicated, traceable."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from migrate.cases.dedup import NEAR_THRESHOLD, DuplicateFinder, exact_key, near_text
from tests.conftest import invoke, write

TODAY = "2026-11-26"
EMAILS = [f"customer{i}.planted@example-mail.com" for i in range(40)]
PHONES = [f"+1 415 555 01{i:02d}" for i in range(40)]
CARDS = ["4111 1111 1111 1111", "5555555555554444", "378282246310005", "6011111111111117"]
TOPICS = [
    "cancel my subscription", "update the billing address", "get a refund for order",
    "change my delivery slot", "reset the two-factor device", "merge two accounts",
    "export all my invoices", "close the business account", "dispute a duplicate charge",
    "add a second user seat",
]  # fmt: skip


def workspace(root: Path, suite: str = "", prompt: str = "[user]\n{{ question }}\n") -> Path:
    write(
        root / "models.yaml",
        """
        version: 1
        models:
          openai/good: {api_base: "http://127.0.0.1:9/v1", api_key_env: TEST_LLM_KEY}
        dependencies:
          dep:
            model: openai/good
            owners: [owner@example.com]
            prompt: prompt.md.j2
            eval:
              cases: evals/dep.jsonl
              checks: [{type: not_refusal}]
        """,
    )
    write(root / "prompt.md.j2", prompt)
    if suite:
        write(root / "evals" / "dep.jsonl", suite)
    return root


def chat_log(path: Path) -> tuple[Path, list[str]]:
    """40 logged chat requests, 10 of them exact repeats, with planted personal data."""
    lines, distinct = [], []
    for i in range(30):
        topic = TOPICS[i % 10]
        user = (
            f"Hello, I need to {topic} number {1000 + i}. My e-mail is {EMAILS[i]} and my "
            f"phone is {PHONES[i]}."
        )
        if i % 3 == 0:
            user += f" The card on file is {CARDS[i % 4]}."
        messages = [
            {"role": "system", "content": "You are the support assistant of Example Corp."},
            {"role": "user", "content": user},
            {"role": "assistant", "content": f"Done: request {1000 + i} is handled."},
        ]
        line = json.dumps({"id": f"req_{i:03d}", "messages": messages})
        lines.append(line)
        distinct.append(user)
    for i in range(0, 30, 3):  # 10 exact duplicates, each logged again later
        lines.append(lines[i])
    random.Random(7).shuffle(lines)
    write(path, "\n".join(lines) + "\n")
    return path, distinct


def suite_lines(root: Path) -> list[dict]:  # type: ignore[type-arg]
    text = (root / "evals" / "dep.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def all_written_text(root: Path, exclude: set[Path]) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p not in exclude and ".git" not in p.parts
    )


def test_forty_logged_requests_become_thirty_scrubbed_cases(cli, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    log, distinct = chat_log(root / "logs" / "chats.jsonl")
    result = invoke(cli, "cases", "import", "dep", "logs/chats.jsonl", "--today", TODAY, cwd=root)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Added 30 cases to evals/dep.jsonl (30 in all) from logs/chats.jsonl: 40 requests "
        "read, 10 duplicates dropped (10 exact, 0 near, 0 already in the suite).",
        # by hand: 40 lines with one e-mail and one phone number in each user message, and a
        # card in the 10 requests whose index is a multiple of 3, the ones logged twice
        "Scrubbed: 40 e-mail addresses, 20 card numbers, 40 phone numbers.",
    ]
    cases = suite_lines(root)
    written = all_written_text(root, exclude={log})
    for value in [*EMAILS, *PHONES, *CARDS, *(c.replace(" ", "") for c in CARDS)]:
        assert value not in written
        assert value not in result.output
    users = [c["messages"][-1]["content"] for c in cases]
    assert len(users) == len(set(users)) == 30
    # each distinct request once: the same text with its personal data as placeholders
    for i, user in enumerate(distinct):
        expected = user.replace(EMAILS[i], "[EMAIL_1]").replace(PHONES[i], "[PHONE_1]")
        for card in CARDS:
            expected = expected.replace(card, "[CARD_1]")
        assert users.count(expected) == 1, expected
    first = next(c for c in cases if c["provenance"]["original_id"] == "req_000")
    assert first["messages"][0] == {
        "role": "system",
        "content": "You are the support assistant of Example Corp.",
    }
    assert first["expected"] == "Done: request 1000 is handled."
    assert first["provenance"]["source"] == "logs/chats.jsonl"
    assert first["provenance"]["imported"] == TODAY
    assert isinstance(first["provenance"]["line"], int)


def test_importing_the_same_log_again_adds_nothing(cli, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    chat_log(root / "chats.jsonl")
    invoke(cli, "cases", "import", "dep", "chats.jsonl", "--today", TODAY, cwd=root)
    before = (root / "evals" / "dep.jsonl").read_bytes()
    again = invoke(
        cli, "cases", "import", "dep", "chats.jsonl", "--today", TODAY, "--json", cwd=root
    )
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["added"] == [] and report["duplicates"]["suite"] == 40
    assert (root / "evals" / "dep.jsonl").read_bytes() == before


def test_near_duplicates_are_dropped_also_against_the_suite(cli, tmp_path: Path) -> None:
    long = (
        "Our quarterly invoice from the logistics partner lists three pallets of frozen goods "
        "that never arrived at the Hamburg warehouse; please summarise what we should dispute."
    )
    root = workspace(
        tmp_path / "ws",
        suite=json.dumps({"id": "hand-1", "messages": [{"role": "user", "content": long}]}) + "\n",
    )
    rows = [
        long.replace("summarise", "summarize"),  # one letter: near the suite's case
        "Where is my parcel?",
        "Where is my parcel ?!",  # punctuation only: near the line before
        "Where is my parcel? It was due yesterday.",  # a different request
        long.replace("three pallets", "3 pallets"),  # a number: another request
    ]
    write(
        root / "new.jsonl",
        "".join(json.dumps({"messages": [{"role": "user", "content": r}]}) + "\n" for r in rows),
    )
    result = invoke(cli, "cases", "import", "dep", "new.jsonl", "--today", TODAY, cwd=root)
    assert result.exit_code == 0, result.output
    assert "2 duplicates dropped (0 exact, 1 near, 1 already in the suite)" in result.stdout
    contents = [c["messages"][-1]["content"] for c in suite_lines(root)]
    assert contents == [long, rows[1], rows[3], rows[4]]


def test_sample_draws_the_same_cases_for_the_same_seed(cli, tmp_path: Path) -> None:
    picks = []
    for attempt, seed in enumerate(["3", "3", "4"]):
        root = workspace(tmp_path / f"ws{attempt}")
        chat_log(root / "chats.jsonl")
        args = ["cases", "import", "dep", "chats.jsonl", "--sample", "12", "--seed", seed]
        result = invoke(cli, *args, "--today", TODAY, "--json", cwd=root)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert len(report["added"]) == 12 and report["sampled_out"] == 18
        assert [c["id"] for c in suite_lines(root)] == report["added"]
        picks.append(report["added"])
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]


def test_support_tickets_are_mapped_to_the_prompt_variables(cli, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws", prompt="[user]\nCustomer {{ name }} writes:\n{{ body }}\n")
    tickets = {
        "count": 2,
        "tickets": [
            {
                "id": 901,
                "requester": {"name": "Ann", "email": "ann.planted@example.org"},
                "description": "Invoice 77 is wrong, call +44 20 7946 0958",
                "resolution": "Credit note sent to ann.planted@example.org",
            },
            {
                "id": 902,
                "requester": {"name": "Bo", "email": "bo@example.org"},
                "description": "How do I export my data?",
                "resolution": "",
            },
        ],
    }
    write(root / "tickets.json", json.dumps(tickets, indent=2))
    result = invoke(
        cli, "cases", "import", "dep", "tickets.json", "--map", "name=requester.name",
        "--map", "body=description", "--map", "expected=resolution", "--map", "id=id",
        "--today", TODAY, cwd=root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cases = suite_lines(root)
    assert [c["vars"] for c in cases] == [
        {"name": "Ann", "body": "Invoice 77 is wrong, call [PHONE_1]"},
        {"name": "Bo", "body": "How do I export my data?"},
    ]
    assert cases[0]["expected"] == "Credit note sent to [EMAIL_1]"
    assert "expected" not in cases[1]  # an empty resolution is no reference answer
    assert [c["provenance"]["original_id"] for c in cases] == ["901", "902"]
    assert [c["provenance"]["line"] for c in cases] == [4, 13]  # where each ticket starts


def test_csv_columns_named_after_the_variables_need_no_map(cli, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    write(root / "q.csv", 'id,question,expected\n7,"Two\nlines",yes\n8,Plain,\n')
    result = invoke(cli, "cases", "import", "dep", "q.csv", "--today", TODAY, cwd=root)
    assert result.exit_code == 0, result.output
    cases = suite_lines(root)
    assert [(c["vars"], c.get("expected"), c["provenance"]["line"]) for c in cases] == [
        ({"question": "Two\nlines"}, "yes", 2),
        ({"question": "Plain"}, None, 4),
    ]


def test_no_scrub_keeps_the_text_and_says_so(cli, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    write(root / "c.jsonl", json.dumps({"messages": [{"role": "user", "content": "me@x.org"}]}))
    result = invoke(cli, "cases", "import", "dep", "c.jsonl", "--no-scrub", cwd=root)
    assert result.exit_code == 0, result.output
    assert "Not scrubbed (--no-scrub)" in result.stdout
    assert suite_lines(root)[0]["messages"][0]["content"] == "me@x.org"


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        (
            "log.jsonl",
            b'{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [\n',
            [],
            "log.jsonl:2: not valid JSON: Expecting value (column 15)",
        ),
        (
            "t.csv",
            b"subject,text\nhello,world\n",
            ["--map", "question=body"],
            "t.csv:1: body: no column 'body' (the header has: subject, text)",
        ),
        (
            "t.csv",
            b"question\nok\ncaf\xe9 au lait\n",
            [],
            "t.csv:3: not UTF-8 text: byte 0xe9 at column 4 (convert the export to UTF-8 first)",
        ),
        (
            "t.csv",
            b"question,notes\nhello,x\n",
            [],
            "t.csv:1: notes: column 'notes' is not a variable of the prompt (question); "
            "choose fields with --map VAR=FIELD",
        ),
        (
            "t.json",
            b'[\n  {"body": "a"},\n  {"title": "b"}\n]\n',
            ["--map", "question=body"],
            "t.json:3: body: missing in this record",
        ),
        (
            "log.jsonl",
            b'{"messages": [{"role": "user", "content": "x"}], "tools": []}\n',
            [],
            "log.jsonl:1: tools: not part of a chat request this import can replay",
        ),
        (
            "log.jsonl",
            b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}\n',
            [],
            "log.jsonl:1: messages[0].content[0]: only text parts can be replayed",
        ),
        (
            "log.jsonl",
            b'{"messages": [{"role": "tool", "content": "x"}]}\n',
            [],
            "log.jsonl:1: messages[0].role: role 'tool' is not one of system, user, assistant",
        ),
    ],
)
def test_bad_input_names_file_line_and_field_and_writes_nothing(
    cli, tmp_path: Path, name: str, content: bytes, args: list[str], message: str
) -> None:
    existing = json.dumps({"id": "a", "vars": {"question": "q"}}) + "\n"
    root = workspace(tmp_path / "ws", suite=existing)
    (root / name).write_bytes(content)
    result = invoke(cli, "cases", "import", "dep", name, *args, "--today", TODAY, cwd=root)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"migrate: error: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (root / "evals" / "dep.jsonl").read_text(encoding="utf-8") == existing
    assert sorted(p.name for p in (root / "evals").iterdir()) == ["dep.jsonl"]


def test_a_yaml_suite_is_not_appended_to(cli, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    registry = root / "models.yaml"
    registry.write_text(registry.read_text().replace("evals/dep.jsonl", "evals/dep.yaml"))
    write(root / "evals" / "dep.yaml", "tests:\n  - vars: {question: q}\n")
    write(root / "c.jsonl", json.dumps({"messages": [{"role": "user", "content": "x"}]}))
    result = invoke(cli, "cases", "import", "dep", "c.jsonl", cwd=root)
    assert result.exit_code == 2
    assert "imported cases go into a JSONL suite" in result.stderr


def test_duplicate_finder_agrees_with_a_brute_force_jaccard() -> None:
    """Every decision checked against a plain set-of-strings Jaccard over all earlier texts."""
    rng = random.Random(11)
    words = "the parcel invoice refund late order account card address billing".split()
    base = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) for _ in range(60)]
    texts = []
    for text in base:
        texts.append(text)
        chars = list(text)
        for _ in range(rng.choice([0, 1, 3, 12])):  # small and larger edits of the same text
            chars[rng.randrange(len(chars))] = rng.choice("abcdefgh ")
        texts.append("".join(chars))

    def grams(text: str) -> set[str]:
        normal = near_text([{"role": "user", "content": text}], None)
        return {normal[i : i + 5] for i in range(len(normal) - 4)} or {normal}

    finder = DuplicateFinder()
    kept: list[str] = []
    near = 0
    for index, text in enumerate(texts):
        messages = [{"role": "user", "content": text}]
        found = finder.find(exact_key(messages), near_text(messages, None))
        similar = [  # (no digits in these texts: only the similarity decides)
            k for k in kept if len(grams(k) & grams(text)) / len(grams(k) | grams(text))
            >= NEAR_THRESHOLD
        ]  # fmt: skip
        assert (found is not None) == bool(similar), (index, text)
        if found is None:
            finder.add(f"c{index}", exact_key(messages), near_text(messages, None))
            kept.append(text)
        else:
            near += found[0] == "near"
    assert near >= 5  # the test saw near duplicates, not only exact ones
    assert len(kept) > 60  # ... and kept texts that differ more


def test_requests_that_differ_in_a_number_are_not_near_duplicates() -> None:
    text = (
        "Good morning, the delivery for order {} arrived with a broken lid and the courier "
        "left it at the neighbour's door although we asked for a signature; please advise."
    )
    first, second = text.format("5001"), text.format("5002")
    a, b = (
        near_text([{"role": "user", "content": first}], None),
        near_text([{"role": "user", "content": second}], None),
    )
    grams_a = {a[i : i + 5] for i in range(len(a) - 4)}
    grams_b = {b[i : i + 5] for i in range(len(b) - 4)}
    assert len(grams_a & grams_b) / len(grams_a | grams_b) >= NEAR_THRESHOLD  # alike as text
    finder = DuplicateFinder()
    finder.add("c1", exact_key([{"role": "user", "content": first}]), a)
    assert finder.find(exact_key([{"role": "user", "content": second}]), b) is None
    assert finder.find("other", a.replace("advise", "advice")) == ("near", "c1")
