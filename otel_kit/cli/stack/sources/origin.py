"""Where each binary of the stack came from, and whether its Jaeger serves the real UI.

``stack install`` writes ``bin/<binary>.source.json`` for every component it installs (a release
archive, a Debian package, a binary found on PATH, a Go build); ``stack status`` and ``stack up`` read
them. A binary built before these records existed is known by its ``.version`` stamp.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from otel_kit.cli.stack.sources import versions

# The file in bin/ that names each component (Prometheus's record covers promtool too).
BINARY = {"collector": "otelcol", "jaeger": "jaeger", "loki": "loki", "prometheus": "prometheus", "alertmanager": "alertmanager"}
Source = Literal["release", "debian", "system", "build"]


@dataclass(frozen=True)
class Origin:
    component: str
    source: str
    version: str
    binary: str
    url: str = ""
    sha256: str = ""
    checksums: str = ""
    installed: str = ""

    def describe(self) -> str:
        if self.source == "release":
            return f"release {self.version} (SHA-256 verified)"
        if self.source == "debian":
            return f"Debian package ({self.binary})"
        if self.source == "system":
            return f"found on PATH ({self.binary})"
        return f"Go build {self.version}".rstrip()


def record_path(root: Path, component: str) -> Path:
    return root / "bin" / f"{BINARY[component]}.source.json"


def write(root: Path, origin: Origin) -> Origin:
    stamped = Origin(**{**asdict(origin), "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    path = record_path(root, origin.component)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(stamped), indent=2) + "\n")
    temporary.replace(path)
    return stamped


def read(root: Path, component: str) -> Origin | None:
    try:
        data = json.loads(record_path(root, component).read_text())
        return Origin(**{key: str(data[key]) for key in Origin.__dataclass_fields__ if key in data})
    except (OSError, ValueError, TypeError):
        return None


def of(root: Path, component: str, binary: Path | None) -> Origin | None:
    """Where ``binary`` (what the stack runs for ``component``) came from; None when there is none."""
    if binary is None or not binary.exists():
        return None
    recorded = read(root, component)
    if recorded is not None and recorded.binary == str(binary):
        return recorded
    if binary.parent == root / "bin":
        stamp = binary.with_suffix(".version")
        return Origin(component, "build", stamp.read_text().strip() if stamp.exists() else "", str(binary))
    return Origin(component, "system", "", str(binary))


def current(root: Path, component: str) -> Origin | None:
    """The binary in ``bin/`` when it is at the pinned version (of its source), else None."""
    binary = root / "bin" / BINARY[component]
    found = of(root, component, binary)
    if found is None or found.source not in ("release", "build"):
        return None
    pin = versions.PINS[component]
    if found.source == "release":
        return found if found.version == pin.release else None
    # A Go build: stamped with its module version (`go install` of Prometheus writes no stamp).
    return found if found.version in (pin.module, "") else None


UIState = Literal["embedded", "assets", "placeholder", "missing"]


@dataclass(frozen=True)
class JaegerUI:
    state: UIState
    path: Path | None = None

    @property
    def real(self) -> bool:
        return self.state in ("embedded", "assets")

    def describe(self) -> str:
        if self.state == "embedded":
            return "real (built into the release binary)"
        if self.state == "assets":
            return f"real (jaeger-ui {versions.JAEGER_UI} assets in {self.path})"
        if self.state == "placeholder":
            return "not installed (a Jaeger built from source serves a placeholder page)"
        return "not installed (no Jaeger binary)"


def ui_dir(root: Path) -> Path:
    return root / "ui" / f"jaeger-ui-{versions.JAEGER_UI}"


def jaeger_ui(root: Path) -> JaegerUI:
    binary = root / "bin" / "jaeger"
    found = of(root, "jaeger", binary)
    if found is None:
        return JaegerUI("missing")
    if found.source == "release":
        return JaegerUI("embedded")
    assets = ui_dir(root)
    return JaegerUI("assets", assets) if (assets / "index.html").is_file() else JaegerUI("placeholder")
