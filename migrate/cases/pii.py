"""Personal data out of imported traffic, before anything is written.

Each value found is replaced by a typed placeholder, `[EMAIL_1]`, `[PHONE_2]`, ..., the same
value by the same placeholder everywhere in one case (its messages, variables, reference
answer and original id), so a conversation still reads ("write to [EMAIL_1]" ... "sent to
[EMAIL_1]"). What is detected, in this order (a span taken by one kind is not seen by the
next):

- SECRET: API keys and tokens by their published shapes (OpenAI and Anthropic `sk-`, AWS
  `AKIA`/`ASIA`, Google `AIza`, GitHub `ghp_`/`github_pat_`..., GitLab `glpat-`, Slack
  `xox?-`, Stripe `sk_live_`..., Hugging Face `hf_`, Groq `gsk_`, npm `npm_`, SendGrid,
  xAI, Replicate), JSON Web Tokens, PEM private-key blocks, the token after `Bearer`, the
  password in `https://user:password@host`, and the value after `password`, `api_key`,
  `token`, `secret` ... followed by `:` or `=`.
- EMAIL: addresses of the form local@domain.tld.
- IBAN: validated by python-stdnum (country length and format, ISO 7064 mod 97 checksum),
  with or without spaces.
- CARD: 13 to 19 digits (spaces or dashes between them allowed) that start with 2 to 6 and
  pass the Luhn check (python-stdnum).
- IP: IPv4 and IPv6 addresses, validated by the standard library.
- PHONE: numbers of at least 7 digits that Google's libphonenumber (the `phonenumbers`
  package) finds valid: any number written with its `+` country code, and national numbers
  of the regions asked for (default: US, GB, DE, FR, IN).

Not detected: names, postal addresses, dates of birth, national id and passport numbers,
account numbers other than IBANs, card numbers that fail the Luhn check, phone numbers in a
national format of a region not asked for, shorter than 7 digits or written in words,
secrets of an unknown shape that are not introduced by a keyword, and personal data inside
images or attachments.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

KINDS = ("SECRET", "EMAIL", "IBAN", "CARD", "IP", "PHONE")
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN")
KIND_NAMES = {  # singular, plural
    "SECRET": ("API key or token", "API keys and tokens"),
    "EMAIL": ("e-mail address", "e-mail addresses"),
    "IBAN": ("IBAN", "IBANs"),
    "CARD": ("card number", "card numbers"),
    "IP": ("IP address", "IP addresses"),
    "PHONE": ("phone number", "phone numbers"),
}

_KEY_SHAPES = [
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # a JSON Web Token
    r"\bsk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_-]{16,}",
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\bAIza[0-9A-Za-z_-]{35}",
    r"\bgh[pousr]_[A-Za-z0-9]{36,}",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\b(?:hf|gsk|r8)_[A-Za-z0-9]{20,}",
    r"\bxai-[A-Za-z0-9]{20,}",
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
]
_SECRET = re.compile("|".join(f"(?:{p})" for p in _KEY_SHAPES))
# Only the secret itself is replaced: "Authorization: Bearer [SECRET_1]" still reads.
_INTRODUCED = re.compile(
    r"(?i)(?P<lead>\bbearer\s+|https?://[^/\s:@]+:"
    r"|\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret"
    r"|secret[_-]?key|secret|password|passwd|pwd|token)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"'`,;<>@]{6,})"
)
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w][\w.%+-]*@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[A-Za-z]{2,}(?![\w-])"
)
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?=[ -]?[A-Za-z0-9])")
_IBAN_CHAR = re.compile(r"[ -]?([A-Za-z0-9])")
_CARD = re.compile(r"(?<![\d-])[2-6](?:[ -]?\d){12,18}(?![\d])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PLACEHOLDER = re.compile(r"\[(" + "|".join(KINDS) + r")_(\d+)\]")


class Scrubber:
    """Replaces personal data in the texts of one case, consistently, and counts it."""

    def __init__(self, phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        self.phone_regions = tuple(phone_regions)
        self.counts: Counter[str] = Counter()  # kind -> values replaced, over every case
        self._placeholders: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()

    def new_case(self, *texts: str) -> None:
        """Start a case; placeholders already in its `texts` keep their numbers."""
        self._placeholders = {}
        self._next = Counter()
        for text in texts:
            for kind, number in _PLACEHOLDER.findall(text):
                self._next[kind] = max(self._next[kind], int(number))

    def scrub_value(self, value: Any) -> Any:
        """`value` with every string in it scrubbed (lists and objects recursively)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_value(v) for k, v in value.items()}
        return value

    def scrub(self, text: str) -> str:
        text = _SECRET.sub(lambda m: self._replace("SECRET", m.group(0), m.group(0)), text)
        text = _INTRODUCED.sub(
            lambda m: m.group("lead") + self._replace("SECRET", m.group("value"), m.group(0)),
            text,
        )
        text = _EMAIL.sub(lambda m: self._replace("EMAIL", m.group(0).lower(), m.group(0)), text)
        text = self._ibans(text)
        text = _CARD.sub(self._card, text)
        text = _IPV4.sub(lambda m: self._ip(m.group(0)), text)
        text = _IPV6.sub(lambda m: self._ip(m.group(0)), text)
        return self._phones(text)

    def _replace(self, kind: str, key: str, original: str) -> str:
        if _PLACEHOLDER.fullmatch(original):
            return original
        placeholder = self._placeholders.get((kind, key))
        if placeholder is None:
            self._next[kind] += 1
            placeholder = f"[{kind}_{self._next[kind]}]"
            self._placeholders[(kind, key)] = placeholder
        self.counts[kind] += 1
        return placeholder

    def _ibans(self, text: str) -> str:
        from stdnum import iban

        spans: list[tuple[int, int, str]] = []
        position = 0
        while match := _IBAN_START.search(text, position):
            chars, ends, cursor = list(match.group(0).upper()), [], match.end()
            while len(chars) < 34 and (more := _IBAN_CHAR.match(text, cursor)):
                chars.append(more.group(1).upper())
                cursor = more.end()
                ends.append((len(chars), cursor))
            found = next(
                (
                    (end, "".join(chars[:length]))
                    for length, end in reversed(ends)
                    if length >= 15
                    and not text[end : end + 1].isalnum()
                    and iban.is_valid("".join(chars[:length]))
                ),
                None,
            )
            if found:
                spans.append((match.start(), found[0], found[1]))
                position = found[0]
            else:
                position = match.start() + 1
        return self._apply("IBAN", text, spans)

    def _card(self, match: re.Match[str]) -> str:
        from stdnum import luhn

        digits = re.sub(r"\D", "", match.group(0))
        if not luhn.is_valid(digits):
            return match.group(0)
        return self._replace("CARD", digits, match.group(0))

    def _ip(self, candidate: str) -> str:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            return candidate
        if address.version == 6 and len(re.findall(r"[0-9A-Fa-f]+", candidate)) < 3:
            return candidate  # "a::b" or "::1" in prose is more likely not an address
        return self._replace("IP", address.compressed, candidate)

    def _phones(self, text: str) -> str:
        import phonenumbers

        if sum(c.isdigit() for c in text) < 5:  # no phone number is shorter
            return text
        spans: list[tuple[int, int, str]] = []
        for region in self.phone_regions:
            for match in phonenumbers.PhoneNumberMatcher(text, region):
                if sum(c.isdigit() for c in match.raw_string) < 7:
                    continue  # a German short number is valid, and so is every "order 1640"
                key = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
                spans.append((match.start, match.end, key))
        return self._apply("PHONE", text, spans)

    def _apply(self, kind: str, text: str, spans: list[tuple[int, int, str]]) -> str:
        """Replace non-overlapping spans (the earliest, then the longest, wins)."""
        chosen: list[tuple[int, int, str]] = []
        for start, end, key in sorted(spans, key=lambda s: (s[0], -s[1])):
            if chosen and start < chosen[-1][1]:
                continue
            if _PLACEHOLDER.search(text[start:end]):
                continue
            chosen.append((start, end, key))
        pieces, last = [], 0
        for start, end, key in chosen:
            pieces += [text[last:start], self._replace(kind, key, text[start:end])]
            last = end
        return "".join(pieces) + text[last:]


def describe_counts(counts: Counter[str]) -> str:
    """`3 e-mail addresses, 2 phone numbers` (kinds in a fixed order); never the values."""
    parts = [f"{counts[k]} {KIND_NAMES[k][counts[k] != 1]}" for k in KINDS if counts[k]]
    return ", ".join(parts) if parts else "nothing"
