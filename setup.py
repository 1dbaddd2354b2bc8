"""Packaging that pyproject.toml cannot declare (everything else is there).

The stack's configuration has one source of truth, the repository's top-level ``collector-config/``;
it ships inside the wheel as ``otel_kit/collector_config`` through a package-directory mapping, so
``otel-kit stack up`` and ``otel-kit stack config --export`` work after ``pip install otel-kit``.
The sdist carries ``collector-config/`` as package data of that mapping and builds the same wheel.
"""

from setuptools import find_packages, setup

STACK_CONFIG = "otel_kit.collector_config"
STACK_CONFIG_DIR = "collector-config"
# Every file under collector-config/ must match one of these (tests/test_cli_stack.py checks it).
STACK_CONFIG_FILES = [
    "*.yaml", "*.yml", "rules/*.yml", "rules/tests/*.yml", "grafana/dashboards/*.json", "grafana/provisioning/*/*.yaml", "kubernetes/*.yaml",
    "*.md", "rules/integrations/*.yml", "rules/integrations/tests/*.yml", "loki-rules/*.yaml",
]

if __name__ == "__main__":  # setuptools runs this file as __main__; the tests import the lists above
    setup(
        packages=[*find_packages(include=["otel_kit", "otel_kit.*"]), STACK_CONFIG],
        package_dir={STACK_CONFIG: STACK_CONFIG_DIR},
        package_data={"otel_kit": ["py.typed"], STACK_CONFIG: STACK_CONFIG_FILES},
    )
