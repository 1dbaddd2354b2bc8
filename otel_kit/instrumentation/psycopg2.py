"""psycopg2: the contrib instrumentor (it wraps ``psycopg2.connect``: connections opened after ``setup()``).

Its spans carry ``db.system.name``/``db.query.text`` (stable database conventions), so slow-query,
N+1 and health analysis read them like otel-kit's own; under SQLAlchemy they are suppressed.
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="psycopg2",
    library="psycopg2",
    extra="postgres",
    requires=(contrib_requirement("psycopg2"),),
    instrumentor="opentelemetry.instrumentation.psycopg2:Psycopg2Instrumentor",
    summary="CLIENT span per statement (connections opened after setup()), slow queries and N+1",
)
