"""Checks on one model output, and the refusal detector, on real-looking replies."""

from __future__ import annotations

from typing import Any

import pytest

from migrate.errors import MigrateError
from migrate.evals.checks import (
    REFUSAL_WINDOW,
    JudgeVerdict,
    apply_check,
    find_json,
    is_refusal,
    judge_key,
    parse_json,
    render_value,
    score,
)
from migrate.evals.suite import Case, CheckSpec

CASE = Case(
    id="hetzner-march",
    vars={"vendor": "Hetzner Online GmbH", "total": "127.30", "currency": "EUR"},
    expected="Hetzner",
    line=3,
)
SUMMARY = "Hetzner Online GmbH invoiced 127.30 EUR for a dedicated server in March."


def check(kind: str, text: str, value: Any = None, case: Case = CASE, **extra: Any) -> bool:
    return apply_check(CheckSpec(type=kind, value=value, **extra), text, case, None)


# --- every check type, with templated values ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "text", "expected"),
    [
        ("equals", "{{ expected }}", "  Hetzner \n", True),
        ("equals", "{{ expected }}", "Hetzner GmbH", False),
        ("equals", "billing", "Billing", False),
        ("contains", "{{ vars.total }} {{ currency }}", SUMMARY, True),
        ("contains", "{{ expected }}", "hetzner invoiced", False),
        ("icontains", "{{ expected }}", "HETZNER invoiced", True),
        ("icontains", "Röstwerk", "rÖstwerk", True),
        ("icontains", "{{ vars.vendor }}", "Hetzner only", False),
        ("not_contains", "#", "- Fixed a crash\n- Added dark mode", True),
        ("not_contains", "#", "## Release notes\n- Fixed a crash", False),
        ("regex", r"(?m)^- ", "Intro\n- first\n- second", True),
        ("regex", r"^\d{4}-\d{2}-\d{2}$", "2027-1-01", False),
        ("regex", "{{ vars.total | replace('.', '[.]') }}", SUMMARY, True),
        ("regex", "([unclosed", "([unclosed", False),  # a broken pattern fails, never crashes
        ("max_chars", 72, SUMMARY, True),
        ("max_chars", 71, SUMMARY, False),
        ("starts_with", "{{ expected }}", "\n  Hetzner Online", True),
        ("starts_with", "{{ expected }}", "The vendor Hetzner", False),
        ("contains_any", ["Hetzner", "{{ vars.total }}"], "total 127.30", True),
        ("contains_any", ["Hetzner", "127.30"], "hetzner", False),
        ("icontains_any", ["{{ expected }}", "nothing"], "HETZNER", True),
        ("icontains_any", ["a-vendor", "b-vendor"], "HETZNER", False),
        ("contains_all", ["{{ expected }}", "{{ vars.total }}", "EUR"], SUMMARY, True),
        ("contains_all", ["{{ expected }}", "USD"], SUMMARY, False),
        ("icontains_all", ["hetzner", "eur"], SUMMARY, True),
        ("icontains_all", ["hetzner", "usd"], SUMMARY, False),
    ],
)
def test_check_types_with_templated_values(
    kind: str, value: Any, text: str, expected: bool
) -> None:
    assert check(kind, text, value) is expected
    assert check(kind, text, value, negate=True) is not expected  # promptfoo's `not-`


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"parties": ["A", "B"]}', True),
        ('```json\n{"parties": ["A", "B"]}\n```', True),
        ("```\n[1, 2, 3]\n```", True),
        ('  \n```JSON\n{"a": 1}```\n', True),
        ('Here you go: {"a": 1}', False),
        ('{"a": 1', False),
        ("```json\n{'a': 1}\n```", False),
        ("", False),
    ],
)
def test_is_json_accepts_one_surrounding_fence(text: str, expected: bool) -> None:
    assert check("is_json", text) is expected
    assert parse_json(text)[0] is expected


def test_contains_json_finds_the_first_json_value_anywhere() -> None:
    text = 'Sure! The fields are {"parties": ["Acme", "Globex"], "total_amount": 12000} as asked.'
    assert check("contains_json", text)
    assert find_json(text) == (True, {"parties": ["Acme", "Globex"], "total_amount": 12000})
    assert find_json("no json here {not json} [nor this") == (False, None)
    assert not check("contains_json", "no braces at all")


