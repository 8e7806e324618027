"""A check as config.yaml (or `loopctl probe`'s flags, made into the same config) describes it becomes a `Check`."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from loopctl.config import AppCodeConfig, CheckConfig
from loopctl.config.steps import StepConfig
from loopctl.errors import UsageError
from loopctl.probe.classify import AppCode
from loopctl.probe.spec import Check, parse_url
from loopctl.probe.steps import Step, fill
from loopctl.secrets.references import resolve_headers


def app_codes_of(close_codes: Mapping[int, str | AppCodeConfig]) -> dict[int, AppCode]:
    """What each application close code means, from `probe.close_codes` (or `--close-code`)."""
    return {
        code: AppCode(meaning) if isinstance(meaning, str) else AppCode(meaning.category, meaning.depth, meaning.hint)
        for code, meaning in close_codes.items()
    }


def build_check(
    item: CheckConfig,
    base_url: str | None,
    app_codes: dict[int, AppCode],
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> Check:
    """A config check becomes the `Check` the probe runs; tokens are read now."""
    block = item.websocket or item.http
    assert block is not None  # the config model guarantees exactly one
    url = block.url or _join(base_url, block.path, websocket=item.websocket is not None, check=item.name)
    token = block.auth.token.resolve() if block.auth is not None else None
    if token is not None:  # `{token}` as a conversation's steps fill it (config refuses any other name in a URL)
        url = fill(url, {"token": quote(token.reveal(), safe="")})
    parse_url(url)
    headers = (*extra_headers, *resolve_headers(block.headers))
    if item.websocket is not None:
        ws = item.websocket
        return Check(
            url=url,
            send=ws.send,
            expect_events=tuple(ws.expect_events),
            event_field=ws.event_field,
            timeout=ws.timeout,
            hold=ws.hold,
            headers=headers,
            token=token,
            auth=ws.auth.type if ws.auth else "bearer",
            app_codes=app_codes,
            ca_bundle=ws.ca_bundle,
            fail_on=tuple(ws.fail_on) if ws.fail_on is not None else None,
            steps=tuple(runtime_step(step) for step in ws.steps or ()),
        )
    assert item.http is not None
    return Check(
        url=url,
        timeout=item.http.timeout,
        expect_status=item.http.expect_status,
        token=token,
        auth=item.http.auth.type if item.http.auth else "bearer",
        headers=headers,
        ca_bundle=item.http.ca_bundle,
    )


def runtime_step(config: StepConfig) -> Step:
    """The step a config step describes."""
    if "send" in config.model_fields_set:
        return Step("send", config.send)
    if config.text is not None:
        return Step("text", config.text)
    if config.binary_hex is not None:
        return Step("binary", bytes.fromhex(config.binary_hex))
    if config.expect is not None:
        return Step("expect", config.expect, match=config.match, capture=config.capture, timeout=config.timeout)
    if config.expect_text is not None:
        return Step("expect_text", config.expect_text, timeout=config.timeout)
    codes = config.expect_close if isinstance(config.expect_close, list) else [config.expect_close or 1000]
    return Step("expect_close", close_codes=tuple(codes), timeout=config.timeout)


def _join(base_url: str | None, path: str, *, websocket: bool, check: str) -> str:
    if not base_url:
        raise UsageError(
            f"check {check!r} has no URL: no deploy URL is known and the check gives no url",
            hint="set deploy.url (target: url) or the check's own url",
        )
    joined = urlsplit(urljoin(base_url.rstrip("/") + "/", path.lstrip("/")))
    if websocket:
        joined = joined._replace(scheme={"http": "ws", "https": "wss"}.get(joined.scheme, joined.scheme))
    return urlunsplit(joined)
