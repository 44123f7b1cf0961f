"""Scrubbing personal data from imported traffic: published test values in, placeholders out."""

from __future__ import annotations

import pytest

from migrate.cases.pii import Scrubber, describe_counts

# Card numbers the card networks publish for testing (Stripe's and PayPal's test-card lists).
TEST_CARDS = [
    "4111 1111 1111 1111",  # Visa
    "4012888888881881",  # Visa
    "5555-5555-5555-4444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
]
# IBANs printed as examples by the ECBS and the national banks (valid check digits).
TEST_IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 00",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
]


def scrubbed(*texts: str, regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")) -> list[str]:
    scrubber = Scrubber(regions)
    scrubber.new_case(*texts)
    return [scrubber.scrub(t) for t in texts]


@pytest.mark.parametrize("card", TEST_CARDS)
def test_published_test_cards_are_replaced(card: str) -> None:
    assert scrubbed(f"Please refund {card} today.") == ["Please refund [CARD_1] today."]


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1112",  # the Visa test number with its last digit changed: fails Luhn
        "1234567890123456",  # starts with 1: no card network
        "123456",  # too short
    ],
)
def test_numbers_that_are_not_cards_stay(number: str) -> None:
    assert scrubbed(f"Reference {number} please") == [f"Reference {number} please"]


@pytest.mark.parametrize("iban", TEST_IBANS)
def test_ibans_are_replaced_with_or_without_spaces(iban: str) -> None:
    assert scrubbed(f"Pay to {iban}, thanks") == ["Pay to [IBAN_1], thanks"]


def test_an_iban_with_a_wrong_check_digit_stays() -> None:
    text = "Pay to GB83 WEST 1234 5698 7654 32 now"
    assert "GB83 WEST" in scrubbed(text)[0]


@pytest.mark.parametrize(
    "phone",
    [
        "+1 415-555-0132",
        "(415) 555-0199",  # US national format
        "+44 20 7946 0958",  # Ofcom's numbers for drama
        "020 7946 0321",  # GB national format
        "+49 30 901820",
        "030 901820",  # DE national format
        "+33 1 23 45 67 89",
        "+91 98765 43210",
    ],
)
def test_phone_numbers_are_replaced(phone: str) -> None:
    assert scrubbed(f"Call me on {phone} after 5.") == ["Call me on [PHONE_1] after 5."]


def test_national_numbers_of_a_region_not_asked_for_stay() -> None:
    assert scrubbed("Ring 030 901820", regions=("US",)) == ["Ring 030 901820"]


@pytest.mark.parametrize(
    "text",
    [
        "Order #48213377 placed on 2026-11-01 for $1,200.50",
        "Version 2.14.1 fixed it at 12:30:45, ratio 3:2",
        "Ticket 123456, invoice INV-2026-0042",
        "Order 1640 and room 4711",  # valid German short numbers, not phone numbers here
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert scrubbed(text) == [text]


def test_emails_ips_and_keys_are_replaced() -> None:
    text = (
        "I'm jane.doe+billing@example.co.uk on 192.168.10.24 (and 2001:db8::8a2e:370:7334); "
        "my key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx and Authorization: Bearer abc123def456ghi789 "
        "and password: hunter22 and https://admin:s3cretpw@db.example.com/x "
        "and AKIAIOSFODNN7EXAMPLE and ghp_" + "a" * 36
    )
    (out,) = scrubbed(text)
    assert out == (
        "I'm [EMAIL_1] on [IP_1] (and [IP_2]); my key [SECRET_1] and Authorization: Bearer "
        "[SECRET_4] and password: [SECRET_5] and https://admin:[SECRET_6]@db.example.com/x "
        "and [SECRET_2] and [SECRET_3]"
    )


def test_a_value_gets_one_placeholder_throughout_a_case() -> None:
    scrubber = Scrubber()
    texts = [
        "Write to ann@example.com or bob@example.com",
        "I wrote to ANN@example.com",
    ]
    scrubber.new_case(*texts)
    assert [scrubber.scrub(t) for t in texts] == [
        "Write to [EMAIL_1] or [EMAIL_2]",
        "I wrote to [EMAIL_1]",
    ]
    scrubber.new_case("cara@example.com")
    assert scrubber.scrub("cara@example.com") == "[EMAIL_1]"  # numbering starts per case
    assert scrubber.counts["EMAIL"] == 4


def test_placeholders_already_in_the_text_are_neither_reused_nor_counted() -> None:
    scrubber = Scrubber()
    text = "Earlier: [EMAIL_1]; now dan@example.com"
    scrubber.new_case(text)
    assert scrubber.scrub(text) == "Earlier: [EMAIL_1]; now [EMAIL_2]"
    assert scrubber.counts["EMAIL"] == 1


def test_values_inside_variables_are_scrubbed_recursively() -> None:
    scrubber = Scrubber()
    scrubber.new_case()
    value = {"customer": {"email": "eve@example.com", "phones": ["+44 20 7946 0958"]}, "n": 3}
    assert scrubber.scrub_value(value) == {
        "customer": {"email": "[EMAIL_1]", "phones": ["[PHONE_1]"]},
        "n": 3,
    }


def test_the_summary_names_kinds_and_counts_never_values() -> None:
    scrubber = Scrubber()
    scrubber.new_case()
    scrubber.scrub("a@example.com b@example.com 4111111111111111")
    assert describe_counts(scrubber.counts) == "2 e-mail addresses, 1 card number"
    assert describe_counts(Scrubber().counts) == "nothing"
