"""AI signals with the OpenTelemetry GenAI semantic conventions, plus cost and rate-limit headroom.

Spans are named ``"{gen_ai.operation.name} {gen_ai.request.model}"``. Metrics are the conventional
``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` histograms, plus
``gen_ai.client.cost`` (USD, from an overridable price table; no cost attribute is standard) and
per-model requests/tokens per minute with headroom against configured limits.

The real ``openai`` and ``anthropic`` clients (sync, async, streaming) are wrapped when installed.
Prompt and completion text is never captured unless ``ai_capture_content=True``.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

_log = logging.getLogger("otel_kit.ai")

TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1, 4, 16, ... 67108864, as the conventions advise
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float


# List prices in USD per million tokens, as published by the providers (late 2025). Override with
# set_prices(); the longest matching model-name prefix wins, so dated model ids match too.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-haiku-4": Price(1.00, 5.00),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES if prices is None else prices)
        self._unknown_warned: set[str] = set()

    def set(self, model: str, *, input_per_million: float, output_per_million: float) -> None:
        from otel_kit.config.settings import ConfigError

        for label, value in (("input_per_million", input_per_million), ("output_per_million", output_per_million)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(label, value, "a number >= 0 (USD per million tokens)")
        self._prices[model] = Price(float(input_per_million), float(output_per_million))

    def lookup(self, model: str) -> Price | None:
        best = None
        for prefix in self._prices:
            if model.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        return self._prices[best] if best is not None else None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self.lookup(model)
        if price is None:
            if model not in self._unknown_warned:
                self._unknown_warned.add(model)
                _log.warning("otel-kit: no price for model %r; tokens are counted but no cost (otel_kit.ai.set_price)", model)
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


class _MinuteWindow:
    """Requests and tokens per model over the last 60 s."""

    def __init__(self) -> None:
        self._events: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def add(self, model: str, tokens: int, now: float | None = None) -> None:
        with self._lock:
            self._events.setdefault(model, deque()).append((now if now is not None else time.monotonic(), tokens))

    def read(self, now: float | None = None) -> dict[str, tuple[int, int]]:
        moment = now if now is not None else time.monotonic()
        result: dict[str, tuple[int, int]] = {}
        with self._lock:
            for model, events in self._events.items():
                while events and events[0][0] < moment - 60:
                    events.popleft()
                result[model] = (len(events), sum(tokens for _, tokens in events))
        return result


class AIOperation:
    """Handle yielded by :meth:`AIMonitor.operation`; call :meth:`record` with the response data."""

    def __init__(self, monitor: AIMonitor, span: trace.Span, provider: str, operation: str, model: str) -> None:
        self._monitor = monitor
        self.span = span
        self.provider = provider
        self.operation = operation
        self.request_model = model
        self.response_model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost: float | None = None
        self.error_type: str | None = None
        self.finish_reasons: list[str] = []

    def record(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        response_model: str | None = None,
        response_id: str | None = None,
        finish_reasons: list[str] | tuple[str, ...] | None = None,
        output_messages: Any = None,
    ) -> None:
        if input_tokens is not None:
            self.input_tokens = int(input_tokens)
            self.span.set_attribute("gen_ai.usage.input_tokens", self.input_tokens)
        if output_tokens is not None:
            self.output_tokens = int(output_tokens)
            self.span.set_attribute("gen_ai.usage.output_tokens", self.output_tokens)
        if response_model:
            self.response_model = response_model
            self.span.set_attribute("gen_ai.response.model", response_model)
        if response_id:
            self.span.set_attribute("gen_ai.response.id", response_id)
        if finish_reasons:
            self.finish_reasons = [str(r) for r in finish_reasons if r]
            self.span.set_attribute("gen_ai.response.finish_reasons", self.finish_reasons)
        if output_messages is not None and self._monitor.capture_content:
            self.span.set_attribute("gen_ai.output.messages", _json(output_messages))


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=str)[:16_384]
    except Exception:  # noqa: BLE001
        return str(value)[:16_384]


class AIMonitor:
    """Creates GenAI spans and metrics; one per ``setup()``, reachable as ``otel_kit.ai``."""

    def __init__(self, telemetry: Any, *, capture_content: bool = False) -> None:
        self.capture_content = capture_content
        self.prices = PriceTable()
        self.limits: dict[str, tuple[int | None, int | None]] = {}
        self._window = _MinuteWindow()
        tracer_provider = telemetry.tracer_provider
        self._tracer = tracer_provider.get_tracer("otel_kit.ai") if tracer_provider is not None else trace.get_tracer("otel_kit.ai")
        meter = telemetry.meter
        self._tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}", description="Tokens used per GenAI operation", explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self._duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s", description="GenAI operation duration", explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._cost = meter.create_counter("gen_ai.client.cost", unit="USD", description="Estimated cost of GenAI operations from the price table")
        meter.create_observable_gauge("gen_ai.client.requests_per_minute", callbacks=[self._observe_requests], unit="{request}", description="GenAI requests over the last minute, per model")
        meter.create_observable_gauge("gen_ai.client.tokens_per_minute", callbacks=[self._observe_tokens], unit="{token}", description="GenAI tokens over the last minute, per model")
        meter.create_observable_gauge("gen_ai.client.rate_limit.headroom", callbacks=[self._observe_headroom], unit="1", description="Fraction of the configured per-minute limit still available, per model and limit type")
        install_client_wrappers()

    def set_rate_limit(self, model: str, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> None:
        from otel_kit.config.settings import ConfigError

        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ConfigError(label, value, "a positive integer or None")
        self.limits[model] = (requests_per_minute, tokens_per_minute)

    @contextmanager
    def operation(
        self,
        provider: str,
        model: str,
        operation: str = "chat",
        *,
        server_address: str | None = None,
        input_messages: Any = None,
        **request: Any,
    ) -> Iterator[AIOperation]:
        """Trace one GenAI call. Exceptions are recorded (``error.type``) and re-raised."""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        for key in ("max_tokens", "temperature", "top_p"):
            if request.get(key) is not None:
                attributes[f"gen_ai.request.{key}"] = request[key]
        if server_address:
            attributes["server.address"] = server_address
        if input_messages is not None and self.capture_content:
            attributes["gen_ai.input.messages"] = _json(input_messages)
        started = time.perf_counter()
        span = self._tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attributes)
        handle = AIOperation(self, span, provider, operation, model)
        try:
            with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                yield handle
        except BaseException as exc:
            handle.error_type = type(exc).__qualname__
            span.set_attribute("error.type", handle.error_type)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.record_exception(exc)
            raise
        finally:
            self._finish(handle, time.perf_counter() - started)

    def _finish(self, handle: AIOperation, seconds: float) -> None:
        try:
            model = handle.response_model or handle.request_model
            metric_attributes: dict[str, Any] = {
                "gen_ai.operation.name": handle.operation,
                "gen_ai.provider.name": handle.provider,
                "gen_ai.request.model": handle.request_model,
            }
            if handle.response_model:
                metric_attributes["gen_ai.response.model"] = handle.response_model
            if handle.error_type:
                metric_attributes["error.type"] = handle.error_type
            self._duration.record(seconds, metric_attributes)
            tokens = 0
            if handle.input_tokens is not None:
                self._tokens.record(handle.input_tokens, {**metric_attributes, "gen_ai.token.type": "input"})
                tokens += handle.input_tokens
            if handle.output_tokens is not None:
                self._tokens.record(handle.output_tokens, {**metric_attributes, "gen_ai.token.type": "output"})
                tokens += handle.output_tokens
            if handle.input_tokens is not None or handle.output_tokens is not None:
                cost = self.prices.cost(model, handle.input_tokens or 0, handle.output_tokens or 0)
                if cost is not None:
                    handle.cost = cost
                    handle.span.set_attribute("gen_ai.usage.cost_usd", round(cost, 8))
                    self._cost.add(cost, {k: v for k, v in metric_attributes.items() if k != "error.type"})
            self._window.add(handle.request_model, tokens)
        finally:
            handle.span.end()

    def _observe_requests(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(requests, {"gen_ai.request.model": model}) for model, (requests, _) in self._window.read().items()]

    def _observe_tokens(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(tokens, {"gen_ai.request.model": model}) for model, (_, tokens) in self._window.read().items()]

    def _observe_headroom(self, options: CallbackOptions) -> list[Observation]:
        usage = self._window.read()
        result = []
        for model, (rpm, tpm) in self.limits.items():
            requests, tokens = usage.get(model, (0, 0))
            if rpm:
                result.append(Observation(max(0.0, 1 - requests / rpm), {"gen_ai.request.model": model, "gen_ai.rate_limit.type": "requests"}))
            if tpm:
                result.append(Observation(max(0.0, 1 - tokens / tpm), {"gen_ai.request.model": model, "gen_ai.rate_limit.type": "tokens"}))
        return result


# --- module-level API ------------------------------------------------------------------------------


def monitor() -> AIMonitor | None:
    from otel_kit import telemetry

    state = telemetry.current()
    return state.ai if state is not None else None


@contextmanager
def operation(provider: str, model: str, operation: str = "chat", **kwargs: Any) -> Iterator[AIOperation | None]:
    """``with otel_kit.ai.operation("openai", "gpt-4o") as op: ...; op.record(input_tokens=...)``.

    Before ``setup()`` this yields None and records nothing.
    """
    active = monitor()
    if active is None:
        yield None
        return
    with active.operation(provider, model, operation, **kwargs) as handle:
        yield handle


def traced_operation(provider: str, model: str, operation_name: str = "chat", *, extract: Callable[[Any], Mapping[str, Any]] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form: ``extract(result)`` returns keyword arguments for :meth:`AIOperation.record`."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        import inspect

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with operation(provider, model, operation_name) as handle:
                    result = await function(*args, **kwargs)
                    if handle is not None and extract is not None:
                        handle.record(**extract(result))
                    return result

            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with operation(provider, model, operation_name) as handle:
                result = function(*args, **kwargs)
                if handle is not None and extract is not None:
                    handle.record(**extract(result))
                return result

        return wrapper

    return decorate


def set_price(model: str, *, input_per_million: float, output_per_million: float) -> None:
    active = monitor()
    if active is None:
        from otel_kit.config.settings import ConfigError

        raise ConfigError("set_price", model, "a call after otel_kit.setup()")
    active.prices.set(model, input_per_million=input_per_million, output_per_million=output_per_million)


def set_rate_limit(model: str, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> None:
    active = monitor()
    if active is None:
        from otel_kit.config.settings import ConfigError

        raise ConfigError("set_rate_limit", model, "a call after otel_kit.setup()")
    active.set_rate_limit(model, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)


# --- client wrappers -----------------------------------------------------------------------------

_wrapped: dict[str, tuple[Any, str, Any]] = {}


def _server_address(resource: Any) -> str | None:
    try:
        return str(resource._client.base_url.host) or None
    except Exception:  # noqa: BLE001
        return None


def _openai_usage(response: Any) -> dict[str, Any]:
    usage = getattr(response, "usage", None)
    return {
        "input_tokens": getattr(usage, "prompt_tokens", None) if usage is not None else None,
        "output_tokens": getattr(usage, "completion_tokens", None) if usage is not None else None,
        "response_model": getattr(response, "model", None),
        "response_id": getattr(response, "id", None),
        "finish_reasons": [c.finish_reason for c in getattr(response, "choices", None) or [] if getattr(c, "finish_reason", None)],
    }


def _anthropic_usage(response: Any) -> dict[str, Any]:
    usage = getattr(response, "usage", None)
    stop = getattr(response, "stop_reason", None)
    return {
        "input_tokens": getattr(usage, "input_tokens", None) if usage is not None else None,
        "output_tokens": getattr(usage, "output_tokens", None) if usage is not None else None,
        "response_model": getattr(response, "model", None),
        "response_id": getattr(response, "id", None),
        "finish_reasons": [stop] if stop else None,
    }


class _StreamState:
    """Accumulates usage from stream chunks of either provider."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.data: dict[str, Any] = {}
        self.finish: list[str] = []

    def feed(self, chunk: Any) -> None:
        try:
            if self.provider == "openai":
                self.data["response_model"] = getattr(chunk, "model", None) or self.data.get("response_model")
                self.data["response_id"] = getattr(chunk, "id", None) or self.data.get("response_id")
                for choice in getattr(chunk, "choices", None) or []:
                    if getattr(choice, "finish_reason", None):
                        self.finish.append(choice.finish_reason)
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    self.data["input_tokens"] = usage.prompt_tokens
                    self.data["output_tokens"] = usage.completion_tokens
            else:
                kind = getattr(chunk, "type", "")
                if kind == "message_start":
                    message = chunk.message
                    self.data["response_model"] = message.model
                    self.data["response_id"] = message.id
                    self.data["input_tokens"] = message.usage.input_tokens
                elif kind == "message_delta":
                    self.data["output_tokens"] = chunk.usage.output_tokens
                    if getattr(chunk.delta, "stop_reason", None):
                        self.finish.append(chunk.delta.stop_reason)
        except Exception:  # noqa: BLE001
            pass

    def result(self) -> dict[str, Any]:
        return {**self.data, "finish_reasons": self.finish or None}


