"""Split a request into the named fields the application will actually see.

Detectors look at what the server parses — each query parameter and form field (name and
value), each string in a JSON body (keys and values, recursively), multipart text fields and
file names, path segments and a few headers — never at the raw JSON text, whose own quotes and
punctuation look like injection. Every field carries a location such as ``query.q``,
``body.user.password`` or ``header.user-agent``; names that could hold user data (an e-mail used
as a JSON key) are replaced by ``*`` so the location itself never carries request content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote_plus, urlsplit

from otel_kit.signals.security.decoding import MAX_FIELD

MAX_FIELDS = 512
MAX_DEPTH = 24
MAX_PARTS = 64
INSPECTED_HEADERS = (b"user-agent", b"referer", b"x-forwarded-host", b"x-original-url", b"x-rewrite-url")
_URL_HEADERS = frozenset({"referer", "x-original-url", "x-rewrite-url"})

# Field kinds, for detectors whose rules depend on where text sits.
VALUE = "value"  # a parameter value or a JSON string value
NAME = "name"  # a parameter name or a JSON key
PATH = "path"  # the request path (or a URL header's path) as one piece
SEGMENT = "segment"  # one segment of a path
HEADER = "header"  # a free-text header such as User-Agent


class Field(NamedTuple):
    """One piece of request text with where it came from."""

    location: str
    value: str
    kind: str
    sensitive: bool = False


_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,40}")
# Names whose values are secrets: findings in them report the location only (no shape, no hash).
_SENSITIVE = re.compile(
    r"passw(?:or)?d|passphrase|passcode|\bpass\b|\bpw\b|pwd|secret|token|\bkey\b|api[-_]?key|apikey|private[-_]?key|"
    r"\bauth(?!or\b|ors\b|ority)|credential|session|cookie|\bsid\b|csrf|xsrf|jwt|otp|\bpin\b|\bssn\b|signature|\bsig\b|"
    r"credit[-_]?card|card[-_]?(?:number|no)|\bcvv\b|\bcvc\b|iban|access[-_]?code",
    re.IGNORECASE,
)


@lru_cache(maxsize=2048)
def is_sensitive_name(name: str) -> bool:
    """True for field names whose values are secrets (``password``, ``api_key``, ``session`` ...)."""
    return _SENSITIVE.search(name.replace("_", " ").replace("-", " ")) is not None or _SENSITIVE.search(name) is not None


def safe_name(name: str) -> str:
    """The name when it looks like an identifier, else ``*`` (names can be user data)."""
    return name if _SAFE_NAME.fullmatch(name) else "*"


def pairs_fields(pairs: Iterable[tuple[str, str]], prefix: str, *, sensitive: bool = False) -> list[Field]:
    """Fields for decoded ``name=value`` pairs (query strings, form bodies)."""
    fields: list[Field] = []
    for name, value in pairs:
        if len(fields) >= MAX_FIELDS:
            break
        plain = _SAFE_NAME.fullmatch(name) is not None
        location = f"{prefix}.{name}" if plain else f"{prefix}.*"
        secret = sensitive or is_sensitive_name(name)
        if name and not plain:
            fields.append(Field(location, name[:MAX_FIELD], NAME, secret))
        if value:
            fields.append(Field(location, value[:MAX_FIELD], VALUE, secret))
    return fields


def parse_pairs(query: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` decoded as servers do (``+`` is a space); like ``parse_qsl`` with blanks kept, bounded."""
    pairs = []
    for part in query[: MAX_FIELD * 4].split("&", MAX_FIELDS)[:MAX_FIELDS]:
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name, errors="replace")
        if "%" in value or "+" in value:
            value = unquote_plus(value, errors="replace")
        pairs.append((name, value))
    return pairs


def query_fields(query: str, prefix: str = "query", *, sensitive: bool = False) -> list[Field]:
    """Fields of a raw (still URL-encoded) query string or form body."""
    if not query:
        return []
    return pairs_fields(parse_pairs(query), prefix, sensitive=sensitive)


def path_fields(path: str, location: str = "path") -> list[Field]:
    """The path as a whole (for traversal) and its non-trivial segments (for injections)."""
    if not path or path == "/":
        return []
    path = path[:MAX_FIELD]
    fields = [Field(location, path, PATH)]
    for segment in path.split("/")[:64]:
        if segment and not segment.isalnum():
            fields.append(Field(location, segment, SEGMENT))
    return fields


