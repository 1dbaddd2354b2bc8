"""The AI monitor: one GenAI operation -> one span (or the client library's own span) and its metrics.

Conventional names: spans ``"{gen_ai.operation.name} {gen_ai.request.model}"``, ``gen_ai.*``
attributes, ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and
``gen_ai.client.operation.time_to_first_chunk``. Everything otel-kit adds lives under
``otel_kit.ai.*``: cost, the token breakdown counter, unpriced calls, 429s, provider rate limits,
the per-minute window and headroom, stream outcomes and the wrappers' own failures.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_kit.config import environment
from otel_kit.signals.ai.content import bounded_json
from otel_kit.signals.ai.measurements import DeferredMeasurements
from otel_kit.signals.ai.prices import PriceBook, Rate, library
from otel_kit.signals.ai.ratelimits import MinuteWindow, ProviderLimits
from otel_kit.signals.ai.request import request_attributes_from_kwargs
from otel_kit.signals.ai.usage import ResponseFacts, Usage

_log = logging.getLogger("otel_kit.ai")

__all__ = ["AIMonitor", "AIOperation", "TOKEN_BUCKETS", "DURATION_BUCKETS", "PRICES_FILE_ENV"]

TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1, 4, 16, ... 67108864, as the conventions advise
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TTFC_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
PRICES_FILE_ENV = environment.OTEL_KIT_AI_PRICES_FILE

COMPLETED = "completed"
STOPPED = "stopped"
"""The application closed a stream before its end."""
DROPPED = "dropped"
"""The application let go of a stream without closing it; it was garbage-collected."""
CANCELLED = "cancelled"
"""The calling task was cancelled (or interrupted) during the request."""
FAILED = "failed"


class AIOperation:
    """One GenAI call being recorded. ``otel_kit.ai.operation()`` yields one; call :meth:`record`."""

    __slots__ = (
        "_gate",
        "_monitor",
        "api",
        "capture",
        "content_on_span",
        "cost",
        "deferred",
        "error_type",
        "finish_reasons",
        "operation",
        "outcome",
        "output",
        "owns_span",
        "provider",
        "rate_headroom",
        "rate_type",
        "request_model",
        "response_id",
        "response_model",
        "retries",
        "server_address",
        "server_port",
        "service_tier",
        "span",
        "started",
        "streaming",
        "ttfc",
        "usage",
    )

    def __init__(
        self, monitor: AIMonitor, span: trace.Span, owns_span: bool, provider: str, operation: str, request_model: str,
        server_address: str | None, server_port: int | None, streaming: bool, api: str,
    ) -> None:
        self._monitor = monitor
        self.span = span
        self.owns_span = owns_span
        self.provider = provider
        self.operation = operation
        self.request_model = request_model
        self.server_address = server_address
        self.server_port = server_port
        self.streaming = streaming
        self.api = api
        self.started = time.perf_counter()
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []
        self.usage: Usage | None = None
        self.service_tier: str | None = None
        self.output: Any = None
        self.error_type: str | None = None
        self.cost: float | None = None
        self.ttfc: float | None = None
        self.retries = 0
        self.outcome: str | None = None
        self.rate_headroom: float | None = None
        self.rate_type: str | None = None
        self.capture = monitor.capture_content
        self.content_on_span = owns_span and monitor.capture_content
        self.deferred = False
        """A stream or an unread raw response carries the operation on after the call returns."""
        self._gate = threading.Lock()

    @property
    def input_tokens(self) -> int | None:
        return self.usage.input_tokens if self.usage is not None else None

    @property
    def output_tokens(self) -> int | None:
        return self.usage.output_tokens if self.usage is not None else None

    @property
    def finished(self) -> bool:
        return self._gate.locked()

    def record(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_creation_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        response_model: str | None = None,
        response_id: str | None = None,
        finish_reasons: list[str] | tuple[str, ...] | None = None,
        output_messages: Any = None,
    ) -> None:
        """Report the response. ``input_tokens`` is the whole input, cached tokens included, as the conventions count it."""
        values = Usage(
            input_tokens=_as_count(input_tokens), output_tokens=_as_count(output_tokens),
            cache_read_tokens=_as_count(cache_read_tokens), cache_creation_tokens=_as_count(cache_creation_tokens),
            reasoning_tokens=_as_count(reasoning_tokens),
        )
        if self.usage is None:
            self.usage = values
        else:
            self.usage.merge(values)
        if response_model:
            self.response_model = str(response_model)
        if response_id:
            self.response_id = str(response_id)
        if finish_reasons:
            self.finish_reasons = [str(reason) for reason in finish_reasons if reason]
        if output_messages is not None:
            self.output = output_messages

    def apply(self, facts: ResponseFacts) -> None:
        """Take what a response or a finished stream told (the wrappers' path)."""
        if facts.model:
            self.response_model = facts.model
        if facts.id:
            self.response_id = facts.id
        if facts.finish_reasons:
            self.finish_reasons = facts.finish_reasons
        if facts.usage is not None:
            self.usage = facts.usage
        if facts.service_tier:
            self.service_tier = facts.service_tier
        if facts.output is not None:
            self.output = facts.output

    def first_chunk(self) -> None:
        if self.ttfc is None:
            self.ttfc = time.perf_counter() - self.started

    def observe_headers(self, family: str, headers: Any) -> None:
        tightest = self._monitor.provider_limits.observe(family, self.provider, self.request_model, headers)
        if tightest is not None:
            self.rate_headroom, self.rate_type = tightest

    def retry(self, attempt: int, status_code: int | None, family: str, headers: Any) -> None:
        """One failed attempt that the client will send again: a span event, and a 429 is counted."""
        self.retries = max(self.retries, attempt)
        event: dict[str, Any] = {"otel_kit.ai.retry.attempt": attempt}
        if status_code is not None:
            event["http.response.status_code"] = status_code
            retry_after = headers.get("retry-after") if headers is not None else None
            if retry_after:
                event["otel_kit.ai.retry.after"] = str(retry_after)[:32]
        else:
            event["error.type"] = "connection_error"
        if self.span.is_recording():
            self.span.add_event("otel_kit.ai.retry", event)
        if headers is not None:
            self.observe_headers(family, headers)
        if status_code == 429:
            self._monitor.rate_limited(self)

    def fail(self, exc: BaseException, family: str | None = None) -> None:
        """The call raised ``exc``: an error, or (not an ``Exception``) the caller giving up."""
        if not isinstance(exc, Exception):
            self.outcome = CANCELLED
            return
        self.error_type = type(exc).__qualname__
        self.outcome = FAILED
        status_code = getattr(exc, "status_code", None)
        response = getattr(exc, "response", None)
        if family is not None and response is not None:
            headers = getattr(response, "headers", None)
            if headers is not None:
                self.observe_headers(family, headers)
        if status_code == 429:
            self._monitor.rate_limited(self)
        if self.owns_span and self.span.is_recording():
            self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            self.span.record_exception(exc)

    def finish(self, outcome: str | None = None) -> None:
        """Record the operation once; later calls do nothing."""
        if not self._gate.acquire(blocking=False):
            return
        if outcome is not None and self.outcome is None:
            self.outcome = outcome
        self._monitor.finish(self)


def span_base(provider: str, model: str, operation: str, server_address: str | None, server_port: int | None) -> dict[str, Any]:
    """The span attributes every operation has (a new dictionary)."""
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider, "gen_ai.request.model": model}
    if server_address:
        attributes["server.address"] = server_address
    if server_port:
        attributes["server.port"] = server_port
    return attributes


