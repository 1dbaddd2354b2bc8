"""Remove secrets from spans and log records before they leave the process.

Scrubbing runs in the exporter thread, never on the request path. Each string value first gets a
handful of substring checks (``in`` on the text and its lower-case copy) that say which rule
families could apply at all; a value that carries nothing sensitive costs those checks and no
regex. Every pattern uses bounded repetition only and every hand-written scan consumes what it
reads, so the cost is linear in the length of the value whatever it contains.

Rule families, in the order they run:

* credentials in URLs: ``scheme://user:password@host`` keeps the user, redacts the password;
* database driver errors: SQLAlchemy's ``[SQL: ...]`` goes through the literal-free
  ``sanitize_sql`` and ``[parameters: ...]`` keeps dict keys and structure only; PostgreSQL's
  ``DETAIL:  Key (email)=(...)``, ``Failing row contains (...)``, quoted input values, ``LINE n:``
  excerpts and ``CONTEXT:`` data lines; MySQL's ``Duplicate entry '...'`` and ``Incorrect ...
  value: '...'``; asyncpg's ``invalid input for query argument``; SQL Server's duplicate key value;
* header lines: ``Authorization: ...``, ``Cookie: ...``, ``Set-Cookie: ...`` to the end of the line;
* query parameters with a secret name (``?code=``, ``&sig=``, ``#access_token=``, ...);
* bearer/basic tokens, JWTs, well-known API key formats, ``password=...``-style assignments
  (quoted, JSON, escaped JSON, braced) and Luhn-valid card numbers.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any
from urllib.parse import unquote_plus

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Status

from otel_kit.redaction.sql import sanitize_sql

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
# Attributes holding a bare query string or fragment: their first parameter has no leading "?".
_BARE_QUERY_KEYS = frozenset({"url.query", "url.fragment"})

# Query parameter names that carry credentials. Generic words ("key", "code", "sig") count only
# as a query parameter name, never as a word in prose.
_QUERY_SECRET_NAMES = frozenset(
    {
        "pw", "pwd", "pass", "passwd", "password", "passphrase", "key", "apikey", "api_key", "api-key",
        "access_key", "secret", "client_secret", "token", "access_token", "refresh_token", "id_token",
        "auth", "code", "sig", "signature", "session", "sessionid", "sid", "jwt", "otp", "ticket",
        "assertion", "samlresponse", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
        "x-goog-signature", "x-goog-credential", "awsaccesskeyid", "googleaccessid",
    }
)
_QUERY_SECRET_SUFFIX = re.compile(r"(?:^|[-_.])(?:key|sig|signature|credentials?|pass|pw)$")
_QUERY_VALUE = r"(?P<value>\[REDACTED\]|\{[^{}\n]{0,4096}\}|[^&\s\"'<>]{1,4096})"
_QUERY_NAME = r"(?P<name>[A-Za-z0-9_.~%+-]{1,64})="
# "?", "&", "#" (OAuth implicit flow) or ";" (matrix parameters, "&amp;") start a parameter. Not "; ":
# "failed; code=500" is prose (Cookie header lines have their own rule).
_QUERY_PARAM = re.compile(r"(?<=[?&#;])" + _QUERY_NAME + _QUERY_VALUE)
_QUERY_PARAM_BARE = re.compile(r"(?:^|(?<=[?&#;]))" + _QUERY_NAME + _QUERY_VALUE)

# scheme://user:password@host. The password may hold raw "@" (``u:p@ss@host``): up to four more
# "@"-terminated runs are taken, so the redaction ends at the last "@" before the host.
_URL_USERINFO = re.compile(
    r"(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://)"
    r"(?P<user>[^\s:/?#@\[\]\"'<>]{0,256})"
    r"(?::(?P<password>(?:[^\s/?#@\"'<>]{0,512}@){0,4}[^\s/?#@\"'<>]{0,512}))?@"
)

_HEADER_LINE = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<name>(?:proxy-)?authorization|(?:set-)?cookie|x-api-key|x-auth-token|api-key)"
    r"(?P<sep>[ \t]{0,3}:[ \t]{0,8})"
    r"(?:(?P<scheme>basic|bearer|digest|negotiate|ntlm|token|aws4-hmac-sha256)[ \t]{1,8})?"
    r"(?P<value>[^\r\n]{1,65536})",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer|basic|token)\s{1,5}([A-Za-z0-9._~+/=-]{8,4096})", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{0,4096}")
# Keys recognisable by their prefix wherever they appear (an error message echoing the key it
# refused). Each minimum length keeps words like "hf_model" or "npm_modules" out.
_API_KEY = re.compile(
    r"\b("
    r"sk-[A-Za-z0-9_-]{16,256}"  # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-), DeepSeek
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,256}"  # Stripe
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{30,256}|github_pat_[A-Za-z0-9_]{40,256}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,256}"  # GitLab
    r"|xox[bpas]-[A-Za-z0-9-]{10,256}"  # Slack
    r"|hf_[A-Za-z0-9]{30,256}"  # Hugging Face
    r"|gsk_[A-Za-z0-9]{40,256}"  # Groq
    r"|xai-[A-Za-z0-9]{40,256}"  # xAI
    r"|r8_[A-Za-z0-9]{30,256}"  # Replicate
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys (Gemini)
    r"|npm_[A-Za-z0-9]{36,256}"  # npm
    r"|pypi-AgE[A-Za-z0-9_-]{50,1024}"  # PyPI
    r"|SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,64}"  # SendGrid
    r")"
)
# Starts with the digit so the engine skips non-digit positions; the lookbehind then checks the
# character before that digit.
_CARD = re.compile(r"\d(?<![\d-]\d)(?:[ -]?\d){12,18}(?![\d-])")
_ASSIGNMENT = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,40}?(?:passw(?:or)?d|pwd|secret|token|api[-_]?key|apikey|auth(?!ors?\b|ority)[A-Za-z_]{0,20}|session|cookie|jwt|credential)[A-Za-z0-9_.-]{0,40})"
    r"(?P<sep>\\?[\"']?\s{0,5}[=:]\s{0,5})"
    # Already redacted, or an auth scheme word whose token another rule handles.
    r"(?!\\?[\"']?\[REDACTED\]|(?:basic|bearer|digest|negotiate|ntlm|token)\s)"
    r"(?P<value>"
    r"\"(?:[^\"\\\n]|\\.){0,4096}\"|'(?:[^'\\\n]|\\.){0,4096}'"  # quoted, with escapes
    r"|\\\"(?:[^\"\\]|\\[^\"]){0,4096}\\\""  # JSON inside a JSON string: \"...\"
    r"|\{[^{}\n]{0,4096}\}"  # ODBC-style {braced}
    r"|[\"'][^\n]{1,4096}"  # an opening quote that never closes: the rest of the line
    # bare: up to whitespace, "&", a quote or "<>" (";", "#" and "," stay inside); not an unclosed
    # "{", which opens a nested object whose own keys are judged one by one
    r"|(?!\{)[^\s&\"'<>]{1,4096})",
    re.IGNORECASE,
)

# --- database driver errors -------------------------------------------------------------------

_DRIVER_MARK = re.compile(
    r"(?P<sql>\[SQL: )"
    r"|(?P<params>\[parameters: )"
    r"|(?P<detail>DETAIL: )"
    r"|(?P<context>CONTEXT: {1,2}(?:JSON data, line \d{1,9}: |COPY [^\n,]{1,200}, line \d{1,9}(?:, column [^\n:]{1,200})?: ))"
    r"|(?P<line>LINE \d{1,9}: )"
    r"|(?P<quoted>(?:invalid input (?:syntax|value) for [^:\n\"]{1,100}|malformed [a-z ]{1,40}literal|invalid input syntax|field value out of range): \")"
    r"|(?P<range>value \")"
    r"|(?P<argument>invalid input for query argument \$\d{1,5}: )"
    r"|(?P<entry>Duplicate entry ')"
    r"|(?P<incorrect>(?:Incorrect|Truncated incorrect) [A-Za-z ]{1,40} value: ')"
    r"|(?P<mssql>The duplicate key value is \()"
)
# Where SQLAlchemy's "[SQL: ...]" ends: the line that starts its next section.
_SQL_END = re.compile(r"\]\n(?=\[parameters: |\[SQL parameters hidden|\(Background on this error at: )")
# A PostgreSQL DETAIL field ends where the next field, a SQLAlchemy section or a traceback line begins.
_DETAIL_END = re.compile(
    r"\n(?=\n|[A-Z]{2,12}: |LINE \d|\[SQL: |\[parameters: |\(Background on this error|Traceback \(|The above exception|During handling of)"
)
_DETAIL_VALUE = re.compile(r"\)\s?=\s?\(|\bcontains \(|\bToken \"")
_DETAIL_VALUE_END = re.compile(
    r"\)(?= already exists| is not present in table| is still referenced from table| conflicts with existing key|\.?[ \t]{0,8}(?:\n|\Z))"
)
_TOKEN_VALUE_END = re.compile(r"\"(?= is invalid|\.?[ \t]{0,8}(?:\n|\Z))")
_PARAMS_LIMIT = 65536
_PARAM_TOKEN = re.compile(
    r"(?P<space>\s{1,256})"
    r"|(?P<redacted>\[REDACTED\])"  # scrubbing twice changes nothing
    r"|(?P<open>[(\[{])"
    r"|(?P<close>[)\]}])"
    r"|(?P<punct>[,:])"
    r"|(?P<string>[bBrRuU]{0,2}(?:'(?:[^'\\\n]|\\.){0,65536}'|\"(?:[^\"\\\n]|\\.){0,65536}\"))"
    r"|(?P<keep>(?:None|True|False)(?![A-Za-z0-9_])"
    r"|\.\.\. displaying \d{1,9} of \d{1,12} total bound parameter sets \.\.\."
    r"|[A-Za-z_][A-Za-z0-9_.]{0,64}(?=\())"  # a constructor name: datetime.date(, Decimal(
    r"|(?P<other>[^\s,:()\[\]{}'\"]{1,256})"
)


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _scrub_params(text: str, start: int) -> tuple[str, int]:
    """SQLAlchemy's parameter repr with every value redacted: keeps structure, dict keys, None/True/False."""
    out: list[str] = []
    stack: list[str] = []
    pos = start
    limit = min(len(text), start + _PARAMS_LIMIT)
    while pos < limit:
        match = _PARAM_TOKEN.match(text, pos, limit)
        if match is None:  # an unterminated string (truncated value) or a stray quote
            break
        kind = match.lastgroup
        token = match.group()
        end = match.end()
        if kind == "close":
            if not stack:
                if token == "]":
                    return "".join(out), pos
                break
            stack.pop()
            out.append(token)
        elif kind == "open":
            stack.append(token)
            out.append(token)
        elif kind == "string":
            after = end
            while after < limit and text[after] == " ":
                after += 1
            is_key = bool(stack) and stack[-1] == "{" and after < limit and text[after] == ":"
            out.append(token if is_key else REDACTED)
        elif kind == "other":
            out.append(REDACTED)
        else:
            out.append(token)
        pos = end
    if pos < len(text):
        # The block never closed: nothing after this point can be told apart from parameter values.
        out.append(REDACTED)
    return "".join(out), len(text)


