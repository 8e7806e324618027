"""`loopctl doctor`: is everything the config needs reachable? One finding per thing, with the fix."""

from __future__ import annotations

import dataclasses
import http.client
from collections.abc import Callable
from pathlib import Path

from loopctl.config import Config, cloudrun_target, load_config
from loopctl.config.services import service_views
from loopctl.doctor_finding import Finding, credentials_finding
from loopctl.errors import LoopctlError


def diagnose(config_path: Path) -> list[Finding]:
    """Check the config, then only what it needs: engine, registry, Google credentials."""
    try:
        config = load_config(config_path)
    except LoopctlError as err:
        return [Finding("config", False, err.message, err.hint)]
    views = service_views(config)
    total = sum(len(view.config.probe.checks) for view in views)
    findings = [Finding("config", True, f"{config_path} is valid ({total} checks)")]
    project: dict[str, Finding] = {}  # the engine, its leftovers, Google: asked once for the whole project
    for view in views:
        for check, once in _checks_for(view.config):
            if once:
                if check.__name__ not in project:
                    project[check.__name__] = check(view.config)
                continue
            finding = check(view.config)
            findings.append(_named(finding, view.name) if view.several else finding)
        findings += [_named(item, view.name) if view.several else item for item in _cloudbuild(view.config)]
    return [findings[0], *project.values(), *findings[1:]]


def _checks_for(config: Config) -> list[tuple[Callable[[Config], Finding], bool]]:
    """What one service's config needs looked at, each marked when it is the project's (asked once)."""
    builds_locally = config.build is not None and config.build.builder == "docker"
    uses_engine = builds_locally or (config.deploy is not None and config.deploy.target in ("docker", "compose"))
    checks: list[tuple[Callable[[Config], Finding], bool]] = []
    if uses_engine:
        checks += [(_engine, True), (_leftovers, True)]
    if config.build is not None:
        checks.append((_records_in_context, False))
    if config.push is not None and config.build is not None:
        checks.append((_registry, False))
    if _needs_google(config):
        checks.append((_google, True))
    cloudrun = cloudrun_target(config)
    if cloudrun is not None and not cloudrun.public:
        checks.append((_id_token, False))
    return checks


def _named(finding: Finding, service: str) -> Finding:
    """A finding about one of several services says whose it is."""
    return dataclasses.replace(finding, name=f"{service}: {finding.name}")


def _cloudbuild(config: Config) -> list[Finding]:
    """Cloud Build's checks, when it builds: credentials, its API, the source bucket."""
    if config.build is None or config.build.cloudbuild is None or config.build.builder != "cloudbuild":
        return []
    from loopctl.phases.cloudbuild.doctor import cloudbuild_checks

    return cloudbuild_checks(config.build.cloudbuild)


def _engine(config: Config) -> Finding:
    try:
        from loopctl.clients.docker_engine import api_client, describe_engine

        version = api_client().version()
    except LoopctlError as err:
        return Finding("engine", False, err.message, err.hint)
    return Finding("engine", True, f"Docker Engine {version.get('Version', '?')} at {describe_engine()}")


def _leftovers(config: Config) -> Finding:
    """What `loopctl clean` would remove from the engine: found by the project label loopctl puts on them."""
    from collections import Counter

    from loopctl.cleanup import sweep

    try:
        removable = sweep(config, keep=3, dry_run=True, registry=False).removed
    except LoopctlError:  # the engine finding already says why, with the fix
        return Finding("leftovers", True, "not looked at: the engine does not answer")
    if not removable:
        return Finding("leftovers", True, f"nothing of {config.project}'s beyond the last 3 iterations")
    counts = Counter(item.kind for item in removable)
    what = ", ".join(f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in sorted(counts.items()))
    detail = f"{what} of {config.project}'s older than the last 3 iterations"
    return Finding("leftovers", True, detail, "`loopctl clean` removes them (`--dry-run` lists them)", warning=True)


