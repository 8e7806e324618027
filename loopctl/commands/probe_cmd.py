"""`loopctl probe URL` or `loopctl probe --check NAME`: one WebSocket or HTTP check against a running service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopctl.exitcodes import ExitCode
from loopctl.wire import AuthMode


def probe(
    url: Annotated[
        str | None, typer.Argument(help="ws://, wss:// (WebSocket check) or http://, https:// (HTTP GET).")
    ] = None,
    check: Annotated[
        str | None,
        typer.Option(
            "--check",
            help="Run this check from the config (its steps, token sources, JWT minting) against the latest "
            "deployment's URL, or --url.",
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--url", help="With --check: the service's base URL (the check adds its path).")
    ] = None,
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="LOOPCTL_CONFIG", help="The config file (with --check).")
    ] = Path("config.yaml"),
    send: Annotated[str | None, typer.Option(help="JSON message sent right after connecting.")] = None,
    expect_event: Annotated[
        list[str] | None, typer.Option("--expect-event", help="Event expected, in order (repeatable).")
    ] = None,
    event_field: Annotated[str, typer.Option(help="JSON field that names an event.")] = "type",
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds for the whole probe.")] = 30.0,
    hold: Annotated[
        float, typer.Option(min=0.0, help="With no expected events: seconds the connection must stay open.")
    ] = 1.0,
    expect_status: Annotated[
        int | None, typer.Option(help="HTTP checks: the status expected (default: any 2xx).")
    ] = None,
    header: Annotated[list[str] | None, typer.Option("--header", help="'Name: value' header (repeatable).")] = None,
    token_env: Annotated[str | None, typer.Option(help="Read the token from this environment variable.")] = None,
    token_file: Annotated[str | None, typer.Option(help="Read the token from this file.")] = None,
    token_command: Annotated[str | None, typer.Option(help="Run this command; its output is the token.")] = None,
    auth: Annotated[
        AuthMode,
        typer.Option(
            help="How the token is sent: Authorization header, jwt.<token> subprotocol, ?token= (message: only in "
            "a configured conversation's steps, with --check)."
        ),
    ] = "bearer",
    ca_bundle: Annotated[str | None, typer.Option(help="CA bundle for wss:// and https:// (private CA).")] = None,
    close_code: Annotated[
        list[str] | None,
        typer.Option(
            "--close-code",
            help="What an application close code means, CODE=NAME (repeatable), like probe.close_codes: "
            "4001=unauthorized; a name with auth/token/forbid/... counts as an auth failure.",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=10000, help="Load: sessions at a time.")] = 1,
    duration: Annotated[
        float, typer.Option(min=0.0, help="Load: keep starting sessions for this many seconds (0: one round).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout and nothing else.")] = False,
) -> None:
    """Probe a running service once and classify how it ended (exit 0 passed, 1 failed, 2 usage error)."""
    from loopctl.errors import UsageError
    from loopctl.probe.load import Load
    from loopctl.probe.options import check_from_options, run_check_sync, run_load_sync
    from loopctl.terminal.console import render_probe
    from loopctl.terminal.output import emit_json, guarded

    def configured() -> ExitCode:
        from loopctl.one_check import run_configured_check

        assert check is not None
        if url is not None:
            raise UsageError(f"--check {check} takes its URL from the config or --url", hint="use --url URL")
        result = run_configured_check(config, check, base_url)[2]
        code = ExitCode.OK if result.passed else ExitCode.CHECKS_FAILED
        if as_json:
            emit_json("probe", {**result.to_dict(), "check": check}, exit_code=code)
        else:
            render_probe(result)
        return code

    def run() -> ExitCode:
        if check is not None:
            return configured()
        if url is None:
            raise UsageError("give a URL to probe, or --check NAME", hint="e.g. loopctl probe ws://127.0.0.1:8080/ws")
        if base_url is not None:
            raise UsageError("--url goes with --check", hint="give the URL itself as the argument")
        probed = check_from_options(
            url,
            send=send,
            expect_events=expect_event or [],
            event_field=event_field,
            timeout=timeout,
            hold=hold,
            expect_status=expect_status,
            headers=header or [],
            token_env=token_env,
            token_file=token_file,
            token_command=token_command,
            auth=auth,
            ca_bundle=ca_bundle,
            close_codes=close_code or [],
        )
        if concurrency > 1 or duration > 0:
            measured = run_load_sync(probed, Load(concurrency, duration))
            result, load = measured.result(), measured.to_dict()
        else:
            result, load = run_check_sync(probed), None
        code = ExitCode.OK if result.passed else ExitCode.CHECKS_FAILED
        if as_json:
            emit_json("probe", {**result.to_dict(), **({"load": load} if load else {})}, exit_code=code)
        else:
            render_probe(result, load=load)
        return code

    guarded(as_json, run, command="probe")
