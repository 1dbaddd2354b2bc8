"""Shipped configs: every Collector config validates with the binary we build; rules pass promtool; compose matches."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

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
    assert set(services) == {"collector", "jaeger", "loki", "prometheus", "grafana"}
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
    provider = yaml.safe_load((CONFIG / "grafana/provisioning/dashboards/otel-kit.yaml").read_text())["providers"][0]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in services["grafana"]["volumes"]
    assert services["grafana"]["environment"]["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"


DASHBOARD = CONFIG / "grafana" / "dashboards" / "otel-kit-service.json"
# Grafana's variables, as an instant query against a real backend would see them
_SUBSTITUTIONS = {"$__rate_interval": "1m", "$__range": "1h"}


def dashboard_queries(job: str = "checkout") -> list[tuple[str, str, str]]:
    """(panel title, datasource uid, query with Grafana variables filled in) for every target."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            query = target["expr"].replace("$job", job)
            for variable, value in _SUBSTITUTIONS.items():
                query = query.replace(variable, value)
            out.append((panel["title"], target["datasource"]["uid"], query))
    return out


def test_dashboard_is_consistent_with_the_provisioned_data_sources() -> None:
    """Panels use provisioned data sources, have unique ids, fit the grid without overlapping, and fill every variable."""
    dashboard = json.loads(DASHBOARD.read_text())
    sources = yaml.safe_load((CONFIG / "grafana/provisioning/datasources/otel-kit.yaml").read_text())["datasources"]
    uids = {source["uid"]: source for source in sources}
    assert {"prometheus", "loki", "jaeger"} <= set(uids)
    assert uids["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"] == "jaeger"
    panels: list[dict[str, Any]] = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in uids and panel["targets"], panel["title"]
    queries = dashboard_queries()
    assert len(queries) >= 20 and not [q for _, _, q in queries if "$" in q], "a Grafana variable is left unfilled"
    assert {uid for _, uid, _ in queries} == {"prometheus", "loki"}


def test_dashboard_promql_passes_promtool(stack_root: Path, tmp_path: Path) -> None:
    """Every PromQL expression in the dashboard parses: each becomes a recording rule for `promtool check rules`."""
    from otel_kit.cli.stack import find_prometheus

    found = find_prometheus(stack_root)
    assert found is not None
    rules = [{"record": f"dashboard:query_{index}", "expr": query} for index, (_, uid, query) in enumerate(dashboard_queries()) if uid == "prometheus"]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run([str(found[1]), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    broken = tmp_path / "broken.rules.yml"  # the check itself can fail
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum by (a (up)"}]}]}))
    assert subprocess.run([str(found[1]), "check", "rules", str(broken)], capture_output=True, timeout=60).returncode != 0
