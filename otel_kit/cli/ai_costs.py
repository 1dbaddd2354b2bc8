"""``otel-kit ai-costs``: AI spend and tokens per model from Prometheus.

Answers the cost questions: what did the service spend on which model over a window (default the
last 24 h), with how many calls and tokens (cached input and reasoning output shown apart); what
has it spent since the first of the month (UTC), and where will the month end at that pace; how
many calls had no price (an unknown model, or a stream without usage) and so are missing from the
spend. ``--json`` gives the same as one object.

Reads otel-kit's metrics as the Collector's Prometheus exporters name them: ``otel_kit_ai_cost_USD_total``,
``gen_ai_client_token_usage_sum``, ``otel_kit_ai_tokens_total``, ``gen_ai_client_operation_duration_seconds_count``
and ``otel_kit_ai_unpriced_total``. Exit status: 0 with data, 3 when Prometheus has no AI metrics
for the service (a typo in ``--service`` must not look like a free month), 4 when Prometheus
cannot be reached, 64 for an invalid option.
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import datetime, timezone
from typing import Any

from otel_kit.cli import backends
from otel_kit.cli.errors import UsageError

__all__ = ["run", "report", "growth", "EXIT_NO_DATA"]

EXIT_NO_DATA = 3
COST = "otel_kit_ai_cost_USD_total"
TOKENS = "gen_ai_client_token_usage_sum"
TOKEN_KINDS = "otel_kit_ai_tokens_total"
CALLS = "gen_ai_client_operation_duration_seconds_count"
UNPRICED = "otel_kit_ai_unpriced_total"
MODEL = "gen_ai_request_model"
_WINDOW = re.compile(r"^[1-9][0-9]*[smhdwy]$")


def _selector(service: str | None) -> str:
    if not service:
        return ""
    escaped = service.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{job="{escaped}"}}'


def _query(prometheus: str, promql: str, at: float) -> list[dict[str, Any]]:
    data = backends.get_json(f"{prometheus}/api/v1/query", {"query": promql, "time": f"{at:.3f}"}, backend="Prometheus")
    result = data.get("data", {}).get("result", [])
    return result if isinstance(result, list) else []


def _value(sample: dict[str, Any]) -> float:
    try:
        value = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return 0.0
    return value if value == value and value not in (float("inf"), float("-inf")) else 0.0  # NaN and inf read as 0


def _sums(results: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    sums: dict[tuple[str, ...], float] = {}
    for sample in results:
        metric = sample.get("metric") or {}
        key = tuple(str(metric.get(label, "")) for label in labels)
        sums[key] = sums.get(key, 0.0) + _value(sample)
    return sums


def growth(series: str, span: str) -> str:
    """PromQL for how much each counter series grew over the ``span`` before the query time.

    ``increase()`` alone takes a series' first sample as its starting point, so a process that
    started inside the window loses everything it counted before its first export: a short job that
    exports once would show no spend at all. Every otel-kit process has its own
    ``service.instance.id`` and its counters start at zero, so a series with no sample just before
    the window was born inside it, and its highest value is all it counted.
    """
    return (
        f"(increase({series}[{span}]) and ({series} offset {span}))"
        f" or (max_over_time({series}[{span}]) unless ({series} offset {span}))"
    )


def report(prometheus: str, service: str | None, window: str, now: datetime | None = None) -> dict[str, Any]:
    """The report as a dict (what ``--json`` prints)."""
    if not _WINDOW.match(window):
        raise UsageError(f"otel-kit ai-costs: invalid --window {window!r}: expected a Prometheus duration such as 1h, 24h or 7d")
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    at = moment.timestamp()
    month_start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elapsed = max(60, int(at - month_start.timestamp()))
    month_days = calendar.monthrange(moment.year, moment.month)[1]
    selector = _selector(service)

    def over(metric: str, labels: str, span: str) -> list[dict[str, Any]]:
        return _query(prometheus, f"sum by ({labels}) ({growth(metric + selector, span)})", at)

    spend = _sums(over(COST, MODEL, window), MODEL)
    tokens = _sums(over(TOKENS, f"{MODEL}, gen_ai_token_type", window), MODEL, "gen_ai_token_type")
    kinds = _sums(over(TOKEN_KINDS, f"{MODEL}, otel_kit_ai_token_kind", window), MODEL, "otel_kit_ai_token_kind")
    calls = _sums(over(CALLS, MODEL, window), MODEL)
    unpriced = _sums(over(UNPRICED, f"{MODEL}, otel_kit_ai_unpriced_reason", window), MODEL, "otel_kit_ai_unpriced_reason")
    month = _sums(over(COST, MODEL, f"{elapsed}s"), MODEL)

    names = sorted({key[0] for table in (spend, tokens, kinds, calls, month) for key in table})
    rows: list[dict[str, Any]] = []
    for name in names:
        rows.append({
            "model": name or "(none)",
            "calls": round(calls.get((name,), 0.0)),
            "input_tokens": round(tokens.get((name, "input"), 0.0)),
            "cache_read_tokens": round(kinds.get((name, "cache_read"), 0.0)),
            "cache_creation_tokens": round(kinds.get((name, "cache_creation"), 0.0)),
            "output_tokens": round(tokens.get((name, "output"), 0.0)),
            "reasoning_tokens": round(kinds.get((name, "reasoning"), 0.0)),
            "spend_usd": spend.get((name,), 0.0),
            "month_to_date_usd": month.get((name,), 0.0),
        })
    rows.sort(key=lambda row: (-row["spend_usd"], -row["month_to_date_usd"], row["model"]))
    totals = {key: sum(row[key] for row in rows) for key in ("calls", "input_tokens", "cache_read_tokens", "cache_creation_tokens", "output_tokens", "reasoning_tokens", "spend_usd", "month_to_date_usd")}
    to_date = totals["month_to_date_usd"]
    return {
        "prometheus": prometheus,
        "service": service,
        "window": window,
        "at": moment.isoformat(timespec="seconds"),
        "models": rows,
        "total": totals,
        "month": {
            "start": month_start.date().isoformat(),
            "elapsed_days": round(elapsed / 86400, 3),
            "days": month_days,
            "to_date_usd": to_date,
            # The month's pace so far, carried to its last day: simple, and honest about what it is.
            "projected_usd": to_date * (month_days * 86400) / elapsed,
        },
        "unpriced": [
            {"model": model or "(none)", "reason": reason or "unknown", "calls": round(count)}
            for (model, reason), count in sorted(unpriced.items()) if round(count) > 0
        ],
    }


def _tokens(value: int) -> str:
    return f"{value:,}"


def _usd(value: float) -> str:
    """Cents for real money, enough digits that a small test or demo spend does not print as 0.00."""
    if value == 0 or abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.6f}" if abs(value) < 0.01 else f"{value:.4f}"


def _text(data: dict[str, Any]) -> str:
    who = f'job "{data["service"]}"' if data["service"] else "all jobs"
    lines = [f"AI costs for {who} from {data['prometheus']}, window {data['window']}, at {data['at']}"]
    header = f"  {'model':32} {'calls':>8} {'input tok':>12} {'cached':>11} {'output tok':>11} {'reasoning':>10} {'spend USD':>11}"
    lines.append(header)
    for row in [*data["models"], {**data["total"], "model": "total"}]:
        cached = row["cache_read_tokens"] + row["cache_creation_tokens"]
        lines.append(
            f"  {row['model'][:32]:32} {row['calls']:>8,} {_tokens(row['input_tokens']):>12} {_tokens(cached):>11} "
            f"{_tokens(row['output_tokens']):>11} {_tokens(row['reasoning_tokens']):>10} {_usd(row['spend_usd']):>11}"
        )
    month = data["month"]
    lines.append(f"  month to date (since {month['start']}, {month['elapsed_days']:.1f} of {month['days']} days): {_usd(month['to_date_usd'])} USD")
    lines.append(f"  month-end projection at that pace: {_usd(month['projected_usd'])} USD")
    if data["unpriced"]:
        missing = sum(item["calls"] for item in data["unpriced"])
        detail = ", ".join(f"{item['model']} {item['calls']} ({item['reason']})" for item in data["unpriced"][:10])
        lines.append(f"  calls without a price in the window (not in the spend): {missing}: {detail}")
    return "\n".join(lines)


def run(*, prometheus: str, service: str | None, window: str, as_json: bool, now: datetime | None = None) -> int:
    data = report(prometheus, service, window, now)
    if not data["models"] and not data["unpriced"]:
        where = f'job="{service}"' if service else "any job"
        if as_json:
            print(json.dumps({**data, "status": "no_data"}, indent=2))
        else:
            print(f"otel-kit ai-costs: Prometheus at {prometheus} has no AI metrics for {where} (check --service, and that the service calls an LLM after otel_kit.setup())")
        return EXIT_NO_DATA
    print(json.dumps(data, indent=2) if as_json else _text(data))
    return 0
