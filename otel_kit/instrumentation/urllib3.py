"""urllib3: the contrib client instrumentor; silent when missing (urllib3 comes with requests).
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="urllib3",
    library="urllib3",
    extra="urllib3",
    requires=(contrib_requirement("urllib3"),),
    instrumentor="opentelemetry.instrumentation.urllib3:URLLib3Instrumentor",
    announce_gap=False,
    summary="CLIENT span per request, trace context propagated",
)
