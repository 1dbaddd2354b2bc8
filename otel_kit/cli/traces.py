"""``otel-kit traces`` and ``otel-kit trace``: recent traces and one trace's waterfall, from Jaeger's API.

The local stack's Jaeger is built from its Go module, which serves the query API but not the UI
(the UI's assets are built with npm from a separate repository). These commands show in a
terminal what a user would otherwise open the UI for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from otel_kit.analysis.offline import jaeger_tags
from otel_kit.cli import backends
from otel_kit.cli.errors import UsageError

_LOOKBACK = re.compile(r"^\d+[smhd]$")
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{1,32}$")
BAR_WIDTH = 30
ERROR_SCAN = 1000  # recent traces read to find failed ones when Jaeger cannot filter them


@dataclass
class SpanRow:
    span_id: str
    name: str
    service: str
    kind: str
    start_us: int
    duration_us: int
    error: bool
    detail: str
    events: list[str]
    children: list[SpanRow] = field(default_factory=list)


def _detail(tags: dict[str, Any]) -> str:
    """The attributes that say most about a span: status code, query, peer, model."""
    parts = []
    code = tags.get("http.response.status_code", tags.get("http.status_code"))
    if code is not None:
        parts.append(f"http {code}")
    query = tags.get("db.query.text") or tags.get("db.statement")
    if query:
        parts.append(" ".join(str(query).split()))  # statements span lines; a row must not
    elif tags.get("span.kind") == "client" and tags.get("server.address"):
        parts.append(str(tags["server.address"]))
    if tags.get("gen_ai.request.model"):
        parts.append(str(tags["gen_ai.request.model"]))
    return "  ".join(parts)


def build_tree(trace: dict[str, Any]) -> list[SpanRow]:
    """Jaeger's trace JSON as a forest of spans ordered by start time (roots first)."""
    processes = trace.get("processes") or {}
    rows: dict[str, SpanRow] = {}
    parents: dict[str, str] = {}
    for span in trace.get("spans") or []:
        tags = jaeger_tags(span.get("tags"))
        events = []
        for log in span.get("logs") or []:
            fields = jaeger_tags(log.get("fields"))
            if fields.get("event"):
                events.append(str(fields["event"]))
        rows[span["spanID"]] = SpanRow(
            span_id=span["spanID"],
            name=str(span.get("operationName", "")),
            service=str((processes.get(span.get("processID")) or {}).get("serviceName", "")),
            kind=str(tags.get("span.kind", "")),
            start_us=int(span.get("startTime", 0)),
            duration_us=int(span.get("duration", 0)),
            error=tags.get("error") is True or tags.get("otel.status_code") == "ERROR",
            detail=_detail(tags),
            events=events,
        )
        for reference in span.get("references") or []:
            if reference.get("refType") == "CHILD_OF" and reference.get("traceID") == span.get("traceID"):
                parents[span["spanID"]] = reference["spanID"]
                break
    roots: list[SpanRow] = []
    for row in rows.values():
        parent = rows.get(parents.get(row.span_id, ""))
        (parent.children if parent is not None else roots).append(row)
    for row in rows.values():
        row.children.sort(key=lambda r: r.start_us)
    return sorted(roots, key=lambda r: r.start_us)


def _walk(rows: list[SpanRow], depth: int = 0) -> list[tuple[int, SpanRow]]:
    out: list[tuple[int, SpanRow]] = []
    for row in rows:
        out.append((depth, row))
        out.extend(_walk(row.children, depth + 1))
    return out


