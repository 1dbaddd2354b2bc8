"""Content capture: the conventions' structure, bounded without breaking JSON, scrubbed before and after export."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.redaction.scrubbing import Scrubber
from otel_kit.signals.ai.content import bounded_json, request_content


def test_chat_request_structure() -> None:
    """System/developer messages become system instructions; tool calls and results keep their ids."""
    body = {"messages": [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "42"},
    ]}
    system, messages = request_content("chat", body)
    assert system == [{"type": "text", "content": "rules"}]
    assert messages[0]["parts"] == [{"type": "text", "content": "look"}, {"type": "blob", "modality": "image", "mime_type": "image/png"}]
    assert messages[1]["parts"] == [{"type": "tool_call", "id": "t1", "name": "f", "arguments": "{}"}]
    assert messages[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t1", "response": "42"}]}


def test_responses_and_anthropic_request_structure() -> None:
    """Responses instructions/input items and Anthropic system/blocks map to the same structure."""
    system, messages = request_content("responses", {"instructions": "be brief", "input": [{"role": "user", "content": [{"type": "input_text", "text": "q"}]}, {"type": "function_call_output", "call_id": "c", "output": "ok"}]})
    assert system == [{"type": "text", "content": "be brief"}] and messages[1]["parts"][0]["type"] == "tool_call_response"
    system, messages = request_content("messages", {"system": [{"type": "text", "text": "s"}], "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "u", "content": "r"}, {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}}]}]})
    assert system == [{"type": "text", "content": "s"}]
    assert messages[0]["parts"] == [{"type": "tool_call_response", "id": "u", "response": "r"}, {"type": "uri", "modality": "image", "uri": "https://x/i.png"}]


def test_long_content_is_cut_inside_strings() -> None:
    """A huge message is shortened, marked truncated, and stays valid JSON under the limit."""
    text, truncated = bounded_json([{"role": "user", "parts": [{"type": "text", "content": "x" * 100_000}]}], limit=1000)
    assert truncated and len(text) <= 1000
    assert json.loads(text)[0]["parts"][0]["content"].endswith("…")


def test_many_messages_keep_the_latest() -> None:
    """When even empty strings do not fit, the oldest messages are dropped."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": str(i)}]} for i in range(500)]
    text, truncated = bounded_json(messages, limit=300)
    kept = json.loads(text)
    assert truncated and len(text) <= 300 and kept[-1]["parts"][0]["content"] == "499"


def test_secrets_are_scrubbed_and_export_scrub_keeps_json() -> None:
    """Keys and tokens are redacted before serialisation; the exporter's own scrub cannot break the JSON."""
    content = 'use sk-abcdefghijklmnopqrstuvwx and token=abc"def and {"password": "hunter2"} \\ end\\'
    text, _ = bounded_json([{"role": "user", "parts": [{"type": "text", "content": content}]}])
    assert "sk-abc" not in text and "hunter2" not in text
    exported = Scrubber().value("gen_ai.input.messages", text)
    assert json.loads(exported)[0]["role"] == "user"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from('ab"\\=:token passwordsk-0123456789 {}\n'), max_size=300), max_size=8), st.integers(min_value=40, max_value=2000))
def test_any_content_stays_json_through_the_exporter(texts: list[str], limit: int) -> None:
    """Whatever the text and limit, the attribute is valid JSON within the limit, before and after the exporter's scrub."""
    value = [{"role": "user", "parts": [{"type": "text", "content": text}]} for text in texts]
    encoded, _ = bounded_json(value, limit=limit)
    assert len(encoded) <= limit
    json.loads(encoded)
    json.loads(Scrubber().value("gen_ai.output.messages", encoded))
