"""config.yaml's `steps:` of a WebSocket check: one step model, and the placeholder names each step may use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loopctl.outside_text import SHORT_LIMIT, one_line

# `{name}`: a token, a captured value. Only identifiers, so JSON such as `{}` or `{"a": 1}` in a string is left be.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ACTIONS = ("send", "text", "binary_hex", "expect", "expect_text", "expect_close")


class StepConfig(BaseModel):
    """One step: exactly one action (`send`, `text`, `binary_hex`, `expect`, `expect_text`, `expect_close`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    send: Any = None
    text: str | None = None
    binary_hex: str | None = None
    expect: dict[str, Any] | None = None
    expect_text: str | None = None
    expect_close: int | list[int] | None = None
    match: dict[str, str] = Field(default_factory=dict)
    capture: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = Field(None, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_action(self) -> StepConfig:
        given = [name for name in _ACTIONS if name in self.model_fields_set]
        if len(given) != 1:
            named = " and ".join(given) if given else "none"
            raise ValueError(f"a step takes exactly one of {', '.join(_ACTIONS)} (this one has {named})")
        if (self.match or self.capture) and given != ["expect"]:
            raise ValueError("match and capture belong to an `expect` step")
        if self.timeout is not None and given[0] not in ("expect", "expect_text", "expect_close"):
            raise ValueError("timeout belongs to a step that waits (expect, expect_text, expect_close)")
        return self

    @field_validator("binary_hex")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                bytes.fromhex(value)
            except ValueError:
                raise ValueError(f"{one_line(value, SHORT_LIMIT)!r} is not hexadecimal bytes, e.g. 0001ff") from None
        return value

    @field_validator("expect_text")
    @classmethod
    def _text_pattern(cls, value: str | None) -> str | None:
        return _pattern(value) if value is not None else None

    @field_validator("match")
    @classmethod
    def _patterns(cls, patterns: dict[str, str]) -> dict[str, str]:
        for pattern in patterns.values():
            _pattern(pattern)
        return patterns

    @field_validator("expect_close")
    @classmethod
    def _close_codes(cls, value: int | list[int] | None) -> int | list[int] | None:
        codes = [value] if isinstance(value, int) else value or []
        wrong = [code for code in codes if not 1000 <= code <= 4999]
        if wrong or value == []:
            raise ValueError(f"a close code is 1000–4999, not {wrong[0] if wrong else 'an empty list'}")
        return value


def _pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"{pattern!r} is not a regular expression: {err}") from None
    return pattern


def placeholder_problems(checks: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """Every placeholder of every WebSocket check that nothing defines, with its location in the config."""
    for index, check in enumerate(checks):
        ws = check.websocket
        if ws is None:
            continue
        where: list[Any] = ["probe", "checks", index, "websocket"]
        url_parts = [([*where, key], value) for key, value in (("path", ws.path), ("url", ws.url)) if value]
        yield from unknown_placeholders(url_parts, ws.steps or [], [*where, "steps"], token=ws.auth is not None)


def unknown_placeholders(
    url_parts: list[tuple[list[Any], str]], steps: list[StepConfig], location: list[Any], *, token: bool
) -> Iterator[tuple[list[Any], str]]:
    """Each `{name}` no step has captured before it is used (and `{token}` without a token source), where it is."""
    known = {"token"} if token else set()
    for where, text in url_parts:
        for name in placeholders(text):
            if name not in known:
                yield where, _unknown(name, known, "the URL and path take only {token}")
    for index, step in enumerate(steps):
        body = step.send if "send" in step.model_fields_set else step.text
        for name in placeholders(body):
            if name not in known:
                yield [*location, index], _unknown(name, known, "a value is known once a step before captures it")
        known.update(step.capture)


def _unknown(name: str, known: set[str], why: str) -> str:
    if name == "token":
        return "{token} is used but the check has no auth token (auth: {type: …, token: …})"
    names = ", ".join(f"{{{each}}}" for each in sorted(known)) or "none"
    return f"unknown placeholder {{{name}}} ({why}; known here: {names})"


def placeholders(template: Any) -> list[str]:
    """Every `{name}` a send body or text uses, in order."""
    if isinstance(template, dict):
        return [name for value in template.values() for name in placeholders(value)]
    if isinstance(template, list):
        return [name for value in template for name in placeholders(value)]
    return PLACEHOLDER.findall(template) if isinstance(template, str) else []
