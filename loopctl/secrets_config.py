"""How config.yaml names a secret: `{env: NAME}`, `{file: PATH}`, `{command: CMD}` or a minted `{jwt: …}`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loopctl import secrets
from loopctl.secrets import Secret


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvRef(_Ref):
    env: str = Field(min_length=1)

    def resolve(self) -> Secret:
        return secrets.from_env(self.env)


class FileRef(_Ref):
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
        from loopctl.tokens import mint_jwt

        key = self.jwt.secret.resolve()
        return Secret(mint_jwt(key.reveal(), self.jwt.claims, ttl=self.jwt.ttl), source="jwt")


TokenRef = EnvRef | FileRef | CommandRef | JwtRef


def env_refs(model: Any, location: tuple[Any, ...] = ()) -> Iterator[tuple[list[Any], str]]:
    """Every `{env: NAME}` inside a validated config, with its location for error messages."""
    if isinstance(model, EnvRef):
        yield [*location, "env"], model.env
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from env_refs(getattr(model, name), (*location, name))
    elif isinstance(model, dict):
        for key, value in model.items():
            yield from env_refs(value, (*location, key))
    elif isinstance(model, list):
        for index, value in enumerate(model):
            yield from env_refs(value, (*location, index))
