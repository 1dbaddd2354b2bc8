"""Unparameterized input reaching SQL: a request value found verbatim in an executed statement.

The middleware keeps the request's non-trivial parameter values (at least ``MIN_LENGTH``
characters, not a plain number, at most ``MAX_VALUES`` of them) in a context variable for the
duration of the request; they never leave memory and are dropped when the request ends. The
SQLAlchemy integration calls ``check_statement`` before each statement: when a value appears
inside a string literal of the statement (or, containing SQL punctuation or spaces, anywhere in
it), the application built the SQL by concatenation, so the request gets a high-severity
``sql_injection/unparameterized_input`` finding with the route and the statement's fingerprint
(literal-free) even when no attack pattern matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from contextvars import ContextVar, Token
from typing import Any

from otel_kit.signals.security.detect import Finding
from otel_kit.signals.security.fields import SEGMENT, VALUE, Field

MIN_LENGTH = 4
MAX_LENGTH = 1024
MAX_VALUES = 64
MAX_REPORTS = 8

_NUMBER = re.compile(r"[-+]?[0-9]{1,64}(?:\.[0-9]{1,64})?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")
_LITERAL = re.compile(r"'((?:[^']|''){0,65536})'|\"((?:[^\"]|\"\"){0,65536})\"")


class RequestValues:
    """One request's candidate values, only ever held in memory."""

    __slots__ = ("reported", "scope", "values")

    def __init__(self, scope: MutableMapping[str, Any] | None = None) -> None:
        self.scope = scope
        self.values: list[tuple[str, str]] = []
        self.reported: set[tuple[str, str]] = set()

    def add(self, fields: Iterable[Field]) -> None:
        for item in fields:
            if len(self.values) >= MAX_VALUES:
                return
            if item.kind not in (VALUE, SEGMENT):
                continue
            value = item.value
            if MIN_LENGTH <= len(value) <= MAX_LENGTH and _NUMBER.fullmatch(value) is None:
                self.values.append((item.location, value))

    def route(self) -> str | None:
        if self.scope is None:
            return None
        template = getattr(self.scope.get("route"), "path_format", None) or getattr(self.scope.get("route"), "path", None)
        return f"{self.scope.get('root_path', '')}{template}" if isinstance(template, str) else None


_CURRENT: ContextVar[RequestValues | None] = ContextVar("otel_kit_security_request_values", default=None)


def begin(scope: MutableMapping[str, Any] | None = None) -> tuple[RequestValues, Token[RequestValues | None]]:
    values = RequestValues(scope)
    return values, _CURRENT.set(values)


def end(token: Token[RequestValues | None]) -> None:
    try:
        _CURRENT.reset(token)
    except ValueError:
        # Reset from another context (a cancelled task); the value dies with that context.
        _CURRENT.set(None)


def current() -> RequestValues | None:
    return _CURRENT.get()


def _concatenated(statement: str, value: str) -> bool:
    if value not in statement:
        return False
    if _IDENTIFIER.fullmatch(value) is None:
        # Spaces, quotes or punctuation copied verbatim: concatenated, wherever it sits.
        return True
    # A bare word is also a column or table name ("orders"); count it only inside a literal.
    for match in _LITERAL.finditer(statement):
        literal = match.group(1) if match.group(1) is not None else match.group(2)
        if literal and value in literal:
            return True
    return False


def findings_for(statement: str, values: RequestValues) -> list[tuple[Finding, str]]:
    """(finding, fingerprint) for each request value concatenated into ``statement``."""
    if not values.values or len(values.reported) >= MAX_REPORTS:
        return []
    from otel_kit.redaction.sql import fingerprint

    found: list[tuple[Finding, str]] = []
    printed: str | None = None
    for location, value in values.values:
        if len(values.reported) >= MAX_REPORTS:
            break
        if not _concatenated(statement, value):
            continue
        printed = printed if printed is not None else fingerprint(statement[:8192])
        key = (location, printed)
        if key in values.reported:
            continue
        values.reported.add(key)
        found.append((Finding("sql_injection", "high", "unparameterized_input", location), printed))
    return found


def check_statement(statement: str, monitor: Any) -> None:
    """Called before a SQL statement runs: report request values concatenated into it. Never raises."""
    values = _CURRENT.get()
    if values is None or not values.values:
        return
    try:
        from otel_kit.redaction.sql import fingerprint_id

        for finding, printed in findings_for(statement, values):
            extra: dict[str, Any] = {"db.query.fingerprint": printed, "db.query.fingerprint_id": fingerprint_id(printed)}
            route = values.route()
            if route:
                extra["http.route"] = route
            monitor.report([finding], None, **extra)
    except Exception:  # noqa: BLE001 - telemetry must never break a query
        pass
