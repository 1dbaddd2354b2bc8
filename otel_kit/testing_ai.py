"""A local fake LLM server that speaks the OpenAI and Anthropic HTTP APIs: for tests and benchmarks.

    from otel_kit.testing_ai import FakeLLMServer

    with FakeLLMServer() as server:
        client = openai.OpenAI(api_key="test", base_url=server.openai_url)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        claude = anthropic.Anthropic(api_key="test", base_url=server.anthropic_url)

It listens on 127.0.0.1 on a free port (HTTP/1.1, keep-alive) and answers:

- ``POST /v1/chat/completions`` (plain, ``stream`` with ``stream_options.include_usage``, and
  ``response_format`` json_schema for ``parse``), ``/v1/responses`` (plain and the streaming
  events), ``/v1/embeddings``, ``/v1/completions``;
- ``POST /v1/messages`` (plain and the SSE events) for Anthropic.

Usage includes cached and reasoning tokens (``server.usage``). Every answer carries OpenAI and
Anthropic rate-limit headers (``server.rate_limits``). ``server.fail(status, times)`` makes the
next requests answer 429/500/529 with the provider's error body, rate-limit headers and a 1 ms
``retry-after-ms`` (so client retries are fast). ``server.requests`` keeps what was received.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeLLMServer", "FakeUsage", "Received"]


@dataclass
class FakeUsage:
    """Token counts the server reports. ``input`` is the uncached input (Anthropic's meaning); OpenAI's
    prompt_tokens is ``input + cache_read`` with ``cache_read`` as its cached part."""

    input: int = 20
    output: int = 7
    cache_read: int = 100
    cache_creation: int = 50
    reasoning: int = 3


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body in one write, sent at once: otherwise Nagle and delayed ACKs add ~40 ms a request.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        fake = self.server.fake
        if fake.response_delay:
            time.sleep(fake.response_delay)
        fake.requests.append(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        path = self.path.split("?", 1)[0]
        if "/deployments/" in path:  # Azure OpenAI: /openai/deployments/{deployment}/chat/completions
            path = "/v1/" + path.split("/deployments/", 1)[1].partition("/")[2]
        anthropic = path.endswith("/messages")
        failure = fake.next_failure()
        if failure is not None:
            self._error(failure, anthropic)
            return
        handler = {
            "/v1/chat/completions": fake.chat, "/v1/responses": fake.responses, "/v1/embeddings": fake.embeddings,
            "/v1/completions": fake.completions, "/v1/messages": fake.messages,
        }.get(path)
        if handler is None:
            self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
            return
        result = handler(body)
        if isinstance(result, list):
            self._stream(result)
        else:
            self._send(200, result)

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for name, value in self.server.fake.rate_limit_headers().items():
            self.send_header(name, value)
        self.send_header("x-request-id", "req_fake")
        if length is None:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(length))
        self.end_headers()

    def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in {**self.server.fake.rate_limit_headers(), "x-request-id": "req_fake", **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: list[tuple[str | None, Any]]) -> None:
        self._headers(200, "text/event-stream", None)
        delay = self.server.fake.chunk_delay
        cut = self.server.fake.cut_after
        try:
            for index, (name, data) in enumerate(events):
                if cut is not None and index >= cut:
                    # Drop the connection mid-body, as a crashed upstream does.
                    self.close_connection = True
                    return
                text = data if isinstance(data, str) else json.dumps(data)
                chunk = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
                encoded = chunk.encode()
                self.wfile.write(f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n")
                self.wfile.flush()
                if delay:
                    time.sleep(delay)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, failure: _Failure, anthropic: bool) -> None:
        status = failure.status
        kinds = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
        if anthropic:
            payload: Any = {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": f"fake {status}"}}
        else:
            payload = {"error": {"message": f"fake {status}", "type": kinds.get(status, "server_error"), "code": None}}
        self._send(status, payload, {"retry-after-ms": "1", **failure.headers})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops its connection (a stream closed early) is normal here, not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class FakeLLMServer:
    """The server; a context manager (``start()``/``stop()`` also work)."""

    def __init__(self) -> None:
        self.usage = FakeUsage()
        self.text = "Hello there"
        self.stream_chunks = 3
        """Text deltas per streamed answer (the text is cut into this many pieces, repeated if needed)."""
        self.chunk_delay = 0.0
        self.response_delay = 0.0
        """Seconds to wait before answering (a slow provider)."""
        self.cut_after: int | None = None
        """Drop the connection after this many stream events (no end of body)."""
        self.json_content = '{"answer": "42"}'
        self.finish_reason = "stop"
        """Why chat answers end (``"length"`` makes ``parse()`` raise LengthFinishReasonError)."""
        self.response_model: dict[str, str] = {}
        """Request model -> the model id the answer names (e.g. a dated id)."""
        self.service_tier: str | None = None
        self.rate_limits: dict[str, tuple[int, int]] = {"requests": (1000, 999), "tokens": (100_000, 99_000)}
        """Limit type -> (limit, remaining), sent as x-ratelimit-* and anthropic-ratelimit-* headers."""
        self.requests: deque[Received] = deque(maxlen=1000)
        self._failures: deque[_Failure] = deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    # --- behaviour ---------------------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (429, 500, 529...)."""
        with self._lock:
            for _ in range(times):
                self._failures.append(_Failure(status, dict(headers or {})))

    def next_failure(self) -> _Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def rate_limit_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, (limit, remaining) in self.rate_limits.items():
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
            headers[f"x-ratelimit-reset-{kind}"] = "1s"
            dashed = kind.replace("_", "-")
            headers[f"anthropic-ratelimit-{dashed}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{dashed}-remaining"] = str(remaining)
        return headers

    def _model(self, body: dict[str, Any]) -> str:
        model = str(body.get("model") or "unknown")
        return self.response_model.get(model, model)

    def _pieces(self) -> Iterator[str]:
        text = self.text or " "
        count = max(1, self.stream_chunks)
        if count > len(text):  # a long stream: one character per chunk, round and round
            for index in range(count):
                yield text[index % len(text)]
            return
        size = len(text) // count
        for index in range(count - 1):
            yield text[index * size:(index + 1) * size]
        yield text[(count - 1) * size:]

    def _openai_usage(self) -> dict[str, Any]:
        usage = self.usage
        prompt = usage.input + usage.cache_read
        return {
            "prompt_tokens": prompt, "completion_tokens": usage.output, "total_tokens": prompt + usage.output,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
        }

    def _responses_usage(self) -> dict[str, Any]:
        usage = self.usage
        prompt = usage.input + usage.cache_read
        return {
            "input_tokens": prompt, "input_tokens_details": {"cached_tokens": usage.cache_read},
            "output_tokens": usage.output, "output_tokens_details": {"reasoning_tokens": usage.reasoning},
            "total_tokens": prompt + usage.output,
        }

    def _anthropic_usage(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "input_tokens": usage.input, "output_tokens": usage.output,
            "cache_read_input_tokens": usage.cache_read, "cache_creation_input_tokens": usage.cache_creation,
        }

    # --- OpenAI ------------------------------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> Any:
        model = self._model(body)
        response_format = body.get("response_format") or {}
        text = self.json_content if response_format.get("type") in ("json_schema", "json_object") else self.text
        base = {"id": "chatcmpl-fake", "created": 0, "model": model, "system_fingerprint": "fp_fake"}
        if self.service_tier:
            base["service_tier"] = self.service_tier
        if not body.get("stream"):
            return {
                **base, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "finish_reason": self.finish_reason, "logprobs": None}],
                "usage": self._openai_usage(),
            }
        pieces = [text] if text == self.json_content else list(self._pieces())
        events: list[tuple[str | None, Any]] = [(None, {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
        for piece in pieces:
            events.append((None, {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}))
        events.append((None, {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**base, "object": "chat.completion.chunk", "choices": [], "usage": self._openai_usage()}))
        events.append((None, "[DONE]"))
        return events

    def completions(self, body: dict[str, Any]) -> Any:
        return {
            "id": "cmpl-fake", "object": "text_completion", "created": 0, "model": self._model(body),
            "choices": [{"index": 0, "text": self.text, "finish_reason": "stop", "logprobs": None}],
            "usage": self._openai_usage(),
        }

    def embeddings(self, body: dict[str, Any]) -> Any:
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        dimensions = int(body.get("dimensions") or 4)
        prompt = self.usage.input
        return {
            "object": "list", "model": self._model(body),
            "data": [{"object": "embedding", "index": i, "embedding": [0.25] * dimensions} for i in range(count)],
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        }

    def _response(self, model: str, status: str, text: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        output = [] if status == "in_progress" else [{
            "type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }]
        response = {
            "id": "resp_fake", "object": "response", "created_at": 0, "model": model, "status": status,
            "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": usage,
            "error": None, "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": None, "top_p": None,
        }
        if self.service_tier:
            response["service_tier"] = self.service_tier
        return response

    def responses(self, body: dict[str, Any]) -> Any:
        model = self._model(body)
        if not body.get("stream"):
            return self._response(model, "completed", self.text, self._responses_usage())
        sequence = iter(range(1_000_000))
        item = {"type": "message", "id": "msg_fake", "role": "assistant", "status": "in_progress", "content": []}
        events: list[tuple[str | None, Any]] = [
            ("response.created", {"type": "response.created", "sequence_number": next(sequence), "response": self._response(model, "in_progress", "", None)}),
            ("response.in_progress", {"type": "response.in_progress", "sequence_number": next(sequence), "response": self._response(model, "in_progress", "", None)}),
            ("response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(sequence), "output_index": 0, "item": item}),
            ("response.content_part.added", {"type": "response.content_part.added", "sequence_number": next(sequence), "item_id": "msg_fake", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ]
        text = ""
        for piece in self._pieces():
            text += piece
            events.append(("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": next(sequence), "item_id": "msg_fake", "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}))
        done_item = {**item, "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]}
        events += [
            ("response.output_text.done", {"type": "response.output_text.done", "sequence_number": next(sequence), "item_id": "msg_fake", "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
            ("response.content_part.done", {"type": "response.content_part.done", "sequence_number": next(sequence), "item_id": "msg_fake", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
            ("response.output_item.done", {"type": "response.output_item.done", "sequence_number": next(sequence), "output_index": 0, "item": done_item}),
            ("response.completed", {"type": "response.completed", "sequence_number": next(sequence), "response": self._response(model, "completed", text, self._responses_usage())}),
        ]
        return events

    # --- Anthropic ---------------------------------------------------------------------------------

    def messages(self, body: dict[str, Any]) -> Any:
        model = self._model(body)
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "stop_sequence": None}
        if not body.get("stream"):
            return {**message, "content": [{"type": "text", "text": self.text}], "stop_reason": "end_turn", "usage": self._anthropic_usage()}
        start_usage = {**self._anthropic_usage(), "output_tokens": 1}
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": start_usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
        ]
        for piece in self._pieces():
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}))
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": self.usage.output}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events
