"""Visible gaps: a library installed without its instrumentation extra is one warning and a clear describe() line."""

from __future__ import annotations

import logging
import sys

import pytest

from otel_kit.instrumentation import _support
from otel_kit.testing import capture


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the once-per-process warning as not yet given."""
    monkeypatch.setattr(_support, "_warned", set())


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` unimportable, as if their packages were not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def _gap_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "installed but not instrumented" in r.getMessage()]


def test_missing_instrumentation_is_one_warning_naming_the_extras(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """FastAPI and httpx installed without their instrumentors: one warning naming both extras; describe() says what is missing."""
    _block(monkeypatch, "opentelemetry.instrumentation.fastapi", "opentelemetry.instrumentation.httpx")
    with caplog.at_level(logging.WARNING), capture() as cap:
        telemetry = cap.telemetry
        assert "fastapi" not in telemetry.instrumented and "httpx" not in telemetry.instrumented
        assert telemetry.skipped["fastapi"] == "library installed, instrumentation missing: pip install 'otel-kit[fastapi]'"
        assert telemetry.skipped["httpx"] == "library installed, instrumentation missing: pip install 'otel-kit[httpx]'"
        described = telemetry.describe()
        assert "httpx (library installed, instrumentation missing: pip install 'otel-kit[httpx]')" in described
    assert _gap_warnings(caplog) == [
        "otel-kit: fastapi and httpx are installed but not instrumented (the instrumentation is an extra): pip install 'otel-kit[fastapi,httpx]'"
    ]


def test_library_not_installed_is_not_a_gap(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A library that is not installed at all says so in describe() and warns nothing."""
    _block(monkeypatch, "requests", "opentelemetry.instrumentation.requests")
    with caplog.at_level(logging.WARNING), capture() as cap:
        assert cap.telemetry.skipped["requests"] == "not installed"
        assert "requests (not installed)" in cap.telemetry.describe()
    assert not _gap_warnings(caplog)


def test_gap_warned_once_per_process(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A second setup() in the same process reports the gap in describe() but does not warn again."""
    _block(monkeypatch, "opentelemetry.instrumentation.httpx")
    with caplog.at_level(logging.WARNING):
        with capture():
            pass
        with capture() as cap:
            assert cap.telemetry.skipped["httpx"].startswith("library installed, instrumentation missing")
    assert len(_gap_warnings(caplog)) == 1


def test_everything_installed_has_no_gap(caplog: pytest.LogCaptureFixture) -> None:
    """With the dev extras installed every integration is instrumented and nothing is warned."""
    with caplog.at_level(logging.WARNING), capture() as cap:
        assert {"fastapi", "sqlalchemy", "httpx", "requests"} <= set(cap.telemetry.instrumented)
        assert not cap.telemetry.skipped
    assert not _gap_warnings(caplog)


def test_missing_extra_classifies_without_importing() -> None:
    """missing_extra: None when the library is absent or the instrumentation present; sqlalchemy needs no contrib package."""
    assert _support.missing_extra("httpx") is None
    assert _support.missing_extra("sqlalchemy") is None
    assert _support.installed("httpx") and not _support.installed("no_such_library_for_otel_kit")
