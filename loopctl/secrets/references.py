"""How config.yaml names a secret: `{env: NAME}`, `{file: PATH}`, `{command: CMD}` or a minted `{jwt: …}`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loopctl import secrets
from loopctl.errors import SecretError
from loopctl.secrets import Secret


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvRef(_Ref):
    env: str = Field(min_length=1)

    def resolve(self) -> Secret:
        return secrets.from_env(self.env)


class FileRef(_Ref):
    """A file holding the secret; a relative path is relative to config.yaml's folder (see `anchor_files`)."""

    file: str = Field(min_length=1)

    def resolve(self) -> Secret:
        return secrets.from_file(self.file)


class CommandRef(_Ref):
    command: str = Field(min_length=1)

    def resolve(self) -> Secret:
        return secrets.from_command(self.command)


SecretRef = EnvRef | FileRef | CommandRef


class JwtSpec(_Ref):
    secret: SecretRef
    claims: dict[str, Any] = Field(default_factory=dict)
    ttl: int = Field(300, ge=1, le=86400)


class JwtRef(_Ref):
    """A token minted at the moment of use (HS256), from a secret that is itself a reference."""

    jwt: JwtSpec

    def resolve(self) -> Secret:
        from loopctl.secrets.jwt import mint_jwt

        key = self.jwt.secret.resolve()
        return Secret(mint_jwt(key.reveal(), self.jwt.claims, ttl=self.jwt.ttl), source="jwt")


TokenRef = EnvRef | FileRef | CommandRef | JwtRef
# A header's value: a literal, or read like a token (a credential header's value is masked either way).
HeaderValue = str | EnvRef | FileRef | CommandRef


def resolve_headers(headers: dict[str, HeaderValue]) -> tuple[tuple[str, str], ...]:
    """The headers to send, references read now; a credential header's value is registered for redaction."""
    resolved = tuple((name, _header_value(value)) for name, value in headers.items())
    for name, value in resolved:
        secrets.remember_header(name, value)
    return resolved


def _header_value(value: HeaderValue) -> str:
    return value if isinstance(value, str) else value.resolve().reveal()


def literal_headers(model: Any) -> Iterator[tuple[str, str]]:
    """Every literal header value inside a validated config (a `headers:` mapping anywhere), with its name."""
    if isinstance(model, BaseModel):
        for field in type(model).model_fields:
            value = getattr(model, field)
            if field == "headers" and isinstance(value, dict):
                yield from ((name, item) for name, item in value.items() if isinstance(item, str))
            else:
                yield from literal_headers(value)
    elif isinstance(model, list | dict):
        for item in model.values() if isinstance(model, dict) else model:
            yield from literal_headers(item)


def secret_refs(model: Any, location: tuple[Any, ...] = ()) -> Iterator[tuple[list[Any], SecretRef]]:
    """Every `{env:}`, `{file:}` and `{command:}` inside a validated config (in a `{jwt:}` too), with its location."""
    if isinstance(model, EnvRef | FileRef | CommandRef):
        yield list(location), model
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from secret_refs(getattr(model, name), (*location, name))
    elif isinstance(model, dict):
        for key, value in model.items():
            yield from secret_refs(value, (*location, key))
    elif isinstance(model, list):
        for index, value in enumerate(model):
            yield from secret_refs(value, (*location, index))


def env_refs(model: Any) -> Iterator[tuple[list[Any], str]]:
    """Every `{env: NAME}` inside a validated config, with its location for error messages."""
    for location, ref in secret_refs(model):
        if isinstance(ref, EnvRef):
            yield [*location, "env"], ref.env


def anchor_files(model: Any, folder: Path) -> None:
    """Make each relative `{file: PATH}` relative to `folder` (config.yaml's), like build.context, not to the cwd."""
    for _, ref in secret_refs(model):
        if isinstance(ref, FileRef) and not Path(ref.file).is_absolute():
            # Part of validating the config: the model is frozen for everyone after this.
            object.__setattr__(ref, "file", os.path.join(folder, ref.file))


def register_all(model: Any) -> None:
    """Teach redaction every secret the config names, before any phase runs, even one a skipped phase would read.

    Environment variables and files are read quietly (a phase that needs one reports its own error); commands
    are not run here: they may be slow or have effects, so their output is known once a phase runs them. A
    literal value of a credential header (`Authorization: Bearer …` written in the file) is registered too.
    """
    for _, ref in secret_refs(model):
        if isinstance(ref, EnvRef | FileRef):
            with contextlib.suppress(SecretError):
                ref.resolve()  # a Secret remembers its value for redaction as it is made
    for name, value in literal_headers(model):
        secrets.remember_header(name, value)
