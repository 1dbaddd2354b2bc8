"""What each project publishes for a release: the archive's name, the file that holds its SHA-256, that
file's format, and where the binaries sit inside the archive.

Taken from each project's release tooling (not guessed):

- Jaeger (scripts/build/package-deploy.sh): ``jaeger-<v2>-<os>-<arch>.tar.gz`` holding
  ``jaeger-<v2>-<os>-<arch>/jaeger``; ``jaeger-<v2>.sha256sum.txt`` lists every archive as ``shasum -b``
  writes it (``<hex> *<name>``).
- Loki (Makefile ``dist``): ``loki-<os>-<arch>.zip`` holding ``loki-<os>-<arch>``; ``SHA256SUMS`` as
  ``sha256sum`` writes it (``<hex>  <name>``).
- Prometheus and Alertmanager (promu ``tarball`` and ``checksum``): ``<name>-<v>.<os>-<arch>.tar.gz`` holding
  ``<name>-<v>.<os>-<arch>/<binary>``; ``sha256sums.txt`` (``<hex>  <name>``).
- Collector contrib (distributions/otelcol-contrib/.goreleaser.yaml): ``otelcol-contrib_<v>_<os>_<arch>.tar.gz``
  with ``otelcol-contrib`` at its root; ``opentelemetry-collector-releases_otelcol-contrib_checksums.txt``
  (goreleaser: ``<hex>  <name>``).
- jaeger-ui (.github/workflows/release.yml): ``assets.tar.gz`` holding ``packages/jaeger-ui/build/``. The
  release has no checksum file; GitHub publishes every asset's SHA-256 as its ``digest`` in the release's
  API document, which is what is checked.

Every archive is at ``<base>/<owner>/<repo>/releases/download/<tag>/<asset>``, with ``<base>`` GitHub or
``OTEL_KIT_RELEASE_MIRROR``; a mirror serves the API document under ``<base>/api/v3`` (GitHub
Enterprise's layout).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from otel_kit.cli.stack.common import StackError
from otel_kit.cli.stack.sources import versions
from otel_kit.cli.stack.sources.download import Unavailable
from otel_kit.cli.stack.sources.settings import GITHUB, GITHUB_API

_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Release:
    """One downloadable archive of a pinned release and how to check and unpack it."""

    component: str
    version: str
    repo: str
    tag: str
    asset: str
    # The release's checksum file; None: the asset's digest in the release's API document.
    checksums: str | None
    # archive member -> file name in bin/ (empty for the UI, whose whole tree is unpacked)
    members: dict[str, str] = field(default_factory=dict)

    def url(self, base: str | None) -> str:
        return f"{base or GITHUB}/{self.repo}/releases/download/{self.tag}/{self.asset}"

    def checksums_url(self, base: str | None) -> str:
        if self.checksums is None:
            api = f"{base}/api/v3" if base else GITHUB_API
            return f"{api}/repos/{self.repo}/releases/tags/{self.tag}"
        return f"{base or GITHUB}/{self.repo}/releases/download/{self.tag}/{self.checksums}"

    @property
    def checksums_name(self) -> str:
        return self.checksums or f"the {self.repo} {self.tag} release's asset digests"

    def expected_sha256(self, document: str) -> str:
        """The asset's SHA-256 from the checksum file (or API document) ``document``."""
        found = _from_digests(document, self.asset) if self.checksums is None else _from_checksum_file(document, self.asset)
        if found is None:
            # Unavailable, not an error: nothing unverified is used, and auto may build instead.
            raise Unavailable(f"{self.checksums_name} does not list {self.asset}: refusing to install it unverified")
        if not _HEX.match(found):
            raise StackError(f"{self.checksums_name} gives {self.asset} a malformed SHA-256 ({found[:80]!r})")
        return found.lower()


def _from_checksum_file(text: str, asset: str) -> str | None:
    # `<hex>  <name>` (sha256sum, goreleaser, promu) or `<hex> *<name>` (shasum -b, Jaeger)
    for line in text.splitlines():
        digest, _, name = line.strip().partition(" ")
        name = name.lstrip(" *")
        if name.startswith("./"):
            name = name[2:]
        if name == asset:
            return digest
    return None


def _from_digests(text: str, asset: str) -> str | None:
    try:
        document = json.loads(text)
        assets = document["assets"] if isinstance(document, dict) else []
    except (ValueError, KeyError):
        return None
    for entry in assets if isinstance(assets, list) else []:
        if isinstance(entry, dict) and entry.get("name") == asset:
            algorithm, _, digest = str(entry.get("digest") or "").partition(":")
            return digest if algorithm == "sha256" else None
    return None


def for_component(component: str, os_name: str, arch: str) -> Release:
    """The release archive of ``component`` for ``os_name``/``arch`` (as the archives spell them: linux, amd64)."""
    pin = versions.PINS[component]
    v = pin.release
    if component == "collector":
        return Release(
            component, v, "open-telemetry/opentelemetry-collector-releases", f"v{v}", f"otelcol-contrib_{v}_{os_name}_{arch}.tar.gz",
            "opentelemetry-collector-releases_otelcol-contrib_checksums.txt", {"otelcol-contrib": "otelcol"},
        )
    if component == "jaeger":
        folder = f"jaeger-{v}-{os_name}-{arch}"
        return Release(component, v, "jaegertracing/jaeger", f"v{v}", f"{folder}.tar.gz", f"jaeger-{v}.sha256sum.txt", {f"{folder}/jaeger": "jaeger"})
    if component == "loki":
        binary = f"loki-{os_name}-{arch}"
        return Release(component, v, "grafana/loki", f"v{v}", f"{binary}.zip", "SHA256SUMS", {binary: "loki"})
    if component in ("prometheus", "alertmanager"):
        folder = f"{component}-{v}.{os_name}-{arch}"
        binaries = ("prometheus", "promtool") if component == "prometheus" else ("alertmanager",)
        return Release(
            component, v, f"prometheus/{component}", f"v{v}", f"{folder}.tar.gz", "sha256sums.txt", {f"{folder}/{b}": b for b in binaries},
        )
    raise KeyError(component)


def jaeger_ui() -> Release:
    """The jaeger-ui release whose built assets match the pinned Jaeger (for a Jaeger built without them)."""
    v = versions.JAEGER_UI
    return Release("jaeger-ui", v, "jaegertracing/jaeger-ui", f"v{v}", "assets.tar.gz", None)