def _scrub_detail(text: str, start: int) -> tuple[str, int]:
    """A PostgreSQL DETAIL field: the values of ``Key (...)=(...)``, ``Failing row contains (...)``, ``Token "..."``."""
    found = _DETAIL_END.search(text, start)
    region_end = found.start() if found else len(text)
    out: list[str] = []
    pos = start
    while True:
        value = _DETAIL_VALUE.search(text, pos, region_end)
        if value is None:
            break
        value_start = value.end()
        ender = _TOKEN_VALUE_END if value.group().endswith('"') else _DETAIL_VALUE_END
        closing = ender.search(text, value_start, region_end)
        value_end = closing.start() if closing else region_end
        out.append(text[pos:value_start])
        out.append(REDACTED)
        pos = value_end
    out.append(text[pos:region_end])
    return "".join(out), region_end


def _until(text: str, start: int, suffix: str, quote: str) -> int:
    """End of a quoted value: before ``suffix`` on the same line, else the line's last ``quote``, else the line end."""
    line_end = _line_end(text, start)
    end = text.find(suffix, start, line_end) if suffix else -1
    if end < 0:
        end = text.rfind(quote, start, line_end)
    return line_end if end < 0 else end


class _Positions:
    """Sorted match positions of one pattern in a text, computed once on first use (keeps many marks linear)."""

    def __init__(self, text: str, pattern: re.Pattern[str]) -> None:
        self._text = text
        self._pattern = pattern
        self._starts: list[int] | None = None

    def first_at_or_after(self, position: int) -> int:
        if self._starts is None:
            self._starts = [m.start() for m in self._pattern.finditer(self._text)]
        index = bisect_left(self._starts, position)
        return self._starts[index] if index < len(self._starts) else -1


