"""Token usage and response facts read from the providers' responses and stream events.

Everything here reads both the clients' pydantic models and plain decoded JSON (raw responses), and
never raises on an unexpected shape: a field that is missing or of another type reads as ``None``.

Token counts follow the GenAI conventions: ``input_tokens`` includes the cached input (read and
written), ``output_tokens`` includes the reasoning tokens. The cache and reasoning counts are parts
of those totals, never added to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Usage", "ResponseFacts", "facts_from_response", "new_accumulator"]


def get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a dict, ``obj.name`` otherwise; ``default`` when absent."""
    if obj is None:
        return default
    if type(obj) is dict:
        return obj.get(name, default)
    return getattr(obj, name, default)


def _dict_get(obj: dict[str, Any], name: str, default: Any) -> Any:
    return obj.get(name, default)


def count(value: Any) -> int | None:
    """A token count, or ``None`` for anything that is not a non-negative integer."""
    if type(value) is int and value >= 0:
        return value
    return None


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    """The part of ``cache_creation_tokens`` written with a one-hour lifetime (Anthropic bills it higher)."""
    reasoning_tokens: int | None = None

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    def merge(self, other: Usage) -> None:
        """Take every count that ``other`` knows (later stream events carry the final values)."""
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cache_creation_1h_tokens", "reasoning_tokens"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)

    def parts(self) -> tuple[int, int, int, int, int, int]:
        """``(regular input, cache read, cache written, of which 1 h, regular output, reasoning)``: the totals
        split into parts that add up to them (a part never exceeds what is left of its total)."""
        total_in = self.input_tokens or 0
        read = self.cache_read_tokens or 0
        if read > total_in:
            read = total_in
        written = self.cache_creation_tokens or 0
        if written > total_in - read:
            written = total_in - read
        written_1h = self.cache_creation_1h_tokens or 0
        if written_1h > written:
            written_1h = written
        total_out = self.output_tokens or 0
        reasoning = self.reasoning_tokens or 0
        if reasoning > total_out:
            reasoning = total_out
        return total_in - read - written, read, written, written_1h, total_out - reasoning, reasoning


def _reader(obj: Any) -> Any:
    """``getattr``-like access for a model or a dict (raw JSON): ``read(obj, name, None)``."""
    return _dict_get if type(obj) is dict else getattr


def openai_chat_usage(usage: Any) -> Usage | None:
    """Chat Completions, legacy Completions and Embeddings: ``prompt_tokens`` already includes cached tokens."""
    if usage is None:
        return None
    read = _reader(usage)
    prompt = read(usage, "prompt_tokens", None)
    completion = read(usage, "completion_tokens", None)
    prompt_details = read(usage, "prompt_tokens_details", None)
    completion_details = read(usage, "completion_tokens_details", None)
    return Usage(
        input_tokens=prompt if type(prompt) is int and prompt >= 0 else None,
        output_tokens=completion if type(completion) is int and completion >= 0 else None,
        cache_read_tokens=None if prompt_details is None else count(get(prompt_details, "cached_tokens")),
        reasoning_tokens=None if completion_details is None else count(get(completion_details, "reasoning_tokens")),
    )


def openai_responses_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    read = _reader(usage)
    input_details = read(usage, "input_tokens_details", None)
    output_details = read(usage, "output_tokens_details", None)
    return Usage(
        input_tokens=count(read(usage, "input_tokens", None)),
        output_tokens=count(read(usage, "output_tokens", None)),
        cache_read_tokens=None if input_details is None else count(get(input_details, "cached_tokens")),
        reasoning_tokens=None if output_details is None else count(get(output_details, "reasoning_tokens")),
    )


def anthropic_usage(usage: Any) -> Usage | None:
    """Anthropic's ``input_tokens`` leaves out cache reads and writes; the conventions count them as input."""
    if usage is None:
        return None
    read_attribute = _reader(usage)
    base = read_attribute(usage, "input_tokens", None)
    read = read_attribute(usage, "cache_read_input_tokens", None)
    created = read_attribute(usage, "cache_creation_input_tokens", None)
    output = read_attribute(usage, "output_tokens", None)
    creation = read_attribute(usage, "cache_creation", None)
    thinking = read_attribute(usage, "output_tokens_details", None)
    # count() inlined: this runs for two events of every stream.
    base = base if type(base) is int and base >= 0 else None
    read = read if type(read) is int and read >= 0 else None
    created = created if type(created) is int and created >= 0 else None
    return Usage(
        input_tokens=None if base is None else base + (read or 0) + (created or 0),
        output_tokens=output if type(output) is int and output >= 0 else None,
        cache_read_tokens=read,
        cache_creation_tokens=created,
        cache_creation_1h_tokens=None if creation is None else count(get(creation, "ephemeral_1h_input_tokens")),
        reasoning_tokens=None if thinking is None else count(get(thinking, "thinking_tokens")),
    )


