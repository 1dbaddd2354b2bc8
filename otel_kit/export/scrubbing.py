"""Remove secrets from spans and log records before they leave the process.

Scrubbing runs in the exporter thread, never on the request path: a span that carries nothing
sensitive costs one regex scan of its attribute keys and string values at export time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from otel_kit.analysis.sql import sanitize_sql

REDACTED = "[REDACTED]"

# Key names that mean "the value is a secret". "auth" must not match "author"/"authority".
_SENSITIVE_KEY = re.compile(
    r"passw(or)?d|\bpwd\b|mysql_pwd|secret|token|api[-_.]?key|apikey|auth(?!ors?\b|ority)|credential|"
    r"private[-_.]?key|session|cookie|csrf|xsrf|jwt|\bssn\b|social[-_.]?security|credit[-_.]?card|"
    r"card[-_.]?number|\bcvv\b|\bcvc\b",
    re.IGNORECASE,
)
# Semantic-convention keys whose *name* contains a sensitive word but whose value is not secret.
_SAFE_KEYS = frozenset(
    {
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.token.type",
        "security.auth.method",
        "security.auth.result",
        "session.id.present",
    }
)
_SQL_KEYS = frozenset({"db.statement", "db.query.text"})
_URL_KEYS = frozenset({"url.full", "url.query", "http.url", "http.target", "url.path"})

_BEARER = re.compile(r"\b(bearer|basic|token)\s{1,5}[A-Za-z0-9._~+/=-]{8,4096}", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{0,4096}")
_API_KEY = re.compile(r"\b(sk-[A-Za-z0-9_-]{16,256}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,256}|xox[bpas]-[A-Za-z0-9-]{10,256})")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_ASSIGNMENT = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,40}?(?:passw(?:or)?d|pwd|secret|token|api[-_]?key|apikey|auth(?!ors?\b|ority)[A-Za-z_]{0,20}|session|cookie|jwt)[A-Za-z0-9_.-]{0,40})"
    r"(?P<sep>[\"']?\s{0,5}[=:]\s{0,5})(?P<value>\"[^\"]{0,4096}\"|'[^']{0,4096}'|[^\s&;,\"']{1,4096})",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return REDACTED if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def scrub_text(text: str) -> str:
    """Redact tokens, JWTs, API keys, ``password=...`` assignments and Luhn-valid card numbers."""
    if len(text) < 8:
        return text
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _API_KEY.sub(REDACTED, text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)
    if any(ch.isdigit() for ch in text):
        text = _CARD.sub(_card, text)
    return text


def is_sensitive_key(key: str) -> bool:
    if key in _SAFE_KEYS or (key.startswith("gen_ai.") and key.endswith("tokens")):
        return False
    return _SENSITIVE_KEY.search(key) is not None


class Scrubber:
    """Decides what to redact; ``extra_keys`` adds user patterns for attribute names."""

    def __init__(self, *, sanitize_sql_text: bool = True, extra_keys: Iterable[str] = ()) -> None:
        self._sanitize_sql = sanitize_sql_text
        patterns = list(extra_keys)
        self._extra = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None

    def _key_is_sensitive(self, key: str) -> bool:
        return is_sensitive_key(key) or (self._extra is not None and self._extra.search(key) is not None)

    def value(self, key: str, value: Any) -> Any:
        if self._key_is_sensitive(key):
            return REDACTED
        if isinstance(value, str):
            if key in _SQL_KEYS:
                return sanitize_sql(value) if self._sanitize_sql else value
            return scrub_text(value)
        if isinstance(value, (tuple, list)) and value and isinstance(value[0], str):
            return tuple(scrub_text(item) for item in value)
        return value

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A scrubbed copy, or None when nothing needed to change (the common case)."""
        if not attributes:
            return None
        changed: dict[str, Any] | None = None
        for key, value in attributes.items():
            new = self.value(key, value)
            if new is not value and new != value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = new
        return changed

    def spans(self, spans: Sequence[Any]) -> None:
        """Scrub finished SDK spans in place (they are exported once and never read again)."""
        for span in spans:
            new = self.attributes(span.attributes)
            if new is not None:
                span._attributes = new
            if span.events:
                events = list(span.events)
                dirty = False
                for index, event in enumerate(events):
                    scrubbed = self.attributes(event.attributes)
                    if scrubbed is not None:
                        events[index] = type(event)(event.name, scrubbed, event.timestamp)
                        dirty = True
                if dirty:
                    span._events = tuple(events)

    def logs(self, records: Sequence[Any]) -> None:
        """Scrub SDK log records in place: attributes and a string body."""
        for record in records:
            log_record = record.log_record
            new = self.attributes(log_record.attributes)
            if new is not None:
                log_record.attributes = new
            if isinstance(log_record.body, str):
                log_record.body = scrub_text(log_record.body)
