"""The integration registry: records, names for instrument=, pyproject extras, README table, contrib entry points."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import otel_kit
from otel_kit.config.settings import ConfigError, resolve
from otel_kit.instrumentation import _registry
from otel_kit.testing import capture

ROOT = Path(__file__).resolve().parent.parent


def test_every_integration_module_has_a_record() -> None:
    """Each public module of otel_kit/instrumentation that is an integration defines one record, with a test file."""
    records = _registry.integrations()
    names = {r.name for r in records}
    assert {"flask", "django", "celery", "redis", "psycopg", "psycopg2", "asyncpg", "sqlite3", "pymongo", "starlette",
            "aiohttp-server", "aiohttp-client", "urllib3", "grpc", "fastapi", "sqlalchemy", "httpx", "requests", "logging"} <= names
    package = sys.modules["otel_kit.instrumentation"]
    # By defining module, not by install function: httpx and requests share httpclients' installer.
    for info in pkgutil.iter_modules(package.__path__):
        record = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "INTEGRATION", None)
        if record is None:
            continue
        candidates = (ROOT / "tests" / f"test_instrumentation_{info.name}.py", ROOT / "tests" / f"test_{info.name}.py")
        assert any(path.exists() for path in candidates), f"no test file for {record.name}"


def test_pyproject_extras_come_from_the_registry() -> None:
    """pyproject's optional dependencies equal the registry's extras (and all names every one of them)."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    expected = _registry.extras()
    for extra, requirements in expected.items():
        assert project.get(extra) == requirements, extra
    for wanted in ("flask", "django", "celery", "redis", "postgres", "mongo", "all"):
        assert wanted in project
    assert "otel-kit[all]" in project["dev"]


def test_readme_table_comes_from_the_registry() -> None:
    """The README's integration table is the registry's, row for row."""
    readme = (ROOT / "README.md").read_text()
    assert _registry.readme_table() in readme


def test_instrument_accepts_registry_and_contrib_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """instrument= takes registry names and installed entry-point names; anything else is one ConfigError naming them."""
    assert resolve({"instrument": ["flask", "celery"]}).instrument == frozenset({"flask", "celery"})
    with pytest.raises(ConfigError) as error:
        resolve({"instrument": ["flask", "not-a-library"]})
    assert error.value.setting == "instrument" and "flask" in error.value.accepted and "entry-point" in error.value.accepted
    default = resolve({}).instrument
    assert set(_registry.names()) <= default and set(_registry.contrib_names()) <= default


def test_disabled_variable_switches_an_integration_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS keeps an integration off; describe() says so."""
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "flask,redis")
    with capture() as cap:
        assert "flask" not in cap.telemetry.instrumented and cap.telemetry.skipped["flask"] == "disabled"
        assert cap.telemetry.skipped["redis"] == "disabled"
        assert "flask (disabled)" in cap.telemetry.describe()
        import flask

        assert flask.Flask.__call__.__module__ == "flask.app"


def test_describe_lists_what_the_registry_attached() -> None:
    """describe() names every integration attached, in the registry's order; shutdown detaches them all."""
    with capture() as cap:
        instrumented = cap.telemetry.instrumented
        for name in ("flask", "django", "psycopg", "celery", "redis"):
            assert name in instrumented
        line = next(line for line in cap.telemetry.describe().splitlines() if line.strip().startswith("instrumented"))
        assert "flask" in line and "celery" in line
        assert set(_registry.active()) | set(_registry.pending()) >= {"flask", "django", "psycopg"}
    assert _registry.active() == () and _registry.pending() == ()


