"""Decode a request value the way servers and browsers would before it reaches code.

Attackers encode payloads so that a filter sees harmless text while the application, the
database or the browser sees the attack: URL encoding applied several times, IIS-style
``%uXXXX``, overlong UTF-8 (``%c0%ae`` is ``.`` to a lenient decoder), HTML character
references, JavaScript/JSON escapes and full-width or look-alike characters. The detectors match
the decoded text. Every step is a single linear pass and the number of rounds is fixed, so the
cost is linear in the input.
"""

from __future__ import annotations

import html
import re
import unicodedata

MAX_FIELD = 8192
_ROUNDS = 4

_PERCENT = re.compile(r"%[uU][0-9a-fA-F]{4}|(?:%[0-9a-fA-F]{2}){1,4096}")
_JS_ESCAPE = re.compile(r"\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([nrt]))")
_JS_CONTROL = {"n": "\n", "r": "\r", "t": "\t"}

# Characters NFKC leaves alone but that parsers or people treat as ASCII punctuation.
_CONFUSABLES = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u02bc": "'", "\u2032": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
        "\u2215": "/", "\u2044": "/", "\u29f8": "/", "\u2216": "\\", "\u29f9": "\\",
        "\u2024": ".", "\u2027": ".", "\u00a0": " ", "\u3000": " ", "\u180e": " ", "\u200b": "", "\ufeff": "",
    }
)


def _utf8_lenient(data: bytes) -> str:
    """UTF-8 that also accepts overlong forms (``c0 ae`` -> ``.``) as old and lenient servers do."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b0 = data[i]
        if b0 < 0x80:
            out.append(chr(b0))
            i += 1
            continue
        width = 2 if 0xC0 <= b0 < 0xE0 else 3 if 0xE0 <= b0 < 0xF0 else 4 if 0xF0 <= b0 < 0xF8 else 0
        tail = data[i + 1 : i + width]
        if b0 in (0xC0, 0xC1) and len(tail) == 1:
            # C0/C1 only ever start overlong forms; lenient decoders read "%c0%ae" and even
            # "%c0%2e" as ".".
            out.append(chr(tail[0]) if tail[0] < 0x80 else chr(((b0 & 0x1F) << 6) | (tail[0] & 0x3F)))
            i += 2
            continue
        if width and len(tail) == width - 1 and all(0x80 <= b < 0xC0 for b in tail):
            code = b0 & (0x7F >> width)
            for b in tail:
                code = (code << 6) | (b & 0x3F)
            out.append(chr(code) if code < 0x110000 and not 0xD800 <= code < 0xE000 else "\ufffd")
            i += width
        else:
            # A stray byte keeps its Latin-1 meaning rather than vanishing into U+FFFD.
            out.append(chr(b0))
            i += 1
    return "".join(out)


def _percent(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[1] in "uU":
        code = int(text[2:], 16)
        return chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd"
    return _utf8_lenient(bytes.fromhex(text.replace("%", "")))


def url_decode(text: str) -> str:
    """One round of percent-decoding (``%XX`` runs as lenient UTF-8, ``%uXXXX``); ``+`` stays."""
    return _PERCENT.sub(_percent, text) if "%" in text else text


def _js(match: re.Match[str]) -> str:
    control = match.group(4)
    if control:
        return _JS_CONTROL[control]
    code = int(match.group(1) or match.group(2) or match.group(3), 16)
    return chr(code) if code < 0x110000 and not 0xD800 <= code < 0xE000 else "\ufffd"


def js_unescape(text: str) -> str:
    """JavaScript/JSON string escapes: ``\\u003c``, ``\\u{3c}``, ``\\x3c``, ``\\n``."""
    return _JS_ESCAPE.sub(_js, text) if "\\" in text else text


def fold(text: str) -> str:
    """NFKC (full-width ``\\uff1c`` -> ``<``) plus look-alike quotes, slashes and invisible spaces."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_CONFUSABLES)


def decode(text: str) -> str:
    """Decode URL encoding (repeated), HTML references and Unicode look-alikes; bounded rounds.

    JavaScript escapes are left to the detectors that need them (``\\t`` is also a Windows path).
    """
    text = text[: MAX_FIELD * 3]
    for _ in range(_ROUNDS):
        decoded = url_decode(text)
        if "&" in decoded:
            decoded = html.unescape(decoded)
        decoded = fold(decoded)
        if decoded == text:
            break
        text = decoded
    return text[:MAX_FIELD]


normalize = decode
