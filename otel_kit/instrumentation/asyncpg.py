"""asyncpg: the contrib instrumentor (it patches the connection class: every connection).

Its spans carry ``db.system.name``/``db.query.text`` with ``$1`` placeholders, read by the slow-query and N+1 analysis.
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="asyncpg",
    library="asyncpg",
    extra="postgres",
    requires=(contrib_requirement("asyncpg"),),
    instrumentor="opentelemetry.instrumentation.asyncpg:AsyncPGInstrumentor",
    summary="CLIENT span per statement, slow queries and N+1",
)
