"""``otel-kit stack install``: the Collector, Jaeger, Loki, Prometheus and Alertmanager into ``$OTEL_KIT_HOME/bin``.

Each component comes from the first source that can serve it (``OTEL_KIT_STACK_SOURCE``, default
auto): the project's release archive, verified against its published SHA-256; then, for Prometheus
and Alertmanager, the binary on PATH or the Debian package; then a build from the pinned Go module.
One quick probe of the release host per install decides whether archives are tried at all, so a
machine without a route to it (package registries only) falls back at once. A Jaeger built from
source gets the released jaeger-ui assets for its version when they can be fetched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from otel_kit.cli.stack.common import StackError, home, run_logged, say
from otel_kit.cli.stack.config import config_dir
from otel_kit.cli.stack.sources import download, origin, releases, settings, unpack, versions
from otel_kit.cli.stack.sources.origin import Origin

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


# --- sources ----------------------------------------------------------------------------------------


class Sources:
    """Where this install may get components: the mode, the release host, and one probe of it for the whole install."""

    def __init__(
        self, root: Path, mode: settings.Mode = "auto", mirror: str | None = None, *,
        probe: Callable[[str], bool] = download.reachable, platform: tuple[str, str] | None = None,
    ) -> None:
        self.root, self.mode, self.mirror, self.probe = root, mode, mirror, probe
        self.platform = platform if platform is not None else settings.host_platform()
        self.host = mirror or settings.GITHUB
        self._online: bool | None = None

    @classmethod
    def from_environment(cls, root: Path, environ: Mapping[str, str] | None = None) -> Sources:
        values = os.environ if environ is None else environ
        return cls(root, settings.source_mode(values), settings.mirror(values))

    def describe(self) -> str:
        where = f"mirror {settings.display(self.host)}" if self.mirror else settings.GITHUB
        return {"auto": f"release archives from {where}, then Debian packages, then Go builds",
                "release": f"release archives from {where} only", "build": "Debian packages and Go builds"}[self.mode]

    def online(self) -> bool:
        """Whether the release host answers; asked once per install, the first time a component needs it."""
        if self._online is None:
            started = time.monotonic()
            self._online = self.probe(self.host)
            verdict = "reachable" if self._online else "unreachable"
            say(f"  release host {settings.display(self.host)}: {verdict} (decided in {time.monotonic() - started:.2f} s)")
        return self._online

    def _fetch(self, release: releases.Release, label: str) -> tuple[Path, str, str]:
        """The release's archive, downloaded and verified: (path, SHA-256, where the SHA-256 was published)."""
        document = download.fetch_text(release.checksums_url(self.mirror), f"{label}: {release.checksums_name}")
        expected = release.expected_sha256(document)  # before the download: an unlisted archive is not fetched
        url = release.url(self.mirror)
        say(f"  {label}: downloading {release.asset} from {settings.display(url)}")
        folder = self.root / "downloads" / f"{release.repo.rpartition('/')[2]}-{release.tag}"
        archive = download.download(url, folder / release.asset, label)
        return archive, download.verify(archive, expected, release.checksums_name), release.checksums_name

    def release(self, component: str) -> Origin | str:
        """Install ``component`` from its release archive; the reason when no archive can be had (a bad one raises)."""
        if self.platform is None:
            return "no release archive is published for this platform"
        if not self.online():
            return f"{settings.display(self.host)} is unreachable"
        release = releases.for_component(component, *self.platform)
        label = f"{component} {release.version}"
        try:
            archive, digest, checksums = self._fetch(release, label)
        except download.Unavailable as exc:
            return str(exc)
        written = unpack.binaries(archive, release.members, self.root / "bin")
        archive.unlink(missing_ok=True)
        for binary in written:
            binary.with_suffix(".version").unlink(missing_ok=True)  # a Go build's stamp no longer describes it
        say(f"  {label}: installed from the release (SHA-256 verified against {checksums})")
        return origin.write(self.root, Origin(component, "release", release.version, str(written[0]), settings.display(release.url(self.mirror)), digest, checksums))

    def jaeger_ui(self) -> origin.JaegerUI:
        """A Jaeger built from source gets the released jaeger-ui assets of its version, when they can be fetched."""
        ui = origin.jaeger_ui(self.root)
        if ui.state != "placeholder":
            say(f"  jaeger UI: {ui.describe()}")
            return ui
        why = self.release_ui()
        if why is not None:
            say(f"  jaeger UI: not installed ({why}); traces are viewable with `otel-kit traces` and `otel-kit trace ID`")
        return origin.jaeger_ui(self.root)

    def release_ui(self) -> str | None:
        if not self.online():
            return f"{settings.display(self.host)} is unreachable"
        release = releases.jaeger_ui()
        label = f"jaeger-ui {release.version}"
        try:
            archive, digest, checksums = self._fetch(release, label)
        except download.Unavailable as exc:
            return str(exc)
        target = unpack.tree(archive, origin.ui_dir(self.root))
        archive.unlink(missing_ok=True)
        (target.parent / f"{target.name}.source.json").write_text(json.dumps(
            {"component": "jaeger-ui", "source": "release", "version": release.version, "path": str(target),
             "url": settings.display(release.url(self.mirror)), "sha256": digest, "checksums": checksums}, indent=2) + "\n")
        say(f"  {label}: installed in {target} (SHA-256 verified against {checksums}); Jaeger serves it from `stack up` on")
        return None


