"""config.yaml: the validated model (config/model.py), YAML loading, and errors that name the dotted path and line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from loopctl.config.model import (
    PREVIEW_TAG,
    AppCodeConfig,
    BuildConfig,
    CheckConfig,
    CloudBuildConfig,
    CloudBuildMachine,
    CloudRunConfig,
    Config,
    DeployConfig,
    DockerDeployConfig,
    HttpAuth,
    HttpCheckConfig,
    LoadConfig,
    ProbeConfig,
    PushConfig,
    ReportConfig,
    SecretManagerRef,
    ServiceConfig,
    SuiteConfig,
    WebSocketAuth,
    WebSocketCheckConfig,
    cloudrun_target,
    pullable_by_cloud_run,
    renamed_keys,
)
from loopctl.config.steps import placeholder_problems
from loopctl.errors import UsageError
from loopctl.secrets.references import env_refs

if TYPE_CHECKING:
    from loopctl.yaml_lines import LineIndex

__all__ = [
    "PREVIEW_TAG",
    "AppCodeConfig",
    "BuildConfig",
    "CheckConfig",
    "CloudBuildConfig",
    "CloudBuildMachine",
    "CloudRunConfig",
    "Config",
    "DeployConfig",
    "DockerDeployConfig",
    "HttpAuth",
    "HttpCheckConfig",
    "LoadConfig",
    "ProbeConfig",
    "PushConfig",
    "ReportConfig",
    "SecretManagerRef",
    "ServiceConfig",
    "SuiteConfig",
    "WebSocketAuth",
    "WebSocketCheckConfig",
    "cloudrun_target",
    "pullable_by_cloud_run",
    "renamed_keys",
]


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None, check_env: bool = True) -> Config:
    """Read, validate and check env references; every problem is a UsageError naming path and line."""
    from loopctl.yaml_lines import read_yaml, too_deep

    source = Path(path)
    raw, lines = read_yaml(source)
    if not isinstance(raw, dict):
        raise UsageError(
            f"{source}:1: the config must be a mapping of keys (project:, deploy:, …)",
            hint="run `loopctl init` for a commented example",
        )
    try:
        config = Config.model_validate({**raw, "base_dir": source.parent, "config_file": source})
    except RecursionError:
        raise too_deep(source) from None
    except ValidationError as err:
        raise UsageError(
            _format_errors(err, source, lines), hint="see the config reference in loopctl's docs/configuration.md"
        ) from None
    _check_services(config, source, lines)
    _check_image_host(config, source, lines)
    _check_placeholders(config, source, lines)
    if check_env:
        _check_env(config, source, lines, os.environ if environ is None else environ)
    return config


def _check_services(config: Config, source: Path, lines: LineIndex) -> None:
    """What the file must get right about its services (and a named image beside a build), all at once."""
    from loopctl.config.services import service_problems

    found = [(lines.line_for(at), f"{source}:{lines.line_for(at)}: {text}") for at, text in service_problems(config)]
    if found:
        raise UsageError(
            _listed("invalid config", [text for _, text in sorted(found)]),
            hint="see Several services in loopctl's docs/configuration.md",
        )


def _check_image_host(config: Config, source: Path, lines: LineIndex) -> None:
    """Cloud Run pulls only from Google's registries and Docker Hub; an emulator runs whatever it is given. Each
    service deployed to Cloud Run is checked, all at once."""
    blocks: list[tuple[list[str], BuildConfig | None, DeployConfig | None]] = [([], config.build, config.deploy)]
    blocks += [(["services", name], block.build, block.deploy) for name, block in (config.services or {}).items()]
    found = []
    for at, build, deploy in blocks:
        cloudrun = deploy.cloudrun if deploy is not None and deploy.target == "cloudrun" else None
        if cloudrun is None or build is None or cloudrun.emulated or pullable_by_cloud_run(build.image):
            continue
        line = lines.line_for([*at, "build", "image"])
        where = ".".join([*at, "build", "image"])
        found.append((line, f"{source}:{line}: {where}: Cloud Run cannot pull from {build.image.split('/', 1)[0]}"))
    if found:
        raise UsageError(
            _listed("invalid config", [text for _, text in sorted(found)]),
            hint="push to Artifact Registry (REGION-docker.pkg.dev/PROJECT/REPO/IMAGE), *.gcr.io or Docker Hub",
        )


def _check_placeholders(config: Config, source: Path, lines: LineIndex) -> None:
    """A `{name}` nothing defines is found now, with its line, before anything is built or connected."""
    found = [
        (lines.line_for(at), f"{source}:{lines.line_for(at)}: {_dotted(at)}: {text}")
        for at, text in placeholder_problems(config.probe.checks)
    ]
    if found:
        raise UsageError(
            _listed("invalid config", [text for _, text in sorted(found)]),
            hint="capture a value in an earlier expect step (capture: {name: field}) before a send uses {name}",
        )


_GENERATED_TAGS = ("function-", "dict[", "list[", "tagged-union[", "literal[", "union[")
_UNION_SHAPES = {
    "EnvRef": "{env: NAME}",
    "FileRef": "{file: PATH}",
    "CommandRef": "{command: CMD}",
    "JwtRef": "{jwt: {secret: …, claims: …, ttl: …}}",
    "AppCodeConfig": "{category: …, depth: …, hint: …}",
    "SecretManagerRef": "{secret: NAME, version: latest}",
    "str": "a string",
}


def _format_errors(err: ValidationError, source: Path, lines: LineIndex) -> str:
    bullets: dict[str, tuple[int, str]] = {}
    unions: dict[str, list[str]] = {}
    for item in err.errors():
        location, tag = _split_union(list(item["loc"]))
        dotted = _dotted(location) or "(top level)"
        line = lines.line_for(location)
        where = f"{source}:{line}"
        if tag:
            unions.setdefault(dotted, []).append(_UNION_SHAPES.get(tag, tag))
            shapes = ", ".join(dict.fromkeys(unions[dotted]))
            bullets[dotted] = (line, f"{where}: {dotted}: expected one of {shapes}")
            continue
        message = "unknown key" if item["type"] == "extra_forbidden" else _plain(item["msg"])
        bullets.setdefault(dotted, (line, f"{where}: {dotted}: {message}"))
    return _listed("invalid config", [text for _, text in sorted(bullets.values(), key=lambda pair: pair[0])])


def _listed(title: str, bullets: list[str], *, limit: int = 8) -> str:
    """One problem on one line; several as bullets in file order, the first `limit` of them."""
    if len(bullets) == 1:
        return f"{title}: {bullets[0]}"
    more = len(bullets) - limit
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{title}{suffix}:" + "".join(f"\n  - {bullet}" for bullet in bullets[:limit])


def _plain(message: str) -> str:
    """pydantic's message without the `Value error, ` it puts before what a validator said."""
    prefix = "Value error, "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _split_union(location: list[Any]) -> tuple[list[Any], str | None]:
    """Cut the location at the first union member pydantic names; return the user's path and the member."""
    location = [part for part in location if part != "[key]"]  # pydantic's marker for "the key itself"
    for position, part in enumerate(location):
        if _is_union_tag(part):
            return location[:position], str(part)
    return location, None


def _is_union_tag(part: Any) -> bool:
    """Whether pydantic put a union member's name (`str`, `EnvRef`, …) into an error location."""
    if not isinstance(part, str):
        return False
    return part in _UNION_SHAPES or part in ("int", "float", "bool") or part.startswith(_GENERATED_TAGS)


def _dotted(location: list[Any]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) and text else f".{part}" if text else str(part)
    return text


def _check_env(config: Config, source: Path, lines: LineIndex, environ: Mapping[str, str]) -> None:
    """Every unset variable the config names, at once: a user fixes them in one go, not one run each."""
    missing: dict[str, tuple[int, str]] = {}
    for location, name in env_refs(config):
        if not environ.get(name):
            line = lines.line_for(location)
            text = f"{source}:{line}: {_dotted(location)}: environment variable {name} is not set"
            missing.setdefault(name, (line, text))
    if not missing:
        return
    names = list(missing)
    bullets = [text for _, text in sorted(missing.values(), key=lambda pair: pair[0])]
    raise UsageError(
        bullets[0] if len(bullets) == 1 else _listed(f"{len(bullets)} environment variables are not set", bullets),
        hint=f"export {'=... '.join(names)}=... (secrets are read from the environment, never written in the file)",
    )
