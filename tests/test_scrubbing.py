"""Secret scrubbing: keys, values, URL credentials, driver errors, query names, cards, SQL, spans and log records."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.trace import Link, Status, StatusCode

import otel_kit
from otel_kit.instrumentation.logging import BridgeHandler
from otel_kit.receiver import Receiver
from otel_kit.redaction import scrubbing
from otel_kit.redaction.scrubbing import REDACTED, Scrubber, is_secret_query_name, is_sensitive_key, scrub_text


@pytest.mark.parametrize(
    "key",
    ["password", "db.password", "user_passwd", "api_key", "x-api-key", "apikey", "http.request.header.authorization",
     "http.request.header.cookie", "session_id", "csrf_token", "jwt", "client_secret", "private_key", "credit_card", "ssn", "refresh_token"],
)
def test_sensitive_keys(key: str) -> None:
    """Attribute names that mean 'secret' are recognised."""
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["author", "http.route", "user.name", "gen_ai.usage.input_tokens", "gen_ai.request.max_tokens", "security.auth.result", "db.system.name"])
def test_ordinary_keys(key: str) -> None:
    """Ordinary names (including 'author' and GenAI token counts) are left alone."""
    assert not is_sensitive_key(key)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc123def456", "eyJzdWIi"),
        ("token abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop"),
        ("GET /login?user=bob&password=hunter2&next=/", "hunter2"),
        ("key sk-abcdefghijklmnopqrstuvwxyz123456", "sk-abcdefghij"),
        ("aws AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
        ("paid with 4111 1111 1111 1111 today", "4111 1111"),
        ("card=5500-0000-0000-0004", "5500-0000"),
        ('{"api_key": "abc123xyz"}', "abc123xyz"),
        ("session=3f2a9c; theme=dark", "3f2a9c"),
    ],
)
def test_values_scrubbed(text: str, secret: str) -> None:
    """Secrets inside free text are redacted."""
    scrubbed = scrub_text(text)
    assert secret not in scrubbed and REDACTED in scrubbed


@pytest.mark.parametrize(
    "key",
    [
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "gsk_" + "a1B2" * 12,
        "sk_live_51HxYzAbCdEfGhIjKlMn", "rk_test_51HxYzAbCdEfGhIjKlMn", "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "npm_" + "a1B2c3D4e5" * 4, "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
        "glpat-AbCdEfGhIjKlMnOpQrSt", "xai-" + "Ab1" * 15, "r8_" + "Ab1" * 12, "pypi-AgEIcHlwaS5vcmc" + "A1b2" * 12,
        "sk-or-v1-" + "0a1b2c3d" * 8, "sk-ant-api03-" + "Ab1_" * 20,
    ],
)
def test_provider_keys_by_prefix(key: str) -> None:
    """Keys known by their prefix are redacted whole wherever they appear, as in an error that echoes the key it refused."""
    assert scrub_text(f"Error code: 401 - invalid key {key}, check your settings") == f"Error code: 401 - invalid key {REDACTED}, check your settings"


def test_words_with_key_prefixes_kept() -> None:
    """Short words that start like a key prefix are not keys."""
    text = "the hf_model and npm_modules dirs, sk_live flag, xai-grok, SG.com, AIza short, r8_test, glpat-short"
    assert scrub_text(text) == text


@pytest.mark.parametrize("text", ["order 1234567890123 shipped", "phone 555-0100", "GET /search?q=red+shoes", "author=Tolkien", "id 4111111111111112"])
def test_harmless_values_kept(text: str) -> None:
    """Non-secret text, including digit runs that fail the Luhn check, is unchanged."""
    assert scrub_text(text) == text


# --- credentials in URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connect to postgresql+psycopg://app:hunter2@db:5432/shop failed", "connect to postgresql+psycopg://app:[REDACTED]@db:5432/shop failed"),
        ("redis://:hunter2@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
        ("amqp://guest:hunter2@rabbit:5672//", "amqp://guest:[REDACTED]@rabbit:5672//"),
        ("https://deploy:hunter2@example.com/hook", "https://deploy:[REDACTED]@example.com/hook"),
        ("mongodb+srv://admin:hunter2@cluster0.example.net/db?retryWrites=true", "mongodb+srv://admin:[REDACTED]@cluster0.example.net/db?retryWrites=true"),
        ("'mysql+pymysql://root:p%40ss@db/x'", "'mysql+pymysql://root:[REDACTED]@db/x'"),
        ("postgresql://app:p@ss@word@db/shop", "postgresql://app:[REDACTED]@db/shop"),
        ("git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r.git", "git clone https://[REDACTED]@github.com/o/r.git"),
    ],
)
def test_url_credentials_redacted(text: str, expected: str) -> None:
    """Any scheme's user:password@ loses the password (a raw '@' in it included); a token used as the user part is redacted."""
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["https://example.com:8443/x?e=a@b.com", "https://alice@example.com/", "ssh://git@github.com/o/r", "see http://host/a and mail bob@example.com"],
)
def test_urls_without_credentials_kept(text: str) -> None:
    """Ports, e-mail addresses in a query and plain user names are not mistaken for credentials."""
    assert scrub_text(text) == text