def _on_path(*names: str) -> Path | None:
    found = [shutil.which(name) for name in names]
    return Path(found[0]) if found and all(found) and found[0] else None


def _apt_install(root: Path, component: str, package: str) -> None:
    log = root / "logs" / f"install-{component}.log"
    say(f"  {component}: installing the Debian package ({package})")
    environment = {"DEBIAN_FRONTEND": "noninteractive"}
    run_logged(["apt-get", "update", "-q"], extra_env=environment, log=log)
    run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends", package], extra_env=environment, log=log)


def _install(
    root: Path, component: str, sources: Sources, build: Callable[[Path], Path], *,
    system: Callable[[], Path | None] | None = None, debian: str | None = None,
) -> Origin:
    """``component`` from the first source that has it: what is installed, the release, PATH, Debian, a Go build."""
    found = origin.current(root, component)
    if found is not None:
        say(f"  {component}: {found.describe()}, already installed ({found.binary})")
        return found
    if sources.mode != "build":
        got = sources.release(component)
        if isinstance(got, Origin):
            return got
        if sources.mode == "release":
            raise StackError(f"{component}: {got}; OTEL_KIT_STACK_SOURCE=release tries no other source (auto falls back to building it)")
        say(f"  {component}: no release archive ({got}): " + ("the binary on PATH, the Debian package or a Go build" if debian else "a Go build"))
    if system is not None and (path := system()) is not None:
        say(f"  {component}: using {path} (found on PATH)")
        return origin.write(root, Origin(component, "system", "", str(path)))
    if debian is not None and system is not None and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_install(root, component, debian)
        path = system()
        if path is None:
            raise StackError(f"{component} was installed from the Debian package {debian} but is not on PATH")
        return origin.write(root, Origin(component, "debian", "", str(path)))
    binary = build(root)
    return origin.write(root, Origin(component, "build", versions.PINS[component].module, str(binary)))


# --- Go builds (the offline path) ------------------------------------------------------------------


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


