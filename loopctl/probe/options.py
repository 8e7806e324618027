"""Turn `loopctl probe` options into the check config.yaml would write, validated before anything connects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from loopctl.config import CheckConfig, ProbeConfig
from loopctl.errors import UsageError
from loopctl.outside_text import SHORT_LIMIT, one_line
from loopctl.probe.from_config import app_codes_of, build_check
from loopctl.probe.load import Load, LoadResult
from loopctl.probe.spec import Check, ProbeResult, parse_header, parse_send, parse_url
from loopctl.wire import AuthMode

Model = TypeVar("Model", bound=BaseModel)
# The config key each option sets, so a refusal names what the user typed.
FLAGS = {
    "timeout": "--timeout",
    "hold": "--hold",
    "event_field": "--event-field",
    "expect_status": "--expect-status",
    "ca_bundle": "--ca-bundle",
    "headers": "--header",
    "type": "--auth",
    "env": "--token-env",
    "file": "--token-file",
    "command": "--token-command",
    "close_codes": "--close-code",
}


def check_from_options(
    url: str,
    *,
    send: str | None,
    expect_events: Sequence[str],
    event_field: str,
    timeout: float,
    hold: float,
    expect_status: int | None,
    headers: Sequence[str],
    token_env: str | None,
    token_file: str | None,
    token_command: str | None,
    auth: AuthMode,
    ca_bundle: str | None,
    close_codes: Sequence[str] = (),
) -> Check:
    """Validate every option as config.yaml's check, read the token, and build the check as `iterate` does."""
    websocket = parse_url(url).scheme in ("ws", "wss")
    block: dict[str, Any] = {"url": url, "timeout": timeout, "headers": _headers(headers), "ca_bundle": ca_bundle}
    token = _token_ref(env=token_env, file=token_file, command=token_command)
    if token is not None:
        block["auth"] = {"type": auth, "token": token}
    if websocket:
        block |= {"send": parse_send(send), "expect_events": list(expect_events), "event_field": event_field}
        block["hold"] = hold
    else:
        block["expect_status"] = expect_status
    item = _validated(CheckConfig, {"name": "probe", "websocket" if websocket else "http": block})
    return build_check(item, None, app_codes_of(parse_close_codes(close_codes)))


def parse_close_codes(texts: Sequence[str]) -> dict[int, str]:
    """`4001=token_expired` → config.yaml's `probe.close_codes`, checked by the same rules."""
    codes: dict[int, str] = {}
    for text in texts:
        number, sep, name = text.partition("=")
        name = name.strip()
        if not sep or not number.strip().isdigit() or not name or any(ch.isspace() for ch in name):
            raise UsageError(
                f"bad --close-code {text!r}: expected CODE=NAME", hint="e.g. --close-code 4001=unauthorized"
            )
        codes[int(number)] = name
        _validated(
            ProbeConfig,
            {"close_codes": {int(number): name}},
            given=text,
            hint="codes below 4000 have a meaning of their own (loopctl classify CODE)",
        )
    return codes


def _headers(texts: Sequence[str]) -> dict[str, str]:
    """`--header` texts as config.yaml's `headers:` mapping: one value per name, as there."""
    headers: dict[str, str] = {}
    for name, value in map(parse_header, texts):
        if name in headers:
            raise UsageError(f"--header {name} is given twice", hint="give each header once")
        headers[name] = value
    return headers


def _token_ref(**sources: str | None) -> dict[str, str] | None:
    """The token flags as config.yaml's `token: {env: …}` (`{file: …}`, `{command: …}`): at most one."""
    given = {source: value for source, value in sources.items() if value is not None}
    if len(given) > 1:
        named = " and ".join(FLAGS[source] for source in given)
        raise UsageError(f"{named} both name a token", hint="give at most one token source")
    return given or None


def _validated(
    model: type[Model], raw: dict[str, Any], *, given: str | None = None, hint: str = "see loopctl probe --help"
) -> Model:
    """`raw` as the config model, or a one-line refusal naming the option and the value given."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        # A token's union reports every shape it is not; the flags only ever give one key, so its own error speaks.
        errors = err.errors()
        first = next((error for error in errors if error["type"] not in ("missing", "extra_forbidden")), errors[0])
        message = first["msg"].removeprefix("Value error, ")
        flag = next((FLAGS[part] for part in reversed(first["loc"]) if part in FLAGS), None)
        if flag is None:  # a rule across options: its input is the whole block (header values too), never shown
            raise UsageError(f"bad options: {message}", hint=hint) from None
        value = given if given is not None else str(first["input"])
        raise UsageError(f"bad {flag} {one_line(value, SHORT_LIMIT)!r}: {message}", hint=hint) from None


def run_check_sync(check: Check) -> ProbeResult:
    from loopctl.probe import run_check

    return asyncio.run(run_check(check))


def run_load_sync(check: Check, load: Load) -> LoadResult:
    from loopctl.probe.load import run_load

    return asyncio.run(run_load(check, load))
