"""``otel-kit stack install``: build the Collector, Jaeger and Loki from their Go modules and find or
install Prometheus and Alertmanager, into ``$OTEL_KIT_HOME/bin``. Each binary is built once per pinned version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from otel_kit.cli.stack.common import StackError, home, run_logged, say
from otel_kit.cli.stack.config import config_dir

# Pinned versions. The Collector is pinned to the newest release whose modules are all served
# by the Go module proxy; Jaeger v2 is published as the module's v1.x tags.
COLLECTOR_VERSION = "0.152.0"
JAEGER_VERSION = "v1.76.0"
LOKI_VERSION = "v3.7.8"
PROMETHEUS_GO_VERSION = "v0.316.0"
ALERTMANAGER_GO_VERSION = "v0.34.2"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
GO_FALLBACKS = ("/usr/local/go/bin/go",)


def _go() -> str:
    go = shutil.which("go") or next((path for path in GO_FALLBACKS if Path(path).exists()), None)
    if go is None:
        raise StackError("no Go toolchain found: install Go >= 1.24 (https://go.dev/dl/) and make sure `go` is on PATH")
    return go


def _stamp(binary: Path, version: str) -> bool:
    stamp = binary.with_suffix(".version")
    return binary.exists() and stamp.exists() and stamp.read_text().strip() == version


def _write_stamp(binary: Path, version: str) -> None:
    binary.with_suffix(".version").write_text(version + "\n")


def _module_dir(go: str, module: str, log: Path) -> Path:
    run_logged([go, "mod", "download", "-x", module], log=log)
    out = subprocess.run([go, "mod", "download", "-json", module], capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["Dir"])


def _writable_copy(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


def install_collector(root: Path) -> Path:
    binary = root / "bin" / "otelcol"
    if _stamp(binary, COLLECTOR_VERSION):
        say(f"  collector {COLLECTOR_VERSION}: already built ({binary})")
        return binary
    go = _go()
    log = root / "logs" / "build-otelcol.log"
    say(f"  collector {COLLECTOR_VERSION}: installing the Collector Builder")
    run_logged([go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{COLLECTOR_VERSION}"], extra_env={"GOBIN": str(root / "bin")}, log=log)
    build = root / "build" / "otelcol"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    shutil.copy(config_dir() / "builder-config.yaml", build / "builder-config.yaml")
    say("  collector: generating sources from builder-config.yaml")
    run_logged([str(root / "bin" / "builder"), "--config", "builder-config.yaml", "--skip-compilation", "--skip-get-modules"], cwd=build, log=log)
    say("  collector: compiling (first time: several minutes)")
    # -mod=mod resolves only what the build needs: `go mod tidy` would also fetch test-only
    # modules that the proxy does not serve for this release. The contrib checksums are missing
    # from the checksum database mirror here, so that prefix is fetched without it (still over
    # HTTPS from the proxy).
    run_logged(
        [go, "build", "-trimpath", "-o", str(binary), "."],
        cwd=build / "otelcol-otel-kit",
        extra_env={"GOFLAGS": "-mod=mod", "GONOSUMDB": CONTRIB},
        log=log,
    )
    _write_stamp(binary, COLLECTOR_VERSION)
    return binary


def _build_in_module_copy(
    root: Path, name: str, module: str, version: str, package: str, *, edits: Sequence[Sequence[str]] = (), flags: Sequence[str] = (), note: str = "",
    prepare: Callable[[Path], None] | None = None,
) -> Path:
    """Build ``package`` inside a writable copy of ``module@version``.

    For modules whose go.mod has replace directives: `go install pkg@version` refuses those, but
    a build where the module is the main module honours them.
    """
    binary = root / "bin" / name
    if _stamp(binary, version):
        say(f"  {name} {version}: already built ({binary})")
        return binary
    go = _go()
    log = root / "logs" / f"build-{name}.log"
    say(f"  {name} {version}: downloading the module")
    work = _writable_copy(_module_dir(go, f"{module}@{version}", log), root / "src" / f"{name}-{version}")
    for edit in edits:
        run_logged([go, *edit], cwd=work, log=log)
    if prepare is not None:
        prepare(work)
    say(f"  {name}: compiling {note}")
    run_logged([go, "build", "-trimpath", *flags, "-o", str(binary), package], cwd=work, log=log)
    _write_stamp(binary, version)
    return binary


def install_jaeger(root: Path) -> Path:
    return _build_in_module_copy(root, "jaeger", "github.com/jaegertracing/jaeger", JAEGER_VERSION, "./cmd/jaeger", note="(first time: a few minutes)")


def install_loki(root: Path) -> Path:
    # pkg/push is a nested module (absent from the module zip) replaced by a local path; drop the
    # replace and use the version go.mod requires instead.
    return _build_in_module_copy(
        root, "loki", "github.com/grafana/loki/v3", LOKI_VERSION, "./cmd/loki",
        edits=[["mod", "edit", "-dropreplace", "github.com/grafana/loki/pkg/push"]], flags=["-mod=mod"],
        note="(first time: several minutes)",
    )


def find_prometheus(root: Path) -> tuple[Path, Path] | None:
    local = (root / "bin" / "prometheus", root / "bin" / "promtool")
    if all(p.exists() for p in local):
        return local
    system = shutil.which("prometheus"), shutil.which("promtool")
    if system[0] and system[1]:
        return Path(system[0]), Path(system[1])
    return None


def install_prometheus(root: Path) -> tuple[Path, Path]:
    found = find_prometheus(root)
    if found is not None:
        say(f"  prometheus: using {found[0]}")
        return found
    log = root / "logs" / "install-prometheus.log"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("  prometheus: installing the Debian package (prometheus, with promtool)")
        environment = {"DEBIAN_FRONTEND": "noninteractive"}
        run_logged(["apt-get", "update", "-q"], extra_env=environment, log=log)
        run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"], extra_env=environment, log=log)
    else:
        go = _go()
        say(f"  prometheus {PROMETHEUS_GO_VERSION}: building from the Go module (first time: several minutes)")
        for command in ("prometheus", "promtool"):
            run_logged([go, "install", f"github.com/prometheus/prometheus/cmd/{command}@{PROMETHEUS_GO_VERSION}"], extra_env={"GOBIN": str(root / "bin")}, log=log)
    found = find_prometheus(root)
    if found is None:
        raise StackError(f"prometheus was installed but not found on PATH or in {root / 'bin'}")
    return found


# Debian installs Alertmanager as prometheus-alertmanager; a Go build is plain alertmanager.
ALERTMANAGER_NAMES = ("alertmanager", "prometheus-alertmanager")


def find_alertmanager(root: Path) -> Path | None:
    local = root / "bin" / "alertmanager"
    if local.exists():
        return local
    for name in ALERTMANAGER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _placeholder_ui(work: Path) -> None:
    # The module zip has the UI's sources but not its npm-built assets, which the binary embeds
    # (go:embed app/dist): a page pointing at the API and the CLI stands in for them.
    dist = work / "ui" / "app" / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "index.html").write_text(
        "<!doctype html><title>Alertmanager</title><p>This Alertmanager was built without its web UI. "
        "Use the API (/api/v2/alerts, /api/v2/status) or <code>otel-kit alerts</code>.</p>\n"
    )


def install_alertmanager(root: Path) -> Path:
    found = find_alertmanager(root)
    if found is not None:
        say(f"  alertmanager: using {found}")
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log = root / "logs" / "install-alertmanager.log"
        say("  alertmanager: installing the Debian package (prometheus-alertmanager)")
        environment = {"DEBIAN_FRONTEND": "noninteractive"}
        run_logged(["apt-get", "update", "-q"], extra_env=environment, log=log)
        run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus-alertmanager"], extra_env=environment, log=log)
    else:
        _build_in_module_copy(
            root, "alertmanager", "github.com/prometheus/alertmanager", ALERTMANAGER_GO_VERSION, "./cmd/alertmanager",
            prepare=_placeholder_ui, note="(first time: a few minutes)",
        )
    found = find_alertmanager(root)
    if found is None:
        raise StackError(f"alertmanager was installed but not found on PATH or in {root / 'bin'}")
    return found


def installed(root: Path) -> bool:
    """Every binary ``stack up`` needs is there."""
    return (
        find_prometheus(root) is not None and find_alertmanager(root) is not None
        and all((root / "bin" / name).exists() for name in ("otelcol", "jaeger", "loki"))
    )


def install(root: Path | None = None) -> None:
    base = root or home()
    (base / "bin").mkdir(parents=True, exist_ok=True)
    say(f"otel-kit stack install -> {base}")
    steps: list[tuple[str, Callable[[Path], object]]] = [
        ("[1/5]", install_prometheus),
        ("[2/5]", install_alertmanager),
        ("[3/5]", install_jaeger),
        ("[4/5]", install_loki),
        ("[5/5]", install_collector),
    ]
    for label, step in steps:
        say(label)
        step(base)
    say("done: `otel-kit stack up` starts the stack")
