"""Prices per model, from the maintained ``genai-prices`` package with the user's overrides.

Lookup order for each call: ``otel_kit.ai.set_price`` > the price file named by
``OTEL_KIT_AI_PRICES_FILE`` > genai-prices (its own exact and alias matching, dated ids included).
A model found nowhere gets no cost and is counted (``otel_kit.ai.unpriced``): a price is never
guessed from a similar model name.

genai-prices computes a price with Decimal arithmetic and a registry walk (~150 µs a call), too slow
for every request. A model's prices are linear in each token kind within a price tier, so the
package is asked once per model and tier for the USD per token of each kind; those rates are then
applied in a few float multiplications. The package is imported in a background thread (it costs
~0.2 s and ~30 MB) when an AI client library is imported, never on a request.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from otel_kit.signals.ai.usage import Usage

_log = logging.getLogger("otel_kit.ai")

__all__ = ["Rate", "PriceBook", "LIBRARY_PROVIDERS", "library"]

# gen_ai.provider.name -> genai-prices provider id. Self-hosted servers (ollama, vllm) have no price.
LIBRARY_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "openrouter": "openrouter",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
    "perplexity": "perplexity",
    "together_ai": "together",
    "fireworks": "fireworks",
    "cohere": "cohere",
}

_CACHE_SECONDS = 600.0  # genai-prices has date- and time-of-day-conditional prices; re-read them now and then
_BAND_PROBE = 1000  # input tokens used to read a tier's rates; any count inside the tier gives the same rates


@dataclass(frozen=True, slots=True)
class Band:
    """USD per token of each kind, for calls whose total input is above ``above`` tokens."""

    above: int
    input: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    output: float
    reasoning: float


@dataclass(frozen=True, slots=True)
class Rate:
    source: str
    """``override`` (set_price), ``file`` (OTEL_KIT_AI_PRICES_FILE) or ``genai-prices``."""
    bands: tuple[Band, ...]
    """Ascending by ``above``; the last band whose threshold the input exceeds applies to all tokens."""
    model: str

    def cost(self, usage: Usage, parts: tuple[int, int, int, int, int, int] | None = None) -> tuple[float, float]:
        """(input cost, output cost) in USD. ``parts``: ``usage.parts()``, when the caller has them already."""
        bands = self.bands
        band = bands[0]
        if len(bands) > 1:
            total_in = usage.input_tokens or 0
            for candidate in bands[1:]:
                if total_in > candidate.above:
                    band = candidate
        plain, read, written, written_1h, plain_out, reasoning = usage.parts() if parts is None else parts
        input_cost = plain * band.input + read * band.cache_read
        if written:
            input_cost += (written - written_1h) * band.cache_write + written_1h * band.cache_write_1h
        return input_cost, plain_out * band.output + reasoning * band.reasoning


def _flat_rate(source: str, model: str, input_pm: float, output_pm: float, cache_read_pm: float | None, cache_write_pm: float | None) -> Rate:
    per_token = 1e-6
    # Without a cache price the cached tokens cost the input price: the provider's discount is not assumed.
    cache_read = input_pm if cache_read_pm is None else cache_read_pm
    cache_write = input_pm if cache_write_pm is None else cache_write_pm
    band = Band(0, input_pm * per_token, cache_read * per_token, cache_write * per_token, cache_write * per_token, output_pm * per_token, output_pm * per_token)
    return Rate(source, (band,), model)


class _Library:
    """genai-prices, imported once in a background thread."""

    def __init__(self) -> None:
        self.module: Any = None
        self.failed = False
        self._started = False
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="otel-kit-genai-prices", daemon=True).start()

    def _load(self) -> None:
        try:
            import genai_prices
            from genai_prices import data_snapshot

            data_snapshot.get_snapshot()
            self.module = genai_prices
        except ImportError:
            self.failed = True
            _log.info("otel-kit: genai-prices is not installed, AI calls get a cost only from otel_kit.ai.set_price (pip install 'otel-kit[ai]')")
        except Exception:  # noqa: BLE001 - a broken price package must not break the service
            self.failed = True
            _log.warning("otel-kit: genai-prices failed to load; AI calls get a cost only from otel_kit.ai.set_price", exc_info=True)
        finally:
            self._ready.set()

    @property
    def loading(self) -> bool:
        return self._started and not self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the package is loaded (or failed); True if it can price. For tests and benchmarks."""
        self.start()
        self._ready.wait(timeout)
        return self.module is not None


library = _Library()


def _tiers(model_price: Any, tiered_type: type) -> list[int]:
    starts: set[int] = set()
    for value in vars(model_price).values():
        if isinstance(value, tiered_type):
            starts.update(int(tier.start) for tier in getattr(value, "tiers", ()))
    return sorted(starts)


def _library_rate(provider_id: str, model: str, tier: str | None) -> Rate | None:
    """Rates of ``model`` from genai-prices, or None when it does not know the model."""
    gp = library.module
    context = {"service_tier": tier} if tier else None

    def total(**counts: int) -> float:
        price = gp.calc_price(gp.Usage(**counts), model, provider_id=provider_id, price_context=context)
        return float(price.total_price)

    try:
        first = gp.calc_price(gp.Usage(input_tokens=1), model, provider_id=provider_id, price_context=context)
    except LookupError:
        return None
    from genai_prices.types import TieredPrices

    bands = []
    thresholds = [0, *_tiers(first.model_price, TieredPrices)]
    for index, above in enumerate(thresholds):
        # Any input count inside the tier gives its rates: above its threshold, not above the next one.
        room = thresholds[index + 1] - above if index + 1 < len(thresholds) else _BAND_PROBE
        probe = max(1, above + min(_BAND_PROBE, room))
        base = total(input_tokens=probe)
        bands.append(Band(
            above=above,
            input=base / probe,
            cache_read=total(input_tokens=probe, cache_read_tokens=probe) / probe,
            cache_write=total(input_tokens=probe, cache_write_tokens=probe) / probe,
            cache_write_1h=total(input_tokens=probe, cache_write_tokens=probe, cache_write_1h_tokens=probe) / probe,
            output=(total(input_tokens=probe, output_tokens=probe) - base) / probe,
            reasoning=(total(input_tokens=probe, output_tokens=probe, output_reasoning_tokens=probe) - base) / probe,
        ))
    return Rate("genai-prices", tuple(bands), str(first.model.id))