def render(trace: dict[str, Any], *, width: int = BAR_WIDTH) -> str:
    """A text waterfall: offset, indented name, kind, a bar on the trace's time axis, duration, detail."""
    roots = build_tree(trace)
    flat = _walk(roots)
    if not flat:
        return f"trace {trace.get('traceID', '?')}: no spans"
    begin = min(row.start_us for _, row in flat)
    end = max(row.start_us + row.duration_us for _, row in flat)
    total = max(end - begin, 1)
    errors = sum(row.error for _, row in flat)
    services = sorted({row.service for _, row in flat if row.service})
    lines = [f"trace {trace.get('traceID', '?')}  {', '.join(services) or '?'}  {len(flat)} spans  {total / 1000:.1f} ms  {errors} error{'s' * (errors != 1)}"]
    label_width = min(max(2 * depth + len(row.name) for depth, row in flat), 48)
    for depth, row in flat:
        first = int((row.start_us - begin) / total * width)
        length = max(1, round(row.duration_us / total * width))
        bar = (" " * first + "#" * length)[:width].ljust(width)
        label = ("  " * depth + row.name)[:label_width].ljust(label_width)
        marks = (["ERROR"] if row.error else []) + [f"[{event}]" for event in row.events]
        detail = " ".join([*marks, row.detail]).strip()
        if len(detail) > 100:
            detail = detail[:97] + "..."
        lines.append(f"{(row.start_us - begin) / 1000:8.1f} ms  {label}  {row.kind[:6]:6}  |{bar}| {row.duration_us / 1000:9.2f} ms  {detail}".rstrip())
    return "\n".join(lines)


def summarize(trace: dict[str, Any]) -> dict[str, Any]:
    """One line of ``otel-kit traces``: root, start, duration, span and error counts, events."""
    flat = _walk(build_tree(trace))
    roots = [row for depth, row in flat if depth == 0]
    root = roots[0] if roots else None
    begin = min((row.start_us for _, row in flat), default=0)
    end = max((row.start_us + row.duration_us for _, row in flat), default=0)
    events = sorted({event for _, row in flat for event in row.events if event.startswith(("db.query.", "security.", "exception"))})
    return {
        "trace_id": trace.get("traceID", ""),
        "root": root.name if root else "",
        "start_us": begin,
        "duration_ms": round((end - begin) / 1000, 3),
        "spans": len(flat),
        "errors": sum(row.error for _, row in flat),
        "events": events,
    }


def run_trace(*, jaeger: str, trace_id: str, as_json: bool, width: int = BAR_WIDTH) -> int:
    if not _TRACE_ID.match(trace_id):
        raise UsageError(f"otel-kit trace: invalid trace id {trace_id!r}: expected up to 32 hex digits")
    trace = backends.jaeger_trace(jaeger, trace_id)
    if trace is None:
        print(f"otel-kit trace: trace {trace_id} not found in {jaeger}")
        return 1
    print(json.dumps(trace, indent=2) if as_json else render(trace, width=width))
    return 0


def run_traces(*, jaeger: str, service: str, lookback: str, limit: int, errors_only: bool, as_json: bool) -> int:
    if not _LOOKBACK.match(lookback):
        raise UsageError(f"otel-kit traces: invalid --lookback {lookback!r}: expected a number and a unit, e.g. 30m, 1h, 2d")
    if limit < 1:
        raise UsageError(f"otel-kit traces: invalid --limit {limit!r}: expected an integer >= 1")
    if errors_only:
        # Jaeger's own error=true filter applies before its limit, but some storages miss OTel error
        # status with it (the memory store of the pinned Jaeger returns nothing: jaegertracing/jaeger#8553);
        # then read a larger recent set and keep the traces with an error span here.
        found = backends.jaeger_traces(jaeger, service, lookback, limit, tags={"error": "true"})
        if not found:
            found = backends.jaeger_traces(jaeger, service, lookback, max(limit, ERROR_SCAN))
    else:
        found = backends.jaeger_traces(jaeger, service, lookback, limit)
    rows = [summarize(trace) for trace in found]
    if errors_only:
        rows = [row for row in rows if row["errors"]]
    rows.sort(key=lambda row: row["start_us"], reverse=True)
    rows = rows[:limit]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{len(rows)} traces of {service!r} from {jaeger} over {lookback}" + (" (with errors)" if errors_only else ""))
    for row in rows:
        marks = (f"  {row['errors']} errors" if row["errors"] else "") + (f"  [{', '.join(row['events'])}]" if row["events"] else "")
        print(f"  {row['trace_id']:32}  {row['duration_ms']:9.1f} ms  {row['spans']:4} spans  {row['root']}{marks}")
    if rows:
        print(f"\none of them in full: otel-kit trace {rows[0]['trace_id']} --jaeger {jaeger}")
    elif not found:
        print(f"  {backends.service_hint(jaeger, service)}")
    return 0

