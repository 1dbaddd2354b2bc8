"""Shipped configs: every Collector config validates with the binary we build; rules pass promtool; compose matches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).resolve().parents[1] / "collector-config"


@pytest.mark.parametrize("name", ["otelcol.yaml", "otelcol-agent.yaml", "otelcol-gateway.yaml"])
def test_collector_config_validates(stack_root: Path, name: str, tmp_path: Path) -> None:
    """`otelcol validate` accepts each shipped Collector configuration."""
    result = subprocess.run(
        [str(stack_root / "bin" / "otelcol"), "validate", f"--config={CONFIG / name}"],
        capture_output=True, text=True, timeout=120, env={"OTELCOL_STORAGE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_builder_manifest_lists_exactly_the_components_used(stack_root: Path) -> None:
    """The builder manifest has exactly the components the configs use (plus the providers)."""
    manifest = yaml.safe_load((CONFIG / "builder-config.yaml").read_text())
    built = {entry["gomod"].split()[0].rsplit("/", 1)[-1] for kind in ("receivers", "processors", "exporters", "connectors", "extensions") for entry in manifest[kind]}
    used: set[str] = set()
    for name in ("otelcol.yaml", "otelcol-agent.yaml", "otelcol-gateway.yaml"):
        config = yaml.safe_load((CONFIG / name).read_text())
        for kind in ("receivers", "processors", "exporters", "connectors", "extensions"):
            used |= {key.split("/")[0] for key in (config.get(kind) or {})}
    module_for = {
        "otlp": "otlpreceiver", "memory_limiter": "memorylimiterprocessor", "batch": "batchprocessor", "resource": "resourceprocessor",
        "tail_sampling": "tailsamplingprocessor", "otlp_grpc": "otlpexporter", "otlp_http": "otlphttpexporter",
        "prometheusremotewrite": "prometheusremotewriteexporter", "loadbalancing": "loadbalancingexporter",
        "span_metrics": "spanmetricsconnector", "health_check": "healthcheckextension", "file_storage": "filestorage",
    }
    assert {module_for[c] for c in used} <= built
    unused = built - {module_for[c] for c in used}
    # debug, prometheus (scrape), transform and filter are shipped for users' own pipelines
    assert unused <= {"debugexporter", "prometheusexporter", "transformprocessor", "filterprocessor"}


def test_rules_check_and_unit_tests(stack_root: Path) -> None:
    """Every rule file passes `promtool check rules` and every group has passing `promtool test rules`."""
    from otel_kit.cli.stack import find_prometheus

    found = find_prometheus(stack_root)
    assert found is not None
    promtool = str(found[1])
    rules = sorted((CONFIG / "rules").glob("*.yml"))
    tests = sorted((CONFIG / "rules" / "tests").glob("*.test.yml"))
    assert {r.stem for r in rules} == {t.name.removesuffix(".test.yml") for t in tests}, "every rule file needs a test file"
    check = subprocess.run([promtool, "check", "rules", *map(str, rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    for test in tests:
        result = subprocess.run([promtool, "test", "rules", test.name], cwd=test.parent, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{test.name}: {result.stdout}{result.stderr}"


def test_prometheus_config_checks(stack_root: Path, tmp_path: Path) -> None:
    """prometheus.yml passes `promtool check config`."""
    from otel_kit.cli.stack import find_prometheus

    found = find_prometheus(stack_root)
    assert found is not None
    result = subprocess.run([str(found[1]), "check", "config", str(CONFIG / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_uses_the_same_files() -> None:
    """docker-compose mounts the same config files, pins image tags and uses host networking (same ports)."""
    compose = yaml.safe_load((CONFIG / "docker-compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"collector", "jaeger", "loki", "prometheus"}
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        _, _, tag = service["image"].rpartition(":")
        assert tag and tag != "latest", service["image"]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (CONFIG / source).exists(), f"{name} mounts missing {source}"
    assert "0.152.0" in services["collector"]["image"]
    assert "--web.enable-remote-write-receiver" in services["prometheus"]["command"]