# --- database driver errors -------------------------------------------------------------------


@pytest.fixture
def users_db() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, password_hash TEXT)"))
        connection.execute(sa.text("INSERT INTO users (email, password_hash) VALUES ('taken@example.com', 'x')"))
    yield engine
    engine.dispose()


def _failure(engine: sa.Engine, statement: str, params: Any = None) -> BaseException:
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement), params)
    except sa.exc.DBAPIError as exc:
        return exc
    raise AssertionError("the statement did not fail")


def test_sqlalchemy_parameters_redacted_keys_kept(users_db: sa.Engine) -> None:
    """A real IntegrityError: bound values leave neither str(exc) nor the traceback; keys and the statement stay."""
    secret = "S3cr3t-" + "db-1"
    exc = _failure(users_db, "INSERT INTO users (email, password_hash) VALUES (:email, :password_hash)", {"email": "taken@example.com", "password_hash": secret})
    assert secret in str(exc)  # the driver really echoes it
    for text in (str(exc), "".join(traceback.format_exception(exc))):
        scrubbed = scrub_text(text)
        assert secret not in scrubbed and "taken@example.com" not in scrubbed
        assert "[parameters: ([REDACTED], [REDACTED])]" in scrubbed
        assert "[SQL: INSERT INTO users (email, password_hash) VALUES (?, ?)]" in scrubbed
        assert "UNIQUE constraint failed: users.email" in scrubbed


def test_sqlalchemy_executemany_and_inline_literals(users_db: sa.Engine) -> None:
    """Many parameter sets (with SQLAlchemy's 'displaying' note) and literals written into the SQL are removed."""
    rows = [{"email": f"S3cr3t-row-{n}@example.com", "password_hash": "S3cr3t-x'])(\"]"} for n in range(30)] + [{"email": "taken@example.com", "password_hash": "S3cr3t-last"}]
    many = scrub_text(str(_failure(users_db, "INSERT INTO users (email, password_hash) VALUES (:email, :password_hash)", rows)))
    assert "S3cr3t" not in many and "taken@" not in many
    assert "... displaying 10 of 31 total bound parameter sets ..." in many
    inline = scrub_text(str(_failure(users_db, "INSERT INTO users (email, password_hash) VALUES ('taken@example.com', 'S3cr3t-inline')")))
    assert "S3cr3t" not in inline and "VALUES (?, ?)" in inline


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[parameters: {'email': 'a@b.c', 'n': 5, 'x': None, 'on': True}]", "[parameters: {'email': [REDACTED], 'n': [REDACTED], 'x': None, 'on': True}]"),
        ("[parameters: ('x', \"it's ] ) ( }\", b'\\x00', -1.5e3)]", "[parameters: ([REDACTED], [REDACTED], [REDACTED], [REDACTED])]"),
        ("[parameters: {'doc': {'password': 'p', 'tags': ['a', 'b']}, 'at': datetime.date(2024, 1, 2)}]",
         "[parameters: {'doc': {'password': [REDACTED], 'tags': [[REDACTED], [REDACTED]]}, 'at': datetime.date([REDACTED], [REDACTED], [REDACTED])}]"),
        ("[parameters: [('a', 1),\n ('b', 2)]]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)",
         "[parameters: [([REDACTED], [REDACTED]),\n ([REDACTED], [REDACTED])]]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)"),
        ("[parameters: ('visible', 'cut off by a length lim", "[parameters: ([REDACTED], [REDACTED]"),
    ],
)
def test_parameter_block_shapes(text: str, expected: str) -> None:
    """Dicts, tuples, nested values, quotes and brackets inside strings, several lines and a truncated block."""
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DETAIL:  Key (email)=(alice@example.com) already exists.", "DETAIL:  Key (email)=([REDACTED]) already exists."),
        ("DETAIL:  Key (tenant, email)=(7, a@b.c) already exists.", "DETAIL:  Key (tenant, email)=([REDACTED]) already exists."),
        ("DETAIL:  Key (lower(email::text))=(A@B.C) already exists.", "DETAIL:  Key (lower(email::text))=([REDACTED]) already exists."),
        ("DETAIL:  Key (user_id)=(42) is not present in table \"users\".", "DETAIL:  Key (user_id)=([REDACTED]) is not present in table \"users\"."),
        ("DETAIL:  Failing row contains (1, alice, null, (x)).\nHINT:  check it", "DETAIL:  Failing row contains ([REDACTED]).\nHINT:  check it"),
        ("DETAIL:  Key (during)=([1,2)) conflicts with existing key (during)=([1,3)).",
         "DETAIL:  Key (during)=([REDACTED]) conflicts with existing key (during)=([REDACTED])."),
        ("invalid input syntax for type json\nDETAIL:  Token \"hunter2\" is invalid.\nCONTEXT:  JSON data, line 1: {\"password\": hunter2...",
         "invalid input syntax for type json\nDETAIL:  Token \"[REDACTED]\" is invalid.\nCONTEXT:  JSON data, line 1: [REDACTED]"),
        ("invalid input syntax for type integer: \"abc\"\nLINE 1: ...FROM users WHERE id = 'abc'\n                                ^",
         "invalid input syntax for type integer: \"[REDACTED]\"\nLINE 1: [REDACTED]\n                                ^"),
        ("value \"99999999999\" is out of range for type integer", "value \"[REDACTED]\" is out of range for type integer"),
        ("(1062, \"Duplicate entry 'a@b.c' for key 'users.email'\")", "(1062, \"Duplicate entry '[REDACTED]' for key 'users.email'\")"),
        ("(1366, \"Incorrect integer value: 'abc' for column 'age' at row 1\")", "(1366, \"Incorrect integer value: '[REDACTED]' for column 'age' at row 1\")"),
        ("invalid input for query argument $1: 'abc' (expected int)", "invalid input for query argument $1: [REDACTED]"),
        ("Cannot insert duplicate key in object 'dbo.users'. The duplicate key value is (a@b.c). (2627)",
         "Cannot insert duplicate key in object 'dbo.users'. The duplicate key value is ([REDACTED]). (2627)"),
    ],
)
def test_driver_messages_keep_names_drop_values(text: str, expected: str) -> None:
    """psycopg/asyncpg DETAIL, CONTEXT and LINE fields, MySQL and SQL Server messages: column names kept, values gone."""
    assert scrub_text(text) == expected


