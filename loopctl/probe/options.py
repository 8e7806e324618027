"""Turn `loopctl probe` options into a Check, validating each before anything connects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from loopctl import secrets
from loopctl.errors import UsageError
from loopctl.probe.classify import AppCode
from loopctl.probe.load import Load, LoadResult
from loopctl.probe.spec import AuthMode, Check, ProbeResult, parse_header, parse_send, parse_url


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
    """Validate every option, read the token, and return the check to run."""
    parse_url(url)
    return Check(
        url=url,
        send=parse_send(send),
        expect_events=tuple(expect_events),
        event_field=event_field,
        timeout=timeout,
        hold=hold,
        expect_status=expect_status,
        headers=tuple(parse_header(text) for text in headers),
        token=_token(token_env, token_file, token_command),
        auth=auth,
        ca_bundle=ca_bundle,
        app_codes=parse_close_codes(close_codes),
    )


def parse_close_codes(texts: Sequence[str]) -> dict[int, AppCode]:
    """`4001=token_expired` → what that application close code means, as config.yaml's `probe.close_codes`."""
    codes: dict[int, AppCode] = {}
    for text in texts:
        number, sep, name = text.partition("=")
        name = name.strip()
        if not sep or not number.strip().isdigit() or not name or any(ch.isspace() for ch in name):
            raise UsageError(
                f"bad --close-code {text!r}: expected CODE=NAME", hint="e.g. --close-code 4001=unauthorized"
            )
        code = int(number)
        if not 4000 <= code <= 4999:
            raise UsageError(
                f"bad --close-code {text!r}: application close codes are 4000–4999",
                hint="codes below 4000 have a meaning of their own (loopctl classify CODE)",
            )
        codes[code] = AppCode(name)
    return codes


def _token(env: str | None, file: str | None, command: str | None) -> secrets.Secret | None:
    given = [
        name
        for name, value in (("--token-env", env), ("--token-file", file), ("--token-command", command))
        if value is not None
    ]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} both name a token", hint="give at most one token source")
    if env is not None:
        return secrets.from_env(env)
    if file is not None:
        return secrets.from_file(file)
    if command is not None:
        return secrets.from_command(command)
    return None


def run_check_sync(check: Check) -> ProbeResult:
    from loopctl.probe import run_check

    return asyncio.run(run_check(check))


def run_load_sync(check: Check, load: Load) -> LoadResult:
    from loopctl.probe.load import run_load

    return asyncio.run(run_load(check, load))
