"""The published path: build the sdist and the wheel, install the wheel into a fresh virtualenv outside the
repository, and from an empty directory run `otel-kit stack up`, `otel-kit doctor` and `otel-kit stack down`.

The stack reuses the binaries cached in $OTEL_KIT_HOME (the `stack_root` fixture) and runs under its own
name and ports, so it never meets the e2e stack or a developer's default one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from otel_kit.cli.stack import Stack, processes
from otel_kit.cli.stack.runtime import SERVICE_NAMES, known_stacks

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "collector-config"
STACK = "wheel-e2e"
PORT_OFFSET = "100"  # 4417, 16786, 3200, 9190, ...: clear of the defaults and of the e2e stack's ports
SKIPPED_AT_TOP = {"build", "dist", "tests", "benchmarks", "examples"}


def _ignored(directory: str, names: list[str]) -> set[str]:
    """What the source copy leaves out: caches everywhere; at the top, hidden, build and non-package directories."""
    if Path(directory) != REPO:
        return {n for n in names if n == "__pycache__"}
    return {n for n in names if n.startswith(".") or n.endswith(".egg-info") or n in SKIPPED_AT_TOP or n == "__pycache__"}


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _config_files() -> set[str]:
    return {str(p.relative_to(CONFIG)) for p in CONFIG.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and, built from it, the wheel, from a copy of the source tree (no build files land in the checkout)."""
    base = tmp_path_factory.mktemp("dist")
    source = base / "source"
    shutil.copytree(REPO, source, ignore=_ignored)
    out = base / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=base, env=env)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_and_sdist_carry_the_whole_configuration(dist: dict[str, Path]) -> None:
    """Every file of collector-config/ is in the sdist (as is) and in the wheel (as otel_kit/collector_config)."""
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        shipped = {n.removeprefix("otel_kit/collector_config/") for n in wheel.namelist() if n.startswith("otel_kit/collector_config/")}
        assert "otel_kit/cli/stack/runtime.py" in wheel.namelist() and "otel_kit/py.typed" in wheel.namelist()
    assert shipped == _config_files()
    with tarfile.open(dist["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {f"collector-config/{name}" for name in _config_files()} <= names and "setup.py" in names


def test_pip_installed_wheel_runs_the_stack_from_any_directory(dist: dict[str, Path], stack_root: Path, tmp_path: Path) -> None:
    """pip install the wheel into a fresh venv; from an empty directory: config --export, stack up, doctor, status, stack down."""
    venv = tmp_path / "venv"
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("OTEL_", "VIRTUAL_ENV"))}
    env["OTEL_KIT_HOME"] = str(stack_root)
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work, env=env)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(dist["wheel"])], cwd=work, env=env, timeout=900)
    where = _run([str(venv / "bin" / "python"), "-c", "import otel_kit; print(otel_kit.__file__)"], cwd=work, env=env).stdout
    assert where.startswith(str(venv)), where  # the installed package, not the checkout
    cli = str(venv / "bin" / "otel-kit")

    exported = json.loads(_run([cli, "stack", "config", "--export", "exported", "--json"], cwd=work, env=env).stdout)
    assert {str(Path(p).relative_to(work / "exported")) for p in exported["files"]} == _config_files()

    others = _running_elsewhere(stack_root)
    _run([cli, "stack", "down", "--name", STACK], cwd=work, env=env)  # leftovers of an interrupted run
    try:
        up = _run([cli, "stack", "up", "--name", STACK, "--port-offset", PORT_OFFSET, "--fresh"], cwd=work, env=env)
        assert "collector: ready" in up.stdout
        status = json.loads(_run([cli, "stack", "status", "--name", STACK, "--json"], cwd=work, env=env).stdout)
        assert status["ready"] and status["ports"]["otlp_grpc"] == 4317 + int(PORT_OFFSET)
        assert Path(status["run_dir"]).parent == stack_root / "run"
        doctor = json.loads(_run([cli, "doctor", "--stack", STACK, "--json", "--timeout", "90"], cwd=work, env=env, timeout=400).stdout)
        assert doctor["ok"] and all(check["arrived"] for check in doctor["checks"])
    finally:
        down = subprocess.run([cli, "stack", "down", "--name", STACK], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0 and down.stdout.count(": stopped") == len(SERVICE_NAMES)
    assert not Stack.load(STACK, stack_root).running()
    still = _running_elsewhere(stack_root)
    assert all(still.get(key) == pid for key, pid in others.items())  # other stacks' processes were left alone


def _running_elsewhere(root: Path) -> dict[tuple[str, str], int]:
    """The running processes of every other stack under ``root``, read without touching their files."""
    found = {}
    for name in known_stacks(root):
        for service in SERVICE_NAMES:
            record = processes.read(root / "run" / name / f"{service}.pid")
            if name != STACK and record is not None and processes.is_running(record):
                found[(name, service)] = record.pid
    return found