def test_full_sqlalchemy_postgres_message() -> None:
    """The psycopg message as SQLAlchemy wraps it: DETAIL, [SQL: ...] and [parameters: ...] together."""
    text = (
        '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\n'
        "DETAIL:  Key (email)=(alice@example.com) already exists.\n"
        "[SQL: INSERT INTO users (email, note) VALUES (%(email)s::VARCHAR, 'inline') RETURNING users.id]\n"
        "[parameters: {'email': 'alice@example.com'}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )
    assert scrub_text(text) == (
        '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\n'
        "DETAIL:  Key (email)=([REDACTED]) already exists.\n"
        "[SQL: INSERT INTO users (email, note) VALUES (%(email)s::VARCHAR, ?) RETURNING users.id]\n"
        "[parameters: {'email': [REDACTED]}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )


# --- query parameters -------------------------------------------------------------------------

SECRET_QUERY_NAMES = [
    "pw", "pass", "passwd", "password", "key", "api_key", "apikey", "sig", "signature", "X-Amz-Signature", "X-Amz-Credential",
    "X-Amz-Security-Token", "code", "access_token", "refresh_token", "id_token", "client_secret", "token", "secret", "auth",
    "session", "jsessionid", "CODE", "Access_Token", "%70assword", "x%2Damz%2Dsignature", "stripe_key", "x-goog-signature",
]


@pytest.mark.parametrize("name", SECRET_QUERY_NAMES)
@pytest.mark.parametrize("key", ["url.full", "http.url", "http.target", "url.query"])
def test_secret_query_names_redacted(name: str, key: str) -> None:
    """Secret-named query parameters lose their value in every URL attribute; other parameters and names stay."""
    url = f"https://api.example.com/cb?state=ok&{name}=V4lue-123&page=2"
    value = {"url.query": f"{name}=V4lue-123&state=ok", "http.target": f"/cb?{name}=V4lue-123&page=2"}.get(key, url)
    scrubbed = Scrubber().value(key, value)
    assert "V4lue-123" not in scrubbed and f"{name}={REDACTED}" in scrubbed
    assert "state=ok" in scrubbed or "page=2" in scrubbed


def test_fragment_and_matrix_parameters() -> None:
    """OAuth implicit-flow fragments and ;jsessionid= matrix parameters are query strings too."""
    assert scrub_text("https://app/cb#access_token=abc&expires_in=3600") == "https://app/cb#access_token=[REDACTED]&expires_in=3600"
    assert scrub_text("/cart;jsessionid=ABC123/checkout") == "/cart;jsessionid=[REDACTED]"
    assert Scrubber().value("url.fragment", "access_token=abc&x=1") == "access_token=[REDACTED]&x=1"


@pytest.mark.parametrize(
    "text",
    ["GET /search?q=code+review&page=2", "/stats?signature_count=5&keyboard=us&author=x", "the key=value format", "use code=42 in prose",
     "request failed; code=500", "monkey=1 donkey=2", "/items?sort=key&order=asc"],
)
def test_generic_names_only_count_as_query_names(text: str) -> None:
    """'key', 'code', 'sig' are secrets only as a query parameter name, never as a word, a value or a prefix."""
    assert scrub_text(text) == text


def test_secret_query_name_rules() -> None:
    """Name matching is case-insensitive, percent-decoded and ignores look-alikes."""
    assert all(is_secret_query_name(n) for n in ["Password", "%6B%65%79", "X-AMZ-SIGNATURE", "aws_secret_access_key", "client%5Fsecret"])
    assert not any(is_secret_query_name(n) for n in ["q", "keyboard", "signature_count", "author", "authority", "codec", "page"])


# --- the assignment class and header lines ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login password=hunter2 next", "login password=[REDACTED] next"),
        ("password=hunter2'", "password=[REDACTED]'"),
        ('password=hunter2"', 'password=[REDACTED]"'),
        ("password=ab;cd#ef&x=1", "password=[REDACTED]&x=1"),
        ("password=[hunter2] ok", "password=[REDACTED] ok"),
        ('{"password": "a b;c#d \\" e", "user": "bob"}', '{"password": [REDACTED], "user": "bob"}'),
        ("{'password': \"it's\", 'user': 'bob'}", "{'password': [REDACTED], 'user': 'bob'}"),
        ('{\\"password\\": \\"a b c\\", \\"user\\": 1}', '{\\"password\\": [REDACTED], \\"user\\": 1}'),
        ('"password": "never closed', '"password": [REDACTED]'),
        ("Driver=pg;Pwd={a;b c};Uid=bob", "Driver=pg;Pwd=[REDACTED];Uid=bob"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
        ("Authorization: Basic abc", "Authorization: Basic [REDACTED]"),
        ("proxy-authorization: Digest username=\"bob\", response=\"abc\"", "proxy-authorization: Digest [REDACTED]"),
        ("Cookie: session=abc; theme=dark; _ga=1\nnext line", "Cookie: [REDACTED]\nnext line"),
        ("Set-Cookie: sid=abc; Path=/; HttpOnly", "Set-Cookie: [REDACTED]"),
    ],
)
def test_assignment_and_header_class(text: str, expected: str) -> None:
    """A value ends at whitespace or '&' (not ';', '#' or ','); quoted values may hold spaces and escaped quotes; headers end at the line end."""
    assert scrub_text(text) == expected


@pytest.mark.parametrize("text", ["This is basic functionality", "token validation failed", "the author: Tolkien", "keyboard: us", "Bearer of bad news"])
def test_prose_with_auth_words_kept(text: str) -> None:
    """Auth scheme words followed by ordinary words are prose, not credentials."""
    assert scrub_text(text) == text


# --- every carrier, marked ------------------------------------------------------------------------

def _query_carrier(name: str) -> Callable[[str], str]:
    return lambda m: f"https://api.example.com/cb?state=ok&{name}={m}&page=2"


CARRIERS: list[Callable[[str], str]] = [
    lambda m: f"connect failed: postgresql+psycopg://app:{m}@db:5432/shop",
    lambda m: f"redis://:{m}@cache:6379/0",
    lambda m: f"amqp://guest:{m}@rabbit:5672//",
    lambda m: f"https://deploy:{m}@example.com/hook",
    lambda m: f"mongodb+srv://admin:{m}@cluster0.example.net/db?retryWrites=true",
    lambda m: f"postgresql://app:p@ss-{m}@db/shop",
    lambda m: f"https://ghp_{m.replace('-', '')}0123456789abcdef@github.com/o/r.git",
    lambda m: (
        '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\n'
        f"DETAIL:  Key (email)=({m}@example.com) already exists.\n"
        "[SQL: INSERT INTO users (email, password_hash) VALUES (%(email)s::VARCHAR, %(password_hash)s::VARCHAR)]\n"
        f"[parameters: {{'email': '{m}@example.com', 'password_hash': '{m}'}}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    ),
    lambda m: f"[SQL: INSERT INTO t VALUES (?, ?, ?)]\n[parameters: ('x', \"it's ({m}] ) ok\", 3)]",
    lambda m: f"[SQL: INSERT INTO t VALUES (?, ?)]\n[parameters: [('{m}', 1),\n ('b', 2)]]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)",
    lambda m: f"[SQL: SELECT * FROM users WHERE token = '{m}' AND tags && ARRAY['{m}']]\n(Background on this error at: https://sqlalche.me/e/20/f405)",
    lambda m: f"[parameters: ('{m}', 'value cut off by a length li",
    lambda m: f"new row violates check constraint \"c\"\nDETAIL:  Failing row contains (1, {m}, null).",
    lambda m: f"DETAIL:  Key (lower(email::text))=({m}) already exists.",
    lambda m: f"DETAIL:  Key (id)=({m}) is still referenced from table \"orders\".",
    lambda m: f'invalid input syntax for type uuid: "{m}"',
    lambda m: f"syntax error\nLINE 1: ...FROM users WHERE id = '{m}'\n                                ^",
    lambda m: f'invalid input syntax for type json\nDETAIL:  Token "{m}" is invalid.\nCONTEXT:  JSON data, line 1: {{"password": "{m}',
    lambda m: f"(1062, \"Duplicate entry '{m}' for key 'users.email'\")",
    lambda m: f"(1366, \"Incorrect string value: '{m}' for column 'name' at row 1\")",
    lambda m: f"invalid input for query argument $1: '{m}' (expected int)",
    lambda m: f"The duplicate key value is ({m}). (2627) (SQLExecDirectW)",
    lambda m: f'value "{m}" is out of range for type integer',
    *[_query_carrier(name) for name in SECRET_QUERY_NAMES],
    lambda m: f"GET /oauth/callback?code={m}&state=xyz HTTP/1.1",
    lambda m: f"https://app.example.com/cb#access_token={m}&token_type=bearer",
    lambda m: f"login password={m} next",
    lambda m: f"password={m}'",
    lambda m: f'password={m}"',
    lambda m: f"password={m};x",
    lambda m: f"password={m}#x",
    lambda m: f"password=ab;{m}",
    lambda m: f"password=ab#{m}",
    lambda m: f"password=ab,{m}",
    lambda m: f'{{"password": "a b;{m}#d \\" e"}}',
    lambda m: f'{{\\"password\\": \\"a b {m}\\"}}',
    lambda m: f"{{'api_key': '{m}'}}",
    lambda m: f"Driver=pg;Pwd={{x;{m} y}};Uid=bob",
    lambda m: f"Authorization: Basic {m}",
    lambda m: f"Authorization: Bearer {m}",
    lambda m: f"Cookie: theme=dark; session={m}; other=1",
    lambda m: f"Set-Cookie: sid={m}; Path=/; HttpOnly",
    lambda m: f"user said token: {m}",
    lambda m: f"export DB_PASSWORD='{m} with spaces'",
]


def _marker(index: int) -> str:
    return f"S3cr3t-MARK-{index}"


def _carried() -> list[tuple[str, str]]:
    return [(_marker(index), carrier(_marker(index))) for index, carrier in enumerate(CARRIERS)]


def _leaked(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return re.findall(r"S3cr3t-MARK-\d+", text)


@pytest.mark.parametrize(("marker", "text"), _carried(), ids=[str(n) for n in range(len(CARRIERS))])
def test_marked_secret_never_survives_scrub_text(marker: str, text: str) -> None:
    """Each carrier's marker is gone from scrub_text, and scrubbing twice changes nothing more."""
    scrubbed = scrub_text(text)
    assert marker not in scrubbed, scrubbed
    assert scrub_text(scrubbed) == scrubbed


def _exception_span(tracer: Any, text: str) -> ReadableSpan:
    with tracer.start_as_current_span("request", attributes={"url.full": f"https://x/a?{text}", "detail": text}) as span:
        span.add_event("exception", {"exception.type": "IntegrityError", "exception.message": text, "exception.stacktrace": f"Traceback (most recent call last):\n  ...\nsqlalchemy.exc.IntegrityError: {text}\n"})
        span.set_status(Status(StatusCode.ERROR, f"IntegrityError: {text}"))
    assert isinstance(span, ReadableSpan)
    return span


def test_marked_secrets_never_reach_encoded_spans() -> None:
    """Every carrier in attributes, exception events and the status description: none of the markers is in the OTLP bytes."""
    tracer = TracerProvider().get_tracer("t")
    spans = [_exception_span(tracer, text) for _, text in _carried()]
    assert len(_leaked(encode_spans(spans).SerializeToString())) > len(CARRIERS)  # the unscrubbed bytes carry them all
    Scrubber().spans(spans)
    assert _leaked(encode_spans(spans).SerializeToString()) == []
    assert all(dict(span.events[0].attributes or {})["exception.type"] == "IntegrityError" for span in spans)


def _log_records(bodies: list[Any], attributes: list[dict[str, Any]]) -> list[Any]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("t")
    for body, attrs in zip(bodies, attributes, strict=True):
        logger.emit(LogRecord(body=body, attributes=attrs))
    return list(exporter.get_finished_logs())


def test_marked_secrets_never_reach_encoded_logs() -> None:
    """Every carrier as a log body, a nested body and exception attributes: none of the markers is in the OTLP bytes."""
    carried = [text for _, text in _carried()]
    bodies: list[Any] = [*carried, {"request": {"note": carried[0], "items": [carried[1], 3]}}]
    attributes = [{"exception.message": text, "exception.stacktrace": f"Traceback\n{text}", "exception.type": "E"} for text in carried] + [{}]
    records = _log_records(bodies, attributes)
    assert len(_leaked(encode_logs(records).SerializeToString())) > len(CARRIERS)
    Scrubber().logs(records)
    assert _leaked(encode_logs(records).SerializeToString()) == []
    assert records[-1].log_record.body["request"]["items"][1] == 3


ORDINARY = [
    "author=Tolkien", "keyboard layout us", "GET /search?q=code+review&page=2", "http.server.request.signature_count",
    "signature_count=5", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "/api/v1/orders/123", "SELECT 1", "ValueError: invalid literal for int() with base 10: 'abc'", "http://localhost:8000/api/v1/orders?page=2",
    "the sessions table has 3 rows", "order 1234567890123 shipped", "connection refused by db:5432", "https://example.com:8443/a?b=c@d",
    "This is basic functionality", "see https://sqlalche.me/e/20/gkpj", "KeyError: 'user_id'", "monkey=1 donkey=2",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_untouched(text: str) -> None:
    """Ordinary values come back as the very same object."""
    assert scrub_text(text) is text


class _Counting:
    """Stands in for a compiled pattern and counts every use."""

    def __init__(self, pattern: re.Pattern[str], uses: list[str]) -> None:
        self._pattern = pattern
        self._uses = uses

    def __getattr__(self, name: str) -> Any:
        self._uses.append(self._pattern.pattern[:30])
        return getattr(self._pattern, name)


def test_clean_values_run_no_rule_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values without any hint (and under 13 digits) are settled by substring checks alone: no rule regex runs."""
    uses: list[str] = []
    for name, value in vars(scrubbing).items():
        if isinstance(value, re.Pattern) and name not in ("_SENSITIVE_KEY", "_QUERY_SECRET_SUFFIX"):
            monkeypatch.setattr(scrubbing, name, _Counting(value, uses))
    clean = ["/api/v1/orders/123", "GET /api/v1/orders/{order_id}", "curl/8.5.0", "KeyError: 'user_id'", "connection refused by db:5432",
             "Traceback (most recent call last):\n  File \"app.py\", line 12, in handler\n    raise ValueError(\"bad input\")\nValueError: bad input\n"]
    for value in clean:
        assert scrub_text(value) is value
    assert uses == []


# --- spans and log records --------------------------------------------------------------------


def test_span_attributes_and_events_scrubbed() -> None:
    """Finished spans are scrubbed in place: attributes, event attributes and SQL literals."""
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s", attributes={"password": "x", "db.query.text": "SELECT * FROM t WHERE pin = 1234", "url.full": "https://a/b?token=abcdef123456"}) as span:
        span.add_event("login", {"cookie": "sid=1", "detail": "Bearer abcdefghijklmnop"})
    assert isinstance(span, ReadableSpan)
    Scrubber().spans([span])
    attributes = dict(span.attributes or {})
    assert attributes["password"] == REDACTED
    assert attributes["db.query.text"] == "SELECT * FROM t WHERE pin = ?"
    assert "abcdef123456" not in str(attributes["url.full"])
    event = span.events[0]
    assert event.attributes is not None and event.attributes["cookie"] == REDACTED and "abcdefghijklmnop" not in str(event.attributes["detail"])


def test_status_description_links_and_dropped_counts() -> None:
    """The status description (the SDK copies exception text there) and link attributes are scrubbed; dropped counts survive."""
    tracer = TracerProvider(span_limits=SpanLimits(max_span_attributes=2)).get_tracer("t")
    other = tracer.start_span("other").get_span_context()
    with tracer.start_as_current_span("s", links=[Link(other, {"note": "redis://:hunter2@cache/0"})]) as span:
        span.set_attributes({"a": 1, "b": 2, "c": "postgresql://u:hunter2@db/x"})
        span.set_status(Status(StatusCode.ERROR, "OperationalError: postgresql://u:hunter2@db/x"))
    assert isinstance(span, ReadableSpan) and span.dropped_attributes == 1
    Scrubber().spans([span])
    assert span.status.description == "OperationalError: postgresql://u:[REDACTED]@db/x"
    assert span.status.status_code is StatusCode.ERROR
    assert span.links[0].attributes is not None and span.links[0].attributes["note"] == "redis://:[REDACTED]@cache/0"
    assert dict(span.attributes or {})["c"] == "postgresql://u:[REDACTED]@db/x" and span.dropped_attributes == 1


def test_sql_kept_when_capture_query_text() -> None:
    """With capture_query_text the statement is exported as written."""
    assert Scrubber(sanitize_sql_text=False).value("db.query.text", "SELECT 1") == "SELECT 1"


def test_extra_key_patterns() -> None:
    """Users can add their own sensitive key patterns."""
    assert Scrubber(extra_keys=["^customer\\.iban$"]).value("customer.iban", "DE89...") == REDACTED


def test_untouched_span_is_not_copied() -> None:
    """A span with nothing to scrub keeps its attribute mapping (no copy on the common path)."""
    assert Scrubber().attributes({"http.route": "/a", "n": 1}) is None


def test_structured_log_bodies_scrubbed_by_key_and_value() -> None:
    """Mapping and list bodies are walked: sensitive keys redacted, string values scrubbed, other values kept."""
    body = {"user": "bob", "password": "hunter2", "dsn": "postgresql://u:hunter2@db/x", "tries": [1, "token=abcdef123456"], "ok": True}
    (record,) = _log_records([body], [{}])
    Scrubber().logs([record])
    assert record.log_record.body == {"user": "bob", "password": REDACTED, "dsn": "postgresql://u:[REDACTED]@db/x", "tries": [1, "token=[REDACTED]"], "ok": True}


def test_logged_exception_is_scrubbed_like_a_span_exception() -> None:
    """log.exception through the bridge: exception.message/stacktrace and the body lose driver values and URL passwords."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("scrubbing-bridge-test")
    logger.propagate = False
    logger.addHandler(BridgeHandler(logger_provider=provider))
    try:
        dsn = f"postgresql://app:{_marker(901)}@db/shop"
        detail = f"DETAIL:  Key (email)=({_marker(902)}) already exists."
        try:
            raise ConnectionError(f"could not connect to {dsn}\n{detail}")
        except ConnectionError:
            logger.exception("login failed for %s", dsn)
    finally:
        logger.handlers.clear()
        logger.propagate = True
    (record,) = exporter.get_finished_logs()
    attributes = record.log_record.attributes
    assert attributes is not None and {"exception.type", "exception.message", "exception.stacktrace"} <= set(attributes)
    assert _leaked(encode_logs([record]).SerializeToString())
    Scrubber().logs([record])
    assert _leaked(encode_logs([record]).SerializeToString()) == []
    scrubbed = record.log_record.attributes
    assert scrubbed is not None and scrubbed is not attributes and scrubbed["exception.type"] == "ConnectionError"
    assert "Key (email)=([REDACTED])" in str(scrubbed["exception.message"])


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_exported_bytes_carry_no_marker(protocol: str) -> None:
    """Through setup() and a real OTLP receiver: span exceptions, span attributes and log.exception records arrive without any marker."""
    carried = _carried()
    with Receiver(protocol) as receiver:
        telemetry = otel_kit.setup(
            "scrub-e2e", endpoint=receiver.endpoint, protocol="grpc" if protocol == "grpc" else "http/protobuf",
            log_format="none", system_metrics=False, metrics=False, instrument=["logging"],
        )
        tracer = telemetry.tracer
        assert tracer is not None
        logger = logging.getLogger("shop.checkout")
        for marker, text in carried:
            with tracer.start_as_current_span("checkout", attributes={"url.full": f"https://shop/cb?code={marker}", "detail": text}):
                try:
                    with tracer.start_as_current_span("db"):
                        raise RuntimeError(text)
                except RuntimeError:
                    logger.exception("checkout failed: %s", text)
        assert telemetry.force_flush(10)
        arrived = receiver.wait_for(lambda: len(receiver.spans()) >= 2 * len(carried) and len(receiver.log_records()) >= len(carried))
        otel_kit.shutdown()
        assert arrived, (len(receiver.spans()), len(receiver.log_records()))
        raw = receiver.raw()
    assert _leaked(raw) == []
    assert b"exception.stacktrace" in raw and b"RuntimeError" in raw and b"checkout failed" in raw


# --- robustness and cost ----------------------------------------------------------------------

FRAGMENTS = [
    "[SQL: ", "[parameters: ", "]\n", "]", "[", "(", ")", "{", "}", "'", '"', "\\", "\n", "\n\n", " ", ",", ":", "=", "&", "?", "#", ";",
    "DETAIL:  Key (", ")=(", "Failing row contains (", "Token \"", "CONTEXT:  JSON data, line 1: ", "LINE 1: ", "value \"",
    "Duplicate entry '", "Incorrect integer value: '", "The duplicate key value is (", "invalid input for query argument $1: ",
    "invalid input syntax for type integer: \"", "://", "u:p@", "@", "password", "token", "Bearer ", "Basic ", "Cookie: ",
    "Authorization: ", "code", "key", "sig", "%70", "eyJ", "4111 1111 1111 1111", "None", "b'", "... displaying 10 of 31 total bound parameter sets ...",
    "datetime.date(", "[REDACTED]", "S3cr3t",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=40).map("".join))
def test_fuzz_structured_fragments_never_raise(text: str) -> None:
    """Arbitrary mixtures of every rule's trigger fragments are scrubbed without an exception."""
    assert isinstance(scrub_text(text), str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_fuzz_arbitrary_text_never_raises(text: str) -> None:
    """Arbitrary Unicode text is scrubbed without an exception."""
    assert isinstance(scrub_text(text), str)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.text(max_size=20), max_size=3)), max_size=6))