def test_uncovered_entry_point_is_activated_and_switchable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A contrib instrumentor no record covers is activated under its entry-point name, and instrument= can leave it off."""

    class Instrumentor:
        calls: list[str] = []
        is_instrumented_by_opentelemetry = False

        def instrumentation_dependencies(self) -> tuple[str, ...]:
            return ()

        def instrument(self, **kwargs: object) -> None:
            Instrumentor.calls.append("instrument")
            self.is_instrumented_by_opentelemetry = True

        def uninstrument(self) -> None:
            Instrumentor.calls.append("uninstrument")

    class Point:
        name = "fake-lib"
        value = "fake:Instrumentor"
        dist = None

        def load(self) -> type:
            return Instrumentor

    points = dict(_registry.entry_points())
    points["fake-lib"] = Point()  # type: ignore[assignment]
    monkeypatch.setattr(_registry, "entry_points", lambda: points)
    with capture() as cap:
        assert "fake-lib" in cap.telemetry.instrumented
    assert Instrumentor.calls == ["instrument", "uninstrument"]
    with capture(instrument=["logging", "flask"]) as cap:
        assert "fake-lib" not in cap.telemetry.instrumented
    assert Instrumentor.calls == ["instrument", "uninstrument"]


def test_library_without_its_extra_is_one_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """redis installed without its instrumentation: setup() names otel-kit[redis] once, describe() too."""
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.redis", None)
    monkeypatch.setattr("otel_kit.instrumentation._support._warned", set())
    with caplog.at_level("WARNING"), capture() as cap:
        assert cap.telemetry.skipped["redis"] == "library installed, instrumentation missing: pip install 'otel-kit[redis]'"
    messages = [r.getMessage() for r in caplog.records if "installed but not instrumented" in r.getMessage()]
    assert len(messages) == 1 and "otel-kit[redis]" in messages[0]


def test_ubiquitous_libraries_stay_quiet(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """urllib3, sqlite3 and grpc (installed with otel-kit's own exporter) never warn about their extra."""
    for module in ("opentelemetry.instrumentation.urllib3", "opentelemetry.instrumentation.sqlite3", "opentelemetry.instrumentation.grpc"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setattr("otel_kit.instrumentation._support._warned", set())
    with caplog.at_level("WARNING"), capture() as cap:
        assert cap.telemetry.skipped["urllib3"].startswith("library installed, instrumentation missing")
    assert not [r for r in caplog.records if "installed but not instrumented" in r.getMessage()]


def test_setup_twice_does_not_instrument_twice() -> None:
    """A second setup() after shutdown() attaches every integration again, once."""
    for _ in range(2):
        with capture() as cap:
            assert cap.telemetry.instrumented.count("flask") == 1
    assert otel_kit.current() is None


def test_setup_imports_no_library_the_app_has_not_imported() -> None:
    """setup() arms integrations of libraries not yet imported; importing one later attaches it, the others stay unimported."""
    import subprocess
    import textwrap

    script = textwrap.dedent(
        """
        import sys, otel_kit
        from otel_kit.instrumentation import _registry
        telemetry = otel_kit.setup("lazy", exporter="none", log_format="none", system_metrics=False)
        heavy = [name for name in ("django", "celery", "aiohttp", "pymongo", "psycopg", "flask") if name in sys.modules]
        import flask
        print(heavy, "flask" in _registry.active(), "django" in _registry.pending(), flask.Flask.__call__.__module__)
        telemetry.shutdown()
        print(_registry.pending())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.split("\n")[:2] == ["[] True True otel_kit.instrumentation.flask", "()"], result.stderr[-2000:]


def test_an_install_that_imports_another_watched_library_is_not_deadlocked(tmp_path: Path) -> None:
    """A library completed while another record installs is attached after it: no lock held twice, no half-imported module."""
    import subprocess
    import textwrap

    # okt_plugin (imported by alpha's install) imports beta, whose install needs okt_plugin whole,
    # as the contrib httpx instrumentation imports httpx2 and httpx2's entry point is in it.
    (tmp_path / "okt_alpha.py").write_text("")
    (tmp_path / "okt_beta.py").write_text("")
    (tmp_path / "okt_plugin.py").write_text("import okt_beta\nREADY = True\n")
    script = textwrap.dedent(
        """
        import otel_kit
        from otel_kit.instrumentation import _registry
        attached = []

        def install_alpha(telemetry):
            import okt_plugin
            attached.append("alpha")

        def install_beta(telemetry):
            from okt_plugin import READY
            attached.append(f"beta:{READY}")

        def record(name, install):
            return _registry.Integration(name=name, library=f"okt_{name}", extra=None, requires=(), summary="t", install=install, uninstall=lambda: None)

        telemetry = otel_kit.setup("hooks", exporter="none", log_format="none", system_metrics=False)
        _registry.activate(record("beta", install_beta), telemetry)  # not imported yet: armed
        import okt_alpha
        _registry.activate(record("alpha", install_alpha), telemetry)
        print(attached)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.stdout.strip() == "['alpha', 'beta:True']", result.stderr[-2000:]


def test_an_entry_point_whose_module_imports_a_watched_library_leaves_it_whole() -> None:
    """httpx2 imported first: loading its entry point imports httpx, whose record attaches once the module is whole."""
    import subprocess
    import textwrap

    script = textwrap.dedent(
        """
        import sys, httpx2, otel_kit
        assert "httpx" not in sys.modules
        telemetry = otel_kit.setup("points", exporter="none", log_format="none", system_metrics=False)
        print("httpx" in telemetry.instrumented, "httpx2" in telemetry.instrumented, telemetry.skipped)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "True True {}", result.stderr[-2000:]
