"""Secrets read at the moment of use, masked in every repr, and scrubbed from anything written."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopctl.errors import SecretError

# Re-exported: the rest of loopctl asks this module for redaction.
from loopctl.secrets.redaction import MASK as MASK
from loopctl.secrets.redaction import iteration_scope as iteration_scope
from loopctl.secrets.redaction import redact as redact
from loopctl.secrets.redaction import remember as remember


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


def remember_userinfo(user: str | None, password: str | None) -> None:
    """A password in a URL (`ws://user:password@host`), and the Basic credential a client makes of it."""
    if not password:
        return
    remember(password)
    remember(base64.b64encode(f"{user or ''}:{password}".encode()).decode("ascii"))


# Header names that carry a credential, whatever their value looks like: RFC 9110 §11.6.2 and §11.7.2
# (Authorization, Proxy-Authorization), RFC 6265 (Cookie, Set-Cookie), and the `X-Api-Key`/`*-Token` families.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_MIN_COOKIE_LENGTH = 8
_CREDENTIAL_WORDS = ("token", "secret", "password", "apikey", "api-key", "api_key", "jwt", "credential")


def is_credential_header(name: str) -> bool:
    """`Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `*-Key`, `*Token*` (any case), and the like."""
    lowered = name.strip().lower()
    return (
        lowered in _CREDENTIAL_HEADERS
        or lowered.endswith(("-key", "_key"))
        or any(word in lowered for word in _CREDENTIAL_WORDS)
    )


def remember_header(name: str, value: str) -> None:
    """A credential header's value is a secret whatever its source, a literal in config.yaml included.

    Each cookie's value is one too (a server may echo one cookie alone), and so is the password inside a
    `Basic` credential.
    """
    if not is_credential_header(name):
        return
    remember(value.strip())
    lowered = name.strip().lower()
    if lowered in ("cookie", "set-cookie"):
        # Every pair of a Cookie is a cookie; in a Set-Cookie only the first is, the rest are attributes (Path=/).
        pairs = value.split(";")
        # A short value (`theme=dark`) is a preference, not a session: masking it would hide ordinary words.
        cookies = (pair.partition("=")[2].strip() for pair in (pairs if lowered == "cookie" else pairs[:1]))
        for cookie in cookies:
            if len(cookie) >= _MIN_COOKIE_LENGTH:
                remember(cookie)
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() == "basic":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            user, _, password = base64.b64decode(credential.strip(), validate=True).decode().partition(":")
            remember_userinfo(user, password)


def redact_tree(value: Any) -> Any:
    """Apply `redact` to every string inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item) for item in value]
    return value


def check_wire_token(secret: Secret, *, subprotocol: bool = False) -> None:
    """A token sent in a header, a subprotocol or a query string must be one plain word: say which source is wrong.

    The token itself is never part of the message: only what kind of character is wrong, and where it came from.
    """
    problem = _token_problem(secret.reveal(), subprotocol=subprotocol)
    if problem is None:
        return
    hint = (
        "a token must be one line of printable ASCII or Latin-1 without spaces or commas: "
        "check what the source yields (a trailing newline is stripped, an inner one is not)"
    )
    if subprotocol and problem.startswith("a character"):
        hint = "a subprotocol carries only RFC 7230 token characters: send this token with auth.type bearer or query"
    raise SecretError(f"the token from {secret.source} contains {problem}", hint=hint)


# RFC 7230 `token`: what a header name or a WebSocket subprotocol may hold.
HTTP_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _token_problem(token: str, *, subprotocol: bool) -> str | None:
    named = {"\n": "a newline", "\r": "a carriage return", " ": "a space", "\t": "a tab", ",": "a comma"}
    for char, name in named.items():
        if char in token:
            return name
    if any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in token):
        return "a control character"
    if any(ord(char) > 0xFF for char in token):
        return "a character outside Latin-1, which no HTTP header can carry"
    if subprotocol and not HTTP_TOKEN.match(token):
        return "a character a WebSocket subprotocol cannot carry (such as / or =)"
    return None


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
    except UnicodeDecodeError:
        raise SecretError(
            f"secret command {command!r} printed bytes that are not UTF-8", hint="check the command"
        ) from None
    value = done.stdout.strip()
    if value:
        remember(value)  # before anything about the command is shown: its stderr may repeat what it printed
    if done.returncode != 0:
        last_line = redact((done.stderr.strip().splitlines() or [""])[-1])
        raise SecretError(
            f"secret command {command!r} exited {done.returncode}: {last_line}".rstrip(": "),
            hint="run the command by hand to see why it fails",
        )
    if not value:
        raise SecretError(f"secret command {command!r} printed nothing", hint="it must print the secret")
    return Secret(value, source=f"command:{command}")
