"""One configured check, run now: `loopctl probe --check NAME` and the MCP `probe` tool, without a build."""

from __future__ import annotations

from pathlib import Path

from loopctl.config import CheckConfig, Config, load_config
from loopctl.config.services import ServiceView, service_views
from loopctl.errors import UsageError
from loopctl.probe.spec import ProbeResult
from loopctl.records.sections import DeploySection
from loopctl.records.store import Store


def locate_check(config: Config, name: str) -> tuple[ServiceView, CheckConfig]:
    """The check and the service it probes (check names are unique across services: the config ensures it)."""
    views = service_views(config)
    found = next(((view, item) for view in views for item in view.config.probe.checks if item.name == name), None)
    if found is None:
        names = ", ".join(item.name for view in views for item in view.config.probe.checks) or "none configured"
        raise UsageError(f"no check named {name!r} in the config", hint=f"checks: {names}")
    return found


def run_configured_check(config_path: Path, name: str, url: str | None) -> tuple[Config, CheckConfig, ProbeResult]:
    """The check against `url`, else the latest deployment's URL of the service it probes, else that service's
    deploy.url; its tokens read (JWTs minted) now, and a private Cloud Run service's ID token sent as `iterate`
    sends it."""
    from loopctl.phases.probe import platform_headers
    from loopctl.probe.from_config import app_codes_of, build_check
    from loopctl.probe.options import run_check_sync
    from loopctl.secrets.references import register_all

    project = load_config(config_path, check_env=False)
    view, item = locate_check(project, name)
    register_all(project)
    config = view.config
    service = view.name if view.several else None
    deploy = DeploySection() if url else latest_deploy(Store(config.path(config.iterations_dir)), service)
    base_url = url or deploy.url or (config.deploy.url if config.deploy is not None else None)
    extra = platform_headers(config, deploy.audience or base_url)
    return config, item, run_check_sync(build_check(item, base_url, app_codes_of(config.probe.close_codes), extra))


def latest_deploy(store: Store, service: str | None = None) -> DeploySection:
    """The deploy section of the latest iteration that deployed something with a URL, or nothing; with several
    services, the latest that deployed `service` (the one whose check runs) with a URL."""
    latest, _ = store.recent(10)
    for record in reversed(latest):
        if service is None:
            deploy = record.deploy
        else:
            part = (record.services or {}).get(service)
            deploy = part.deploy if part is not None else None
        if deploy is not None and deploy.url:
            return deploy
    return DeploySection()