def test_fuzz_log_records_never_raise(attributes: dict[str, Any]) -> None:
    """Random attribute maps and bodies on real SDK log records are scrubbed without an exception."""
    attributes = {key: value for key, value in attributes.items() if key and value is not None}
    records = _log_records([attributes, " ".join(map(str, attributes.values()))], [attributes, {}])
    Scrubber().logs(records)


def _unbounded(pattern: re.Pattern[str]) -> list[str]:
    from re import _constants, _parser  # type: ignore[attr-defined]

    found: list[str] = []
    repeats = {_constants.MAX_REPEAT, _constants.MIN_REPEAT, getattr(_constants, "POSSESSIVE_REPEAT", _constants.MAX_REPEAT)}

    def walk(items: Any) -> None:
        for op, arg in items:
            if op in repeats:
                _low, high, sub = arg
                if high == _constants.MAXREPEAT:
                    found.append(f"{op} in {pattern.pattern[:40]!r}")
                walk(sub)
            elif op == _constants.SUBPATTERN:
                walk(arg[-1])
            elif op == _constants.BRANCH:
                for branch in arg[1]:
                    walk(branch)
            elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
                walk(arg[1])
            elif op == getattr(_constants, "ATOMIC_GROUP", None):
                walk(arg)
            elif op == _constants.GROUPREF_EXISTS:
                walk(arg[1])
                if arg[2] is not None:
                    walk(arg[2])

    walk(_parser.parse(pattern.pattern, pattern.flags))
    return found


