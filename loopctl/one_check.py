"""One configured check, run now: `loopctl probe --check NAME` and the MCP `probe` tool, without a build."""

from __future__ import annotations

from pathlib import Path

from loopctl.config import CheckConfig, Config, load_config
from loopctl.errors import UsageError
from loopctl.probe.spec import ProbeResult
from loopctl.records.sections import DeploySection
from loopctl.records.store import Store


def find_check(config: Config, name: str) -> CheckConfig:
    item = next((entry for entry in config.probe.checks if entry.name == name), None)
    if item is None:
        names = ", ".join(entry.name for entry in config.probe.checks) or "none configured"
        raise UsageError(f"no check named {name!r} in the config", hint=f"checks: {names}")
    return item


def run_configured_check(config_path: Path, name: str, url: str | None) -> tuple[Config, CheckConfig, ProbeResult]:
    """The check against `url`, else the latest deployment's URL, else deploy.url; its tokens read (JWTs minted)
    now, and a private Cloud Run service's ID token sent as `iterate` sends it."""
    from loopctl.phases.probe import platform_headers
    from loopctl.probe.from_config import app_codes_of, build_check
    from loopctl.probe.options import run_check_sync
    from loopctl.secrets.references import register_all

    config = load_config(config_path, check_env=False)
    item = find_check(config, name)
    register_all(config)
    deploy = DeploySection() if url else latest_deploy(Store(config.path(config.iterations_dir)))
    base_url = url or deploy.url or (config.deploy.url if config.deploy is not None else None)
    extra = platform_headers(config, deploy.audience or base_url)
    return config, item, run_check_sync(build_check(item, base_url, app_codes_of(config.probe.close_codes), extra))


def latest_deploy(store: Store) -> DeploySection:
    """The deploy section of the latest iteration that deployed something with a URL, or nothing."""
    latest, _ = store.recent(10)
    deployed = [record.deploy for record in reversed(latest) if record.deploy and record.deploy.url]
    return deployed[0] if deployed else DeploySection()