_BLANK_LINE = re.compile(r"\n\n")


def _scrub_driver_errors(text: str) -> str:
    out: list[str] = []
    pos = 0
    sql_ends = _Positions(text, _SQL_END)
    blank_lines = _Positions(text, _BLANK_LINE)
    while True:
        mark = _DRIVER_MARK.search(text, pos)
        if mark is None:
            break
        start = mark.end()
        kind = mark.lastgroup
        out.append(text[pos:start])
        if kind == "sql":
            end = sql_ends.first_at_or_after(start)
            if end < 0:
                # No later section: the statement ends at the last "]" of this message.
                stop = blank_lines.first_at_or_after(start)
                stop = len(text) if stop < 0 else stop
                end = text.rfind("]", start, stop)
                end = stop if end < 0 else end
            out.append(sanitize_sql(text[start:end]))
            pos = end
            continue
        if kind == "params":
            replaced, pos = _scrub_params(text, start)
            out.append(replaced)
            continue
        if kind == "detail":
            replaced, pos = _scrub_detail(text, start)
            out.append(replaced)
            continue
        if kind in ("context", "line", "argument"):
            end = _line_end(text, start)
        elif kind == "quoted":
            end = _until(text, start, "", '"')
        elif kind == "range":
            # 'value "123" is out of range for type integer'; any other 'value "' is left alone.
            line_end = _line_end(text, start)
            end = text.find('" is out of range', start, line_end)
            if end < 0:
                pos = start
                continue
        elif kind == "entry":
            end = _until(text, start, "' for key", "'")
        elif kind == "incorrect":
            end = _until(text, start, "' for column", "'")
        else:  # mssql
            end = _until(text, start, ").", ")")
        out.append(REDACTED)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _has_driver_marks(text: str) -> bool:
    return (
        "[SQL: " in text
        or "[parameters: " in text
        or "DETAIL: " in text
        or "CONTEXT: " in text
        or "LINE " in text
        or "invalid input" in text
        or "malformed " in text
        or "out of range" in text
        or "entry '" in text
        or "value: '" in text
        or "key value is (" in text
    )


