"""Security decoding: values decoded as servers and browsers decode them, in bounded rounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals.security.decoding import MAX_FIELD, decode, fold, js_unescape, url_decode


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("%3Cb%3E", "<b>"),
        ("%253Cb%253E", "<b>"),  # encoded twice
        ("%25253Cb%25253E", "<b>"),  # three times
        ("%u003Cb%u003E", "<b>"),  # IIS %uXXXX
        ("%c0%ae%c0%ae%c0%af", "../"),  # overlong UTF-8
        ("%e0%80%ae", "."),  # three-byte overlong
        ("%c0%2e", "."),  # C0 lead before a plain byte, as lenient decoders read it
        ("%%32%65", "."),  # nibbles encoded separately: "%2e" after one round
        ("&#106;&#x61;&#X76;&#0000097;", "java"),  # decimal, hex, leading zeros
        ("&#106&#97", "ja"),  # no semicolons
        ("&lt;i&gt;", "<i>"),
        ("%26lt%3Bi%26gt%3B", "<i>"),  # URL-encoded entities
        ("\uff1cscript\uff1e", "<script>"),  # full-width
        ("\u2018quoted\u2019", "'quoted'"),
        ("a\u2215b\u2216c", "a/b\\c"),
        ("caf\u00e9", "caf\u00e9"),
    ],
)
def test_decode_like_servers_and_browsers(encoded: str, decoded: str) -> None:
    """Repeated URL encoding, %u, overlong UTF-8, HTML references and confusables all decode."""
    assert decode(encoded) == decoded


def test_plain_text_is_returned_unchanged() -> None:
    """Text with nothing to decode comes back as it was (plus stays a plus: it is no form body)."""
    for text in ("red shoes", "C++ & Rust", "50% off", "100%", "a+b", "%zz", "%"):
        assert decode(text) == text


def test_url_decode_is_one_round() -> None:
    """url_decode takes exactly one layer off."""
    assert url_decode("%2541") == "%41"
    assert url_decode("no escapes") == "no escapes"


def test_js_unescape() -> None:
    """JavaScript/JSON escapes: \\uXXXX, \\u{X}, \\xXX and control characters."""
    assert js_unescape("\\u003cscript\\u003e") == "<script>"
    assert js_unescape("\\u{3c}\\x3e") == "<>"
    assert js_unescape("a\\nb\\tc") == "a\nb\tc"
    assert js_unescape("\\ud800") == "\ufffd"


def test_fold_leaves_ascii_alone() -> None:
    """NFKC and look-alikes only run on non-ASCII text."""
    assert fold("plain") == "plain"
    assert fold("\uff41\uff42") == "ab"


def test_rounds_are_bounded() -> None:
    """Ten layers of encoding decode only four times: the work per value is bounded."""
    value = "<"
    for _ in range(10):
        value = value.replace("%", "%25") if "%" in value else "%3C"
    assert decode(value).startswith("%")


def test_output_is_bounded() -> None:
    """Decoded text never exceeds MAX_FIELD characters, whatever comes in."""
    assert len(decode("%41" * 100_000)) == MAX_FIELD
    assert len(decode("a" * 100_000)) == MAX_FIELD


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_decode_never_raises(value: str) -> None:
    """decode and js_unescape accept any text."""
    assert isinstance(decode(value), str)
    assert isinstance(js_unescape(value), str)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["%", "%25", "%c0", "%ae", "%u", "2f", "&#", "x", ";", "&", "\\u", "00", "e0", "80", "ff", "\uff05"]), max_size=80))
def test_decode_never_raises_on_escape_soup(parts: list[str]) -> None:
    """Broken and nested escapes (truncated %, bad UTF-8, huge references) decode without error."""
    assert isinstance(decode("".join(parts)), str)