@dataclass(slots=True)
class ResponseFacts:
    """What one response (or the events of one stream) says about the call."""

    model: str | None = None
    id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    usage: Usage | None = None
    service_tier: str | None = None
    output: list[dict[str, Any]] | None = None
    """Output messages in the conventions' structure; only built when content capture is on."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- whole responses -------------------------------------------------------------------------------


def _chat_output(response: Any) -> list[dict[str, Any]]:
    messages = []
    for choice in get(response, "choices") or ():
        message = get(choice, "message")
        parts: list[dict[str, Any]] = []
        content = get(message, "content")
        if isinstance(content, str) and content:
            parts.append({"type": "text", "content": content})
        refusal = _text(get(message, "refusal"))
        if refusal:
            parts.append({"type": "text", "content": refusal})
        for call in get(message, "tool_calls") or ():
            function = get(call, "function")
            parts.append({"type": "tool_call", "id": get(call, "id"), "name": get(function, "name"), "arguments": get(function, "arguments")})
        entry: dict[str, Any] = {"role": get(message, "role") or "assistant", "parts": parts}
        reason = _text(get(choice, "finish_reason"))
        if reason:
            entry["finish_reason"] = reason
        messages.append(entry)
    return messages


def _completion_output(response: Any) -> list[dict[str, Any]]:
    messages = []
    for choice in get(response, "choices") or ():
        entry: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": get(choice, "text") or ""}]}
        reason = _text(get(choice, "finish_reason"))
        if reason:
            entry["finish_reason"] = reason
        messages.append(entry)
    return messages


def _responses_finish(response: Any) -> list[str]:
    status = get(response, "status")
    if status == "incomplete":
        reason = _text(get(get(response, "incomplete_details"), "reason"))
        return ["length" if reason == "max_output_tokens" else (reason or "incomplete")]
    if status == "failed":
        return ["error"]
    if status != "completed":
        return []
    if any(get(item, "type") == "function_call" for item in get(response, "output") or ()):
        return ["tool_calls"]
    return ["stop"]


def _responses_output(response: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in get(response, "output") or ():
        kind = get(item, "type")
        if kind == "message":
            for piece in get(item, "content") or ():
                text = get(piece, "text") if get(piece, "type") == "output_text" else get(piece, "refusal")
                if isinstance(text, str):
                    parts.append({"type": "text", "content": text})
        elif kind == "function_call":
            parts.append({"type": "tool_call", "id": get(item, "call_id"), "name": get(item, "name"), "arguments": get(item, "arguments")})
        elif kind == "reasoning":
            for piece in get(item, "summary") or ():
                text = _text(get(piece, "text"))
                if text:
                    parts.append({"type": "reasoning", "content": text})
    reasons = _responses_finish(response)
    entry: dict[str, Any] = {"role": "assistant", "parts": parts}
    if reasons:
        entry["finish_reason"] = reasons[0]
    return [entry]


def _anthropic_output(message: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in get(message, "content") or ():
        kind = get(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": get(block, "text") or ""})
        elif kind in ("tool_use", "server_tool_use"):
            parts.append({"type": "tool_call", "id": get(block, "id"), "name": get(block, "name"), "arguments": get(block, "input")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": get(block, "thinking") or ""})
    entry: dict[str, Any] = {"role": get(message, "role") or "assistant", "parts": parts}
    reason = _text(get(message, "stop_reason"))
    if reason:
        entry["finish_reason"] = reason
    return [entry]


def facts_from_response(api: str, response: Any, *, with_output: bool) -> ResponseFacts:
    """Facts of a complete (non-streamed) response of ``api``: chat, completions, responses, embeddings or messages."""
    read = _reader(response)
    model = read(response, "model", None)
    ident = read(response, "id", None)
    tier = read(response, "service_tier", None)
    facts = ResponseFacts(
        model=model if isinstance(model, str) and model else None,
        id=ident if isinstance(ident, str) and ident else None,
        service_tier=tier if isinstance(tier, str) and tier else None,
    )
    usage = read(response, "usage", None)
    if api == "messages":
        facts.usage = anthropic_usage(usage)
        reason = _text(read(response, "stop_reason", None))
        if reason:
            facts.finish_reasons = [reason]
        if with_output:
            facts.output = _anthropic_output(response)
    elif api == "responses":
        facts.usage = openai_responses_usage(usage)
        facts.finish_reasons = _responses_finish(response)
        if with_output:
            facts.output = _responses_output(response)
    else:
        facts.usage = openai_chat_usage(usage)
        choices = read(response, "choices", None)
        if choices:
            for choice in choices:
                reason = get(choice, "finish_reason")
                if isinstance(reason, str) and reason:
                    facts.finish_reasons.append(reason)
        if with_output and api == "chat":
            facts.output = _chat_output(response)
        elif with_output and api == "completions":
            facts.output = _completion_output(response)
    return facts


# --- streams ---------------------------------------------------------------------------------------


class Accumulator:
    """Reads a stream's events as the application consumes them.

    ``item`` runs for every chunk, so it does the least it can: after the first output chunk
    (reported once to ``on_output``, for the time to first chunk) and without content capture, it
    only looks for finish reasons, usage and the terminal event. It returns True once the event ends
    the operation (no later event changes the facts), so the operation is recorded before the client
    library closes its own span on the body's end.
    """

    __slots__ = ("_capture", "_parts", "complete", "facts", "on_output", "saw_output")

    def __init__(self, capture: bool) -> None:
        self.facts = ResponseFacts()
        self.saw_output = False
        self.complete = False
        self.on_output: Any = None
        self._capture = capture
        self._parts: dict[Any, dict[str, Any]] = {}

    def item(self, event: Any) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def output_seen(self) -> None:
        self.saw_output = True
        if self.on_output is not None:
            self.on_output()

    def finish(self) -> None:
        """Settle what only the whole stream tells (called once, before the facts are read)."""

    def output(self) -> list[dict[str, Any]] | None:
        return None


class ChatAccumulator(Accumulator):
    """Chat Completions (and legacy Completions) chunks: usage comes last, after the finish reasons."""

    __slots__ = ("_reasons",)

    def __init__(self, capture: bool) -> None:
        super().__init__(capture)
        self._reasons: dict[int, str] = {}

    def item(self, event: Any) -> bool:
        if self.saw_output and not self._capture and type(event) is not dict:
            # The common chunk, once the first output is seen: only finish reasons and usage still matter.
            choices = getattr(event, "choices", None)
            if choices:
                for choice in choices:
                    reason = getattr(choice, "finish_reason", None)
                    if reason:
                        self._reasons[getattr(choice, "index", 0) or 0] = str(reason)
                        self.complete = True
            usage = getattr(event, "usage", None)
            if usage is not None:
                self.facts.usage = openai_chat_usage(usage)
            return False
        return self._item(event, get if type(event) is dict else getattr)

    def _item(self, event: Any, read: Any) -> bool:
        """Any chunk (``read`` is ``getattr`` or, for raw JSON, ``get``: both take a default)."""
        facts = self.facts
        if facts.model is None:
            facts.model = _text(read(event, "model", None))
            facts.id = _text(read(event, "id", None))
            facts.service_tier = _text(read(event, "service_tier", None))
        for choice in read(event, "choices", None) or ():
            self._delta(choice, read)
            reason = _text(read(choice, "finish_reason", None))
            if reason:
                self._reasons[read(choice, "index", None) or 0] = reason
                self.complete = True
        usage = read(event, "usage", None)
        if usage is not None:
            facts.usage = openai_chat_usage(usage)
        return False

    def _delta(self, choice: Any, read: Any) -> None:
        delta = read(choice, "delta", None)
        if delta is not None:
            if type(delta) is dict:
                read = get
            content = read(delta, "content", None)
            calls = read(delta, "tool_calls", None)
            if content or calls or read(delta, "refusal", None):
                if not self.saw_output:
                    self.output_seen()
                if self._capture:
                    self._collect(read(choice, "index", None) or 0, content, calls)
        else:
            text = read(choice, "text", None)  # legacy Completions
            if text:
                if not self.saw_output:
                    self.output_seen()
                if self._capture:
                    self._collect(read(choice, "index", None) or 0, text, None)

    def _collect(self, index: int, content: Any, calls: Any) -> None:
        message = self._parts.setdefault(index, {"text": [], "calls": {}})
        if isinstance(content, str) and content:
            message["text"].append(content)
        for call in calls or ():
            slot = message["calls"].setdefault(get(call, "index") or 0, {"id": None, "name": None, "arguments": []})
            slot["id"] = slot["id"] or get(call, "id")
            function = get(call, "function")
            slot["name"] = slot["name"] or get(function, "name")
            arguments = get(function, "arguments")
            if isinstance(arguments, str):
                slot["arguments"].append(arguments)

    def finish(self) -> None:
        self.facts.finish_reasons = [self._reasons[index] for index in sorted(self._reasons)]

    def output(self) -> list[dict[str, Any]] | None:
        if not self._capture:
            return None
        messages = []
        for index in sorted(set(self._parts) | set(self._reasons)):
            collected = self._parts.get(index, {"text": [], "calls": {}})
            parts: list[dict[str, Any]] = []
            if collected["text"]:
                parts.append({"type": "text", "content": "".join(collected["text"])})
            for slot in collected["calls"].values():
                parts.append({"type": "tool_call", "id": slot["id"], "name": slot["name"], "arguments": "".join(slot["arguments"])})
            entry: dict[str, Any] = {"role": "assistant", "parts": parts}
            if index in self._reasons:
                entry["finish_reason"] = self._reasons[index]
            messages.append(entry)
        return messages


class ResponsesAccumulator(Accumulator):
    """Responses API events: the terminal event carries the whole response, usage included."""

    __slots__ = ()

    def item(self, event: Any) -> bool:
        kind = get(event, "type")
        if not isinstance(kind, str):
            return False
        if kind.endswith(".delta"):
            if not self.saw_output:
                self.output_seen()
            return False
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            response = get(event, "response")
            final = facts_from_response("responses", response, with_output=self._capture)
            final.model = final.model or self.facts.model
            final.id = final.id or self.facts.id
            self.facts = final
            self.complete = True
            return True
        if kind in ("response.created", "response.in_progress"):
            response = get(event, "response")
            self.facts.model = self.facts.model or _text(get(response, "model"))
            self.facts.id = self.facts.id or _text(get(response, "id"))
        return False

    def output(self) -> list[dict[str, Any]] | None:
        return self.facts.output


class MessagesAccumulator(Accumulator):
    """Anthropic Messages events: usage is split between ``message_start`` and ``message_delta``."""

    __slots__ = ()

    def item(self, event: Any) -> bool:
        kind = event.get("type") if type(event) is dict else getattr(event, "type", None)
        if kind == "content_block_delta":
            if not self.saw_output:
                self.output_seen()
            if self._capture:
                self._collect_delta(get(event, "index"), get(event, "delta"))
            return False
        if kind == "content_block_start":
            if self._capture:
                block = get(event, "content_block")
                self._parts[get(event, "index")] = {
                    "type": get(block, "type"), "id": get(block, "id"), "name": get(block, "name"),
                    "text": [get(block, "text") or ""] if get(block, "type") == "text" else [],
                }
            return False
        if kind == "message_start":
            message = get(event, "message")
            read = _reader(message)
            self.facts.model = _text(read(message, "model", None))
            self.facts.id = _text(read(message, "id", None))
            self.facts.usage = anthropic_usage(read(message, "usage", None))
            return False
        if kind == "message_delta":
            later = anthropic_usage(get(event, "usage"))
            if later is not None:
                if self.facts.usage is None:
                    self.facts.usage = later
                else:
                    # The input total is rebuilt from the base count and the cache counts together, so
                    # cache counts without a base count in message_delta must not replace message_start's.
                    if later.input_tokens is None:
                        later.cache_read_tokens = later.cache_creation_tokens = later.cache_creation_1h_tokens = None
                    self.facts.usage.merge(later)
            reason = _text(get(get(event, "delta"), "stop_reason"))
            if reason:
                self.facts.finish_reasons = [reason]
            return False
        if kind == "message_stop":
            self.complete = True
            return True
        return False

    def _collect_delta(self, index: Any, delta: Any) -> None:
        part = self._parts.get(index)
        if part is None:
            return
        kind = get(delta, "type")
        if kind == "text_delta":
            part["text"].append(get(delta, "text") or "")
        elif kind == "input_json_delta":
            part["text"].append(get(delta, "partial_json") or "")
        elif kind == "thinking_delta":
            part["text"].append(get(delta, "thinking") or "")

    def output(self) -> list[dict[str, Any]] | None:
        if not self._capture:
            return None
        parts: list[dict[str, Any]] = []
        for index in sorted(self._parts, key=lambda key: key if isinstance(key, int) else 0):
            part = self._parts[index]
            text = "".join(part["text"])
            if part["type"] == "text":
                parts.append({"type": "text", "content": text})
            elif part["type"] in ("tool_use", "server_tool_use"):
                parts.append({"type": "tool_call", "id": part["id"], "name": part["name"], "arguments": text})
            elif part["type"] == "thinking":
                parts.append({"type": "reasoning", "content": text})
        entry: dict[str, Any] = {"role": "assistant", "parts": parts}
        if self.facts.finish_reasons:
            entry["finish_reason"] = self.facts.finish_reasons[0]
        return [entry]


def new_accumulator(api: str, capture: bool) -> Accumulator:
    if api == "messages":
        return MessagesAccumulator(capture)
    if api == "responses":
        return ResponsesAccumulator(capture)
    return ChatAccumulator(capture)