def _as_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


_PRICE_TIERS = ("flex", "priority", "fast")


_TOKEN_PARTS = (("input", "regular"), ("input", "cache_read"), ("input", "cache_creation"), ("output", "regular"), ("output", "reasoning"))
"""``_Series.sums[0:5]``: the token breakdown (``otel_kit.ai.tokens``); ``sums[5:7]``: the cost of input and output."""
_COST_PARTS_BY_NAME = (("input",), ("output",))
_TOKEN_NAMES = ("gen_ai.token.type", "otel_kit.ai.token.kind")
_COST_NAMES = ("gen_ai.token.type",)


class _Series:
    """One (operation, provider, request model, response model): its metric attribute sets, built once
    (every call of a model measures with the same few dictionaries), and its token and cost sums."""

    __slots__ = ("_failed", "attributes", "input", "key", "ledger", "output", "seen", "sums", "unpriced")

    MAX_CACHED = 2000

    def __init__(self, key: tuple[str, str, str, str], attributes: dict[str, Any] | None = None) -> None:
        operation, provider, request_model, response_model = key
        if attributes is None:
            attributes = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider, "gen_ai.request.model": request_model}
            if response_model:
                attributes["gen_ai.response.model"] = response_model
        # Shared with the SDK, which keeps but never changes measurement attributes; nor does anything here.
        self.attributes = attributes
        self.input = {**attributes, "gen_ai.token.type": "input"}
        self.output = {**attributes, "gen_ai.token.type": "output"}
        self.key = key
        self.sums: list[float] = [0, 0, 0, 0, 0, 0.0, 0.0]
        self.seen = 0
        """Bit i set: ``sums[i]`` has been added to (a point is reported, even of 0 tokens)."""
        self.ledger = self
        """Where this series' sums go: itself, or the overflow series once there are too many."""
        self.unpriced: dict[str, int] = {}
        """Operations recorded without a cost, by reason (``otel_kit.ai.unpriced``)."""
        self._failed: dict[str, dict[str, Any]] = {}

    def failed(self, error_type: str) -> dict[str, Any]:
        """The duration's attributes of a failed call (kept: measurements wait in a list that holds them)."""
        attributes = self._failed.get(error_type)
        if attributes is None:
            attributes = {**self.attributes, "error.type": error_type}
            if len(self._failed) < 64:
                self._failed[error_type] = attributes
        return attributes


