"""Zero-code: `opentelemetry-instrument` runs otel-kit's configuration, without double instrumentation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.compat

APP = textwrap.dedent(
    """
    import otel_kit
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    app = FastAPI()

    @app.get("/q/{n}")
    def q(n: int):
        with engine.connect() as c:
            c.execute(text("SELECT 7 WHERE 1 = :n"), {"n": n}).all()
        return {}

    TestClient(app).get("/q/1")
    telemetry = otel_kit.current()
    print("CONFIGURED", telemetry is not None and telemetry.settings.service_name, flush=True)
    telemetry.shutdown()
    """
)


def test_opentelemetry_instrument_uses_otel_kit(tmp_path: Path) -> None:
    """opentelemetry-instrument loads otel-kit's distro and configurator: one server span, one DB span."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_SERVICE_NAME": "zero-code",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_KIT_LOG_FORMAT": "none",
        "OTEL_KIT_SYSTEM_METRICS": "false",
    }
    result = subprocess.run([str(instrument), sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CONFIGURED zero-code" in result.stdout
    decoder = json.JSONDecoder()
    spans, text, index = [], result.stdout, 0
    while (start := text.find("{", index)) != -1:
        try:
            span, index = decoder.raw_decode(text, start)
            spans.append(span)
        except json.JSONDecodeError:
            index = start + 1
    server = [s for s in spans if s.get("kind") == "SpanKind.SERVER"]
    db = [s for s in spans if s.get("kind") == "SpanKind.CLIENT" and "db.system.name" in s.get("attributes", {})]
    contrib_db = [s for s in spans if "db.statement" in s.get("attributes", {}) or s.get("name") == "connect"]
    assert len(server) == 1, [s.get("name") for s in spans]
    assert len(db) == 1 and db[0]["attributes"]["db.query.text"] == "SELECT ? WHERE ? = ?"
    assert contrib_db == []
