"""The logger provider: explicit limits and log bodies bounded like attribute values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource

from otel_kit.config.settings import Limits, Settings
from otel_kit.providers import globals as provider_globals
from otel_kit.providers.traces import quiet_truncation_warnings

_MAX_DEPTH = 8


def build_log_record_limits(limits: Limits) -> LogRecordLimits:
    """Every field explicit: the SDK reads (and raises on) the OTEL_*_LIMIT variables only for unset ones."""
    return LogRecordLimits(
        max_attributes=limits.attribute_count,
        max_attribute_length=limits.attribute_value_length,
        max_log_record_attributes=limits.log_record_attribute_count,
        max_log_record_attribute_length=limits.log_record_attribute_value_length,
    )


def bound_body(body: Any, limit: int, depth: int = 0) -> Any:
    """``body`` with every string (also inside lists and maps) cut to ``limit`` characters.

    The SDK bounds attribute values but not the body, so a logged 100 KB payload would be exported
    whole. Unchanged values are returned as they are, so the common case copies nothing.
    """
    if isinstance(body, str):
        return body[:limit] if len(body) > limit else body
    if isinstance(body, bytes):
        return body[:limit] if len(body) > limit else body
    if depth >= _MAX_DEPTH:
        return body
    if isinstance(body, Mapping):
        bounded = {key: bound_body(value, limit, depth + 1) for key, value in body.items()}
        return body if all(bounded[key] is value for key, value in body.items()) else bounded
    if isinstance(body, (list, tuple)):
        items = [bound_body(value, limit, depth + 1) for value in body]
        if all(new is old for new, old in zip(items, body, strict=True)):
            return body
        return tuple(items) if isinstance(body, tuple) else items
    return body


class BodyLimitProcessor(LogRecordProcessor):
    """Registered first, so every later processor and exporter sees the bounded body."""

    def __init__(self, limit: int) -> None:
        self._limit = limit

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        body = record.body
        if body is None or isinstance(body, (bool, int, float)):
            return
        bounded = bound_body(body, self._limit)
        if bounded is not body:
            record.body = bounded

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def build_logger_provider(settings: Settings, resource: Resource) -> LoggerProvider:
    quiet_truncation_warnings()
    provider = LoggerProvider(
        resource=resource,
        shutdown_on_exit=False,
        log_record_limits=build_log_record_limits(settings.limits),
    )
    provider.add_log_record_processor(BodyLimitProcessor(settings.limits.log_record_attribute_value_length))
    return provider_globals.built(provider)