# --- replacement callbacks -----------------------------------------------------------------------


def _may_hold_key(text: str) -> bool:
    """Whether ``text`` has one of ``_API_KEY``'s prefixes: substring tests run in C, where the
    pattern's alternation costs a microsecond or more on every clean value."""
    if "_" in text and ("k_" in text or "gh" in text or "hf_" in text or "r8_" in text or "npm_" in text):
        return True
    if "-" in text and ("sk-" in text or "xox" in text or "xai-" in text or "glpat-" in text or "pypi-" in text):
        return True
    return "AKIA" in text or "AIza" in text or "SG." in text


def _token_like(value: str) -> bool:
    """A credential rather than a word: has a digit or base64/URL-safe symbols, mixed case inside, or is long."""
    if len(value) >= 20 or any(ch.isdigit() or ch in "+/=_~" for ch in value):
        return True
    return any(a.islower() and b.isupper() for a, b in pairwise(value))


def _userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.group("scheme"), match.group("user"), match.group("password")
    if password is None:
        # "https://ghp_xxx@github.com": a lone user part that looks like a token is one.
        if len(user) >= 16 and _token_like(user):
            return f"{scheme}{REDACTED}@"
        return match.group(0)
    if not password:
        return match.group(0)
    return f"{scheme}{user}:{REDACTED}@"


