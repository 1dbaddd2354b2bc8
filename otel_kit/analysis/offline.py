"""Span analysis offline: traces read back from Jaeger, fed through the same processor as live spans.

Jaeger's JSON is turned into SDK ``ReadableSpan`` objects, so health is judged by exactly the code
and policy the in-process processor uses. Any service that sends OpenTelemetry traces to Jaeger can
be judged this way, whether or not it runs otel-kit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_kit.analysis.health import WINDOWS, HealthMonitor, HealthPolicy
from otel_kit.analysis.processor import AnalysisProcessor

_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER, "internal": SpanKind.INTERNAL}
# Jaeger stores these as tags; they are span fields, not attributes, in OpenTelemetry
_FIELDS = frozenset({"span.kind", "otel.status_code", "otel.status_description", "error", "otel.scope.name", "otel.scope.version", "internal.span.format"})


def jaeger_tags(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Jaeger's ``[{"key": ..., "type": ..., "value": ...}]`` tag (or log field) list as a dict."""
    return {str(item.get("key")): item.get("value") for item in items or []}


def _id(value: Any) -> int:
    try:
        return int(str(value), 16)
    except ValueError:
        return 0


def spans_from_jaeger(trace: dict[str, Any]) -> list[ReadableSpan]:
    """One trace in Jaeger's ``/api/traces`` JSON as SDK spans (kind, status, attributes, times, parent)."""
    spans = []
    for item in trace.get("spans") or []:
        tags = jaeger_tags(item.get("tags"))
        trace_id, span_id = _id(item.get("traceID")), _id(item.get("spanID"))
        parent = next((ref for ref in item.get("references") or [] if ref.get("refType") == "CHILD_OF"), None)
        failed = tags.get("otel.status_code") == "ERROR" or tags.get("error") is True
        start = int(item.get("startTime", 0)) * 1000
        spans.append(
            ReadableSpan(
                name=str(item.get("operationName", "")),
                context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
                parent=SpanContext(_id(parent.get("traceID")), _id(parent.get("spanID")), is_remote=False) if parent else None,
                kind=_KINDS.get(str(tags.get("span.kind", "internal")), SpanKind.INTERNAL),
                attributes={key: value for key, value in tags.items() if key not in _FIELDS and value is not None},
                status=Status(StatusCode.ERROR, tags.get("otel.status_description")) if failed else Status(StatusCode.UNSET),
                start_time=start,
                end_time=start + int(item.get("duration", 0)) * 1000,
            )
        )
    return spans


def health_from_jaeger(traces: Iterable[dict[str, Any]], policy: HealthPolicy | None = None, *, now: float | None = None) -> HealthMonitor:
    """A HealthMonitor filled from Jaeger traces and frozen at ``now`` (default: the current time).

    Spans ending after ``now`` are left out, so a window is judged as the live monitor would have
    judged it at that moment.
    """
    at = time.time() if now is None else now
    # With the wall clock, the processor files each span under its own end time, as live.
    monitor = HealthMonitor(policy, log_transitions=False)  # a report, not a live service: nothing to announce
    processor = AnalysisProcessor(health=monitor)
    horizon = at - max(WINDOWS.values())
    for trace in traces:
        for span in spans_from_jaeger(trace):
            if horizon < (span.end_time or 0) / 1e9 <= at:
                processor.on_end(span)
    monitor.clock = lambda: at  # then judged at ``at``
    return monitor
