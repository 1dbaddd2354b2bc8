"""Security fields: a request split into the named fields the application sees."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals.security.fields import (
    HEADER,
    MAX_FIELDS,
    NAME,
    PATH,
    SEGMENT,
    VALUE,
    body_fields,
    header_fields,
    is_sensitive_name,
    json_fields,
    multipart_fields,
    parse_pairs,
    query_fields,
    request_fields,
)


def _by_location(fields: list) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for field in fields:
        found.setdefault(field.location, []).append(field.value)
    return found


def test_query_values_are_decoded_once_per_parameter() -> None:
    """Each parameter is its own field, decoded like a server does (+ is a space)."""
    fields = query_fields("q=red+shoes&page=2&tag=a%26b&empty=&flag")
    assert _by_location(fields) == {"query.q": ["red shoes"], "query.page": ["2"], "query.tag": ["a&b"]}
    assert all(f.kind == VALUE for f in fields)


def test_unusual_parameter_names_are_inspected_but_never_reported() -> None:
    """A name that is not an identifier is a field itself, located as query.* (names can be user data)."""
    fields = query_fields("%3Cscript%3E=1&alice%40example.com=x")
    assert [(f.location, f.value, f.kind) for f in fields] == [
        ("query.*", "<script>", NAME), ("query.*", "1", VALUE), ("query.*", "alice@example.com", NAME), ("query.*", "x", VALUE),
    ]


def test_parse_pairs_matches_the_usual_rules() -> None:
    """parse_pairs keeps blank values, skips empty parts and replaces undecodable bytes."""
    assert parse_pairs("a=1&&b=&c=%ff") == [("a", "1"), ("b", ""), ("c", "\ufffd")]


def test_sensitive_names() -> None:
    """Secret-holding names are recognised in common spellings; ordinary names are not."""
    for name in ("password", "new_password", "passwd", "pwd", "pw", "PassPhrase", "api_key", "apiKey", "X-Api-Key", "token", "refresh_token", "client_secret", "session_id", "auth", "Authorization", "cookie", "credit_card", "cardNumber", "cvv", "otp", "pin", "signature", "sig", "key"):
        assert is_sensitive_name(name), name
    for name in ("q", "username", "author", "monkey", "keyboard", "comment", "description", "page", "sort"):
        assert not is_sensitive_name(name), name
    fields = query_fields("password=x&q=y")
    assert [(f.location, f.sensitive) for f in fields] == [("query.password", True), ("query.q", False)]


def test_json_body_strings_keys_and_values_recursively() -> None:
    """Every string in a JSON body is a field; odd keys are fields too; the raw JSON never is."""
    body = {"user": {"name": "ann", "password": "s3cret", "tags": ["a", {"deep": "x"}]}, "n": 3, "ok": True, "we ird": "v"}
    fields = json_fields(json.dumps(body))
    assert _by_location(fields) == {
        "body.user.name": ["ann"], "body.user.password": ["s3cret"], "body.user.tags[]": ["a"], "body.user.tags[].deep": ["x"],
        "body.*": ["we ird", "v"],
    }
    assert [f.sensitive for f in fields if f.location == "body.user.password"] == [True]
    assert all(not f.value.startswith("{") for f in fields)


def test_json_secrets_inherit_to_nested_values() -> None:
    """Values below a sensitive key are sensitive as well."""
    fields = json_fields(json.dumps({"credentials": {"user": "ann", "value": "x"}}))
    assert all(f.sensitive for f in fields)


def test_json_is_bounded_in_depth_and_count() -> None:
    """Deep nesting and huge arrays stop at the bounds instead of exhausting the process."""
    deep: object = "leaf"
    for _ in range(200):
        deep = {"k": deep}
    assert json_fields(json.dumps(deep)) == []
    many = json_fields(json.dumps(["x"] * 10_000))
    assert len(many) == MAX_FIELDS


def test_cut_off_json_still_yields_its_complete_strings() -> None:
    """A body prefix cut at 8 KB is not valid JSON; its complete string literals are still fields."""
    text = json.dumps({"a": "first", "b": "second \"quoted\"", "c": "cut"})[:-6]
    assert [f.value for f in json_fields(text)] == ["a", "first", "b", 'second "quoted"', "c"]


def test_body_by_content_type() -> None:
    """Form, JSON, multipart and text bodies are parsed by type; binary bodies yield nothing."""
    assert _by_location(body_fields(b"user=ann&password=x+y", "application/x-www-form-urlencoded")) == {"body.user": ["ann"], "body.password": ["x y"]}
    assert _by_location(body_fields(b'{"q": "v"}', "application/json; charset=utf-8")) == {"body.q": ["v"]}
    assert _by_location(body_fields(b'{"q": "v"}', "application/vnd.api+json")) == {"body.q": ["v"]}
    assert _by_location(body_fields(b'{"q": "v"}', "")) == {"body.q": ["v"]}
    assert _by_location(body_fields(b"hello", "text/plain")) == {"body": ["hello"]}
    assert body_fields(b"\x89PNG\r\n", "image/png") == []
    assert body_fields(b"", "application/json") == []


def test_multipart_text_fields_and_file_names() -> None:
    """Multipart: text fields by name and the uploaded file's name; file contents are skipped."""
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"../../a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n"
        b"--XyZ--\r\n"
    )
    fields = multipart_fields(body, "multipart/form-data; boundary=XyZ")
    assert _by_location(fields) == {"body.title": ["Hello"], "body.upload": ["../../a.txt"]}
    assert multipart_fields(body, "multipart/form-data") == []


def test_path_and_segments() -> None:
    """The path is one field for traversal; segments with punctuation are fields for injections."""
    fields = request_fields("/items/1'or'1/x", b"")
    assert [(f.kind, f.value) for f in fields] == [(PATH, "/items/1'or'1/x"), (SEGMENT, "1'or'1")]
    assert request_fields("/", b"") == []


def test_headers_selected_and_urls_split() -> None:
    """Only inspected headers count; a referer is split into its path and parameters."""
    headers = [(b"user-agent", b"curl/8.0"), (b"cookie", b"session=abc"), (b"referer", b"https://shop.example/a.b/x?q=%3Cb%3E&p=2")]
    fields = header_fields(headers)
    assert [(f.location, f.kind, f.value) for f in fields] == [
        ("header.user-agent", HEADER, "curl/8.0"), ("header.referer", PATH, "/a.b/x"), ("header.referer", SEGMENT, "a.b"),
        ("header.referer", VALUE, "<b>"), ("header.referer", VALUE, "2"),
    ]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain", "", "application/octet-stream"]))
def test_body_parsers_never_raise(body: bytes, content_type: str) -> None:
    """Arbitrary bytes under every content type parse without error and within the bounds."""
    fields = body_fields(body, content_type)
    assert len(fields) <= MAX_FIELDS * 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1000), st.text(max_size=300))
def test_request_parsers_never_raise(path: str, query: str) -> None:
    """Arbitrary paths, query strings and header values parse without error."""
    request_fields(path, query, [(b"referer", query.encode("utf-8", "replace")), (b"user-agent", path.encode("utf-8", "replace"))])


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20), lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=40))
def test_json_walk_never_raises(document: object) -> None:
    """Any JSON document (and any prefix of it) is walked without error."""
    text = json.dumps(document)
    json_fields(text)
    json_fields(text[: len(text) // 2])