def url_fields(url: str, location: str) -> list[Field]:
    """A URL-valued header: its path and its query parameters, all reported at ``location``."""
    try:
        parts = urlsplit(url[:MAX_FIELD])
    except ValueError:
        return [Field(location, url[:MAX_FIELD], HEADER)]
    fields = path_fields(parts.path, location)
    for field in query_fields(parts.query, location):
        fields.append(field._replace(location=location))
    if parts.fragment:
        fields.append(Field(location, parts.fragment, VALUE))
    return fields


def header_fields(headers: Iterable[tuple[bytes, bytes]]) -> list[Field]:
    fields: list[Field] = []
    for raw_name, raw_value in headers:
        if raw_name not in INSPECTED_HEADERS or not raw_value:
            continue
        name = raw_name.decode("latin-1")
        value = raw_value[:MAX_FIELD].decode("latin-1")
        location = f"header.{name}"
        if name in _URL_HEADERS:
            fields.extend(url_fields(value, location))
        else:
            fields.append(Field(location, value, HEADER))
    return fields


# --- bodies --------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.){0,8192}"')


def _walk(node: Any, path: str, sensitive: bool, depth: int, out: list[Field]) -> None:
    if len(out) >= MAX_FIELDS or depth > MAX_DEPTH:
        return
    if isinstance(node, str):
        if node:
            out.append(Field(path, node[:MAX_FIELD], VALUE, sensitive))
    elif isinstance(node, dict):
        for key, value in node.items():
            if len(out) >= MAX_FIELDS:
                return
            key = str(key)
            child = f"{path}.{safe_name(key)}"
            secret = sensitive or is_sensitive_name(key)
            if key and not _SAFE_NAME.fullmatch(key):
                out.append(Field(child, key[:MAX_FIELD], NAME, secret))
            _walk(value, child, secret, depth + 1, out)
    elif isinstance(node, list):
        for item in node:
            if len(out) >= MAX_FIELDS:
                return
            _walk(item, f"{path}[]" if not path.endswith("[]") else path, sensitive, depth + 1, out)


def json_fields(text: str, prefix: str = "body") -> list[Field]:
    """Every string in a JSON document (keys and values, bounded); a cut-off prefix still yields its strings."""
    out: list[Field] = []
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        # A body prefix cut at 8 KB (or a malformed body): take each complete string literal.
        for match in _JSON_STRING.finditer(text):
            if len(out) >= MAX_FIELDS:
                break
            try:
                value = json.loads(match.group(0))
            except ValueError:
                continue
            if isinstance(value, str) and value:
                out.append(Field(prefix, value[:MAX_FIELD], VALUE))
        return out
    _walk(document, prefix, False, 0, out)
    return out


_BOUNDARY = re.compile(r'boundary="?([^";,]{1,200})', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'\b(name|filename)\*?="?([^";\r\n]{0,512})', re.IGNORECASE)


def multipart_fields(body: bytes, content_type: str, prefix: str = "body") -> list[Field]:
    """Text fields and file names of a multipart form (file contents are not inspected)."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return []
    delimiter = b"--" + match.group(1).encode("latin-1")
    out: list[Field] = []
    for part in body.split(delimiter)[1 : MAX_PARTS + 1]:
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            continue
        headers = head.decode("utf-8", errors="replace")
        params = {key.lower(): value for key, value in _DISPOSITION_PARAM.findall(headers)}
        name = params.get("name", "")
        location = f"{prefix}.{safe_name(name)}"
        secret = is_sensitive_name(name)
        if "filename" in params:
            if params["filename"]:
                out.append(Field(location, params["filename"], VALUE, secret))
            continue
        value = content.removesuffix(b"\r\n").decode("utf-8", errors="replace")
        if value:
            out.append(Field(location, value[:MAX_FIELD], VALUE, secret))
    return out


def body_fields(body: bytes, content_type: str = "") -> list[Field]:
    """Fields of a body prefix by its content type; binary types yield nothing."""
    if not body:
        return []
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return query_fields(body.decode("latin-1"), "body")
    if media.startswith("multipart/"):
        return multipart_fields(body, content_type)
    text = body.decode("utf-8", errors="replace")
    if media == "application/json" or media.endswith("+json") or (not media and text.lstrip()[:1] in ("{", "[")):
        return json_fields(text)
    if not media or media.startswith("text/") or media in ("application/xml", "application/graphql"):
        return [Field("body", text[:MAX_FIELD], VALUE)]
    return []


def request_fields(path: str, query: bytes | str, headers: Iterable[tuple[bytes, bytes]] = ()) -> list[Field]:
    """Fields of everything known before the body: path, query string, inspected headers."""
    fields = path_fields(path)
    if query:
        fields.extend(query_fields(query.decode("utf-8", "replace") if isinstance(query, bytes) else query))
    fields.extend(header_fields(headers))
    return fields
