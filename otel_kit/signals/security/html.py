"""Cross-site scripting judged from HTML's grammar: only active content counts.

A value is XSS when, rendered into a page, it would run script: a ``<script>`` element, an
event-handler attribute (``on...=``) on any tag, a ``javascript:``/``vbscript:``/``data:text/html``
URL in an attribute or as the whole value, frames and plug-ins (``<iframe>``, ``<object>``,
``<embed>``), a quote that leaves an attribute and adds a handler, or a quote that leaves a
script string and calls a sink (``';alert(1)//``). Markdown, e-mail addresses in angle brackets
and HTML without active content (``<img src=...>``, ``<a href=https://...>``, ``<br>``) are not.
Tags are read by a single forward pass like a browser's tokenizer, so the cost is linear.
"""

from __future__ import annotations

import re

from otel_kit.signals.security.decoding import js_unescape

# A tag starts at "<" followed by a letter (or "!" / "/"), as in the HTML tokenizer.
_TAG_OPEN = re.compile(r"<(?:(!--)|/?([a-z][^\s/>\x00]{0,64}))", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    r"[\s/\x00]{0,256}(?:(>)|([^\s/>=\x00][^\s/>=\x00]{0,128})[\s\x00]{0,64}(?:=[\s\x00]{0,64}(\"[^\"]{0,8192}\"?|'[^']{0,8192}'?|`[^`]{0,8192}`?|[^\s>\x00]{0,8192}))?)"
)
_COMMENT_END = "-->"
_SCRIPTING_URL = re.compile(r"^[\x00-\x20]{0,64}(?:(?:java|vb|live|ecma)script|mocha|data[\x00-\x20]{0,8}:[\x00-\x20]{0,8}(?:text/html|image/svg|application/(?:x-)?(?:javascript|ecmascript|xhtml)|text/(?:x-)?(?:javascript|ecmascript|xml)))", re.IGNORECASE)
_URL_CONTROL = re.compile(r"[\t\n\r]")
_ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "isindex", "import", "xss", "layer", "ilayer", "bgsound", "xml"})
_META_REFRESH = re.compile(r"url\s{0,8}=\s{0,8}['\"]?\s{0,8}(?:(?:java|vb)script|data)\s{0,8}:", re.IGNORECASE)
_STYLE_SCRIPT = re.compile(r"expression\s{0,8}\(|(?:java|vb)script\s{0,8}:|-moz-binding|behavior\s{0,8}:|@import", re.IGNORECASE)
_NOT_HANDLERS = frozenset({"one", "only", "once", "online", "onset", "onion", "onward", "onwards"})

# Outside tags: script URLs used as a value, and breakouts from an attribute or a script string.
_SCRIPT_URL_IN_TEXT = re.compile(r"(?:^|[\s\"'`=(,:;?&])(?:java|vb|live)script[\x00-\x20]{0,16}:[\x00-\x20]{0,16}(?://[^\n]{0,256}\n|/\*[^*]{0,256}\*/)?\s{0,8}[\w.$\[\]'\"`]{1,64}\s{0,4}[(`=]", re.IGNORECASE)
_VALUE_SCRIPT_URL = re.compile(r"^[\x00-\x20]{0,64}(?:(?:java|vb|live)script[\x00-\x20]{0,16}:\S|data[\x00-\x20]{0,8}:[\x00-\x20]{0,8}text/html)", re.IGNORECASE)
# A handler attribute outside a tag: the value closed an attribute with a quote and added one.
_LOOSE_HANDLER = re.compile(r"(?<=[\s/\"'`])on[a-z]{3,32}[\s\x00]{0,16}=[\s\x00]{0,16}[\"'`]?[\w.$\[\]({]", re.IGNORECASE)
_SINK_CALL = r"(?:alert|prompt|confirm|eval|settimeout|setinterval|function|string\.fromcharcode|document\.write(?:ln)?|window\.open|top\.location|location(?:\.href)?\s{0,4}=|fetch|import|atob|execscript)"
_SCRIPT_BREAKOUT = re.compile(r"(?:^|[\"'`;)}\]])\s{0,8}(?:[;,)}\]+\-*/|&^]|\|\||&&)\s{0,8}" + _SINK_CALL + r"\s{0,4}[(`]", re.IGNORECASE)
_BARE_SINK = re.compile(r"(?:^|[^\w.$])(?:alert|prompt|confirm)\s{0,4}(?:\(\s{0,4}(?:[\d\"'`/]|document\.|window\.|this\b|string\.|\))|`)|\beval\s{0,4}\(\s{0,4}(?:atob|unescape|decodeuri|string\.fromcharcode|location|name\b|document|window|[a-z]\s{0,2}\+)|\b(?:document\.cookie|document\.domain)\b", re.IGNORECASE)
_DOM_SINK = re.compile(r"\b(?:settimeout|setinterval|eval|function|document\.write(?:ln)?|innerhtml\s{0,4}=)\s{0,4}\(?\s{0,4}(?:location|document\.(?:url|referrer|location)|window\.name|top\.name)\b", re.IGNORECASE)
# Every rule needs a tag, a scheme, a call or an attribute.
_GATE_CHARACTERS = frozenset("<:(`=")
_GATE = re.compile(r"<|script|\bon[a-z]{3,32}\s{0,16}=|alert|prompt|confirm|eval|document\.|settimeout|setinterval|fromcharcode|data\s{0,8}:", re.IGNORECASE)


