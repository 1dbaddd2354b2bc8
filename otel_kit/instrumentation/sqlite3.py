"""sqlite3: the contrib instrumentor (``sqlite3.connect`` after ``setup()``); silent when missing, sqlite3 is always there.
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="sqlite3",
    library="sqlite3",
    extra="sqlite3",
    requires=(contrib_requirement("sqlite3"),),
    instrumentor="opentelemetry.instrumentation.sqlite3:SQLite3Instrumentor",
    announce_gap=False,
    summary="CLIENT span per statement (connections opened after setup()), slow queries and N+1",
)
