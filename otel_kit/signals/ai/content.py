"""Opt-in prompt and completion capture in the GenAI conventions' message structure.

``gen_ai.system_instructions`` is a list of parts; ``gen_ai.input.messages`` and
``gen_ai.output.messages`` are lists of ``{"role", "parts": [...], "finish_reason"?}`` with parts
``text``, ``tool_call``, ``tool_call_response``, ``reasoning``, ``uri`` and ``blob`` (media is
described, never copied: an inline image or audio becomes a ``blob`` without its bytes).

Each attribute is bounded by shortening its longest strings (then dropping the oldest messages),
so the value is always valid JSON. Every string is scrubbed with the exporter's rules first, and
escaped quotes are written as ``\\u0022`` so that the exporter's second scrub can never cut into
the JSON syntax.
"""

from __future__ import annotations

import json
import re
from typing import Any

from otel_kit.redaction.scrubbing import scrub_text
from otel_kit.signals.ai.usage import get

__all__ = ["bounded_json", "request_content", "CONTENT_LIMIT"]

CONTENT_LIMIT = 16_384
"""Characters per content attribute."""

_ESCAPED_QUOTE = re.compile(r'(?<!\\)((?:\\\\)*)\\"')
_ELLIPSIS = "…"
_FLOOR = 64


def _dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return _ESCAPED_QUOTE.sub(r"\1\\u0022", text) if '\\"' in text else text


def _clean(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy with every string scrubbed; odd objects become their ``str``."""
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {str(key): _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item, depth + 1) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _clean(dump(mode="json", exclude_none=True), depth + 1)
        except Exception:  # noqa: BLE001
            pass
    return scrub_text(str(value))


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest(item) for item in value), default=0)
    return 0


def _cap(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + _ELLIPSIS
    if isinstance(value, dict):
        return {key: _cap(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [_cap(item, limit) for item in value]
    return value


def bounded_json(value: Any, limit: int = CONTENT_LIMIT) -> tuple[str, bool]:
    """``(json_text, truncated)`` with ``len(json_text) <= limit`` and ``json.loads(json_text)`` valid.

    The longest strings are shortened first (never below ``_FLOOR`` characters, so roles, part types
    and ids stay intact); if that is not enough the oldest messages are dropped.
    """
    cleaned = _clean(value)
    text = _dumps(cleaned)
    if len(text) <= limit:
        return text, False
    low, high = _FLOOR, max(_FLOOR, _longest(cleaned))
    while low < high:
        middle = (low + high + 1) // 2
        if len(_dumps(_cap(cleaned, middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    capped = _cap(cleaned, low)
    text = _dumps(capped)
    if len(text) <= limit:
        return text, True
    if isinstance(capped, list):
        # Still too long: many messages. The latest turns matter most.
        items = list(capped)
        while items and len(_dumps(items)) > limit:
            items.pop(0)
        return _dumps(items), True
    return "{}", True


# --- request bodies -> the conventions' structure ----------------------------------------------------


def _media(kind: str, url: Any, mime: Any = None) -> dict[str, Any]:
    if isinstance(url, str) and not url.startswith("data:"):
        return {"type": "uri", "modality": kind, "uri": url}
    part: dict[str, Any] = {"type": "blob", "modality": kind}
    if isinstance(url, str) and url.startswith("data:"):
        mime = url[5:].split(";", 1)[0] or mime
    if isinstance(mime, str):
        part["mime_type"] = mime
    return part


def _openai_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for piece in content or ():
        kind = get(piece, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": get(piece, "text") or ""})
        elif kind == "refusal":
            parts.append({"type": "text", "content": get(piece, "refusal") or ""})
        elif kind == "image_url":
            parts.append(_media("image", get(get(piece, "image_url"), "url")))
        elif kind == "input_image":
            parts.append(_media("image", get(piece, "image_url")))
        elif kind in ("input_audio",):
            parts.append({"type": "blob", "modality": "audio", "mime_type": f"audio/{get(get(piece, 'input_audio'), 'format') or 'unknown'}"})
        elif kind in ("file", "input_file"):
            parts.append({"type": "blob", "modality": "file"})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def _chat_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        role = get(message, "role")
        if role in ("system", "developer"):
            system.extend(_openai_parts(get(message, "content")))
            continue
        if role in ("tool", "function"):
            messages.append({"role": "tool", "parts": [{"type": "tool_call_response", "id": get(message, "tool_call_id") or get(message, "name"), "response": get(message, "content")}]})
            continue
        parts = _openai_parts(get(message, "content"))
        for call in get(message, "tool_calls") or ():
            function = get(call, "function")
            parts.append({"type": "tool_call", "id": get(call, "id"), "name": get(function, "name"), "arguments": get(function, "arguments")})
        entry: dict[str, Any] = {"role": role or "user", "parts": parts}
        if isinstance(get(message, "name"), str):
            entry["name"] = get(message, "name")
        messages.append(entry)
    return system, messages


def _responses_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        system.append({"type": "text", "content": instructions})
    messages: list[dict[str, Any]] = []
    items = body.get("input")
    if isinstance(items, str):
        return system, [{"role": "user", "parts": [{"type": "text", "content": items}]}]
    for item in items or ():
        kind = get(item, "type")
        if kind == "function_call":
            messages.append({"role": "assistant", "parts": [{"type": "tool_call", "id": get(item, "call_id"), "name": get(item, "name"), "arguments": get(item, "arguments")}]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "parts": [{"type": "tool_call_response", "id": get(item, "call_id"), "response": get(item, "output")}]})
        elif kind in (None, "message"):
            role = get(item, "role")
            parts = _openai_parts(get(item, "content"))
            if role in ("system", "developer"):
                system.extend(parts)
            else:
                messages.append({"role": role or "user", "parts": parts})
        else:
            messages.append({"role": "user", "parts": [{"type": str(kind)}]})
    return system, messages


def _anthropic_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content or ():
        kind = get(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": get(block, "text") or ""})
        elif kind in ("image", "document"):
            source = get(block, "source")
            modality = "image" if kind == "image" else "file"
            parts.append(_media(modality, get(source, "url"), get(source, "media_type")))
        elif kind in ("tool_use", "server_tool_use"):
            parts.append({"type": "tool_call", "id": get(block, "id"), "name": get(block, "name"), "arguments": get(block, "input")})
        elif kind == "tool_result":
            result = get(block, "content")
            response: Any = result if isinstance(result, str) else [part.get("content") for part in _anthropic_parts(result)]
            parts.append({"type": "tool_call_response", "id": get(block, "tool_use_id"), "response": response})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": get(block, "thinking") or ""})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def _anthropic_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system = _anthropic_parts(body.get("system")) if body.get("system") is not None else []
    messages = [{"role": get(message, "role") or "user", "parts": _anthropic_parts(get(message, "content"))} for message in body.get("messages") or ()]
    return system, messages


def request_content(api: str, body: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system_instructions, input_messages)`` of a request body."""
    if not isinstance(body, dict):
        return [], []
    if api == "messages":
        return _anthropic_messages(body)
    if api == "responses":
        return _responses_messages(body)
    if api == "completions":
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else [p for p in prompt or () if isinstance(p, str)]
        return [], [{"role": "user", "parts": [{"type": "text", "content": text}]} for text in prompts]
    if api == "chat":
        return _chat_messages(body)
    return [], []
