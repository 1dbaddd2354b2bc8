"""The stack's configuration files: where the shipped ones are, exporting them, rendering a stack's copy.

A wheel carries the repository's top-level ``collector-config/`` as ``otel_kit/collector_config``
(mapped in setup.py, so there is one source of truth); a checkout reads the top-level directory.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from otel_kit.cli.stack.common import StackError
from otel_kit.config import environment as env

PACKAGED = Path(__file__).resolve().parents[2] / "collector_config"
CHECKOUT = Path(__file__).resolve().parents[3] / "collector-config"
# What a running stack reads; the rest (agent/gateway configs, compose, Grafana, builder manifest)
# is for users who run their own Collector or Docker, and for `stack install`.
RUNTIME_FILES = ("otelcol.yaml", "jaeger.yaml", "loki.yaml", "prometheus.yml")
COLLECTOR_METRICS_TARGET = "127.0.0.1:8888"


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


def render(run_dir: Path, collector_metrics_port: int) -> Path:
    """This stack's own copy of what it runs, under ``run_dir/config``: a later upgrade of the package
    or an edit of the shipped files does not change a running stack. Prometheus gets this stack's
    Collector metrics port; its rule paths stay relative to its config file, next to the rules."""
    source = config_dir()
    target = run_dir / "config"
    # Only what is rendered here is replaced: other entries (a scale-out topology's scrape
    # targets/ next to prometheus.yml) belong to whoever wrote them.
    if (target / "rules").exists():
        shutil.rmtree(target / "rules")
    (target / "rules").mkdir(parents=True)
    for name in RUNTIME_FILES[:3]:
        shutil.copyfile(source / name, target / name)
    for rule in sorted((source / "rules").glob("*.yml")):
        shutil.copyfile(rule, target / "rules" / rule.name)
    prometheus = (source / "prometheus.yml").read_text()
    if COLLECTOR_METRICS_TARGET not in prometheus:
        raise StackError(f"{source / 'prometheus.yml'} does not scrape {COLLECTOR_METRICS_TARGET}: cannot point it at this stack's Collector")
    (target / "prometheus.yml").write_text(prometheus.replace(COLLECTOR_METRICS_TARGET, f"127.0.0.1:{collector_metrics_port}"))
    return target