def _price_number(label: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        from otel_kit.config.settings import ConfigError

        raise ConfigError(label, value, "a number >= 0 (USD per million tokens)")
    return float(value)


class PriceBook:
    """Answers "what did this call cost" from overrides, the price file and genai-prices."""

    def __init__(self) -> None:
        self._overrides: dict[str, Rate] = {}
        self._file: dict[str, Rate] = {}
        self._cache: dict[tuple[str, str, str | None], tuple[float, Rate | None]] = {}
        self._answers: dict[tuple[str, tuple[str | None, ...], str | None], tuple[float, Rate | str]] = {}
        """``rate()``'s settled answers per (provider, models, tier): one lookup per call instead of the walk."""
        self._warned: set[str] = set()

    def set(
        self,
        model: str,
        *,
        input_per_million: float,
        output_per_million: float,
        cache_read_per_million: float | None = None,
        cache_write_per_million: float | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            from otel_kit.config.settings import ConfigError

            raise ConfigError("model", model, "a non-empty model id (matched exactly)")
        rate = _flat_rate(
            "override", model,
            _price_number("input_per_million", input_per_million) or 0.0,
            _price_number("output_per_million", output_per_million) or 0.0,
            _price_number("cache_read_per_million", cache_read_per_million, optional=True),
            _price_number("cache_write_per_million", cache_write_per_million, optional=True),
        )
        self._overrides[model] = rate
        self._answers = {}

    def load_file(self, path: str) -> int:
        """Read ``{"model-id": {"input": 2.5, "output": 10, "cache_read": 1.25, "cache_write": 3.75}}``
        (USD per million tokens). A bad file warns once and is ignored; a bad entry warns and is skipped."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise ValueError("the file must hold a JSON object of model id -> prices")
        except (OSError, ValueError) as exc:
            _log.warning("otel-kit: ignoring the AI price file %r (OTEL_KIT_AI_PRICES_FILE): %s", path, exc)
            return 0
        loaded: dict[str, Rate] = {}
        for model, entry in data.items():
            try:
                if not isinstance(entry, dict):
                    raise ValueError("expected an object with input and output")
                loaded[model] = _flat_rate(
                    "file", model,
                    _price_number(f"{model}.input", entry.get("input")) or 0.0,
                    _price_number(f"{model}.output", entry.get("output")) or 0.0,
                    _price_number(f"{model}.cache_read", entry.get("cache_read"), optional=True),
                    _price_number(f"{model}.cache_write", entry.get("cache_write"), optional=True),
                )
            except ValueError as exc:  # ConfigError is a ValueError
                _log.warning("otel-kit: skipping %r in the AI price file %r: %s", model, path, exc)
        self._file = loaded
        self._answers = {}
        return len(loaded)

    def rate(self, provider: str, models: tuple[str | None, ...], tier: str | None = None) -> Rate | str:
        """The rate for the first of ``models`` (response model, then request model) that has one,
        else why there is none: ``unknown_model`` or ``prices_loading``."""
        key = (provider, models, tier)
        now = time.monotonic()
        answer = self._answers.get(key)
        if answer is not None and answer[0] > now:
            return answer[1]
        found = self._find(provider, models, tier, now)
        # Kept as long as genai-prices' own rates are (their re-read interval); never while the package is
        # still loading or absent (it may load later), unless an override or the file answered.
        if (type(found) is Rate and found.source != "genai-prices") or library.module is not None:
            if len(self._answers) >= 4096:
                self._answers = {}
            self._answers[key] = (now + _CACHE_SECONDS, found)
        return found

    def _find(self, provider: str, models: tuple[str | None, ...], tier: str | None, now: float) -> Rate | str:
        for model in models:
            if model:
                found = self._overrides.get(model) or self._file.get(model)
                if found is not None:
                    return found
        provider_id = LIBRARY_PROVIDERS.get(provider)
        if provider_id is None:
            return "unknown_model"
        if library.module is None:
            return "prices_loading" if library.loading else "unknown_model"
        for model in models:
            if not model:
                continue
            key = (provider_id, model, tier)
            cached = self._cache.get(key)
            if cached is None or cached[0] < now:
                try:
                    found = _library_rate(provider_id, model, tier)
                except Exception:  # noqa: BLE001 - one odd price entry must not stop the others
                    _log.debug("otel-kit: genai-prices failed for %r", model, exc_info=True)
                    found = None
                cached = (now + _CACHE_SECONDS, found)
                self._cache[key] = cached
            if cached[1] is not None:
                return cached[1]
        return "unknown_model"

    def warn_unknown(self, model: str) -> None:
        if model not in self._warned and len(self._warned) < 1000:
            self._warned.add(model)
            _log.warning("otel-kit: no price for model %r; its tokens are counted without a cost (otel_kit.ai.set_price)", model)
