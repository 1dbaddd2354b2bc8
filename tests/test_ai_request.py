"""GenAI request settings: only what was given becomes a ``gen_ai.request.*`` attribute."""

from __future__ import annotations

from otel_kit.signals.ai.request import request_attributes, request_attributes_from_kwargs


def test_request_attributes_per_api() -> None:
    """Only the settings sent, under the conventions' names, for each API."""
    chat = request_attributes("chat", {"max_completion_tokens": 9, "temperature": 0, "stop": "x", "n": 2, "seed": 7, "response_format": {"type": "json_object"}}, True)
    assert chat == {
        "gen_ai.request.stream": True, "gen_ai.request.max_tokens": 9, "gen_ai.request.temperature": 0,
        "gen_ai.request.seed": 7, "gen_ai.request.stop_sequences": ["x"], "gen_ai.request.choice.count": 2, "gen_ai.output.type": "json",
    }
    responses = request_attributes("responses", {"max_output_tokens": 5, "conversation": {"id": "conv_1"}, "text": {"format": {"type": "json_schema"}}}, False)
    assert responses["gen_ai.request.max_tokens"] == 5 and responses["gen_ai.conversation.id"] == "conv_1" and responses["gen_ai.output.type"] == "json"
    messages = request_attributes("messages", {"max_tokens": 3, "top_k": 4, "stop_sequences": ["a", "b"], "temperature": True}, False)
    assert messages == {"gen_ai.request.stream": False, "gen_ai.request.max_tokens": 3, "gen_ai.request.top_k": 4, "gen_ai.request.stop_sequences": ["a", "b"]}
    assert request_attributes("embeddings", {"dimensions": 8, "encoding_format": "base64"}, False)["gen_ai.request.encoding_formats"] == ["base64"]


def test_operation_keywords_keep_numbers_only() -> None:
    """otel_kit.ai.operation() keywords: numbers and stop sequences become attributes, anything else does not."""
    sentinel = object()  # what a client's NOT_GIVEN looks like to us
    attributes = request_attributes_from_kwargs({"temperature": 0.2, "max_tokens": sentinel, "top_k": True, "stop": "END", "stream": False})
    assert attributes == {"gen_ai.request.temperature": 0.2, "gen_ai.request.stop_sequences": ["END"], "gen_ai.request.stream": False}
