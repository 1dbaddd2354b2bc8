"""Getting release files: a quick probe of the release host, resumable downloads with progress, SHA-256 checks.

A download goes to ``<file>.part`` and continues from its size (HTTP Range) after an interruption, in
the same run or the next; only a file whose SHA-256 matches the published one is used.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from otel_kit.cli.stack.common import StackError, say
from otel_kit.cli.stack.sources.settings import display
from otel_kit.config.version import __version__

PROBE_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
ATTEMPTS = 4
CHUNK = 1 << 16
MAX_DOCUMENT = 4 << 20  # a checksum file or release document; anything larger is not one
_HEADERS = {"User-Agent": f"otel-kit/{__version__} (stack install)"}


class Unavailable(StackError):
    """The file could not be had (no route, an HTTP error, repeated interruptions): another source may serve."""


def reachable(base_url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether ``base_url`` answers at all (any HTTP status) within about ``timeout`` seconds.

    Runs in a thread with a bounded wait: a socket timeout does not cover the name lookup, which
    can hang for many seconds on a network without DNS.
    """
    answered: list[bool] = []

    def attempt() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(base_url, method="HEAD", headers=_HEADERS), timeout=timeout):
                answered.append(True)
        except urllib.error.HTTPError:
            answered.append(True)  # it answered, if only with an error status
        except (OSError, ValueError, http.client.HTTPException):
            answered.append(False)

    thread = threading.Thread(target=attempt, name="otel-kit-release-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(answered and answered[0])


def fetch_text(url: str, label: str, timeout: float = READ_TIMEOUT) -> str:
    """A small document (checksum file, release document), whole."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=_HEADERS), timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT + 1)
    except urllib.error.HTTPError as exc:
        raise Unavailable(f"{label}: {display(url)} answered HTTP {exc.code}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise Unavailable(f"{label}: cannot fetch {display(url)}: {exc}") from None
    if len(body) > MAX_DOCUMENT:
        raise StackError(f"{label}: {display(url)} is larger than {MAX_DOCUMENT >> 20} MB: not a checksum file")
    return body.decode("utf-8", errors="replace")


class Progress:
    """One line per tenth of a download (or per 10 MB when its size is unknown), for logs and terminals alike."""

    def __init__(self, label: str, total: int | None, start: int, report: Callable[[str], None] = say) -> None:
        self.label, self.total, self.report = label, total, report
        self.step = max(total // 10, 1) if total else 10 << 20
        self.next = (start // self.step + 1) * self.step
        if start:
            self.report(f"      {label}: resuming at {_mb(start)}" + (f" of {_mb(total)}" if total else ""))

    def update(self, done: int) -> None:
        if done < self.next:
            return
        self.next = (done // self.step + 1) * self.step
        if self.total:
            self.report(f"      {self.label}: {_mb(done)} of {_mb(self.total)} ({100 * done // self.total} %)")
        else:
            self.report(f"      {self.label}: {_mb(done)}")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def download(url: str, target: Path, label: str, *, attempts: int = ATTEMPTS, timeout: float = READ_TIMEOUT) -> Path:
    """``url`` into ``target`` through ``target.part``, resuming after interruptions; raises Unavailable."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    problem = ""
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        headers = dict(_HEADERS, **({"Range": f"bytes={have}-"} if have else {}))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
                if _copy(response, part, have, label):
                    part.replace(target)
                    return target
                problem = "the connection closed before the end of the file"
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                # The part already holds every byte (an earlier run stopped before renaming it);
                # the checksum decides whether it is right.
                part.replace(target)
                return target
            raise Unavailable(f"{label}: {display(url)} answered HTTP {exc.code}") from None
        except (OSError, http.client.HTTPException) as exc:
            problem = str(exc) or type(exc).__name__
    raise Unavailable(f"{label}: download of {display(url)} interrupted {attempts} times ({problem}); `otel-kit stack install` resumes it")


def _copy(response: http.client.HTTPResponse, part: Path, have: int, label: str) -> bool:
    """Write the body into ``part`` (appended when the server honoured the Range); True when it is complete."""
    resumed = have > 0 and response.status == 206 and (response.headers.get("Content-Range") or "").startswith(f"bytes {have}-")
    if response.status == 206 and not resumed:
        part.unlink(missing_ok=True)  # a range other than the one asked for: start over without one
        return False
    start = have if resumed else 0
    length = response.headers.get("Content-Length")
    total = start + int(length) if length and length.isdigit() else None
    progress = Progress(label, total, start)
    done = start
    with part.open("ab" if resumed else "wb") as out:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            progress.update(done)
    return total is None or done >= total


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, source: str) -> str:
    """Raise (and remove ``path``) unless its SHA-256 is ``expected``, as published in ``source``."""
    actual = sha256(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise StackError(
            f"{path.name}: SHA-256 mismatch: {source} publishes {expected}, the download has {actual}. "
            "The file was removed and nothing was installed from it: run `otel-kit stack install` again, "
            "check OTEL_KIT_RELEASE_MIRROR if you use one, or set OTEL_KIT_STACK_SOURCE=build to build from source"
        )
    return actual
