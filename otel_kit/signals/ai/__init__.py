"""AI signals with the OpenTelemetry GenAI semantic conventions, plus cost, rate limits and content.

The real ``openai`` (chat completions, Responses, embeddings) and ``anthropic`` (messages,
``beta.messages``) clients are recorded when they are imported: every call form (sync, async,
streaming, ``parse``, the ``stream()`` helpers, ``with_raw_response`` and
``with_streaming_response``). Any other client: ``otel_kit.ai.operation()`` or
``@otel_kit.ai.traced_operation``.

Names outside the conventions are under ``otel_kit.ai.*`` (see the README's AI section). Prompt and
completion text is recorded only with ``ai_capture_content=True``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from otel_kit.providers import active
from otel_kit.signals.ai.core import PRICES_FILE_ENV, AIMonitor, AIOperation
from otel_kit.signals.ai.endpoints import set_provider as _set_provider
from otel_kit.signals.ai.prices import PriceBook, Rate

__all__ = [
    "AIMonitor",
    "AIOperation",
    "PRICES_FILE_ENV",
    "PriceBook",
    "Rate",
    "monitor",
    "operation",
    "set_price",
    "set_provider",
    "set_rate_limit",
    "traced_operation",
]


def monitor() -> AIMonitor | None:
    state = active.state
    return state.ai if state is not None else None


@contextmanager
def operation(provider: str, model: str, operation: str = "chat", **kwargs: Any) -> Iterator[AIOperation | None]:
    """``with otel_kit.ai.operation("openai", "gpt-4o") as op: ...; op.record(input_tokens=...)``.

    Keyword arguments: ``server_address``, ``server_port``, ``input_messages``, ``system_instructions``
    and request settings (``max_tokens``, ``temperature``, ``top_p``, ``top_k``, ``stop_sequences``,
    ``stream``...). Before ``setup()`` this yields None and records nothing.
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


def _require(what: str, model: str) -> AIMonitor:
    active = monitor()
    if active is None:
        from otel_kit.config.settings import ConfigError

        raise ConfigError(what, model, "a call after otel_kit.setup()")
    return active


def set_price(
    model: str,
    *,
    input_per_million: float,
    output_per_million: float,
    cache_read_per_million: float | None = None,
    cache_write_per_million: float | None = None,
) -> None:
    """Price ``model`` (matched exactly, against the response's model id first, then the request's) in USD
    per million tokens. Overrides genai-prices and the price file. Without cache prices, cached tokens
    cost the input price."""
    _require("set_price", model).prices.set(
        model, input_per_million=input_per_million, output_per_million=output_per_million,
        cache_read_per_million=cache_read_per_million, cache_write_per_million=cache_write_per_million,
    )


def set_rate_limit(model: str, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> None:
    """Local per-minute limits for the headroom gauge when the provider sends no rate-limit headers."""
    _require("set_rate_limit", model).set_rate_limit(model, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)


def set_provider(base_url: str, provider_name: str) -> None:
    """Name the provider behind an OpenAI-compatible ``base_url`` that its host and port do not tell."""
    _set_provider(base_url, provider_name)
