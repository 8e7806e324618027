"""Secrets read at the moment of use, masked in every repr, and scrubbed from anything written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopctl.errors import SecretError

MASK = "***"
_MIN_SECRET_LENGTH = 4
_known_values: set[str] = set()


class Secret:
    """A secret value whose `str` and `repr` are `***`; call `reveal()` at the point of use."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str) -> None:
        self._value = value
        self.source = source
        remember(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK}, source={self.source!r})"

    def __str__(self) -> str:
        return MASK


def remember(value: str) -> None:
    """Add a value to the set that `redact` scrubs from output."""
    if len(value) >= _MIN_SECRET_LENGTH:
        _known_values.add(value)


def redact(text: str) -> str:
    """Replace every known secret value in `text` with `***`."""
    # Longest first, so a token that contains a shorter secret is masked whole.
    for value in sorted(_known_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return _QUERY_TOKEN.sub(rf"\g<1>{MASK}", text)


_QUERY_TOKEN = re.compile(r"([?&](?:token|access_token|jwt)=)[^&\s#'\"]+", re.IGNORECASE)


def redact_tree(value: Any) -> Any:
    """Apply `redact` to every string inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item) for item in value]
    return value


def from_env(name: str, *, environ: Mapping[str, str] | None = None) -> Secret:
    """Read a secret from an environment variable."""
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise SecretError(f"environment variable {name} is not set", hint=f"export {name}=... before running loopctl")
    return Secret(value, source=f"env:{name}")


def from_file(path: str | Path) -> Secret:
    """Read a secret from a file, without its trailing newline."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise SecretError(
            f"cannot read secret file {path}: {reason}", hint="check the path and its permissions"
        ) from None
    if not value:
        raise SecretError(f"secret file {path} is empty", hint="write the token into the file")
    return Secret(value, source=f"file:{path}")


def from_command(command: str, *, timeout: float = 30.0) -> Secret:
    """Run a command and take its standard output as the secret."""
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, ValueError) as err:
        raise SecretError(f"cannot run secret command {command!r}: {err}", hint="check the command") from None
    except subprocess.TimeoutExpired:
        raise SecretError(
            f"secret command {command!r} did not finish in {timeout:g}s", hint="check the command"
        ) from None
    value = done.stdout.strip()
    if done.returncode != 0:
        last_line = redact((done.stderr.strip().splitlines() or [""])[-1])
        raise SecretError(
            f"secret command {command!r} exited {done.returncode}: {last_line}".rstrip(": "),
            hint="run the command by hand to see why it fails",
        )
    if not value:
        raise SecretError(f"secret command {command!r} printed nothing", hint="it must print the secret")
    return Secret(value, source=f"command:{command}")
