"""Exit statuses and the two errors every ``otel-kit`` command turns into one line on stderr.

Statuses never overlap with ``otel-kit health``'s verdicts (0 healthy, 1 degraded, 2 unhealthy,
3 no data), so a deploy gate can tell a verdict from a failure to get one.
"""

from __future__ import annotations

EXIT_UNREACHABLE = 4  # a backend could not be reached or gave an answer that is not its API's
EXIT_USAGE = 64  # an invalid option (sysexits' EX_USAGE); argparse's own errors too
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a program ended by SIGPIPE, as `yes | head` does


class UsageError(SystemExit):
    """An invalid option value: ``main`` prints the message, the process exits with 64."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BackendError(Exception):
    """A backend's API could not be reached (``status`` None) or answered with an error or non-JSON."""

    def __init__(self, backend: str, base: str, path: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{backend} at {base}: {reason}")
        self.backend = backend
        self.base = base
        self.path = path
        self.reason = reason
        self.status = status

    def line(self, command: str, option: str | None) -> str:
        """One line naming the URL and the fix."""
        where = f"pass {option} URL" if option else "pass its URL"
        if self.status is None:
            return (
                f"otel-kit {command}: cannot reach {self.backend} at {self.base} ({self.reason}): "
                f"start the local stack with `otel-kit stack up` (check it with `otel-kit stack status`), or {where} to use another {self.backend}"
            )
        return f"otel-kit {command}: {self.backend} at {self.base} answered {self.reason} for {self.path}: check that {option or 'the URL'} points at {self.backend}'s API"