class AIMonitor:
    """Creates GenAI spans and metrics; one per ``setup()``, reachable as ``otel_kit.ai``."""

    def __init__(self, telemetry: Any, *, capture_content: bool = False) -> None:
        self.capture_content = capture_content
        self.prices = PriceBook()
        self.limits: dict[str, tuple[int | None, int | None]] = {}
        self.provider_limits = ProviderLimits()
        self._window = MinuteWindow()
        self._warned_internal: set[str] = set()
        self._series: dict[tuple[str, str, str, str], _Series] = {}
        tracer_provider = telemetry.tracer_provider
        self._tracer = tracer_provider.get_tracer("otel_kit.ai") if tracer_provider is not None else trace.get_tracer("otel_kit.ai")
        meter = telemetry.meter
        self._duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s", description="GenAI operation duration", explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}", description="Tokens used per GenAI operation (input includes cached tokens)", explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self._deferred = DeferredMeasurements(on_error=lambda exc: self.internal_error("metrics", exc))
        """The histograms' measurements, recorded into the SDK when a reader collects (see ``measurements``)."""
        self._ttfc = meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", unit="s", description="Time to the first output chunk of a streamed GenAI operation", explicit_bucket_boundaries_advisory=TTFC_BUCKETS)
        # Cost and the token breakdown are summed here and read by the SDK at collection time: an SDK
        # measurement costs ~9 µs on the request path, a dict update under a lock well under 1 µs.
        self._sums_lock = threading.Lock()
        self._overflow = _Series(("", "", "", ""), {"otel.metric.overflow": True})
        """Sums of the series past ``_Series.MAX_CACHED`` (a bounded number of points)."""
        meter.create_observable_counter("otel_kit.ai.tokens", callbacks=[self._observe_token_kinds], unit="{token}", description="Tokens by type and kind: input = regular + cache_read + cache_creation, output = regular + reasoning")
        meter.create_observable_counter("otel_kit.ai.cost", callbacks=[self._observe_cost], unit="USD", description="Estimated cost of GenAI operations (genai-prices and overrides), by token type")
        meter.create_observable_counter("otel_kit.ai.unpriced", callbacks=[self._observe_unpriced], unit="{operation}", description="GenAI operations recorded without a cost, by reason")
        self._rate_limited = meter.create_counter("otel_kit.ai.rate_limited", unit="{response}", description="429 responses from GenAI providers, retried or not")
        self._internal_errors = meter.create_counter("otel_kit.ai.instrumentation.errors", unit="{error}", description="Failures inside otel-kit's AI wrappers (swallowed; the client call is unaffected)")
        meter.create_observable_gauge("otel_kit.ai.requests_per_minute", callbacks=[self._observe_requests], unit="{request}", description="GenAI requests over the last minute, per model")
        meter.create_observable_gauge("otel_kit.ai.tokens_per_minute", callbacks=[self._observe_tokens], unit="{token}", description="GenAI tokens over the last minute, per model")
        meter.create_observable_gauge("otel_kit.ai.rate_limit.remaining", callbacks=[self._observe_remaining], unit="{unit}", description="Requests or tokens left in the provider's current rate-limit window (from response headers)")
        meter.create_observable_gauge("otel_kit.ai.rate_limit.limit", callbacks=[self._observe_limit], unit="{unit}", description="The provider's rate limit for requests or tokens (from response headers)")
        meter.create_observable_gauge("otel_kit.ai.rate_limit.headroom", callbacks=[self._observe_headroom], unit="1", description="Fraction of the rate limit still available: the provider's headers, else the configured per-minute limit")
        self._pending: deque[tuple[str, tuple[str | None, ...], str | None, Usage, _Series]] = deque(maxlen=10_000)
        path = os.environ.get(PRICES_FILE_ENV)
        if path:
            self.prices.load_file(path)

    # --- configuration ---------------------------------------------------------------------------

    def set_rate_limit(self, model: str, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> None:
        from otel_kit.config.settings import ConfigError

        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ConfigError(label, value, "a positive integer or None")
        self.limits[model] = (requests_per_minute, tokens_per_minute)

    # --- operations --------------------------------------------------------------------------------

    def start(
        self, provider: str, model: str, operation: str, *, api: str = "", attributes: dict[str, Any] | None = None,
        server_address: str | None = None, server_port: int | None = None, streaming: bool = False, adopt: trace.Span | None = None,
    ) -> AIOperation:
        """Begin an operation: a new CLIENT span (child of the current one), or the client library's own ``adopt`` span."""
        if adopt is not None:
            return AIOperation(self, adopt, False, provider, operation, model, server_address, server_port, streaming, api)
        span_attributes = span_base(provider, model, operation, server_address, server_port)
        if attributes:
            span_attributes.update(attributes)
        return self.open(f"{operation} {model}", span_attributes, provider, model, operation, api, server_address, server_port, streaming)

    def open(
        self, name: str, span_attributes: dict[str, Any], provider: str, model: str, operation: str, api: str,
        server_address: str | None, server_port: int | None, streaming: bool,
    ) -> AIOperation:
        """Begin an operation on a new CLIENT span whose name and attributes the caller has made."""
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
        return AIOperation(self, span, True, provider, operation, model, server_address, server_port, streaming, api)

    def content(self, op: AIOperation, system: Any, messages: Any) -> None:
        """Record the request's content on the operation's span (capture is on)."""
        values: dict[str, Any] = {}
        truncated = False
        if system:
            values["gen_ai.system_instructions"], cut = bounded_json(system)
            truncated = truncated or cut
        if messages:
            values["gen_ai.input.messages"], cut = bounded_json(messages)
            truncated = truncated or cut
        if truncated:
            values["otel_kit.ai.content.truncated"] = True
        if values and op.span.is_recording():
            op.span.set_attributes(values)

    def rate_limited(self, op: AIOperation) -> None:
        self._rate_limited.add(1, {"gen_ai.provider.name": op.provider, "gen_ai.request.model": op.request_model})

    def close(self) -> None:
        """Stop the background recording; the meter provider's final collection has taken the measurements."""
        self._deferred.close()

    def internal_error(self, where: str, exc: BaseException) -> None:
        """A wrapper failed: count it, log it once per place at debug level; the client call goes on."""
        try:
            self._internal_errors.add(1, {"otel_kit.ai.stage": where, "error.type": type(exc).__qualname__})
            if where not in self._warned_internal:
                self._warned_internal.add(where)
                _log.debug("otel-kit: AI instrumentation failed in %s (the call itself is unaffected)", where, exc_info=exc)
        except Exception:  # noqa: BLE001 - counting must not fail either
            pass

    def finish(self, op: AIOperation) -> None:
        try:
            self._record(op)
        except Exception as exc:  # noqa: BLE001
            self.internal_error("finish", exc)
        finally:
            if op.owns_span:
                op.span.end()

    def _series_of(self, op: AIOperation) -> _Series:
        key = (op.operation, op.provider, op.request_model, op.response_model or "")
        series = self._series.get(key)
        if series is None:
            series = _Series(key)
            if len(self._series) < _Series.MAX_CACHED:
                series = self._series.setdefault(key, series)  # one object per key, whichever thread was first
            else:
                series.ledger = self._overflow
        return series

    def _record(self, op: AIOperation) -> None:
        seconds = time.perf_counter() - op.started
        # server.address/port are on the span, not on the metrics (where the conventions only recommend
        # them): each metric attribute costs on every measurement, and per-host series add nothing to cost reports.
        series = self._series_of(op)
        attributes = series.attributes
        error_type = op.error_type
        span_context = op.span.get_span_context()
        trace_id, span_id = (span_context.trace_id, span_context.span_id) if span_context.trace_flags.sampled else (0, 0)
        add = self._deferred.add
        add(self._duration, seconds, series.failed(error_type) if error_type else attributes, trace_id, span_id)
        own = op.owns_span
        span_values: dict[str, Any] = {}
        if op.ttfc is not None:
            add(self._ttfc, op.ttfc, attributes, trace_id, span_id)
            if own:
                span_values["gen_ai.response.time_to_first_chunk"] = op.ttfc
        if own:
            if op.response_model:
                span_values["gen_ai.response.model"] = op.response_model
            if op.response_id:
                span_values["gen_ai.response.id"] = op.response_id
            if op.finish_reasons:
                span_values["gen_ai.response.finish_reasons"] = op.finish_reasons
            if error_type:
                span_values["error.type"] = error_type
            if op.retries:
                span_values["http.request.resend_count"] = op.retries
        outcome = op.outcome
        if op.streaming and outcome:
            span_values["otel_kit.ai.stream.outcome"] = outcome
        elif outcome == CANCELLED:
            span_values["otel_kit.ai.outcome"] = CANCELLED
        if op.rate_headroom is not None:
            span_values["otel_kit.ai.rate_limit.headroom"] = op.rate_headroom
            span_values["otel_kit.ai.rate_limit.type"] = op.rate_type
        usage = op.usage
        tokens = 0
        if usage is not None and (usage.input_tokens is not None or usage.output_tokens is not None):
            tokens = self._record_usage(op, usage, series, span_values, trace_id, span_id)
        elif error_type is None and (outcome is None or outcome == COMPLETED):
            self._count_unpriced(series, "no_usage")
        if op.output is not None and op.content_on_span:
            span_values["gen_ai.output.messages"], truncated = bounded_json(op.output)
            if truncated:
                span_values["otel_kit.ai.content.truncated"] = True
        self._window.add(op.request_model, tokens)
        if span_values and op.span.is_recording():
            op.span.set_attributes(span_values)

    def _record_usage(self, op: AIOperation, usage: Usage, series: _Series, span_values: dict[str, Any], trace_id: int, span_id: int) -> int:
        own = op.owns_span
        total_in = usage.input_tokens
        total_out = usage.output_tokens
        tokens = 0
        # A client's own span keeps its totals; the breakdown goes on it under the conventions' names
        # too (anthropic writes cache writes as gen_ai.usage.cache_write.input_tokens), from the same
        # response, so a query by the conventions' names finds every call.
        if total_in is not None:
            tokens = total_in
            self._deferred.add(self._tokens, total_in, series.input, trace_id, span_id)
            if own:
                span_values["gen_ai.usage.input_tokens"] = total_in
            if usage.cache_read_tokens is not None:
                span_values["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
            if usage.cache_creation_tokens is not None:
                span_values["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_creation_tokens
        if total_out is not None:
            tokens += total_out
            self._deferred.add(self._tokens, total_out, series.output, trace_id, span_id)
            if own:
                span_values["gen_ai.usage.output_tokens"] = total_out
            if usage.reasoning_tokens is not None:
                span_values["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
        parts = usage.parts()
        self._add_tokens(series, usage, parts)
        tier = op.service_tier if op.service_tier in _PRICE_TIERS else None
        models = (op.response_model, op.request_model)
        if self._pending:
            self._settle_pending()
        rate = self.prices.rate(op.provider, models, tier)
        if rate == "prices_loading":
            # Right after start-up genai-prices may still be importing: price the call once it is there
            # (the cost metric gets it; the span, already ended by then, does not).
            self._pending.append((op.provider, models, tier, usage, series))
            return tokens
        cost = self._charge(rate, usage, series, models, parts)
        if cost is not None:
            op.cost = cost
            span_values["otel_kit.ai.cost_usd"] = cost
            span_values["otel_kit.ai.price.source"] = rate.source  # type: ignore[union-attr]
        return tokens

    def _add_tokens(self, series: _Series, usage: Usage, parts: tuple[int, int, int, int, int, int]) -> None:
        """The token breakdown (``otel_kit.ai.tokens``): regular + cache_read + cache_creation input, regular + reasoning output."""
        plain, read, written, _, plain_out, reasoning = parts
        ledger = series.ledger
        with self._sums_lock:
            sums = ledger.sums
            # A part is reported once it has been counted, even as 0; the cached and reasoning parts once they were not 0.
            if usage.input_tokens is not None:
                sums[0] += plain
                sums[1] += read
                sums[2] += written
                ledger.seen |= 1 | (2 if read else 0) | (4 if written else 0)
            if usage.output_tokens is not None:
                sums[3] += plain_out
                sums[4] += reasoning
                ledger.seen |= 8 | (16 if reasoning else 0)

    def _charge(
        self, rate: Rate | str, usage: Usage, series: _Series, models: tuple[str | None, ...], parts: tuple[int, int, int, int, int, int] | None = None,
    ) -> float | None:
        if type(rate) is Rate:
            input_cost, output_cost = rate.cost(usage, parts)
            if input_cost or output_cost:
                ledger = series.ledger
                with self._sums_lock:
                    sums = ledger.sums
                    if input_cost:
                        sums[5] += input_cost
                        ledger.seen |= 32
                    if output_cost:
                        sums[6] += output_cost
                        ledger.seen |= 64
            return input_cost + output_cost
        self._count_unpriced(series, str(rate))
        if rate == "unknown_model":
            self.prices.warn_unknown(next((model for model in models if model), "unknown"))
        return None

    def _count_unpriced(self, series: _Series, reason: str) -> None:
        # Counted here and read at collection like the cost: without genai-prices every call is unpriced.
        ledger = series.ledger
        with self._sums_lock:
            counts = ledger.unpriced
            counts[reason] = counts.get(reason, 0) + 1

    def _observe_unpriced(self, options: CallbackOptions) -> list[Observation]:
        with self._sums_lock:
            rows = [(series.attributes, list(series.unpriced.items())) for series in (*self._series.values(), self._overflow) if series.unpriced]
        return [Observation(count, {**attributes, "otel_kit.ai.unpriced.reason": reason}) for attributes, counts in rows for reason, count in counts]

    def _settle_pending(self) -> None:
        """Price the calls that finished while genai-prices was loading, once it has loaded (or failed)."""
        if library.loading:
            return
        while self._pending:
            try:
                provider, models, tier, usage, series = self._pending.popleft()
            except IndexError:
                return
            self._charge(self.prices.rate(provider, models, tier), usage, series, models)

    def _observe_cost(self, options: CallbackOptions) -> list[Observation]:
        try:
            self._settle_pending()
        except Exception as exc:  # noqa: BLE001
            self.internal_error("pending_costs", exc)
        return self._observe_sums(_COST_NAMES, _COST_PARTS_BY_NAME, 5)

    def _observe_token_kinds(self, options: CallbackOptions) -> list[Observation]:
        # The SDK runs every observable callback before it reads its storages: the queued histogram
        # measurements reach this collection (and every reader's, as each collection runs this).
        self._deferred.drain()
        return self._observe_sums(_TOKEN_NAMES, _TOKEN_PARTS, 0)

    def _observe_sums(self, names: tuple[str, ...], parts: tuple[tuple[str, ...], ...], first: int) -> list[Observation]:
        with self._sums_lock:
            rows = [(series, list(series.sums), series.seen) for series in (*self._series.values(), self._overflow)]
        result: list[Observation] = []
        for series, sums, seen in rows:
            for index, part in enumerate(parts):
                if seen & (1 << (first + index)):
                    result.append(Observation(sums[first + index], {**series.attributes, **dict(zip(names, part, strict=True))}))
        return result

    @contextmanager
    def operation(
        self,
        provider: str,
        model: str,
        operation: str = "chat",
        *,
        server_address: str | None = None,
        server_port: int | None = None,
        input_messages: Any = None,
        system_instructions: Any = None,
        **request: Any,
    ) -> Iterator[AIOperation]:
        """Trace one GenAI call made by any client. Exceptions are recorded (``error.type``) and re-raised."""
        op = self.start(provider, model, operation, attributes=request_attributes_from_kwargs(request), server_address=server_address, server_port=server_port, streaming=bool(request.get("stream")))
        if self.capture_content and (input_messages is not None or system_instructions is not None):
            self.content(op, system_instructions, input_messages)
        token = otel_context.attach(trace.set_span_in_context(op.span))
        try:
            yield op
        except BaseException as exc:
            op.fail(exc)
            raise
        finally:
            otel_context.detach(token)
            op.finish()

    # --- gauges ------------------------------------------------------------------------------------

    def _observe_requests(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(requests, {"gen_ai.request.model": model}) for model, (requests, _) in self._window.read().items()]

    def _observe_tokens(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(tokens, {"gen_ai.request.model": model}) for model, (_, tokens) in self._window.read().items()]

    def _observe_remaining(self, options: CallbackOptions) -> list[Observation]:
        return [
            Observation(remaining, {"gen_ai.provider.name": provider, "gen_ai.request.model": model, "otel_kit.ai.rate_limit.type": kind})
            for provider, model, kind, remaining, _ in self.provider_limits.fresh()
        ]

    def _observe_limit(self, options: CallbackOptions) -> list[Observation]:
        return [
            Observation(limit, {"gen_ai.provider.name": provider, "gen_ai.request.model": model, "otel_kit.ai.rate_limit.type": kind})
            for provider, model, kind, _, limit in self.provider_limits.fresh() if limit
        ]

    def _observe_headroom(self, options: CallbackOptions) -> list[Observation]:
        result: dict[tuple[str, str], Observation] = {}
        usage = self._window.read()
        for model, (rpm, tpm) in self.limits.items():
            requests, tokens = usage.get(model, (0, 0))
            for kind, limit, used in (("requests", rpm, requests), ("tokens", tpm, tokens)):
                if limit:
                    result[(model, kind)] = Observation(max(0.0, 1 - used / limit), {"gen_ai.request.model": model, "otel_kit.ai.rate_limit.type": kind})
        # The provider's own numbers are the truth; they replace the local estimate for the same model and type.
        for _provider, model, kind, remaining, limit in self.provider_limits.fresh():
            if limit:
                result[(model, kind)] = Observation(min(1.0, remaining / limit), {"gen_ai.request.model": model, "otel_kit.ai.rate_limit.type": kind})
        return list(result.values())
