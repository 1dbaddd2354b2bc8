"""GenAI request settings as ``gen_ai.request.*`` attributes: from a client's request body (the hooks)
or from ``otel_kit.ai.operation()`` keyword arguments. Only values that were actually given become
attributes (never a client's ``NOT_GIVEN``)."""

from __future__ import annotations

from typing import Any

__all__ = ["request_attributes", "request_attributes_from_kwargs", "request_settings"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _set_number(attributes: dict[str, Any], key: str, value: Any) -> None:
    if _number(value):
        attributes[key] = value


def _stops(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _output_type(format_type: Any) -> str | None:
    if format_type in ("json_object", "json_schema"):
        return "json"
    if format_type == "text":
        return "text"
    return None


_MAX_TOKENS = "gen_ai.request.max_tokens"
_SHARED_NUMBERS = {"max_tokens": _MAX_TOKENS, "temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p"}
_OPENAI_NUMBERS = {
    **_SHARED_NUMBERS, "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty", "seed": "gen_ai.request.seed",
}
_NUMBERS = {"messages": {**_SHARED_NUMBERS, "top_k": "gen_ai.request.top_k"}}
"""Body keys whose number is the attribute's value, per API (OpenAI's APIs share ``_OPENAI_NUMBERS``)."""
_PREFERRED_MAX = {"chat": "max_completion_tokens", "responses": "max_output_tokens"}
"""The API's own name for the output limit; it wins over ``max_tokens``."""
_SPECIAL = frozenset({"max_completion_tokens", "max_output_tokens", "stop", "stop_sequences", "n", "response_format", "text", "conversation"})


def request_attributes(api: str, body: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The request settings the application actually sent (the clients leave out what was not given)."""
    attributes: dict[str, Any] = {"gen_ai.request.stream": stream}
    request_settings(api, body, attributes)
    return attributes


def request_settings(api: str, body: dict[str, Any], attributes: dict[str, Any]) -> None:
    """Add the settings of request ``body`` to ``attributes`` (what the client sent: it leaves out what was not given)."""
    if api == "embeddings":
        get = body.get
        if isinstance(get("encoding_format"), str):
            attributes["gen_ai.request.encoding_formats"] = [get("encoding_format")]
        if _number(get("dimensions")):
            attributes["gen_ai.embeddings.dimension.count"] = get("dimensions")
        return
    # One pass over the keys that were sent (a handful) rather than a lookup per possible setting.
    numbers = _NUMBERS.get(api, _OPENAI_NUMBERS)
    special = False
    for key, value in body.items():
        name = numbers.get(key)
        if name is not None:
            if _number(value):
                attributes[name] = value
        elif key in _SPECIAL:
            special = True
    if special:
        _special_settings(api, body, attributes)


def _special_settings(api: str, body: dict[str, Any], attributes: dict[str, Any]) -> None:
    get = body.get
    preferred = _PREFERRED_MAX.get(api)
    if preferred is not None and get(preferred) is not None:
        if _number(get(preferred)):
            attributes[_MAX_TOKENS] = get(preferred)
        else:
            attributes.pop(_MAX_TOKENS, None)
    if api == "messages":
        stops = _stops(get("stop_sequences"))
    else:
        stops = _stops(get("stop"))
        choices = get("n")
        if _number(choices) and choices != 1:
            attributes["gen_ai.request.choice.count"] = choices
    if stops:
        attributes["gen_ai.request.stop_sequences"] = stops
    if api == "chat":
        response_format = get("response_format")
        output = _output_type(response_format.get("type")) if isinstance(response_format, dict) else None
        if output:
            attributes["gen_ai.output.type"] = output
    elif api == "responses":
        text = get("text")
        output = _output_type(text.get("format", {}).get("type")) if isinstance(text, dict) and isinstance(text.get("format"), dict) else None
        if output:
            attributes["gen_ai.output.type"] = output
        conversation = get("conversation")
        conversation_id = conversation if isinstance(conversation, str) else conversation.get("id") if isinstance(conversation, dict) else None
        if isinstance(conversation_id, str):
            attributes["gen_ai.conversation.id"] = conversation_id


_MANUAL_KEYS = {
    "max_tokens": "gen_ai.request.max_tokens", "temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k", "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty", "seed": "gen_ai.request.seed",
}


def request_attributes_from_kwargs(request: dict[str, Any]) -> dict[str, Any]:
    """``otel_kit.ai.operation(..., temperature=0.2)``: numbers only, so a client's NOT_GIVEN never becomes a value."""
    attributes: dict[str, Any] = {}
    for key, name in _MANUAL_KEYS.items():
        _set_number(attributes, name, request.get(key))
    stops = _stops(request.get("stop_sequences") or request.get("stop"))
    if stops:
        attributes["gen_ai.request.stop_sequences"] = stops
    if isinstance(request.get("stream"), bool):
        attributes["gen_ai.request.stream"] = request["stream"]
    return attributes
