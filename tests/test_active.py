"""The running setup, as the lower layers look it up."""

from __future__ import annotations

import otel_kit
from otel_kit.providers import active
from otel_kit.testing import capture


def test_current_follows_setup_and_shutdown() -> None:
    """active.current() is the running Telemetry between setup() and shutdown(), and None outside."""
    otel_kit.shutdown()
    assert active.current() is None
    with capture() as cap:
        assert active.current() is cap.telemetry is otel_kit.current()
    assert active.current() is None
