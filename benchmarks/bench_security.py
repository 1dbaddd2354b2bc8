"""Security detectors: time for 100 KB adversarial inputs (linear-time check) and for typical values.

A pattern with catastrophic backtracking would take seconds to minutes on these inputs; bounded
repetition keeps each of them in milliseconds. Reported, not asserted.

    python benchmarks/bench_security.py
"""

from __future__ import annotations

import time

from otel_kit.analysis.sql import fingerprint, sanitize_sql
from otel_kit.export.scrubbing import scrub_text
from otel_kit.signals.security import inspect_text

UNITS = ["'", "<", "<a ", "' or ", "../", "; ", "$(", "`", "union ", "%25", "a", "on", "<svg on", "'||'", "/*", "-- ", "\\", "..%2f", "1=1 or "]


def timed(function: object, value: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(value)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    print("100 KB adversarial inputs, best of 3 (ms); the detector inspects at most its 8 KB prefix, so the unbounded functions matter most:")
    print(f"{'unit':10} {'inspect_text':>12} {'sanitize_sql':>13} {'fingerprint':>12} {'scrub_text':>11}")
    worst = 0.0
    for unit in UNITS:
        value = unit * (100_000 // len(unit))
        row = [timed(inspect_text, value), timed(sanitize_sql, value), timed(fingerprint, value), timed(scrub_text, value)]
        worst = max(worst, *row)
        print(f"{unit!r:10} {row[0]:12.2f} {row[1]:13.2f} {row[2]:12.2f} {row[3]:11.2f}")
    print(f"worst: {worst:.1f} ms for 100 KB")
    typical = ["/api/v1/orders/123", "q=red+shoes&page=2", "Mozilla/5.0 (X11; Linux x86_64)", '{"name": "Conan O\'Brien"}']
    per = sum(timed(inspect_text, v, 200) for v in typical) / len(typical) * 1000
    print(f"typical request value: {per:.1f} µs per inspect_text call")


if __name__ == "__main__":
    main()
