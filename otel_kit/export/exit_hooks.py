"""Export what was recorded when the process ends: normal exit, ``sys.exit`` and SIGTERM.

The SDK providers are built with ``shutdown_on_exit=False`` because their own exit hook has no
time bound; this module runs the bounded ``shutdown()`` instead. Three ways a process ends:

- the interpreter exits (end of script, ``sys.exit``, a gunicorn worker recycled by
  ``max_requests`` or stopped by SIGTERM/SIGHUP, which gunicorn turns into a normal exit):
  an ``atexit`` hook;
- SIGTERM to a process that left SIGTERM at its default (which kills without running ``atexit``):
  a handler that shuts down, then restores the default and re-delivers the signal so the exit
  status stays "killed by SIGTERM";
- an ASGI server that re-raises SIGTERM after its own graceful shutdown (uvicorn restores the
  default handler first, so neither hook above runs): the ASGI integration flushes on
  ``lifespan.shutdown`` (see ``otel_kit.instrumentation.fastapi``).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Protocol

_log = logging.getLogger("otel_kit")


class _Closable(Protocol):
    def shutdown(self, timeout: float | None = None) -> bool: ...


_lock = threading.Lock()
_active: list[_Closable] = []
_atexit_installed = False
_sigterm_installed = False


def register(telemetry: _Closable) -> None:
    """Shut ``telemetry`` down when the process ends (idempotent)."""
    global _atexit_installed
    with _lock:
        if telemetry not in _active:
            _active.append(telemetry)
        if not _atexit_installed:
            atexit.register(_at_exit)
            _atexit_installed = True
    _install_sigterm()


def forget(telemetry: _Closable) -> None:
    """``telemetry`` was shut down explicitly; nothing to do for it at exit."""
    with _lock:
        if telemetry in _active:
            _active.remove(telemetry)


def _at_exit() -> None:
    with _lock:
        pending = list(reversed(_active))
    for telemetry in pending:
        try:
            telemetry.shutdown()
        except Exception:  # noqa: BLE001 - nothing may fail the interpreter's exit
            _log.debug("otel-kit: shutdown at exit failed", exc_info=True)


def _install_sigterm() -> None:
    """Handle SIGTERM only where nobody else does: the main thread of a process left at the default."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not allowed here (embedded interpreter, odd platform)
        return
    _sigterm_installed = True


def _on_sigterm(signum: int, frame: FrameType | None) -> Any:
    global _sigterm_installed
    _at_exit()
    # Behave as if we had never been here: default action, same signal, same exit status.
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _sigterm_installed = False
    except (ValueError, OSError):
        pass
    os.kill(os.getpid(), signum)