def test_every_scrubbing_pattern_is_bounded() -> None:
    """Every compiled pattern in the scrubbing module (found by introspection, so new ones are included) has bounded repetition."""
    patterns = [value for value in vars(scrubbing).values() if isinstance(value, re.Pattern)]
    assert len(patterns) >= 15
    assert [finding for pattern in patterns for finding in _unbounded(pattern)] == []
    assert _unbounded(re.compile(r"a(?:b|c*)")) != []  # the walker does find an unbounded repeat


ADVERSARIAL = [
    "[SQL: ", "[parameters: ", "[parameters: (", "[parameters: {'", "DETAIL: ", "DETAIL:  Key (a)=(", ")=(", "LINE 1: ", "value \"",
    "Duplicate entry '", "a://b:c@", "x://" + "a" * 300 + "@", "?code=", "&key=x", "password: \"", "\\\"", "Authorization: ", "token ",
    "4 ", "((((", "[SQL: x]\n[parameters: (", "]\n(Background on this error at: ", "[a ", "'", "@",
    "hf_a", "github_pat_a_", "SG.aaaaaaaaaaaaaaaaaaaaaaaa", "AIza_-", "r8_", "xai-",
]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_adversarial_100kb_inputs_complete(unit: str) -> None:
    """100 KB of one rule's trigger repeated is scrubbed to completion (timing: benchmarks/bench_scrubbing.py)."""
    value = unit * (100_000 // len(unit))
    assert isinstance(scrub_text(value), str)
