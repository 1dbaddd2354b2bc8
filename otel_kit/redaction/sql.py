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
    # A PostgreSQL cast (``%(id)s::UUID``, ``$1::int[]``) is structure, not a parameter.
    r"|(?P<cast>::[A-Za-z_][A-Za-z0-9_]*)"
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
    """Replace string and numeric literals with ``?``; keep structure, identifiers and placeholders.

    A MongoDB command keeps its keys and operators, every value becomes ``?`` (``mongo_shape``).
    """
    command = _MONGO_COMMAND.match(statement)
    if command is not None:
        return mongo_shape(command.group(1) + command.group(2), command.group(3))
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
        if kind == "cast":
            return match.group(0).lower()
        return match.group(0)

    command = _MONGO_COMMAND.match(statement)
    if command is not None:
        return mongo_shape(command.group(1) + command.group(2), command.group(3))
    text = _TOKENS.sub(token, statement)
    text = _SPACE.sub(" ", text).strip().rstrip(";").strip()
    text = _LIST.sub("in (?...)", text)
    text = _ROWS.sub("values (?...)", text)
    return text


# A MongoDB command as the pymongo instrumentation records it: the command name, then its document
# (``find {'status': 'A', 'qty': {'$lt': 30}}``); SQL never has a brace or bracket right after its first word.
# The slow-query analysis puts the collection between the two (``find orders {...}``).
_MONGO_COMMAND = re.compile(r"^\s*([A-Za-z]+)((?:\s+[A-Za-z0-9_.$-]{1,120})?)\s+([\[{].*)$", re.DOTALL)
_MONGO_TOKENS = re.compile(
    r"(?P<key>'(?:[^'\\]|\\.){0,256}'|\"(?:[^\"\\]|\\.){0,256}\")(?=\s*:)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?)"
    r"|(?P<call>[A-Za-z_][A-Za-z0-9_.]*\([^()]{0,256}\))"
    r"|(?P<number>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[A-Za-z_$][A-Za-z0-9_$.]*)",
    re.DOTALL,
)
_MONGO_LIST = re.compile(r"\[\?(?:, \?)*\]")


def mongo_shape(command: str, document: str) -> str:
    """``find {'status': 'A', 'qty': {'$lt': 30}}`` -> ``find {status: ?, qty: {$lt: ?}}``.

    Keys and operators stay, every value (string, number, ObjectId(...), dates, booleans) becomes
    ``?`` and a list of values ``[?...]``: the same query with other values groups together.
    """

    def token(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "key":
            return match.group(0)[1:-1]
        if kind == "word" and match.group(0).startswith("$"):
            return match.group(0)
        return "?"

    text = _MONGO_TOKENS.sub(token, document[:8192])
    text = _SPACE.sub(" ", text).strip()
    text = _MONGO_LIST.sub("[?...]", text)
    return f"{command} {text}"


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
