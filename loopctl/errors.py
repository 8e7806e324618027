"""Expected failures: each carries a `kind` slug and a `hint` that says what to do."""

from __future__ import annotations


class LoopctlError(Exception):
    """A failure the user can act on; rendered as one line, never as a traceback."""

    kind = "error"

    def __init__(self, message: str, *, hint: str = "", kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.message


class UsageError(LoopctlError):
    """Bad command-line input or configuration: exit code 2."""

    kind = "usage"


class SecretError(UsageError):
    """A secret could not be read from its source (env, file or command)."""

    kind = "secret"


class ConfigDeprecation(UserWarning):
    """A config key read under a name that will go: shown as one `warning:` line, never as an error."""
