"""pymongo: the contrib command listener, with the command document captured.

The document gives the slow-query analysis a command shape to group by (values become ``?``);
export removes its literals like SQL's (``capture_query_text=True`` keeps them).
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="pymongo",
    library="pymongo",
    extra="mongo",
    requires=("pymongo>=4", contrib_requirement("pymongo"),),
    instrumentor="opentelemetry.instrumentation.pymongo:PymongoInstrumentor",
    options={'capture_statement': True},
    summary="CLIENT span per command, command shapes in slow queries and N+1",
)