SCHEMA = {
    "type": "object",
    "required": ["parties", "total_amount"],
    "properties": {
        "parties": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "total_amount": {"type": "number"},
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"parties": ["Acme GmbH", "Globex Ltd"], "total_amount": 12000.5}', True),
        ('```json\n{"parties": ["Acme", "Globex"], "total_amount": 1}\n```', True),
        ('{"parties": ["Acme GmbH"], "total_amount": 12000}', False),
        ('{"parties": ["Acme", "Globex"], "total_amount": "12,000"}', False),
        ("not json", False),
    ],
)
def test_json_schema(text: str, expected: bool) -> None:
    assert check("json_schema", text, schema=SCHEMA) is expected
    assert check("is_json", text, schema=SCHEMA) is expected  # is_json with a schema
    assert check("contains_json", f"Result: {text}", schema=SCHEMA) is expected


def test_json_schema_without_a_schema_fails() -> None:
    assert not check("json_schema", '{"a": 1}')


def test_not_refusal() -> None:
    assert check("not_refusal", SUMMARY)
    assert not check("not_refusal", "I'm sorry, but I can't help with that.")
    assert check("not_refusal", "I'm sorry, but I can't help with that.", negate=True)


def test_llm_judge_reads_the_stored_verdict() -> None:
    spec = CheckSpec(type="llm_judge", rubric="names the vendor")
    assert apply_check(spec, SUMMARY, CASE, JudgeVerdict(True, "names Hetzner"))
    assert not apply_check(spec, SUMMARY, CASE, JudgeVerdict(False, "no vendor"))
    assert not apply_check(spec, SUMMARY, CASE, None)
    negated = CheckSpec(type="llm_judge", rubric="is rude", negate=True)
    assert apply_check(negated, SUMMARY, CASE, JudgeVerdict(False, "polite"))


# --- score: all checks, labels, flags ------------------------------------------------------


def test_score_passes_only_when_every_check_holds_and_names_the_failures() -> None:
    checks = [
        CheckSpec(type="icontains", value="{{ expected }}"),
        CheckSpec(type="max_chars", value=20),
        CheckSpec(type="not_refusal"),
        CheckSpec(type="contains", value="USD", negate=True),
    ]
    result = score(SUMMARY, CASE, checks)
    assert not result.passed
    assert result.failed == ["max_chars 20"]
    assert not result.refusal and not result.json_valid
    assert score("Hetzner, 127.30 EUR", CASE, checks).passed
    refused = score("I'm sorry, but I can't help with that.", CASE, checks)
    assert refused.refusal
    assert refused.failed == ['icontains "Hetzner"', "max_chars 20", "not_refusal"]


def test_score_labels_show_the_rendered_value_and_the_negation() -> None:
    checks = [CheckSpec(type="contains", value="{{ vars.vendor }}", negate=True)]
    assert score(SUMMARY, CASE, checks).failed == ['not contains "Hetzner Online GmbH"']


def test_score_records_json_validity_whatever_the_checks() -> None:
    result = score('{"a": 1}', CASE, [CheckSpec(type="contains", value="a")])
    assert result.passed and result.json_valid


def test_score_with_judges_uses_the_verdict_stored_under_the_check_index() -> None:
    checks = [
        CheckSpec(type="icontains", value="{{ expected }}"),
        CheckSpec(type="llm_judge", rubric="two sentences at most"),
    ]
    verdict = JudgeVerdict(False, "three sentences")
    result = score(SUMMARY, CASE, checks, {judge_key(1): verdict})
    assert not result.passed and result.failed == ["llm_judge"]
    assert result.judge == {"judge-1": verdict}
    assert score(SUMMARY, CASE, checks, {judge_key(1): JudgeVerdict(True, "")}).passed
    missing = score(SUMMARY, CASE, checks, {})
    assert missing.judge_missing  # an error for the caller, never a failed check
    assert missing.failed == []


# --- template values -----------------------------------------------------------------------


def test_a_case_var_named_expected_wins_over_the_top_level_expected() -> None:
    # promptfoo-style suites carry the expected answer in vars.
    case = Case(id="t", vars={"expected": "billing"}, expected=None)
    assert render_value("{{ expected }}", case) == "billing"
    assert render_value("{{ expected }}", CASE) == "Hetzner"
    assert render_value(["{{ expected }}", 3], CASE) == ["Hetzner", 3]
    assert render_value(400, CASE) == 400


def test_a_check_value_naming_a_missing_variable_is_a_message_not_a_crash() -> None:
    with pytest.raises(MigrateError) as caught:
        score(SUMMARY, CASE, [CheckSpec(type="contains", value="{{ vars.custmer }}")])
    message = caught.value.message
    assert "case 'hetzner-march' (line 3)" in message
    assert "{{ vars.custmer }}" in message
    assert "custmer" in message.split("rendered:")[1]


def test_check_values_are_sandboxed() -> None:
    with pytest.raises(MigrateError, match="cannot be rendered"):
        render_value("{{ ''.__class__.__mro__[1].__subclasses__() }}", CASE)


