"""Shipped configs: every Collector config validates with the binary we build; rules pass promtool; compose matches."""

from __future__ import annotations

import json
import re
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
    assert set(services) == {"collector", "jaeger", "loki", "prometheus", "alertmanager", "grafana"}
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


# --- metric names used by rules, dashboards and the CLI (checked against real output in tests/e2e/test_scale.py)

_PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan"}
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:]|\s*\()")
_CLI_QUERY = re.compile(r"prometheus_query\([^,]+,\s*f?[\"']([A-Za-z_:][A-Za-z0-9_:]*)")


def metric_names_in(promql: str) -> set[str]:
    """The metric names a PromQL expression selects (no functions, keywords, labels, numbers or durations)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', promql)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _PROMQL_WORDS}


def used_metric_names() -> dict[str, set[str]]:
    """Every metric name a shipped rule, dashboard panel or CLI query reads -> where it is read.

    Recording rules' own names are left out (they are produced by the rules, not by a component)."""
    used: dict[str, set[str]] = {}
    recorded: set[str] = set()
    for path in sorted((CONFIG / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                recorded |= {rule["record"]} if "record" in rule else set()
                for name in metric_names_in(rule["expr"]):
                    used.setdefault(name, set()).add(f"rules/{path.name}: {rule.get('alert') or rule.get('record')}")
    for title, uid, query in dashboard_queries():
        if uid == "prometheus":
            for name in metric_names_in(query):
                used.setdefault(name, set()).add(f"dashboard: {title}")
    cli = Path(__file__).resolve().parents[1] / "otel_kit" / "cli"
    for path in sorted(cli.rglob("*.py")):
        for name in _CLI_QUERY.findall(path.read_text()):
            used.setdefault(name, set()).add(f"cli: {path.relative_to(cli.parent)}")
    for name in recorded:
        used.pop(name, None)
    return used


def test_metric_names_are_read_from_rules_dashboard_and_cli() -> None:
    """The name extraction finds the names and places it must, and no function, label or keyword."""
    assert metric_names_in('sum by (job, le) (rate(x_bucket{code=~"5..", job="a b"}[5m])) / on(job) group_left y > bool 0.5') == {"x_bucket", "y"}
    assert metric_names_in("histogram_quantile(0.95, sum without (instance) (rate(a:b_c[1h:5m] offset 1h)))") == {"a:b_c"}
    assert metric_names_in('1 - job:slo_errors:ratio_rate1h and up{job=~"otel-collector.*"} == 0 or vector(1)') == {"job:slo_errors:ratio_rate1h", "up"}
    used = used_metric_names()
    assert "otel_kit_doctor_probes_total" in used and any(place.startswith("cli: ") for place in used["otel_kit_doctor_probes_total"])
    assert any(place.startswith("dashboard: ") for places in used.values() for place in places)
    assert "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early" in used
    assert not [name for name in used if name.startswith("job:")], "recorded names are produced by the rules themselves"


# --- the scale-out tier: per-instance settings, sizing, span metrics, failover overlays, Kubernetes ---------------

_DEFAULT = re.compile(r"\$\{env:(OTELCOL_[A-Z_]+):-([^{}]*(?:\$\{[^{}]*(?:\$\{[^{}]*\}[^{}]*)?\}[^{}]*)*)\}")


def env_defaults(name: str) -> dict[str, str]:
    """The ``${env:OTELCOL_X:-default}`` defaults of one shipped Collector file."""
    return dict(_DEFAULT.findall((CONFIG / name).read_text()))


def _otelcol(stack_root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(stack_root / "bin" / "otelcol"), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_instances_take_ports_and_storage_from_the_environment_with_defaults_that_cannot_collide() -> None:
    """Single node, agent and gateway: every port and the queue directory from the environment; defaults disjoint,
    equal to the first agent/gateway of `stack up --topology scale`, and never under /tmp."""
    from otel_kit.cli.stack import DEFAULT_PORTS, scale
    from tests.conftest import E2E_PORTS

    defaults = {name: env_defaults(name) for name in ("otelcol.yaml", "otelcol-agent.yaml", "otelcol-gateway.yaml")}
    keys = {"OTELCOL_HEALTH_ENDPOINT", "OTELCOL_OTLP_GRPC_ENDPOINT", "OTELCOL_METRICS_PORT", "OTELCOL_STORAGE_DIR", "OTELCOL_INSTANCE_ID"}
    ports: dict[int, str] = {}
    for name, found in defaults.items():
        assert keys <= set(found), f"{name} lacks {keys - set(found)}"
        for key, value in found.items():
            if key.endswith(("_ENDPOINT", "_PORT")) and "GATEWAY" not in key:
                port = int(value.rpartition(":")[2])
                assert port not in ports, f"{name} {key} default {port} is also {ports[port]}"
                ports[port] = f"{name} {key}"
        storage = found["OTELCOL_STORAGE_DIR"]
        assert "/tmp" not in storage and storage.startswith("${env:OTEL_KIT_HOME:-${env:HOME}/.cache/otel-kit}/run/"), storage
    assert len({found["OTELCOL_STORAGE_DIR"] for found in defaults.values()}) == 3
    assert len({found["OTELCOL_INSTANCE_ID"] for found in defaults.values()}) == 3
    agent, gateway = defaults["otelcol-agent.yaml"], defaults["otelcol-gateway.yaml"]
    assert {int(agent[k].rpartition(":")[2]) for k in ("OTELCOL_OTLP_GRPC_ENDPOINT", "OTELCOL_OTLP_HTTP_ENDPOINT", "OTELCOL_HEALTH_ENDPOINT", "OTELCOL_METRICS_PORT")} \
        == set(scale.DEFAULT_PORTS["agent-1"].values())
    assert {int(gateway[k].rpartition(":")[2]) for k in ("OTELCOL_OTLP_GRPC_ENDPOINT", "OTELCOL_HEALTH_ENDPOINT", "OTELCOL_METRICS_PORT")} \
        == set(scale.DEFAULT_PORTS["gateway-1"].values())
    assert agent["OTELCOL_GATEWAYS"] == "[" + ",".join(f"127.0.0.1:{scale.DEFAULT_PORTS[g]['otlp_grpc']}" for g in scale.GATEWAYS) + "]"
    tier = {port for ports_of in scale.DEFAULT_PORTS.values() for port in ports_of.values()}
    # the single-node stack's defaults, its --port-offset steps of 100 and 1,000, and the e2e ports
    stack_ports = {port + step for port in DEFAULT_PORTS.values() for step in (*range(0, 1000, 100), *range(0, 10000, 1000))}
    assert not tier & (stack_ports | set(E2E_PORTS.values()) | set(ports) - tier)


def test_tail_sampling_is_sized_from_one_setting(stack_root: Path, tmp_path: Path) -> None:
    """TAIL_SAMPLING_TRACES_PER_SEC alone sets the expected rate, the buffer (100 x) and both decision caches (100 x)."""
    for rate, expected in ((None, 1000), ("2500", 2500)):
        env = {"HOME": str(tmp_path)} | ({"TAIL_SAMPLING_TRACES_PER_SEC": rate} if rate else {})
        result = _otelcol(stack_root, "print-config", f"--config={CONFIG / 'otelcol-gateway.yaml'}", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        sampling = yaml.safe_load(result.stdout)["processors"]["tail_sampling"]
        assert sampling["expected_new_traces_per_sec"] == expected
        assert sampling["num_traces"] == sampling["decision_cache"]["sampled_cache_size"] == sampling["decision_cache"]["non_sampled_cache_size"] == 100 * expected
        assert sampling["decision_wait"] == "10s" and sampling["block_on_overflow"] is False
    names = [p["name"] for p in yaml.safe_load((CONFIG / "otelcol-gateway.yaml").read_text())["processors"]["tail_sampling"]["policies"]]
    assert names == ["errors", "slow-traces", "slow-queries", "n-plus-one", "base-rate"]


def test_slow_query_policy_reads_the_sdk_threshold_and_mark() -> None:
    """The slow-query keep policy uses OTEL_KIT_SLOW_QUERY_MS with the SDK's default and the SDK's slow-query event."""
    from otel_kit.analysis.slow_queries import SLOW_EVENT
    from otel_kit.config import environment
    from otel_kit.config.settings import SPECS

    policy = next(p for p in yaml.safe_load((CONFIG / "otelcol-gateway.yaml").read_text())["processors"]["tail_sampling"]["policies"]
                  if p["name"] == "slow-queries")["ottl_condition"]
    assert policy["spanevent"] == [f'name == "{SLOW_EVENT}"']
    default = SPECS["slow_query_ms"].default
    assert SPECS["slow_query_ms"].envs[0][0] == environment.OTEL_KIT_SLOW_QUERY_MS
    assert f"${{env:{environment.OTEL_KIT_SLOW_QUERY_MS}:-{default:g}}} * 1000000" in policy["span"][0]


def test_gateway_span_metrics_match_the_single_node() -> None:
    """Same span metrics connector (names, buckets, dimensions, 5 s flush), same resource processor before it, and
    the same stable collector_instance_id label from OTELCOL_INSTANCE_ID."""
    single = yaml.safe_load((CONFIG / "otelcol.yaml").read_text())
    gateway = yaml.safe_load((CONFIG / "otelcol-gateway.yaml").read_text())
    assert gateway["connectors"]["span_metrics"] == single["connectors"]["span_metrics"]
    assert gateway["processors"]["resource"] == single["processors"]["resource"]
    for config in (single, gateway):
        feeding = [p for p in config["service"]["pipelines"].values() if "span_metrics" in p["exporters"]]
        assert len(feeding) == 1 and "resource" in feeding[0]["processors"]
        assert "resource" in config["service"]["pipelines"]["metrics"]["processors"]
        assert config["service"]["telemetry"]["resource"]["collector.instance.id"].startswith("${env:OTELCOL_INSTANCE_ID:-")
    assert gateway["service"]["telemetry"]["metrics"] | {"readers": None} == single["service"]["telemetry"]["metrics"] | {"readers": None}


def test_agent_failover_overlay_validates(stack_root: Path, tmp_path: Path) -> None:
    """otelcol-agent.yaml with otelcol-agent.dns.yaml: a DNS resolver for traces and metrics, logs balanced over the name."""
    configs = [f"--config={CONFIG / 'otelcol-agent.yaml'}", f"--config={CONFIG / 'otelcol-agent.dns.yaml'}"]
    assert _otelcol(stack_root, "validate", *configs, env={"HOME": str(tmp_path)}).returncode == 0
    printed = yaml.safe_load(_otelcol(stack_root, "print-config", *configs, env={"HOME": str(tmp_path), "OTELCOL_GATEWAY_DNS_NAME": "gw"}).stdout)
    for name in ("loadbalancing/traces", "loadbalancing/metrics"):
        resolver = printed["exporters"][name]["resolver"]
        assert resolver["static"] is None and resolver["dns"]["hostname"] == "gw" and resolver["dns"]["port"] == "4317"
    assert printed["exporters"]["otlp_grpc/logs"]["endpoint"] == "dns:///gw:4317"


K8S = CONFIG / "kubernetes"
# what the kubelet fills in from the downward API
_FIELDS = {"status.podIP": "10.1.2.3", "metadata.name": "otel-gateway-7d9f-abcde", "spec.nodeName": "node-1", "status.hostIP": "10.0.0.1"}


def _documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def _container_env(container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in container.get("env", []):
        value = item["value"] if "value" in item else _FIELDS[item["valueFrom"]["fieldRef"]["fieldPath"]]
        env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], str(value))
    return env


def test_kubernetes_manifests_run_the_shipped_configs_and_validate(stack_root: Path, tmp_path: Path) -> None:
    """Agent DaemonSet and gateway Deployment run the shipped files verbatim; with the pod's environment each passes
    `otelcol validate`; the agents' Kubernetes resolver names the gateways' headless Service and may read it."""
    kubeconfig = tmp_path / "kubeconfig"  # the resolver builds its client at validation; nothing is contacted
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c", "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "x"}}], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    documents = _documents("namespace.yaml") + _documents("agent.yaml") + _documents("gateway.yaml")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], []).append(doc)
    config_maps = {doc["metadata"]["name"]: doc["data"] for doc in by_kind["ConfigMap"]}
    assert config_maps["otel-agent-config"]["otelcol-agent.yaml"] == (CONFIG / "otelcol-agent.yaml").read_text()
    assert config_maps["otel-gateway-config"]["otelcol-gateway.yaml"] == (CONFIG / "otelcol-gateway.yaml").read_text()
    workloads = {doc["kind"]: doc for doc in by_kind["DaemonSet"] + by_kind["Deployment"]}
    assert set(workloads) == {"DaemonSet", "Deployment"} and workloads["Deployment"]["spec"]["replicas"] >= 2
    for kind, workload in workloads.items():
        spec = workload["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["image"].endswith(":0.152.0")
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")["mountPath"]
        data = config_maps[next(v for v in spec["volumes"] if v["name"] == "config")["configMap"]["name"]]
        directory = tmp_path / kind
        directory.mkdir()
        args = []
        for arg in container["args"]:
            file = arg.removeprefix(f"--config={mount}/")
            (directory / file).write_text(data[file])
            args.append(f"--config={directory / file}")
        env = _container_env(container) | {"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
        result = _otelcol(stack_root, "validate", *args, env=env)
        assert result.returncode == 0, f"{kind}: {result.stderr[-2000:]}"
        assert env["OTELCOL_STORAGE_DIR"] in {m["mountPath"] for m in container["volumeMounts"]}
    service = next(s for s in by_kind["Service"] if s["metadata"]["name"] == "otel-gateway")
    assert service["spec"]["clusterIP"] == "None"
    overlay = yaml.safe_load(config_maps["otel-agent-config"]["k8s-resolver.yaml"])["exporters"]
    for name in ("loadbalancing/traces", "loadbalancing/metrics"):
        k8s = overlay[name]["resolver"]["k8s"]
        assert k8s["service"] == f"{service['metadata']['name']}.{service['metadata']['namespace']}"
        assert k8s["ports"] == [p["port"] for p in service["spec"]["ports"]]
    (role,) = by_kind["Role"]
    assert {"endpointslices"} <= set(role["rules"][0]["resources"]) and {"get", "list", "watch"} <= set(role["rules"][0]["verbs"])
    assert workloads["DaemonSet"]["spec"]["template"]["spec"]["serviceAccountName"] == by_kind["RoleBinding"][0]["subjects"][0]["name"]


def test_prometheus_scrapes_the_tier_from_file_targets() -> None:
    """prometheus.yml reads the tier's targets from targets/*.json next to itself, re-read on a timer."""
    jobs = {job["job_name"]: job for job in yaml.safe_load((CONFIG / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == ["127.0.0.1:8888"]
    (file_sd,) = jobs["otel-collector-tier"]["file_sd_configs"]
    assert file_sd["files"] == ["targets/*.json"] and file_sd["refresh_interval"] == "5s"


# --- alerting: Alertmanager, Loki's ruler, rule annotations, retention ------------------------------

# Rule files whose alerts this section checks for links.
LINKED_RULE_FILES = ("service.yml", "system.yml", "security.yml", "ai.yml", "database.yml", "slo.yml", "pipeline.yml")


def _alert_rules() -> list[tuple[str, dict[str, Any]]]:
    files = [CONFIG / "rules" / name for name in LINKED_RULE_FILES]
    files += sorted((CONFIG / "rules" / "integrations").glob("*.yml")) + sorted((CONFIG / "loki-rules").glob("*.yaml"))
    return [(path.name, rule) for path in files for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_summary_a_runbook_and_a_dashboard_link() -> None:
    """Each alert has summary and description, a runbook_url to its own section of runbooks.md and the dashboard link for its service."""
    runbooks = (CONFIG / "runbooks.md").read_text()
    sections = {line[4:].strip().lower() for line in runbooks.splitlines() if line.startswith("### ")}
    rules = _alert_rules()
    assert len(rules) >= 35
    for name, rule in rules:
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], (name, rule["alert"])
        assert annotations["runbook_url"] == f"runbooks.md#{rule['alert'].lower()}", (name, rule["alert"])
        assert rule["alert"].lower() in sections, f"runbooks.md has no section for {rule['alert']}"
        variable = "service_name" if name.endswith(".yaml") else "job"
        assert annotations["dashboard"] == f"http://127.0.0.1:3000/d/otel-kit-service/otel-kit-service?var-job={{{{ $labels.{variable} }}}}", (name, rule["alert"])
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), (name, rule["alert"])
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "otel-kit-service" and dashboard["templating"]["list"][0]["name"] == "job"


def test_two_levels_of_one_alert_share_its_name_and_the_guides_thresholds() -> None:
    """CPU 80/90 %, memory 85/95 %, disk 80/90 %: a warning and a critical rule under one alert name (inhibition pairs them)."""
    rules = {(rule["alert"], rule["labels"]["severity"]): rule["expr"] for _, rule in _alert_rules()}
    for alert, warning, critical in (("HighCPU", "0.8", "0.9"), ("HighMemory", "0.85", "0.95"), ("DiskSpaceLow", "0.8", "0.9")):
        assert rules[(alert, "warning")].strip().endswith(f">= {warning}") and rules[(alert, "critical")].strip().endswith(f">= {critical}")
    assert rules[("LatencySLOBreached", "warning")].strip().endswith("> 0.5")
    for alert in ("HighErrorRate", "HighLatencyP95", "ManyFailedLogins", "AttackDetected", "AIErrorRate", "AIDailyBudget", "ErrorBudgetBurn"):
        assert {(alert, "warning"), (alert, "critical")} <= set(rules), alert


def test_integration_rules_check_and_unit_tests(stack_root: Path) -> None:
    """rules/integrations/ (metrics from other instrumentations) passes `promtool check rules` and has passing tests."""
    from otel_kit.cli.stack import find_prometheus

    found = find_prometheus(stack_root)
    assert found is not None
    folder = CONFIG / "rules" / "integrations"
    rules = sorted(folder.glob("*.yml"))
    tests = sorted((folder / "tests").glob("*.test.yml"))
    assert {r.stem for r in rules} == {t.name.removesuffix(".test.yml") for t in tests} and rules
    check = subprocess.run([str(found[1]), "check", "rules", *map(str, rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    for test in tests:
        result = subprocess.run([str(found[1]), "test", "rules", test.name], cwd=test.parent, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{test.name}: {result.stdout}{result.stderr}"


def test_prometheus_sends_to_alertmanager_and_labels_the_service() -> None:
    """prometheus.yml sends alerts to the stack's Alertmanager and copies job into service unless a rule set one."""
    prometheus = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    (relabel,) = prometheus["alerting"]["alert_relabel_configs"]
    pattern = re.compile(relabel["regex"])
    assert relabel["target_label"] == "service" and relabel["source_labels"] == ["service", "job"]
    assert pattern.fullmatch(";shop") and not pattern.fullmatch("checkout;shop")
    assert "rules/integrations/*.yml" in prometheus["rule_files"]


def test_alertmanager_config_routes_groups_and_inhibits() -> None:
    """alertmanager.yml groups by alert name and service, pages on critical, and inhibits warnings and a down service's other alerts."""
    config = yaml.safe_load((CONFIG / "alertmanager.yml").read_text())
    route = config["route"]
    assert route["group_by"] == ["alertname", "service"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    receivers = {r["matchers"][0]: r["receiver"] for r in route["routes"]}
    assert receivers == {'alertname="OtelKitTestAlert"': "otel-kit-test", 'severity="critical"': "page", 'severity="warning"': "notify", 'severity="info"': "notify"}
    assert [r["name"] for r in config["receivers"]] == ["notify", "page", "otel-kit-test"]
    assert all(set(r) == {"name"} for r in config["receivers"]), "the shipped file carries no receiver (and no secret)"
    critical, down = config["inhibit_rules"]
    assert (critical["source_matchers"], critical["target_matchers"], critical["equal"]) == (['severity="critical"'], ['severity="warning"'], ["alertname", "service"])
    assert (down["source_matchers"], down["target_matchers"], down["equal"]) == (['alertname="ServiceDown"'], ['alertname!="ServiceDown"'], ["service"])


def test_alertmanager_configs_pass_amtool(tmp_path: Path) -> None:
    """The shipped alertmanager.yml, and one rendered with all five channels, pass `amtool check-config`."""
    import shutil

    from otel_kit.cli.stack import alerting

    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian's prometheus-alertmanager has it)")
    environ = {
        "OTEL_KIT_ALERT_WEBHOOK_URL": "https://hooks.example.test/alerts/t0ken", "OTEL_KIT_ALERT_EMAIL_TO": "ops@example.test, oncall@example.test",
        "OTEL_KIT_SMTP_HOST": "smtp.example.test", "OTEL_KIT_SMTP_USER": "alerts", "OTEL_KIT_SMTP_PASSWORD": "pa ss\"word",
        "OTEL_KIT_SLACK_WEBHOOK_URL": "https://hooks.slack.example.test/services/T0/B0/x", "OTEL_KIT_PAGERDUTY_ROUTING_KEY": "R0UTING",
        "OTEL_KIT_PUSHOVER_USER_KEY": "u123", "OTEL_KIT_PUSHOVER_TOKEN": "t456", "OTEL_KIT_ALERT_GROUP_WAIT": "10s",
    }
    rendered = tmp_path / "alertmanager.yml"
    receivers = alerting.receivers_from(environ, warn=pytest.fail)
    rendered.write_text(alerting.render_alertmanager((CONFIG / "alertmanager.yml").read_text(), receivers, environ, warn=pytest.fail))
    for path in (CONFIG / "alertmanager.yml", rendered):
        result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(rendered.read_text())
    page = next(r for r in config["receivers"] if r["name"] == "page")
    assert page["email_configs"][0]["auth_password"] == 'pa ss"word' and page["pushover_configs"][0]["token"] == "t456"
    broken = tmp_path / "broken.yml"  # the check itself can fail
    broken.write_text(rendered.read_text().replace("receiver: page", "receiver: nobody"))
    assert subprocess.run([amtool, "check-config", str(broken)], capture_output=True, timeout=60).returncode != 0


def test_loki_and_jaeger_configs_verify_with_their_binaries(stack_root: Path, tmp_path: Path) -> None:
    """loki.yaml (ruler, compactor retention) passes `loki -verify-config`; jaeger.yaml (Badger with TTL) passes `jaeger validate`."""
    environment = {"PATH": "/usr/bin:/bin", "LOKI_DATA_DIR": str(tmp_path / "loki"), "LOKI_RULES_DIR": str(tmp_path / "rules"), "LOKI_RETENTION": "12h"}
    loki = subprocess.run([str(stack_root / "bin" / "loki"), f"-config.file={CONFIG / 'loki.yaml'}", "-config.expand-env=true", "-verify-config"],
                          capture_output=True, text=True, timeout=120, env=environment)
    assert loki.returncode == 0, loki.stdout[-2000:] + loki.stderr[-2000:]
    config = yaml.safe_load((CONFIG / "loki.yaml").read_text())
    assert config["compactor"]["retention_enabled"] is True and config["limits_config"]["retention_period"] == "${LOKI_RETENTION:-30d}"
    assert config["ruler"]["alertmanager_url"].startswith("${LOKI_ALERTMANAGER_URL")
    jaeger = subprocess.run([str(stack_root / "bin" / "jaeger"), "validate", f"--config={CONFIG / 'jaeger.yaml'}"],
                            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "JAEGER_BADGER_DIR": str(tmp_path / "jaeger")})
    assert jaeger.returncode == 0, jaeger.stdout[-2000:] + jaeger.stderr[-2000:]
    backend = yaml.safe_load((CONFIG / "jaeger.yaml").read_text())["extensions"]["jaeger_storage"]["backends"]["badger_store"]["badger"]
    assert backend["ephemeral"] is False and backend["ttl"]["spans"] == "${env:JAEGER_TRACES_TTL:-168h}"
    assert "/tmp" not in (CONFIG / "jaeger.yaml").read_text()


def test_an_alerts_critical_level_is_evaluated_before_its_warning() -> None:
    """Within a group the critical rule of an alert precedes its warning rule, so Alertmanager has the inhibiting alert first."""
    # Prometheus sends each rule's alerts as it evaluates them, in file order: a warning evaluated first
    # reaches Alertmanager before the critical that should silence it, and can be notified alone.
    rank = {"critical": 0, "warning": 1, "info": 2}
    for path in sorted((CONFIG / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            seen: dict[str, list[int]] = {}
            for rule in group["rules"]:
                if "alert" in rule:
                    seen.setdefault(rule["alert"], []).append(rank[rule["labels"]["severity"]])
            for alert, levels in seen.items():
                assert levels == sorted(levels), f"{path.name}: {alert} levels out of order"