def _header(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{match.group('name')}{match.group('sep')}{scheme + ' ' if scheme else ''}{REDACTED}"


def _bearer(match: re.Match[str]) -> str:
    scheme, token = match.group(1), match.group(2)
    # "bearer" is unambiguous; "basic functionality" and "token validation" are prose.
    if scheme.lower() == "bearer" or _token_like(token):
        return f"{scheme} {REDACTED}"
    return match.group(0)


def is_secret_query_name(name: str) -> bool:
    """True for query parameter names that carry credentials (case-insensitive, percent-decoded)."""
    decoded = (unquote_plus(name) if "%" in name or "+" in name else name).lower()
    return decoded in _QUERY_SECRET_NAMES or _QUERY_SECRET_SUFFIX.search(decoded) is not None or is_sensitive_key(decoded)


def _query_param(match: re.Match[str]) -> str:
    name = match.group("name")
    return f"{name}={REDACTED}" if is_secret_query_name(name) else match.group(0)


def _redact_query(text: str, *, bare: bool = False) -> str:
    """Redact the values of secret-named query parameters; ``bare`` when ``text`` is a query string without "?"."""
    if "=" not in text:
        return text
    return (_QUERY_PARAM_BARE if bare else _QUERY_PARAM).sub(_query_param, text)


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
    digits = match.group(0).replace(" ", "").replace("-", "")
    return REDACTED if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _assignment(match: re.Match[str]) -> str:
    return f"{match.group('key')}{match.group('sep')}{REDACTED}"


_DIGITS = "0123456789"


def scrub_text(text: str) -> str:
    """Redact secrets in free text: URL credentials, driver-error values, auth headers, secret query
    parameters, tokens, JWTs, API keys, ``password=...`` assignments and Luhn-valid card numbers."""
    if len(text) < 8:
        return text
    original = text
    lowered = text.lower()
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(_userinfo, text)
    if _has_driver_marks(text):
        text = _scrub_driver_errors(text)
    if "authorization" in lowered or "cookie" in lowered or "api-key" in lowered or "auth-token" in lowered:
        text = _HEADER_LINE.sub(_header, text)
    if "=" in text and ("?" in text or "&" in text or "#" in text or ";" in text):
        text = _QUERY_PARAM.sub(_query_param, text)
    if "bearer" in lowered or "basic" in lowered or "token" in lowered:
        text = _BEARER.sub(_bearer, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if _may_hold_key(text):
        text = _API_KEY.sub(REDACTED, text)
    if ("=" in text or ":" in text) and (
        "passw" in lowered
        or "pwd" in lowered
        or "secret" in lowered
        or "token" in lowered
        or "apikey" in lowered
        or "api_key" in lowered
        or "api-key" in lowered
        or "auth" in lowered
        or "session" in lowered
        or "cookie" in lowered
        or "jwt" in lowered
        or "credential" in lowered
    ):
        text = _ASSIGNMENT.sub(_assignment, text)
    if sum(map(text.count, _DIGITS)) >= 13:
        text = _CARD.sub(_card, text)
    # Rules that matched without changing anything still built a new string: hand back the
    # caller's object so that "nothing changed" stays an identity check.
    return original if text == original else text


def is_sensitive_key(key: str) -> bool:
    if key in _SAFE_KEYS or (key.startswith("gen_ai.") and key.endswith("tokens")):
        return False
    return _SENSITIVE_KEY.search(key) is not None


def _rebuilt(old: Any, new: dict[str, Any], *, immutable: bool) -> Any:
    """The scrubbed attributes in the container type the SDK used, keeping its dropped-attribute count."""
    if not isinstance(old, BoundedAttributes):
        return new
    rebuilt = BoundedAttributes(maxlen=None, attributes=new, immutable=immutable, max_value_len=old.max_value_len)
    rebuilt.dropped = old.dropped
    return rebuilt


_KEY_CACHE_SIZE = 4096
_MAX_DEPTH = 8


class Scrubber:
    """Decides what to redact; ``extra_keys`` adds user patterns for attribute names."""

    def __init__(self, *, sanitize_sql_text: bool = True, extra_keys: Iterable[str] = ()) -> None:
        self._sanitize_sql = sanitize_sql_text
        patterns = list(extra_keys)
        self._extra = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None
        # Attribute names repeat on every span: remember the verdict instead of re-running the regex.
        self._key_verdicts: dict[str, bool] = {}

    def _key_is_sensitive(self, key: str) -> bool:
        verdict = self._key_verdicts.get(key)
        if verdict is None:
            verdict = is_sensitive_key(key) or (self._extra is not None and self._extra.search(key) is not None)
            if len(self._key_verdicts) >= _KEY_CACHE_SIZE:
                self._key_verdicts.clear()
            self._key_verdicts[key] = verdict
        return verdict

    def value(self, key: str, value: Any) -> Any:
        """The exportable form of one attribute (or log body) value; the same object when nothing changed."""
        if self._key_is_sensitive(key):
            return REDACTED
        return self._nested(key, value, 0)

    def _nested(self, key: str, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            if key in _SQL_KEYS:
                return sanitize_sql(value) if self._sanitize_sql else value
            if key in _BARE_QUERY_KEYS:
                value = _redact_query(value, bare=True)
            return scrub_text(value)
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, (tuple, list)):
            if not value:
                return value
            items = [self._nested(key, item, depth + 1) for item in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, Mapping):
            changed = self._mapping(value, depth + 1)
            return value if changed is None else changed
        return value

    def _mapping(self, mapping: Mapping[str, Any], depth: int) -> dict[str, Any] | None:
        changed: dict[str, Any] | None = None
        for key, value in mapping.items():
            new = REDACTED if self._key_is_sensitive(key) else self._nested(key, value, depth)
            if new is not value and new != value:
                if changed is None:
                    changed = dict(mapping)
                changed[key] = new
        return changed

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A scrubbed copy, or None when nothing needed to change (the common case)."""
        if not attributes:
            return None
        return self._mapping(attributes, 0)

    def spans(self, spans: Sequence[Any]) -> None:
        """Scrub finished SDK spans in place (they are exported once and never read again).

        Attributes, event attributes (``exception.message``/``exception.stacktrace``), link
        attributes and the status description (the SDK copies the exception message there).
        """
        for span in spans:
            new = self.attributes(span.attributes)
            if new is not None:
                span._attributes = _rebuilt(span._attributes, new, immutable=True)
            if span.events:
                events = list(span.events)
                dirty = False
                for index, event in enumerate(events):
                    scrubbed = self.attributes(event.attributes)
                    if scrubbed is not None:
                        events[index] = type(event)(event.name, _rebuilt(event.attributes, scrubbed, immutable=True), event.timestamp)
                        dirty = True
                if dirty:
                    span._events = tuple(events)
            if span.links:
                links = list(span.links)
                dirty = False
                for index, link in enumerate(links):
                    scrubbed = self.attributes(link.attributes)
                    if scrubbed is not None:
                        links[index] = type(link)(link.context, _rebuilt(link.attributes, scrubbed, immutable=True))
                        dirty = True
                if dirty:
                    span._links = tuple(links)
            status = span.status
            if status is not None and status.description:
                description = scrub_text(status.description)
                if description != status.description:
                    span._status = Status(status.status_code, description)

    def logs(self, records: Sequence[Any]) -> None:
        """Scrub SDK log records in place: attributes (``exception.*`` from ``log.exception`` included) and the body."""
        for record in records:
            log_record = record.log_record
            new = self.attributes(log_record.attributes)
            if new is not None:
                log_record.attributes = _rebuilt(log_record.attributes, new, immutable=False)
            body = log_record.body
            if body is not None:
                scrubbed = self._nested("", body, 0)
                if scrubbed is not body:
                    log_record.body = scrubbed