class _SyncStream:
    def __init__(self, stream: Any, context: Any, handle: AIOperation, state: _StreamState) -> None:
        self._stream = stream
        self._context = context
        self._handle = handle
        self._state = state
        self._done = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                self._state.feed(chunk)
                yield chunk
        except BaseException as exc:
            self._close(exc)
            raise
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        self._handle.record(**self._state.result())
        if exc is None:
            self._context.__exit__(None, None, None)
        else:
            self._context.__exit__(type(exc), exc, exc.__traceback__)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._close(None)

    def __enter__(self) -> _SyncStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _AsyncStream(_SyncStream):
    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._stream:
                self._state.feed(chunk)
                yield chunk
        except BaseException as exc:
            self._close(exc)
            raise
        self._close(None)

    async def aclose(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._close(None)

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _wrap(provider: str, original: Callable[..., Any], extract: Callable[[Any], dict[str, Any]], is_async: bool) -> Callable[..., Any]:
    def begin(resource: Any, kwargs: dict[str, Any]) -> tuple[Any, AIOperation] | None:
        active = monitor()
        if active is None:
            return None
        messages = kwargs.get("messages")
        context = active.operation(
            provider, str(kwargs.get("model", "unknown")), "chat",
            server_address=_server_address(resource), input_messages=messages,
            max_tokens=kwargs.get("max_tokens") or kwargs.get("max_completion_tokens"),
            temperature=kwargs.get("temperature"), top_p=kwargs.get("top_p"),
        )
        return context, context.__enter__()

    def finish_sync(context: Any, handle: AIOperation, result: Any, kwargs: dict[str, Any]) -> Any:
        if kwargs.get("stream"):
            wrapper_cls = _AsyncStream if is_async else _SyncStream
            return wrapper_cls(result, context, handle, _StreamState(provider))
        handle.record(**extract(result))
        context.__exit__(None, None, None)
        return result

    if is_async:

        @functools.wraps(original)
        async def async_create(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = begin(self, kwargs)
            if started is None:
                return await original(self, *args, **kwargs)
            context, handle = started
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                context.__exit__(type(exc), exc, exc.__traceback__)
                raise
            return finish_sync(context, handle, result, kwargs)

        return async_create

    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = begin(self, kwargs)
        if started is None:
            return original(self, *args, **kwargs)
        context, handle = started
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            context.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return finish_sync(context, handle, result, kwargs)

    return create


_TARGETS = [
    ("openai", "openai.resources.chat.completions.completions", "Completions", False, _openai_usage),
    ("openai", "openai.resources.chat.completions.completions", "AsyncCompletions", True, _openai_usage),
    ("anthropic", "anthropic.resources.messages.messages", "Messages", False, _anthropic_usage),
    ("anthropic", "anthropic.resources.messages.messages", "AsyncMessages", True, _anthropic_usage),
]


def _wrap_module(module: Any) -> None:
    for provider, module_name, class_name, is_async, extract in _TARGETS:
        key = f"{module_name}.{class_name}"
        if module_name != module.__name__ or key in _wrapped:
            continue
        cls = getattr(module, class_name, None)
        if cls is None:
            continue
        original = cls.create
        cls.create = _wrap(provider, original, extract, is_async)
        _wrapped[key] = (cls, "create", original)


def install_client_wrappers() -> None:
    """Wrap ``openai`` chat completions and ``anthropic`` messages when (and if) they are imported.

    Nothing is imported here: a service that never uses an LLM client pays nothing for it.
    """
    from otel_kit.instrumentation._support import when_imported

    for module_name in sorted({target[1] for target in _TARGETS}):
        when_imported(module_name, _wrap_module)
