"""SQL text normalisation: literal-free query text for export, and fingerprints for grouping.

Every pattern here is a single pass without nested quantifiers, so the cost is linear in the
length of the statement whatever it contains.
"""

from __future__ import annotations

import hashlib
import re

# One alternation, scanned left to right: comments and quoted strings are consumed whole so
# that digits or quotes inside them are never mistaken for separate tokens.
_TOKENS = re.compile(
    r"(?P<comment>--[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/)?)"
    r"|(?P<string>'(?:[^']|'')*'?)"
    r"|(?P<dollar>\$\$(?:[^$]|\$(?!\$))*(?:\$\$)?)"
    # A [bracketed] identifier is short, on one line and quote-free: "ARRAY['a@b.com']" holds a
    # string literal, and an unbounded scan from every unclosed "[" would be quadratic.
    r"|(?P<ident>\"[^\"]*\"|`[^`]*`|\[[^\]\n']{0,128}\])"
    r"|(?P<param>%\([A-Za-z0-9_]+\)s|%s|:[A-Za-z_][A-Za-z0-9_]*|\$\d+|\?)"
    r"|(?P<number>(?<![A-Za-z0-9_$.])[-+]?(?:0[xX][0-9A-Fa-f]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)(?![A-Za-z0-9_]))"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)",
    re.DOTALL,
)
_LIST = re.compile(r"\bin \(\s?\?(?:\s?,\s?\?)*\s?\)")
_ROWS = re.compile(r"\bvalues ?\(\s?\?(?:\s?,\s?\?)*\s?\)(?:\s?,\s?\(\s?\?(?:\s?,\s?\?)*\s?\))*")
_SPACE = re.compile(r"\s+")
_LITERAL_WORDS = frozenset({"true", "false", "null"})


def _replace(match: re.Match[str], keep_comments: bool) -> str:
    kind = match.lastgroup
    if kind == "comment":
        return match.group(0) if keep_comments else " "
    if kind in ("string", "dollar", "number"):
        return "?"
    return match.group(0)


def sanitize_sql(statement: str) -> str:
    """Replace string and numeric literals with ``?``; keep structure, identifiers and placeholders."""
    return _TOKENS.sub(lambda m: _replace(m, keep_comments=False), statement).strip()


def fingerprint(statement: str) -> str:
    """Normalise a statement so that the same query with other values maps to one string.

    Literals and bind parameters become ``?``, ``IN (?, ?, ?)`` becomes ``in (?...)``, any
    ``VALUES`` row list becomes ``values (?...)``, comments go, whitespace collapses and keywords are lower-cased.
    """

    def token(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "comment":
            return " "
        if kind in ("string", "dollar", "number", "param"):
            return "?"
        if kind == "word":
            word = match.group(0).lower()
            return "?" if word in _LITERAL_WORDS else word
        return match.group(0)

    text = _TOKENS.sub(token, statement)
    text = _SPACE.sub(" ", text).strip().rstrip(";").strip()
    text = _LIST.sub("in (?...)", text)
    text = _ROWS.sub("values (?...)", text)
    return text


def fingerprint_id(text: str) -> str:
    """A short stable hash of a fingerprint: a bounded-cardinality metric attribute."""
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


_OPERATION = re.compile(r"^\s*(?:with\b.*?\)\s*)?([a-z]+)", re.IGNORECASE | re.DOTALL)
_TARGET = re.compile(r"\b(?:from|into|update|join|table)\s+([A-Za-z_][A-Za-z0-9_.]*|\"[^\"]+\")", re.IGNORECASE)


def operation_and_target(statement: str) -> tuple[str | None, str | None]:
    """``SELECT``/``users`` from a statement, for ``db.operation.name``/``db.collection.name``."""
    head = statement[:2000]
    op = _OPERATION.match(head)
    target = _TARGET.search(head)
    return (op.group(1).upper() if op else None, target.group(1).strip('"') if target else None)
