"""Secret scrubbing: keys, values, card numbers, SQL literals, spans and log records."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_kit.export.scrubbing import REDACTED, Scrubber, is_sensitive_key, scrub_text


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


@pytest.mark.parametrize("text", ["order 1234567890123 shipped", "phone 555-0100", "GET /search?q=red+shoes", "author=Tolkien", "id 4111111111111112"])
def test_harmless_values_kept(text: str) -> None:
    """Non-secret text, including digit runs that fail the Luhn check, is unchanged."""
    assert scrub_text(text) == text


def test_span_attributes_and_events_scrubbed() -> None:
    """Finished spans are scrubbed in place: attributes, event attributes and SQL literals."""
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s", attributes={"password": "x", "db.query.text": "SELECT * FROM t WHERE pin = 1234", "url.full": "https://a/b?token=abcdef123456"}) as span:
        span.add_event("login", {"cookie": "sid=1", "detail": "Bearer abcdefghijklmnop"})
    Scrubber().spans([span])
    assert span.attributes["password"] == REDACTED
    assert span.attributes["db.query.text"] == "SELECT * FROM t WHERE pin = ?"
    assert "abcdef123456" not in span.attributes["url.full"]
    event = span.events[0]
    assert event.attributes["cookie"] == REDACTED and "abcdefghijklmnop" not in event.attributes["detail"]


def test_sql_kept_when_capture_query_text() -> None:
    """With capture_query_text the statement is exported as written."""
    assert Scrubber(sanitize_sql_text=False).value("db.query.text", "SELECT 1") == "SELECT 1"


def test_extra_key_patterns() -> None:
    """Users can add their own sensitive key patterns."""
    assert Scrubber(extra_keys=["^customer\\.iban$"]).value("customer.iban", "DE89...") == REDACTED


def test_untouched_span_is_not_copied() -> None:
    """A span with nothing to scrub keeps its attribute mapping (no copy on the common path)."""
    assert Scrubber().attributes({"http.route": "/a", "n": 1}) is None