def build_collector(root: Path) -> Path:
    version = versions.COLLECTOR.module
    binary = root / "bin" / "otelcol"
    if _stamp(binary, version):
        say(f"  collector {version}: already built ({binary})")
        return binary
    go = _go()
    log = root / "logs" / "build-otelcol.log"
    say(f"  collector {version}: installing the Collector Builder")
    run_logged([go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{version}"], extra_env={"GOBIN": str(root / "bin")}, log=log)
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
    _write_stamp(binary, version)
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


def build_jaeger(root: Path) -> Path:
    return _build_in_module_copy(root, "jaeger", "github.com/jaegertracing/jaeger", versions.JAEGER.module, "./cmd/jaeger", note="(first time: a few minutes)")


def build_loki(root: Path) -> Path:
    # pkg/push is a nested module (absent from the module zip) replaced by a local path; drop the
    # replace and use the version go.mod requires instead.
    return _build_in_module_copy(
        root, "loki", "github.com/grafana/loki/v3", versions.LOKI.module, "./cmd/loki",
        edits=[["mod", "edit", "-dropreplace", "github.com/grafana/loki/pkg/push"]], flags=["-mod=mod"],
        note="(first time: several minutes)",
    )


def build_prometheus(root: Path) -> Path:
    go = _go()
    version = versions.PROMETHEUS.module
    log = root / "logs" / "install-prometheus.log"
    say(f"  prometheus {version}: building from the Go module (first time: several minutes)")
    for command in ("prometheus", "promtool"):
        run_logged([go, "install", f"github.com/prometheus/prometheus/cmd/{command}@{version}"], extra_env={"GOBIN": str(root / "bin")}, log=log)
    return root / "bin" / "prometheus"


def _placeholder_ui(work: Path) -> None:
    # The module zip has the UI's sources but not its npm-built assets, which the binary embeds
    # (go:embed app/dist): a page pointing at the API and the CLI stands in for them.
    dist = work / "ui" / "app" / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "index.html").write_text(
        "<!doctype html><title>Alertmanager</title><p>This Alertmanager was built without its web UI. "
        "Use the API (/api/v2/alerts, /api/v2/status) or <code>otel-kit alerts</code>.</p>\n"
    )


def build_alertmanager(root: Path) -> Path:
    return _build_in_module_copy(
        root, "alertmanager", "github.com/prometheus/alertmanager", versions.ALERTMANAGER.module, "./cmd/alertmanager",
        prepare=_placeholder_ui, note="(first time: a few minutes)",
    )


# --- what `stack up` runs -------------------------------------------------------------------------


def find_prometheus(root: Path) -> tuple[Path, Path] | None:
    local = (root / "bin" / "prometheus", root / "bin" / "promtool")
    if all(p.exists() for p in local):
        return local
    system = shutil.which("prometheus"), shutil.which("promtool")
    if system[0] and system[1]:
        return Path(system[0]), Path(system[1])
    return None


# Debian installs Alertmanager as prometheus-alertmanager; a release or a Go build is plain alertmanager.
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


def installed(root: Path) -> bool:
    """Every binary ``stack up`` needs is there."""
    return (
        find_prometheus(root) is not None and find_alertmanager(root) is not None
        and all((root / "bin" / name).exists() for name in ("otelcol", "jaeger", "loki"))
    )


def binaries(root: Path) -> dict[str, Path | None]:
    """The binary ``stack up`` runs for each service (None: not installed)."""
    prometheus = find_prometheus(root)
    local = {name: root / "bin" / origin.BINARY[name] for name in ("jaeger", "loki", "collector")}
    return {
        "alertmanager": find_alertmanager(root), "jaeger": local["jaeger"], "loki": local["loki"],
        "prometheus": prometheus[0] if prometheus else None, "collector": local["collector"],
    }


def origins(root: Path) -> dict[str, Origin | None]:
    """Where each service's binary came from (None: not installed)."""
    return {name: origin.of(root, name, path) for name, path in binaries(root).items()}


# --- the command -----------------------------------------------------------------------------------


def _alertmanager_on_path() -> Path | None:
    return next((Path(found) for name in ALERTMANAGER_NAMES if (found := shutil.which(name))), None)


def install_prometheus(root: Path, sources: Sources) -> Origin:
    return _install(root, "prometheus", sources, build_prometheus, system=lambda: _on_path("prometheus", "promtool"), debian="prometheus")


def install_alertmanager(root: Path, sources: Sources) -> Origin:
    return _install(root, "alertmanager", sources, build_alertmanager, system=_alertmanager_on_path, debian="prometheus-alertmanager")


def install_jaeger(root: Path, sources: Sources) -> Origin:
    found = _install(root, "jaeger", sources, build_jaeger)
    sources.jaeger_ui()
    return found


def install_loki(root: Path, sources: Sources) -> Origin:
    return _install(root, "loki", sources, build_loki)


def install_collector(root: Path, sources: Sources) -> Origin:
    return _install(root, "collector", sources, build_collector)


def install(root: Path | None = None, sources: Sources | None = None) -> dict[str, Origin]:
    base = root or home()
    (base / "bin").mkdir(parents=True, exist_ok=True)
    chosen = sources or Sources.from_environment(base)
    say(f"otel-kit stack install -> {base} (sources: {chosen.describe()})")
    steps: list[tuple[str, Callable[[Path, Sources], Origin]]] = [
        ("prometheus", install_prometheus),
        ("alertmanager", install_alertmanager),
        ("jaeger", install_jaeger),
        ("loki", install_loki),
        ("collector", install_collector),
    ]
    done = {}
    for number, (name, step) in enumerate(steps, 1):
        say(f"[{number}/{len(steps)}]")
        done[name] = step(base, chosen)
    say("done: " + ", ".join(f"{name} {got.source}" for name, got in done.items()) + "; `otel-kit stack up` starts the stack")
    return done
