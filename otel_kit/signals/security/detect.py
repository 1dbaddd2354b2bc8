"""Findings: which detector fires on which field, with no request content in the result.

A finding names the attack type, the rule, the severity and the location (``query.q``,
``body.password``, ``header.user-agent``, ``path``). It may add the matched token *shape*
(``'OR N=N--``: token classes and fixed keywords, never the user's characters) and a keyed hash
of the value for correlating repeats — both left out when the field's name says it holds a
secret. There is no excerpt: an excerpt of a login form is the user's password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from otel_kit.signals.security import html, paths, shell, sql
from otel_kit.signals.security.decoding import decode
from otel_kit.signals.security.fields import HEADER, INSPECTED_HEADERS, NAME, PATH, SEGMENT, VALUE, Field, header_fields, is_sensitive_name

SEVERITIES = ("low", "medium", "high", "critical")
ATTACK_TYPES = ("sql_injection", "xss", "path_traversal", "command_injection")

Verdict = tuple[str, str, str]  # (pattern, severity, shape)


@dataclass(frozen=True)
class Finding:
    """One detected attack indicator; carries no request content."""

    type: str
    severity: str
    pattern: str
    location: str
    shape: str = ""
    digest: str = ""

    def as_attributes(self) -> dict[str, str]:
        attributes = {
            "security.attack.type": self.type,
            "security.severity": self.severity,
            "security.attack.pattern": self.pattern,
            "security.attack.location": self.location,
        }
        if self.shape:
            attributes["security.attack.shape"] = self.shape
        if self.digest:
            attributes["security.attack.value_hmac"] = self.digest
        return attributes


def severity_at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor)


def _traversal_value(view: str) -> Verdict | None:
    return paths.detect(view, whole_value=True)


def _traversal_inline(view: str) -> Verdict | None:
    return paths.detect(view, whole_value=False)


_ALL: tuple[tuple[str, Callable[[str], Verdict | None]], ...] = (
    ("sql_injection", sql.detect),
    ("xss", html.detect),
    ("path_traversal", _traversal_value),
    ("command_injection", shell.detect),
)
# Which detectors read which kind of field: the request path as a whole is only a path; its
# segments are values for the injections; a free-text header is never a whole-value path.
_BY_KIND: dict[str, tuple[tuple[str, Callable[[str], Verdict | None]], ...]] = {
    VALUE: _ALL,
    NAME: _ALL,
    PATH: (("path_traversal", _traversal_inline),),
    SEGMENT: (_ALL[0], _ALL[1], _ALL[3]),
    HEADER: (_ALL[0], _ALL[1], ("path_traversal", _traversal_inline), _ALL[3]),
}
# Values made only of these characters cannot carry any of the four attacks.
_PLAIN = re.compile(r"[A-Za-z0-9 _.,:@+\-]{0,8192}")
# ... except for SQL built from words and numbers alone ("UNION ALL SELECT 1,2,3", "ORDER BY 3").
_PLAIN_SQL = re.compile(r"\b(?:union|select|order|group|having|waitfor|sleep|benchmark)\b", re.IGNORECASE)


def _verdicts(view: str, kind: str, types: frozenset[str] | None) -> list[tuple[str, str, str, str]]:
    found = []
    for attack, detector in _BY_KIND.get(kind, _ALL):
        if types is not None and attack not in types:
            continue
        verdict = detector(view)
        if verdict is not None:
            found.append((attack, verdict[0], verdict[1], verdict[2]))
    return found


# A path of ordinary characters with no ".." and no system directory cannot traverse.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_\-.~]{0,8192}")
_SYSTEM_PATH = re.compile(r"(?:etc|proc|windows|winnt)/", re.IGNORECASE)


def _skip(value: str, kind: str) -> bool:
    if _PLAIN.fullmatch(value) is not None:
        return "--" not in value and ".." not in value and _PLAIN_SQL.search(value) is None
    if kind == PATH and _PLAIN_PATH.fullmatch(value) is not None:
        return ".." not in value and _SYSTEM_PATH.search(value) is None
    return False


@lru_cache(maxsize=2048)
def _header_verdicts(name: bytes, value: bytes) -> tuple[tuple[str, str, str, str, str, str], ...]:
    # User agents and referers repeat across requests; their verdicts do not change.
    found = []
    for field in header_fields(((name, value),)):
        if not _skip(field.value, field.kind):
            for attack, pattern, severity, shape in _verdicts(decode(field.value), field.kind, None):
                found.append((field.location, field.value, attack, pattern, severity, shape))
    return tuple(found)


def _digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


def inspect_field(field: Field, *, key: bytes | None = None, types: frozenset[str] | None = None) -> list[Finding]:
    """Findings for one field; never raises."""
    try:
        value = field.value
        if not value or _skip(value, field.kind):
            return []
        verdicts = _verdicts(decode(value), field.kind, types)
        findings = []
        for attack, pattern, severity, shape in verdicts:
            if field.sensitive:
                # A secret's structure is itself a secret: location and rule only.
                findings.append(Finding(attack, severity, pattern, field.location))
            else:
                digest = _digest(key, value) if key is not None else ""
                findings.append(Finding(attack, severity, pattern, field.location, shape[:48], digest))
        return findings
    except Exception:  # noqa: BLE001 - a detector must never raise into the request
        return []


def inspect_fields(fields: Iterable[Field], *, key: bytes | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for field in fields:
        findings.extend(inspect_field(field, key=key))
    return findings


def inspect_headers(headers: Iterable[tuple[bytes, bytes]], *, key: bytes | None = None) -> list[Finding]:
    """Findings for the inspected headers (a URL header by its parts); never raises."""
    findings: list[Finding] = []
    try:
        for name, value in headers:
            if name not in INSPECTED_HEADERS or not value:
                continue
            for location, text, attack, pattern, severity, shape in _header_verdicts(bytes(name), bytes(value[:8192])):
                digest = _digest(key, text) if key is not None else ""
                findings.append(Finding(attack, severity, pattern, location, shape[:48], digest))
    except Exception:  # noqa: BLE001 - a detector must never raise into the request
        return findings
    return findings


def inspect_text(text: str, location: str = "input", *, types: Iterable[str] = ATTACK_TYPES) -> list[Finding]:
    """Findings for one value typed by a user (as a query or form value would be); never raises."""
    if not isinstance(text, str) or not text:
        return []
    wanted = frozenset(types)
    field = Field(location, text, VALUE, is_sensitive_name(location.rsplit(".", 1)[-1]))
    return inspect_field(field, types=None if wanted == frozenset(ATTACK_TYPES) else wanted)