def _records_in_context(config: Config) -> Finding:
    """loopctl leaves its records out of what it sends, but a plain `docker build` would copy them in."""
    from loopctl.phases.inputs import own_paths

    assert config.build is not None
    context = config.path(config.build.context)
    own = own_paths(config, context)
    if not own:
        return Finding("records", True, f"{config.iterations_dir} is outside build.context: never in the image")
    if _dockerignored(context, f"{own[0]}/0001.json"):
        return Finding("records", True, f"{own[0]}/ is in build.context and .dockerignore excludes it")
    return Finding(
        "records",
        True,
        f"{own[0]}/ is inside build.context and .dockerignore does not exclude it: loopctl leaves it out, but "
        "`docker build` or another builder would copy every record and report into the image",
        f"add `{own[0]}/` to {context / '.dockerignore'}",
        warning=True,
    )


def _dockerignored(context: Path, relative: str) -> bool:
    from docker.utils.build import PatternMatcher

    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return False
    lines = [line.strip() for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines()]
    return bool(PatternMatcher([line for line in lines if line and not line.startswith("#")]).matches(relative))


def _registry(config: Config) -> Finding:
    assert config.build is not None and config.push is not None
    from loopctl.phases.docker.registry import registry_host

    host = registry_host(config.build.image) or "docker.io"  # `user/app` is on Docker Hub, not a host `user`
    status = _v2_status(host)
    if status is None:
        return Finding("registry", False, f"no registry answers at {host}", "start it, or fix the host in build.image")
    if status == 200:
        return Finding("registry", True, f"{host} answers /v2/ (no auth needed)")
    if config.push.auth == "gcloud":
        return Finding("registry", True, f"{host} wants auth: push.auth gcloud supplies an access token")
    if config.push.auth == "docker-config" and _docker_config_has(host):
        return Finding("registry", True, f"{host} wants auth: credentials for it are in the docker config")
    return Finding(
        "registry",
        False,
        f"{host} answers {status}: it wants credentials and none are configured",
        f"run `docker login {host}` or set push.auth: gcloud",
    )


def _v2_status(host: str) -> int | None:
    local = host.startswith(("127.", "localhost", "[::1]"))
    connection_type = http.client.HTTPConnection if local else http.client.HTTPSConnection
    try:
        connection = connection_type(host, timeout=5)
        connection.request("GET", "/v2/")
        return connection.getresponse().status
    except OSError:
        return None


def _docker_config_has(host: str) -> bool:
    from loopctl.clients.docker_engine import docker_config

    document = docker_config() or {}
    return any(
        isinstance(entries, dict) and host in entries
        for entries in (document.get("auths"), document.get("credHelpers"))
    )


def _needs_google(config: Config) -> bool:
    cloudrun = config.deploy.cloudrun if config.deploy is not None else None
    pushes_with_gcloud = config.push is not None and config.push.auth == "gcloud"
    return pushes_with_gcloud or (cloudrun is not None and not cloudrun.emulated)


def _google(config: Config) -> Finding:
    return credentials_finding("google credentials", "run `gcloud auth application-default login`")


def _id_token(config: Config) -> Finding:
    """A private service is probed with an ID token: mint one now and say which credential made it."""
    from loopctl.phases.cloudrun.auth import audience_for, mint_id_token

    cloudrun = cloudrun_target(config)
    assert cloudrun is not None
    audience = audience_for(cloudrun, f"https://{cloudrun.service}.a.run.app")
    try:
        minted = mint_id_token(audience)
    except LoopctlError as err:
        return Finding("cloud run id token", False, err.message, err.hint)
    if minted.path.startswith("user credentials"):
        # Google mints a user's ID token for the OAuth client that logged in: target audiences are not honoured.
        return Finding(
            "cloud run id token",
            True,
            f"minted with {minted.path}, but a user's ID token audience is the OAuth client of the login, not the "
            "service: custom_audiences is ignored on this path, and services that check the audience refuse it",
            "impersonate a service account that holds roles/run.invoker: `gcloud auth application-default login "
            "--impersonate-service-account=SA_EMAIL`",
            warning=True,
        )
    return Finding(
        "cloud run id token",
        True,
        f"minted with {minted.path}; the probe sends it as X-Serverless-Authorization (the identity needs "
        "roles/run.invoker on the service)",
    )