def _attribute_value(raw: str | None) -> str:
    if not raw:
        return ""
    if raw[0] in "\"'`":
        raw = raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
    return raw


def _tag(text: str, start: int, name: str, nested: bool) -> tuple[int, tuple[str, str] | None]:
    """Read one start tag's attributes from ``start``; returns (end, finding)."""
    found: tuple[str, str] | None = None
    if name in _ACTIVE_TAGS:
        found = ("script_tag", "high") if name == "script" else ("active_tag", "high")
    position = start
    attributes = 0
    while position < len(text) and attributes < 256:
        match = _ATTRIBUTE.match(text, position)
        if match is None or match.end() == position:
            position += 1
            continue
        position = match.end()
        if match.group(1):
            break
        attributes += 1
        attribute = match.group(2).lower()
        value = _attribute_value(match.group(3))
        if found is not None and found[0] == "event_handler":
            continue
        if attribute.startswith("on") and attribute[2:].isalpha() and len(attribute) > 4 and attribute not in _NOT_HANDLERS:
            found = ("event_handler", "high")
        elif value and _SCRIPTING_URL.match(_URL_CONTROL.sub("", value)):
            found = ("script_url", "high")
        elif name == "meta" and _META_REFRESH.search(value):
            found = ("script_url", "high")
        elif attribute == "style" or name == "style":
            if _STYLE_SCRIPT.search(value):
                found = found or ("css_expression", "medium")
        elif attribute in ("srcdoc", "formaction") or (attribute == "xlink:href" and value):
            found = found or ("active_attribute", "medium")
        elif "<" in value and not nested:
            # Markup inside an attribute value lands in the page when the value is reflected
            # somewhere else: read it once more (one level deep, so still linear).
            inner = _scan_tags(value, nested=True)
            if inner is not None and inner[1] == "high":
                found = inner
    return position, found


def _scan_tags(text: str, nested: bool = False) -> tuple[str, str] | None:
    best: tuple[str, str] | None = None
    lowered = text.lower()
    position = 0
    while True:
        match = _TAG_OPEN.search(text, position)
        if match is None:
            return best
        if match.group(1):
            end = text.find(_COMMENT_END, match.end())
            position = len(text) if end < 0 else end + 3
            continue
        name = match.group(2).lower()
        if match.group(0)[1] == "/":
            end = text.find(">", match.end())
            position = len(text) if end < 0 else end + 1
            if name == "script":
                best = best or ("script_tag", "high")
            continue
        close = text.find(">", match.end())
        end = len(text) if close < 0 else close
        if name not in _ACTIVE_TAGS and name != "style" and "=" not in text[match.end() : end]:
            # No attribute has a value, so none is a handler or a script URL.
            position = end + 1
            continue
        position, found = _tag(text, match.end(), name, nested)
        if name == "style" and found is None:
            close = lowered.find("</style", position)
            body = text[position : close if close >= 0 else len(text)]
            if _STYLE_SCRIPT.search(body):
                found = ("css_expression", "medium")
        if found is not None:
            if found[1] == "high":
                return found
            best = best or found


def _attribute_breakout(text: str) -> bool:
    for match in _LOOSE_HANDLER.finditer(text):
        before = text[max(0, match.start() - 256) : match.start()]
        if any(quote in before for quote in "\"'`") and match.group(0)[2:].split("=")[0].strip().isalpha():
            return True
    return False


def detect(view: str) -> tuple[str, str, str] | None:
    """``(pattern, severity, shape)`` when ``view`` (decoded) carries active HTML/script content."""
    if _GATE_CHARACTERS.isdisjoint(view) or _GATE.search(view) is None:
        return None
    text = view
    if "\\" in text:
        text = js_unescape(text)
    found = _scan_tags(text) if "<" in text else None
    if found is None or found[1] != "high":
        if _VALUE_SCRIPT_URL.match(_URL_CONTROL.sub("", text)) or _SCRIPT_URL_IN_TEXT.search(text):
            found = ("script_url", "high")
        elif _attribute_breakout(text):
            found = ("attribute_breakout", "high")
        elif _SCRIPT_BREAKOUT.search(text):
            found = ("script_breakout", "high")
        elif found is None and (_DOM_SINK.search(text) or _BARE_SINK.search(text)):
            found = ("dom_sink", "medium")
    if found is None:
        return None
    return found[0], found[1], _SHAPES.get(found[0], "")


_SHAPES = {
    "script_tag": "<script>",
    "active_tag": "<tag>",
    "event_handler": "<tag on*=>",
    "script_url": "javascript:",
    "css_expression": "style=expression()",
    "active_attribute": "<tag attr=>",
    "attribute_breakout": "\" on*=",
    "script_breakout": "';sink(",
    "dom_sink": "sink(",
}
