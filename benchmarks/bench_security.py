"""Security detectors: detection and false positives on a labelled corpus, timing, adversarial inputs.

Reads the development corpus from ``../shared/security-corpus/`` (or ``OTEL_KIT_SECURITY_CORPUS``)
when present; each sample is placed in a request the way the corpus README describes and goes
through the same path as the middleware (request fields -> decoded detectors -> findings):

* a typed value: URL-encoded query parameter ``q=``, the same text as a form body, and a JSON
  body ``{"comment": value}``;
* ``target``: a request target (path decoded once, as uvicorn fills ``scope["path"]``, raw query);
* ``header.user-agent`` / ``header.referer``: that header;
* ``body``: a whole JSON body (first 8 KB).

Prints right-type detection per class, sub-kind and placement, false positives per benign group
and placement (all severities and at the enforcement severity), the worst misses and false
positives, per-field time, adversarial 8 KB fields and the median latency the middleware adds to
an ordinary request. Reported, not asserted.

    python benchmarks/bench_security.py [--examples N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote

from otel_kit.signals.security import BODY_PREFIX, Finding, SecurityPolicy, body_fields, inspect_fields, request_fields
from otel_kit.signals.security.detect import severity_at_least

CLASSES = {"sqli": "sql_injection", "xss": "xss", "traversal": "path_traversal", "cmdi": "command_injection"}
ENFORCE = SecurityPolicy().enforce_severity
KEY = b"bench"


def corpus_dir() -> Path | None:
    configured = os.environ.get("OTEL_KIT_SECURITY_CORPUS")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "security-corpus")
    return next((path for path in candidates if (path / "attacks.jsonl").exists()), None)


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def findings(path: str, query: str, headers: list[tuple[bytes, bytes]], body: bytes = b"", content_type: str = "") -> list[Finding]:
    fields = request_fields(path, query.encode("utf-8"), headers)
    fields += body_fields(body[:BODY_PREFIX], content_type)
    return inspect_fields(fields, key=KEY)


def placements(sample: dict[str, Any]) -> Iterator[tuple[str, list[Finding]]]:
    text: str = sample["text"]
    place = sample.get("place")
    if place is None:
        encoded = "q=" + quote_plus(text)
        yield "query value", findings("/search", encoded, [])
        yield "form value", findings("/search", "", [], encoded.encode(), "application/x-www-form-urlencoded")
        yield "json body", findings("/comments", "", [], json.dumps({"comment": text}).encode(), "application/json")
    elif place == "target":
        target_path, _, query = text.partition("?")
        yield "request target", findings(unquote(target_path), query, [])
    elif place.startswith("header."):
        yield place, findings("/", "", [(place[7:].encode(), text.encode("utf-8"))])
    elif place == "body":
        yield "json body", findings("/webhook", "", [], text.encode("utf-8"), "application/json")


def group_of(sample: dict[str, Any]) -> str:
    if sample.get("group"):
        return str(sample["group"])
    source = str(sample.get("source", ""))
    return source.split(":", 1)[1] if ":" in source else source


def short(text: str, width: int = 90) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def corpus_report(directory: Path, examples: int) -> None:
    attacks = load(directory / "attacks.jsonl")
    benign = load(directory / "benign.jsonl")
    print(f"corpus {directory}: {len(attacks)} attacks, {len(benign)} benign; enforcement severity >= {ENFORCE}\n")

    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    by_sub: dict[str, Counter[str]] = defaultdict(Counter)
    by_place: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    misses: dict[str, Counter[str]] = defaultdict(Counter)
    field_times: list[float] = []
    for sample in attacks:
        wanted = CLASSES[sample["label"]]
        for place, found in placements(sample):
            hit = any(f.type == wanted for f in found)
            for counter in (by_class[wanted], by_sub[f"{wanted}/{sample.get('sub') or '-'}"], by_place[(wanted, place)]):
                counter["n"] += 1
                counter["hit"] += hit
            if not hit:
                misses[wanted][sample["text"]] += 1
    print("right-type detection per class (all placements):")
    for name, counter in sorted(by_class.items()):
        print(f"  {name:18} {counter['hit'] / counter['n']:7.2%}  ({counter['hit']}/{counter['n']})")
    print("per sub-kind:")
    for name, counter in sorted(by_sub.items()):
        print(f"  {name:32} {counter['hit'] / counter['n']:7.2%}  ({counter['hit']}/{counter['n']})")
    print("per placement:")
    for (name, place), counter in sorted(by_place.items()):
        print(f"  {name:18} {place:16} {counter['hit'] / counter['n']:7.2%}")

    flagged: dict[str, Counter[str]] = defaultdict(Counter)
    per_place: dict[str, Counter[str]] = defaultdict(Counter)
    false_positives: Counter[str] = Counter()
    total = Counter[str]()
    for sample in benign:
        group = group_of(sample)
        code = "#code-" in group
        for place, found in placements(sample):
            started = time.perf_counter()
            enforced = any(severity_at_least(f.severity, ENFORCE) for f in found)
            field_times.append(time.perf_counter() - started)
            for counter in (flagged[group], per_place[place], total):
                counter["n"] += 1
                counter["fp"] += bool(found)
                counter["enforced"] += enforced
            if not code:
                total["n_prose"] += 1
                total["fp_prose"] += bool(found)
                total["enforced_prose"] += enforced
            if found:
                false_positives[f"{group} | {place} | {found[0].type}/{found[0].pattern}/{found[0].severity} | {short(sample['text'])}"] += 1
    print("\nfalse positives per benign group (any severity / at enforcement severity):")
    for group, counter in sorted(flagged.items(), key=lambda item: (-item[1]["fp"], item[0])):
        print(f"  {group[:48]:48} {counter['fp'] / counter['n']:7.2%} {counter['enforced'] / counter['n']:7.2%}  (n={counter['n']})")
    print("per placement:")
    for place, counter in sorted(per_place.items()):
        print(f"  {place:18} {counter['fp'] / counter['n']:7.2%} {counter['enforced'] / counter['n']:7.2%}  (n={counter['n']})")
    print(f"overall:             {total['fp'] / total['n']:7.2%} {total['enforced'] / total['n']:7.2%}  (n={total['n']} sample placements)")
    print(f"without code groups: {total['fp_prose'] / total['n_prose']:7.2%} {total['enforced_prose'] / total['n_prose']:7.2%}")

    if examples:
        print(f"\nworst misses (up to {examples} per class; payload text truncated):")
        for name, counter in sorted(misses.items()):
            for text, count in counter.most_common(examples):
                print(f"  {name:18} x{count} {short(text)!r}")
        print(f"false positives (up to {examples * 2}):")
        for line, count in false_positives.most_common(examples * 2):
            print(f"  x{count} {line}")

    times = timed_fields(attacks + benign)
    print(f"\nper-field inspection time over the corpus: p50 {percentile(times, 50):.1f} µs, p99 {percentile(times, 99):.1f} µs, max {max(times):.0f} µs")


def timed_fields(samples: list[dict[str, Any]]) -> list[float]:
    from otel_kit.signals.security.detect import _header_verdicts as _cached
    from otel_kit.signals.security.fields import VALUE, Field

    times = []
    for sample in samples:
        field = Field("query.q", sample["text"], VALUE)
        started = time.perf_counter()
        inspect_fields([field], key=KEY)
        times.append((time.perf_counter() - started) * 1e6)
    _cached.cache_clear()
    return times


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


ADVERSARIAL = ["<", "'", '"', "<a ", "<a on", "<svg on", "' or ", "'||'", "../", "..%2f", "%25", "%c0%ae", "&#", "&lt;", "\\u003c", "; ", "$(", "`", "| ", "&& ", "union ", "/*", "-- ", "#", "(", ")", "((", "1=1 or ", "select ", "a", "on", "\\", "%u2216", "javascript:", "{${"]


def adversarial_report() -> None:
    from otel_kit.signals.security.fields import HEADER, SEGMENT, VALUE, Field

    print("\nadversarial 8 KB fields, worst of value/header/path-segment placement, best of 3 (ms):")
    worst = 0.0
    rows = []
    for unit in ADVERSARIAL:
        value = (unit * (8192 // len(unit) + 1))[:8192]
        cost = 0.0
        for kind in (VALUE, HEADER, SEGMENT):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                inspect_fields([Field("query.q", value + "\u200b", kind)], key=KEY)  # the suffix defeats the header cache
                best = min(best, time.perf_counter() - started)
            cost = max(cost, best * 1000)
        rows.append(f"{unit!r}: {cost:.2f}")
        worst = max(worst, cost)
    for start in range(0, len(rows), 6):
        print("  " + "   ".join(rows[start : start + 6]))
    print(f"worst: {worst:.2f} ms (goal <= 10 ms)")
    document = json.dumps({"items": [{"name": f"item {i}", "note": "<" * 40} for i in range(150)]}).encode()[:8192]
    started = time.perf_counter()
    inspect_fields(body_fields(document, "application/json"), key=KEY)
    print(f"8 KB JSON body of 150 objects with '<' runs: {(time.perf_counter() - started) * 1000:.2f} ms")


async def _latency(requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    from otel_kit.signals.security import SecurityMiddleware
    from otel_kit.testing import capture

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    headers = [
        (b"host", b"shop.example"), (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"),
        (b"accept", b"application/json"), (b"referer", b"https://shop.example/products?category=shoes&page=2"),
        (b"content-type", b"application/json"), (b"content-length", b"52"),
    ]
    body = b'{"name": "Conan O\'Brien", "quantity": 2, "note": "gift"}'
    get = {"type": "http", "method": "GET", "path": "/api/v1/orders/123", "query_string": b"page=2&sort=created_at&q=red+shoes", "headers": headers[:4], "client": ("10.0.0.1", 5000)}
    post = {**get, "method": "POST", "path": "/api/v1/orders", "query_string": b"", "headers": headers}

    async def send(message: Any) -> None:
        return None

    results: dict[str, tuple[float, float]] = {}
    with capture(exporter="none") as cap:
        assert cap.telemetry.security is not None
        wrapped = SecurityMiddleware(app, cap.telemetry.security)
        for name, scope, content in (("GET", get, b""), ("POST", post, body)):
            message = {"type": "http.request", "body": content, "more_body": False}

            async def receive() -> dict[str, Any]:
                return message  # noqa: B023 - bound per scope on purpose

            medians: list[tuple[float, float]] = []
            for _ in range(rounds):
                bare: list[float] = []
                inspected: list[float] = []
                for index in range(requests):
                    # Alternate the order so neither side always runs on a warmer cache.
                    for target, runner in ((bare, app), (inspected, wrapped)) if index % 2 else ((inspected, wrapped), (bare, app)):
                        started = time.perf_counter()
                        await runner(dict(scope), receive, send)
                        target.append(time.perf_counter() - started)
                medians.append((statistics.median(bare) * 1e6, statistics.median(inspected) * 1e6))
            results[name] = (statistics.median(m[0] for m in medians), statistics.median(m[1] for m in medians))
    return results


def latency_report(requests: int = 2000, rounds: int = 5) -> None:
    results = asyncio.run(_latency(requests, rounds))
    print(f"\nordinary requests through SecurityMiddleware, median of {rounds} rounds of {requests} (goal: <= 50 µs added):")
    for name, (bare, inspected) in results.items():
        print(f"  {name:4} app alone {bare:5.1f} µs, with the middleware {inspected:5.1f} µs: added {inspected - bare:5.1f} µs")
    print("  GET: path /api/v1/orders/123, three query parameters, user agent, referer; POST: the same headers and a small JSON body")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=8, help="misses and false positives to print per class")
    args = parser.parse_args()
    directory = corpus_dir()
    if directory is None:
        print("no corpus found (../shared/security-corpus or OTEL_KIT_SECURITY_CORPUS): timing only")
    else:
        corpus_report(directory, args.examples)
    adversarial_report()
    latency_report()


if __name__ == "__main__":
    main()