# --- the refusal detector ------------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, but I can\u2019t assist with that request.",
    "I cannot help with creating malware or any code intended to harm computer systems.",
    "I can't provide instructions for making weapons.",
    "Sorry, I can't help with that.",
    "I won't be able to help with this request.",
    "I'm not able to provide legal advice about your specific situation.",
    "As an AI language model, I cannot browse the internet or access real-time data.",
    "I apologize, but I cannot fulfill this request as it involves a private individual.",
    "I must decline to write this content.",
    "Unfortunately, I can't share that information.",
    "I'm unable to help with that request.",
    "That request goes against my guidelines, so I won't complete it.",
    "I'm afraid I can't do that.",
    "Sorry, but I cannot comply with this request.",
    "I am not able to generate that kind of content.",
    "I can\u2019t help you bypass the license check of that software.",
    "I will not write a fake review for your product.",
    "I'm sorry, I am unable to summarize this document because it contains medical records.",
    "I cannot and will not provide information on how to access someone else's account.",
    "Sorry, I'm not allowed to discuss that topic.",
    "My apologies, but I can't create content that impersonates a real person.",
    "I'm not comfortable writing that, as it could be used to harass someone.",
    "I can't assist with requests to track someone's location without their consent.",
    "Sorry \u2014 I can't do that. Copying a paywalled article would violate copyright.",
    "I\u2019m unable to provide that.",
    "I don't feel comfortable writing content that mocks a real person.",
    "That's not something I can help with. Is there anything else you need?",
    "**I'm sorry, but I can't help with that.**",
    "\n\nI can't.",
    "Es tut mir leid, aber dabei kann ich Ihnen nicht helfen.",
    "Je suis désolé, mais je ne peux pas vous aider avec cela.",
    "Lo siento, pero no puedo ayudar con esa solicitud.",
]

ANSWERS = [
    "Sorry for the delay in shipping! Your order left our Berlin warehouse today.",
    "We're sorry to hear the tent pole broke. You can return it within 30 days for a refund.",
    SUMMARY,
    "You cannot return opened sleeping bags for hygiene reasons, but we repair zips for free.",
    "The function cannot be called before init() runs, so move the call below the setup.",
    "billing",
    '{"parties": ["Acme GmbH", "Globex Ltd"], "effective_date": "2027-01-01"}',
    "- Fixed a crash when exporting invoices to PDF\n- Added dark mode to the dashboard",
    "Customers often write \"I'm sorry, but I can't help with that\" when they cannot come.",
    'Here is the summary. The sender wrote, "I cannot help with the move this weekend".',
    "The error message 'I can't connect to the server' means the VPN is off. Turn it on.",
    "Unfortunately the product is out of stock until March; we can notify you when it is back.",
    "Sorry, we cannot take calls on weekends, but email works any time.",
    "Yes, I can help with that! First, open Settings and choose Billing.",
    "Hi Sam, I'm sorry the jacket arrived in the wrong size; we'll send the right one today.",
    "cheap waterproof hiking boots women",
    "The contract states that neither party can terminate before 2028 without a break fee.",
    "The translation of 'Je ne peux pas' is 'I cannot'.",
    "In the play, Hamlet cannot act; the scene ends with his refusal to kill Claudius.",
    "A good refusal message is short, for example \"I'm sorry, but I can't help with that.\"",
    "We apologise for the inconvenience. The outage was caused by an expired certificate.",
    "The API returns 403 when the key cannot access the project; create a scoped key.",
    "I can't wait for you to try the new stove! It boils a litre in under four minutes.",
    "You can't combine the discount code with the sale, but the sale price is lower anyway.",
    "Returns are accepted within 30 days. I cannot stress enough that it must be unused.",
    "As an AI-powered search, this tool ranks products by relevance and price.",
    "I can't help but notice your order shipped twice; we refunded the second one.",
    "I'm sorry, but we can't ship to PO boxes. Please send us a street address.",
    "Posting customer data publicly violates our policies, so please delete the post.",
    "> I'm sorry, but I can't help with that.\n\nThat reply came from the old model; the new "
    "one answers the question.",
    "Use `I cannot help with that` as the fallback string in the bot configuration.",
    "Your invoice is ready. "
    + "It lists every line item with its amount. " * 8
    + "If you see the message I can't help with that, contact support.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_detects_refusals(text: str) -> None:
    assert is_refusal(text), text


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_that_mention_sorry_or_cannot_are_not_refusals(text: str) -> None:
    assert not is_refusal(text), text


def test_the_lists_are_big_enough_to_mean_something() -> None:
    assert len(REFUSALS) >= 25 and len(ANSWERS) >= 25
    assert len(ANSWERS[-1]) > REFUSAL_WINDOW  # the late refusal lies past the window
