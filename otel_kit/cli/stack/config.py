"""The stack's configuration files: where the shipped ones are, exporting them, rendering a stack's copy.

A wheel carries the repository's top-level ``collector-config/`` as ``otel_kit/collector_config``
(mapped in setup.py, so there is one source of truth); a checkout reads the top-level directory.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from otel_kit.cli.stack import alerting
from otel_kit.cli.stack.common import StackError
from otel_kit.config import environment as env

PACKAGED = Path(__file__).resolve().parents[2] / "collector_config"
CHECKOUT = Path(__file__).resolve().parents[3] / "collector-config"
# What a running stack reads; the rest (agent/gateway configs, compose, Grafana, builder manifest)
# is for users who run their own Collector or Docker, and for `stack install`.
RUNTIME_FILES = ("otelcol.yaml", "jaeger.yaml", "loki.yaml", "prometheus.yml", "alertmanager.yml", "runbooks.md")
COLLECTOR_METRICS_TARGET = "127.0.0.1:8888"
ALERTMANAGER_TARGET = "127.0.0.1:9093"
LOKI_TENANT = "fake"
# The shipped rules' links: runbooks.md next to the rules, the docker-compose Grafana; a stack
# renders them to its own runbooks file (or OTEL_KIT_RUNBOOK_URL) and OTEL_KIT_GRAFANA_URL.
RUNBOOKS = "runbooks.md"
GRAFANA = "http://127.0.0.1:3000"
_BUDGET = re.compile(r"(record: otel_kit:ai_daily_budget_usd\n\s+expr: )vector\([0-9.e+]+\)")


def config_dir() -> Path:
    """The shipped configuration: ``$OTEL_KIT_CONFIG_DIR``, else the installed package's, else the checkout's."""
    override = os.environ.get(env.OTEL_KIT_CONFIG_DIR)
    if override:
        path = Path(override).expanduser()
        if not (path / "otelcol.yaml").is_file():
            raise StackError(
                f"{env.OTEL_KIT_CONFIG_DIR}={override} has no otelcol.yaml: point it at a directory written by "
                "`otel-kit stack config --export DIR`, or unset it to use the shipped files"
            )
        return path
    for candidate in (PACKAGED, CHECKOUT):
        if (candidate / "otelcol.yaml").is_file():
            return candidate
    raise StackError(f"the shipped configuration is missing (looked in {PACKAGED} and {CHECKOUT}): reinstall otel-kit")


def shipped_files(source: Path | None = None) -> list[Path]:
    """Every shipped file, relative to the configuration directory, in a stable order."""
    base = source or config_dir()
    return sorted(p.relative_to(base) for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def export(target: Path, *, force: bool = False) -> list[Path]:
    """Copy the shipped files into ``target``; an existing file that differs is kept unless ``force``."""
    source = config_dir()
    files = shipped_files(source)
    conflicts = [rel for rel in files if (target / rel).exists() and not filecmp.cmp(source / rel, target / rel, shallow=False)]
    if conflicts and not force:
        listed = ", ".join(str(rel) for rel in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise StackError(f"{target} already has different versions of {listed}: pass --force to overwrite them")
    written = []
    for rel in files:
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, destination)
        written.append(destination)
    return written


def _rule_text(text: str, *, budget: float, runbooks: str, grafana: str) -> str:
    """A rule file as this stack runs it: its AI budget, and links to its runbooks and Grafana."""
    text = _BUDGET.sub(lambda m: f"{m.group(1)}vector({budget:g})", text)
    text = text.replace(f'runbook_url: "{RUNBOOKS}#', f'runbook_url: "{runbooks}#')
    return text.replace(f'dashboard: "{GRAFANA}/', f'dashboard: "{grafana.rstrip("/")}/')


def render(run_dir: Path, ports: Mapping[str, int], environ: Mapping[str, str] | None = None) -> Path:
    """This stack's own copy of what it runs, under ``run_dir/config``: a later upgrade of the package
    or an edit of the shipped files does not change a running stack. Prometheus gets this stack's
    Collector metrics and Alertmanager ports; its rule paths stay relative to its config file, next
    to the rules. Alertmanager's receivers and the rules' budget and links come from ``environ``;
    the rendered alertmanager.yml holds secrets and is readable by its owner only."""
    source = config_dir()
    values = os.environ if environ is None else environ
    target = run_dir / "config"
    # Only what is rendered here is replaced: other entries (a scale-out topology's scrape
    # targets/ next to prometheus.yml) belong to whoever wrote them.
    for generated in ("rules", "loki-rules"):
        if (target / generated).exists():
            shutil.rmtree(target / generated)
    (target / "rules" / "integrations").mkdir(parents=True)
    # prometheus.yml's file-based job reads targets/*.json; an empty folder is "no tier running",
    # a missing one is an error Prometheus logs every refresh.
    (target / "targets").mkdir(exist_ok=True)
    # Loki's local rule store reads <directory>/<tenant>/; without auth the tenant is "fake".
    (target / "loki-rules" / LOKI_TENANT).mkdir(parents=True)
    for name in ("otelcol.yaml", "jaeger.yaml", "loki.yaml", RUNBOOKS):
        shutil.copyfile(source / name, target / name)
    budget = alerting.ai_daily_budget(values)
    runbooks = values.get(env.OTEL_KIT_RUNBOOK_URL) or (target / RUNBOOKS).resolve().as_uri()
    grafana = values.get(env.OTEL_KIT_GRAFANA_URL) or alerting.DEFAULT_GRAFANA_URL
    for folder, pattern, destination in (
        (source / "rules", "*.yml", target / "rules"),
        (source / "rules" / "integrations", "*.yml", target / "rules" / "integrations"),
        (source / "loki-rules", "*.yaml", target / "loki-rules" / LOKI_TENANT),
    ):
        for rule in sorted(folder.glob(pattern)):
            (destination / rule.name).write_text(_rule_text(rule.read_text(), budget=budget, runbooks=runbooks, grafana=grafana))
    prometheus = (source / "prometheus.yml").read_text()
    for shipped, port in ((COLLECTOR_METRICS_TARGET, ports["collector_metrics"]), (ALERTMANAGER_TARGET, ports["alertmanager"])):
        if shipped not in prometheus:
            raise StackError(f"{source / 'prometheus.yml'} does not name {shipped}: cannot point it at this stack")
        prometheus = prometheus.replace(shipped, f"127.0.0.1:{port}")
    (target / "prometheus.yml").write_text(prometheus)
    receivers = alerting.receivers_from(values)
    alerting.write_private(target / "alertmanager.yml", alerting.render_alertmanager((source / "alertmanager.yml").read_text(), receivers, values))
    return target
