"""`otel-kit stack install`'s sources: release archives from a mirror (a local HTTP server serving archives
the tests build, with checksum files in each project's own format), verification, resumed downloads, the
fallback to Go builds, the Jaeger UI assets, and the pins shared with docker-compose."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from otel_kit.cli.stack import Stack, StackError, build
from otel_kit.cli.stack.sources import download, origin, releases, settings, unpack, versions

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "collector-config"
LINUX = ("linux", "amd64")
COMPONENTS = ("prometheus", "alertmanager", "jaeger", "loki", "collector")


# --- a release mirror on 127.0.0.1 ------------------------------------------------------------------


@dataclass
class Mirror:
    """Files by URL path; every GET is recorded with its Range header; a path in ``cut`` loses its first response midway."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut: set[str] = field(default_factory=set)
    served: dict[str, int] = field(default_factory=dict)

    def gets(self, path: str) -> list[str | None]:
        return [header for requested, header in self.requests if requested == path]


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.send_response(404)
            self.end_headers()

        def do_GET(self) -> None:
            header = self.headers.get("Range")
            mirror.requests.append((self.path, header))
            body = mirror.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = int(header.removeprefix("bytes=").rstrip("-")) if header else 0
            if start >= len(body) > 0:
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206 if header else 200)
            if header:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            payload = body[start:]
            if self.path in mirror.cut:
                mirror.cut.discard(self.path)
                payload = payload[: len(payload) // 2]  # the connection drops midway
            self.wfile.write(payload)
            mirror.served[self.path] = mirror.served.get(self.path, 0) + len(payload)

    return Handler


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    """A release mirror on a free 127.0.0.1 port, stopped after the test."""
    state = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _script(text: str) -> bytes:
    return f"#!/bin/sh\necho '{text}'\n".encode()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o755
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _path(url: str, mirror: Mirror) -> str:
    return url.removeprefix(mirror.url)


def _checksum_file(release: releases.Release, digest: str) -> bytes:
    """The release's checksum file as its project writes it, with the other platforms' lines around ours."""
    other = release.asset.replace("linux", "darwin").replace("amd64", "arm64")
    if release.component == "jaeger":  # shasum -b
        lines = [f"{'0' * 64} *{other}", f"{digest} *{release.asset}", f"{'1' * 64} *jaeger-{release.version}-linux-amd64.tar.gz.asc"]
    else:  # sha256sum, promu, goreleaser
        lines = [f"{'0' * 64}  {other}", f"{digest}  {release.asset}"]
    return ("\n".join(lines) + "\n").encode()


def publish(mirror: Mirror, component: str, *, corrupt: bool = False) -> bytes:
    """Put ``component``'s release archive and checksum file on the mirror; the archive's bytes are returned."""
    release = releases.for_component(component, *LINUX)
    members = {member: _script(f"{binary} {release.version} from the release") for member, binary in release.members.items()}
    archive = _zip(members) if release.asset.endswith(".zip") else _tar(members)
    mirror.files[_path(release.checksums_url(mirror.url), mirror)] = _checksum_file(release, hashlib.sha256(archive).hexdigest())
    mirror.files[_path(release.url(mirror.url), mirror)] = archive[:-1] + bytes([archive[-1] ^ 1]) if corrupt else archive
    return archive


UI_FILES = {
    "packages/jaeger-ui/build/index.html": b"<!doctype html><title>Jaeger UI</title><script>JAEGER_VERSION = DEFAULT_VERSION;</script>",
    "packages/jaeger-ui/build/static/index-abc123.js": b"console.log('jaeger-ui');",
    "packages/jaeger-ui/build/favicon.ico": b"\x00\x01",
}


def publish_ui(mirror: Mirror, *, digest: str | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """jaeger-ui's assets.tar.gz and the release's API document (GitHub Enterprise's path on a mirror) with its digest."""
    release = releases.jaeger_ui()
    archive = _tar({**UI_FILES, **(extra or {})}, links={"packages/jaeger-ui/build/static/link": "/etc/passwd"})
    document = {"tag_name": release.tag, "assets": [
        {"name": "assets.tar.gz", "digest": f"sha256:{digest or hashlib.sha256(archive).hexdigest()}"},
        {"name": "other.txt", "digest": f"sha256:{'2' * 64}"},
    ]}
    mirror.files[_path(release.checksums_url(mirror.url), mirror)] = json.dumps(document).encode()
    mirror.files[_path(release.url(mirror.url), mirror)] = archive
    return archive


@dataclass
class Builds:
    """Stand-ins for the Go builds: each writes a marker binary and records that it was chosen."""

    root: Path
    chosen: list[str] = field(default_factory=list)

    def __call__(self, component: str) -> Path:
        self.chosen.append(component)
        binary = self.root / "bin" / origin.BINARY[component]
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_bytes(_script(f"{component} built"))
        binary.chmod(0o755)
        return binary


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Builds:
    """No Go build, no Debian package, nothing on PATH: the build step is a stand-in that records its calls."""
    stand_in = Builds(tmp_path)
    for component in COMPONENTS:
        monkeypatch.setattr(build, f"build_{component}", lambda root, c=component: stand_in(c))
    monkeypatch.setattr(build.shutil, "which", lambda name: None)

    def no_go() -> str:
        raise AssertionError("a real Go build was attempted")

    monkeypatch.setattr(build, "_go", no_go)
    return stand_in


def _sources(root: Path, mode: settings.Mode, url: str, probes: list[str] | None = None) -> build.Sources:
    def probe(host: str) -> bool:
        if probes is not None:
            probes.append(host)
        return download.reachable(host, timeout=2.0)

    return build.Sources(root, mode, url, probe=probe, platform=LINUX)


def _run(binary: Path) -> str:
    return subprocess.run([str(binary)], capture_output=True, text=True, timeout=10, check=True).stdout.strip()


# --- the releases' own names and formats ------------------------------------------------------------


def test_release_names_are_the_projects_own() -> None:
    """Archive, checksum file and member names are those each project's release tooling publishes."""
    expected = {
        "collector": ("open-telemetry/opentelemetry-collector-releases/releases/download/v0.152.0/otelcol-contrib_0.152.0_linux_amd64.tar.gz",
                      "opentelemetry-collector-releases_otelcol-contrib_checksums.txt", {"otelcol-contrib": "otelcol"}),
        "jaeger": ("jaegertracing/jaeger/releases/download/v2.13.0/jaeger-2.13.0-linux-amd64.tar.gz", "jaeger-2.13.0.sha256sum.txt",
                   {"jaeger-2.13.0-linux-amd64/jaeger": "jaeger"}),
        "loki": ("grafana/loki/releases/download/v3.7.8/loki-linux-amd64.zip", "SHA256SUMS", {"loki-linux-amd64": "loki"}),
        "prometheus": ("prometheus/prometheus/releases/download/v3.16.0/prometheus-3.16.0.linux-amd64.tar.gz", "sha256sums.txt",
                       {"prometheus-3.16.0.linux-amd64/prometheus": "prometheus", "prometheus-3.16.0.linux-amd64/promtool": "promtool"}),
        "alertmanager": ("prometheus/alertmanager/releases/download/v0.34.2/alertmanager-0.34.2.linux-amd64.tar.gz", "sha256sums.txt",
                         {"alertmanager-0.34.2.linux-amd64/alertmanager": "alertmanager"}),
    }
    for component, (path, checksums, members) in expected.items():
        release = releases.for_component(component, *LINUX)
        assert release.url(None) == f"https://github.com/{path}", component
        assert release.checksums_url("https://mirror.example.test/gh") == f"https://mirror.example.test/gh/{path.rpartition('/')[0]}/{checksums}"
        assert release.members == members
    ui = releases.jaeger_ui()
    assert ui.url(None) == "https://github.com/jaegertracing/jaeger-ui/releases/download/v1.76.0/assets.tar.gz"
    assert ui.checksums_url(None) == "https://api.github.com/repos/jaegertracing/jaeger-ui/releases/tags/v1.76.0"
    assert ui.checksums_url("https://ghe.example.test") == "https://ghe.example.test/api/v3/repos/jaegertracing/jaeger-ui/releases/tags/v1.76.0"


def test_checksum_documents_in_every_format() -> None:
    """sha256sum/goreleaser/promu (`hex  name`), shasum -b (`hex *name`) and GitHub's asset digest all resolve; gaps and junk are refused."""
    digest = "ab" * 32
    prometheus = releases.for_component("prometheus", *LINUX)
    assert prometheus.expected_sha256(f"{'0' * 64}  other.tar.gz\n{digest.upper()}  ./{prometheus.asset}\n") == digest
    jaeger = releases.for_component("jaeger", *LINUX)
    assert jaeger.expected_sha256(f"{digest} *{jaeger.asset}\n") == digest
    ui = releases.jaeger_ui()
    assert ui.expected_sha256(json.dumps({"assets": [{"name": "assets.tar.gz", "digest": f"sha256:{digest}"}]})) == digest
    with pytest.raises(StackError, match=r"sha256sums\.txt does not list prometheus-3\.16\.0\.linux-amd64\.tar\.gz: refusing to install it unverified"):
        prometheus.expected_sha256(f"{digest}  prometheus-3.16.0.darwin-arm64.tar.gz\n")
    with pytest.raises(StackError, match="malformed SHA-256"):
        jaeger.expected_sha256(f"nothex *{jaeger.asset}\n")
    with pytest.raises(StackError, match=r"asset digests does not list assets\.tar\.gz"):
        ui.expected_sha256(json.dumps({"assets": [{"name": "assets.tar.gz", "digest": f"sha1:{'a' * 40}"}]}))


def test_pins_match_docker_compose_kubernetes_and_the_builder_manifest() -> None:
    """docker-compose's images (and the Kubernetes Collector's) are the pinned releases; the Go module pins build the same versions."""
    services = yaml.safe_load((CONFIG / "docker-compose.yaml").read_text())["services"]
    for name, pin in versions.PINS.items():
        assert services[name]["image"] == pin.image_ref, name
    for manifest in ("agent.yaml", "gateway.yaml"):
        images = [line.split("image:")[1].strip() for line in (CONFIG / "kubernetes" / manifest).read_text().splitlines() if "image:" in line]
        assert images == [versions.COLLECTOR.image_ref], manifest
    assert yaml.safe_load((CONFIG / "builder-config.yaml").read_text())["dist"]["version"] == versions.COLLECTOR.module
    major, minor, patch = (int(part) for part in versions.PROMETHEUS.release.split("."))
    assert major == 3 and versions.PROMETHEUS.module == f"v0.{300 + minor}.{patch}"  # Prometheus 3.X.Y is module v0.3XX.Y
    assert versions.LOKI.module == f"v{versions.LOKI.release}" and versions.ALERTMANAGER.module == f"v{versions.ALERTMANAGER.release}"


def test_source_and_mirror_settings_warn_and_fall_back() -> None:
    """An unknown OTEL_KIT_STACK_SOURCE warns naming it and means auto; a mirror that is not an http(s) base, or holds credentials, warns without them."""
    warnings: list[str] = []
    assert settings.source_mode({}, warnings.append) == "auto" and not warnings
    assert [settings.source_mode({"OTEL_KIT_STACK_SOURCE": v}, warnings.append) for v in ("Release", " build ", "auto")] == ["release", "build", "auto"]
    assert settings.source_mode({"OTEL_KIT_STACK_SOURCE": "docker"}, warnings.append) == "auto"
    assert warnings == ["OTEL_KIT_STACK_SOURCE='docker' is not one of auto, release, build: using auto"]
    assert settings.mirror({"OTEL_KIT_RELEASE_MIRROR": "https://artifacts.example.test/github/"}, warnings.append) == "https://artifacts.example.test/github"
    assert settings.mirror({"OTEL_KIT_RELEASE_MIRROR": "ftp://artifacts.example.test"}, warnings.append) is None
    assert settings.mirror({"OTEL_KIT_RELEASE_MIRROR": "https://bot:s3cret@artifacts.example.test/gh"}, warnings.append) is None
    assert len(warnings) == 3 and "s3cret" not in warnings[2] and "'https://artifacts.example.test/gh'" in warnings[2]


def test_probe_answers_quickly_for_reachable_refused_and_silent_hosts(mirror: Mirror) -> None:
    """Any HTTP answer is reachable; a refused connection and a host that never answers are not (bounded by the probe's timeout)."""
    assert download.reachable(mirror.url, timeout=2.0)
    assert not download.reachable(f"http://127.0.0.1:{_closed_port()}", timeout=2.0)
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        assert not download.reachable(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)


# --- install from the mirror --------------------------------------------------------------------------


def test_install_downloads_verifies_and_records_every_release(
    mirror: Mirror, builds: Builds, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every component comes from its release archive, SHA-256 checked, with a record of where it came from; one probe for the install."""
    archives = {component: publish(mirror, component) for component in COMPONENTS}
    probes: list[str] = []
    done = build.install(tmp_path, _sources(tmp_path, "auto", mirror.url, probes))
    assert probes == [mirror.url] and builds.chosen == []
    for component in COMPONENTS:
        release = releases.for_component(component, *LINUX)
        assert done[component].source == "release" and done[component].sha256 == hashlib.sha256(archives[component]).hexdigest()
        for binary in release.members.values():
            assert _run(tmp_path / "bin" / binary) == f"{binary} {release.version} from the release"
        recorded = json.loads(origin.record_path(tmp_path, component).read_text())
        assert recorded["source"] == "release" and recorded["url"] == release.url(mirror.url) and recorded["checksums"] == release.checksums
    assert build.installed(tmp_path) and origin.jaeger_ui(tmp_path).state == "embedded"
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]  # archives are removed once unpacked
    output = capsys.readouterr().out
    assert f"release host {mirror.url}: reachable" in output and "jaeger UI: real (built into the release binary)" in output
    assert not mirror.gets(releases.jaeger_ui().url(mirror.url).removeprefix(mirror.url))  # the release has its UI: nothing more to fetch
    build.install(tmp_path, _sources(tmp_path, "auto", mirror.url))  # a second install finds everything in place
    assert len(mirror.requests) == 2 * len(COMPONENTS)


def test_corrupted_archive_is_refused_naming_the_file(mirror: Mirror, builds: Builds, tmp_path: Path) -> None:
    """An archive whose SHA-256 differs from the published one is an error naming it: nothing installed, no fallback to a build."""
    publish(mirror, "jaeger", corrupt=True)
    with pytest.raises(StackError) as info:
        build.install_jaeger(tmp_path, _sources(tmp_path, "auto", mirror.url))
    message = str(info.value)
    assert message.startswith("jaeger-2.13.0-linux-amd64.tar.gz: SHA-256 mismatch: jaeger-2.13.0.sha256sum.txt publishes ")
    assert not (tmp_path / "bin" / "jaeger").exists() and builds.chosen == []
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]  # the bad download is gone, .part included


def test_unreachable_mirror_falls_back_to_builds_after_one_probe(builds: Builds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no route to the release host, auto probes once, builds every component and says so; the UI line points at the CLI."""
    probes: list[str] = []
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    done = build.install(tmp_path, _sources(tmp_path, "auto", unreachable, probes))
    assert probes == [unreachable]
    assert sorted(builds.chosen) == sorted(COMPONENTS) and {got.source for got in done.values()} == {"build"}
    assert origin.read(tmp_path, "loki") == done["loki"] and done["loki"].version == versions.LOKI.module
    output = capsys.readouterr().out
    assert f"release host {unreachable}: unreachable" in output
    assert f"prometheus: no release archive ({unreachable} is unreachable): the binary on PATH, the Debian package or a Go build" in output
    assert "jaeger UI: not installed" in output and "`otel-kit traces`" in output
    assert origin.jaeger_ui(tmp_path).state == "placeholder"


def test_release_mode_never_falls_back(builds: Builds, tmp_path: Path) -> None:
    """OTEL_KIT_STACK_SOURCE=release with the host unreachable is an error naming the component; nothing is built."""
    with pytest.raises(StackError, match=r"^prometheus: http://127\.0\.0\.1:\d+ is unreachable; OTEL_KIT_STACK_SOURCE=release tries no other source"):
        build.install(tmp_path, _sources(tmp_path, "release", f"http://127.0.0.1:{_closed_port()}"))
    assert builds.chosen == []


def test_archive_missing_from_the_mirror_falls_back_in_auto(mirror: Mirror, builds: Builds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A mirror without one archive (HTTP 404): that component is built, the others come from their releases."""
    for component in COMPONENTS:
        publish(mirror, component)
    del mirror.files[releases.for_component("loki", *LINUX).url(mirror.url).removeprefix(mirror.url)]
    done = build.install(tmp_path, _sources(tmp_path, "auto", mirror.url))
    assert builds.chosen == ["loki"] and done["loki"].source == "build" and done["jaeger"].source == "release"
    assert "loki: no release archive (loki 3.7.8: " in capsys.readouterr().out


def test_build_mode_downloads_no_archive(mirror: Mirror, builds: Builds, tmp_path: Path) -> None:
    """OTEL_KIT_STACK_SOURCE=build skips the archives; only the Jaeger UI assets are fetched for the Go-built Jaeger."""
    for component in COMPONENTS:
        publish(mirror, component)
    publish_ui(mirror)
    build.install(tmp_path, _sources(tmp_path, "build", mirror.url))
    assert sorted(builds.chosen) == sorted(COMPONENTS)
    assert [path for path, _ in mirror.requests] == [
        "/api/v3/repos/jaegertracing/jaeger-ui/releases/tags/v1.76.0", "/jaegertracing/jaeger-ui/releases/download/v1.76.0/assets.tar.gz",
    ]


# --- resumable downloads --------------------------------------------------------------------------------


def test_interrupted_download_resumes_with_range(mirror: Mirror, builds: Builds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A response cut midway is continued from the bytes already on disk (Range), not fetched again; the result verifies."""
    archive = publish(mirror, "prometheus")
    path = releases.for_component("prometheus", *LINUX).url(mirror.url).removeprefix(mirror.url)
    mirror.cut.add(path)
    build.install_prometheus(tmp_path, _sources(tmp_path, "release", mirror.url))
    half = len(archive) // 2
    assert mirror.gets(path) == [None, f"bytes={half}-"]
    assert mirror.served[path] == len(archive)  # every byte crossed the wire once
    assert _run(tmp_path / "bin" / "promtool") == "promtool 3.16.0 from the release"
    assert "prometheus 3.16.0: resuming at " in capsys.readouterr().out


def test_part_file_of_an_earlier_run_is_continued(mirror: Mirror, builds: Builds, tmp_path: Path) -> None:
    """An install stopped midway left `<archive>.part`: the next one asks only for the rest."""
    archive = publish(mirror, "collector")
    release = releases.for_component("collector", *LINUX)
    part = tmp_path / "downloads" / "opentelemetry-collector-releases-v0.152.0" / f"{release.asset}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[:100])
    build.install_collector(tmp_path, _sources(tmp_path, "release", mirror.url))
    assert mirror.gets(release.url(mirror.url).removeprefix(mirror.url)) == ["bytes=100-"]
    assert _run(tmp_path / "bin" / "otelcol") == "otelcol 0.152.0 from the release" and not part.exists()


def test_download_that_keeps_failing_is_reported_resumable(mirror: Mirror, tmp_path: Path) -> None:
    """A file cut on every attempt fails after a bounded number of tries, saying how to resume; the part stays for next time."""
    mirror.files["/big"] = bytes(range(256)) * 64

    class Cutting(set[str]):
        def discard(self, item: object) -> None:  # never healed: every response is cut
            pass

    mirror.cut = Cutting({"/big"})
    with pytest.raises(download.Unavailable, match=r"interrupted 3 times .*`otel-kit stack install` resumes it"):
        download.download(f"{mirror.url}/big", tmp_path / "big", "big", attempts=3)
    assert len(mirror.gets("/big")) == 3 and (tmp_path / "big.part").stat().st_size > 0


# --- the Jaeger UI for a Go-built Jaeger -------------------------------------------------------------


def _go_built_jaeger(root: Path) -> None:
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "bin" / "jaeger").write_bytes(_script("jaeger built"))
    (root / "bin" / "jaeger.version").write_text(versions.JAEGER.module + "\n")


def test_go_built_jaeger_gets_the_released_ui_assets(mirror: Mirror, builds: Builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI assets are verified against GitHub's published digest, unpacked without links, and handed to Jaeger by `stack up`."""
    _go_built_jaeger(tmp_path)
    publish_ui(mirror)
    build.install_jaeger(tmp_path, _sources(tmp_path, "auto", mirror.url))
    assets = origin.ui_dir(tmp_path)
    assert {str(p.relative_to(assets)) for p in assets.rglob("*") if p.is_file()} == {"index.html", "static/index-abc123.js", "favicon.ico"}
    assert not (assets / "static" / "link").exists() and builds.chosen == []
    assert origin.jaeger_ui(tmp_path) == origin.JaegerUI("assets", assets)
    record = json.loads((assets.parent / f"{assets.name}.source.json").read_text())
    assert record["sha256"] == hashlib.sha256(mirror.files["/jaegertracing/jaeger-ui/releases/download/v1.76.0/assets.tar.gz"]).hexdigest()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for name in ("otelcol", "loki", "prometheus", "promtool", "alertmanager"):
        (tmp_path / "bin" / name).write_text("")
    jaeger = next(s for s in Stack(name="ui", root=tmp_path).services() if s.name == "jaeger")
    assert jaeger.environment["JAEGER_UI_ASSETS_PATH"] == str(assets)


def test_ui_assets_with_the_wrong_digest_are_refused(mirror: Mirror, builds: Builds, tmp_path: Path) -> None:
    """assets.tar.gz that does not match its published digest is an error naming it; no assets folder appears."""
    _go_built_jaeger(tmp_path)
    publish_ui(mirror, digest="f" * 64)
    with pytest.raises(StackError, match=r"^assets\.tar\.gz: SHA-256 mismatch: the jaegertracing/jaeger-ui v1\.76\.0 release's asset digests publishes f{64}"):
        build.install_jaeger(tmp_path, _sources(tmp_path, "auto", mirror.url))
    assert not origin.ui_dir(tmp_path).exists() and origin.jaeger_ui(tmp_path).state == "placeholder"


def test_ui_without_a_published_digest_is_skipped_not_installed(
    mirror: Mirror, builds: Builds, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A release document without the asset's digest: the UI is not downloaded, the install goes on and says why."""
    _go_built_jaeger(tmp_path)
    publish_ui(mirror)
    path = releases.jaeger_ui().checksums_url(mirror.url).removeprefix(mirror.url)
    mirror.files[path] = json.dumps({"assets": [{"name": "assets.tar.gz"}]}).encode()
    assert build.install_jaeger(tmp_path, _sources(tmp_path, "auto", mirror.url)).source == "build"
    assert [p for p, _ in mirror.requests] == [path] and origin.jaeger_ui(tmp_path).state == "placeholder"
    assert "jaeger UI: not installed (the jaegertracing/jaeger-ui v1.76.0 release's asset digests does not list assets.tar.gz" in capsys.readouterr().out


def test_archive_members_outside_the_folder_are_refused(tmp_path: Path) -> None:
    """A member climbing out with `..` stops the unpacking before anything lands outside the target."""
    archive = tmp_path / "assets.tar.gz"
    archive.write_bytes(_tar({**UI_FILES, "packages/jaeger-ui/build/../../../../escaped.txt": b"x"}))
    with pytest.raises(StackError, match=r"refusing member 'packages/jaeger-ui/build/\.\./\.\./\.\./\.\./escaped\.txt'"):
        unpack.tree(archive, tmp_path / "ui")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "ui").exists() and not (tmp_path / "ui.tmp").exists()
    missing = tmp_path / "loki.zip"
    missing.write_bytes(_zip({"loki-darwin-arm64": b"x"}))
    with pytest.raises(StackError, match=r"loki\.zip has no file loki-linux-amd64"):
        unpack.binaries(missing, {"loki-linux-amd64": "loki"}, tmp_path / "bin")
