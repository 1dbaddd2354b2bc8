"""Every version the local stack runs, in one place: the release each backend is downloaded at, the Go
module version built when no release can be fetched, and the image docker-compose runs.

A bump changes one line here; ``tests/test_releases.py`` checks docker-compose's (and the Kubernetes
manifests') image tags and the Collector Builder manifest against these pins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    """One backend: its release version, the Go module version that builds the same code, its image."""

    name: str
    release: str
    module: str
    image: str
    image_tag_prefix: str = ""

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.image_tag_prefix}{self.release}"


# The Collector is pinned to the newest release whose modules are all served by the Go module proxy
# (the custom build needs them; the release is the contrib distribution, which has every component
# builder-config.yaml lists).
COLLECTOR = Pin("collector", release="0.152.0", module="0.152.0", image="otel/opentelemetry-collector-contrib")
# Jaeger v2 is released as 2.x and published as the Go module's v1.x tags: v2.13.0 and v1.76.0 are one commit.
JAEGER = Pin("jaeger", release="2.13.0", module="v1.76.0", image="jaegertracing/jaeger")
LOKI = Pin("loki", release="3.7.8", module="v3.7.8", image="grafana/loki")
# Prometheus 3.x is published as the Go module's v0.3XX.Y tags: v3.16.0 is v0.316.0 (same commit).
PROMETHEUS = Pin("prometheus", release="3.16.0", module="v0.316.0", image="prom/prometheus", image_tag_prefix="v")
ALERTMANAGER = Pin("alertmanager", release="0.34.2", module="v0.34.2", image="prom/alertmanager", image_tag_prefix="v")
# The jaeger-ui release that Jaeger v2.13.0 embeds (its jaeger-ui submodule is at the v1.76.0 tag).
JAEGER_UI = "1.76.0"

PINS = {pin.name: pin for pin in (COLLECTOR, JAEGER, LOKI, PROMETHEUS, ALERTMANAGER)}
