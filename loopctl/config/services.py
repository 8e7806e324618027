"""Several services in one project: their order, what the file must get right, and one view per service.

Each service is run by the same phases as a single-service config: a view is a `Config` with that service's
blocks at the top level. A file without `services:` is one service named after the project.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopctl.errors import UsageError

if TYPE_CHECKING:
    from loopctl.config.model import Config, DeployConfig, ProbeConfig

# `{services.store.url}` / `{services.store.host}` in a dependent's env: filled once the store is deployed.
SERVICE_REF = re.compile(r"\{services\.([a-z][a-z0-9-]*)\.(url|host)\}")


@dataclass(frozen=True)
class ServiceView:
    """One service as the phases see it: its name, a config with its blocks at the top level, what it needs first."""

    name: str
    config: Config
    depends_on: tuple[str, ...] = ()
    several: bool = False  # one of the services under `services:` (else the file's one service, at the top level)


def service_views(config: Config) -> list[ServiceView]:
    """The services in the order they deploy: dependencies first, else as the file lists them."""
    if config.services is None:
        return [ServiceView(config.project, config)]
    views = {name: _view(config, name) for name in config.services}
    return [views[name] for name in deploy_order({name: view.depends_on for name, view in views.items()})]


def _view(config: Config, name: str) -> ServiceView:
    assert config.services is not None
    block = config.services[name]
    probe = block.probe.model_copy(update={"close_codes": {**config.probe.close_codes, **block.probe.close_codes}})
    update = {"build": block.build, "push": block.push, "deploy": block.deploy, "probe": probe}
    view = config.model_copy(update={**update, "services": None, "suites": []})
    return ServiceView(name, view, tuple(block.depends_on), several=True)


def deploy_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Dependencies before their dependents, file order among equals; assumes no cycle (checked on load).

    Depth first with a stack of its own: a chain of thousands of services is no recursion limit."""
    done: list[str] = []
    placed: set[str] = set()
    for root in needs:
        if root in placed:
            continue
        placed.add(root)
        stack = [(root, iter(needs.get(root, ())))]
        while stack:
            name, rest = stack[-1]
            need = next((need for need in rest if need not in placed), None)
            if need is None:
                stack.pop()
                done.append(name)
            else:
                placed.add(need)
                stack.append((need, iter(needs.get(need, ()))))
    return done


def selected(views: Sequence[ServiceView], names: Sequence[str]) -> list[ServiceView]:
    """`--service NAME`: those services and what they depend on, in deploy order."""
    if not names:
        return list(views)
    known = {view.name: view for view in views}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(
            f"--service {unknown[0]}: no such service in the config",
            hint=f"the services are: {', '.join(known)}",
        )
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack += known[name].depends_on
    return [view for view in views if view.name in wanted]


def needed_by(views: Sequence[ServiceView], name: str) -> list[str]:
    """What `name` depends on, directly or through another, in deploy order."""
    if name not in {view.name for view in views}:
        return []
    return [view.name for view in selected(views, [name]) if view.name != name]


def fill_refs(value: str, peers: Mapping[str, Mapping[str, str]]) -> str:
    """`{services.NAME.url}` and `{services.NAME.host}` replaced by what NAME's deploy made known."""
    return SERVICE_REF.sub(lambda match: peers.get(match[1], {}).get(match[2], match[0]), value)


# --- what a file must get right, found when it is read ---------------------------------------------


def service_problems(config: Config) -> Iterator[tuple[list[Any], str]]:
    """Unknown or circular dependencies, a host port used twice, a check name used twice, a reference to a service
    that is not a dependency, an image both built and named: each with where it is in the file."""
    services = config.services or {}
    for name, block in services.items():
        for position, need in enumerate(block.depends_on):
            at: list[Any] = ["services", name, "depends_on", position]
            if need not in services:
                yield at, f"services.{name}.depends_on: no service named {need!r}"
            elif need == name:
                yield at, f"services.{name}.depends_on: a service cannot depend on itself"
    cycle = _cycle({name: block.depends_on for name, block in services.items()})
    if cycle:
        shown = cycle if len(cycle) <= 8 else [*cycle[:4], f"… {len(cycle) - 7} more", *cycle[-3:]]
        yield ["services", cycle[0], "depends_on"], f"services: a dependency cycle: {' → '.join(shown)}"
    yield from _host_ports(config)
    yield from _check_names(config)
    yield from _references(config)
    yield from _named_images(config)


def _named_images(config: Config) -> Iterator[tuple[list[Any], str]]:
    """`deploy.docker.image` names an image loopctl does not build: beside a build block, which would run?"""
    blocks: list[tuple[list[str], Any, DeployConfig | None]] = [([], config.build, config.deploy)]
    blocks += [(["services", name], block.build, block.deploy) for name, block in (config.services or {}).items()]
    for at, build, deploy in blocks:
        if build is not None and deploy is not None and deploy.docker is not None and deploy.docker.image:
            where = ".".join([*at, "deploy", "docker", "image"])
            yield (
                [*at, "deploy", "docker", "image"],
                (
                    f"{where}: this service has a build block: give either build (loopctl builds the image) or "
                    "deploy.docker.image (an image it does not build)"
                ),
            )


def _cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle through the dependencies (`a → b → a`), or None; a service naming itself or an unknown one is said
    on its own. The standard library's topological sorter finds it (it lists a cycle against the arrows)."""
    import graphlib

    edges = {name: [need for need in wants if need != name and need in needs] for name, wants in needs.items()}
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as cycle:
        return list(reversed(cycle.args[1]))
    return None


def _deploys(config: Config) -> Iterator[tuple[list[Any], DeployConfig]]:
    if config.deploy is not None:
        yield ["deploy"], config.deploy
    for name, block in (config.services or {}).items():
        if block.deploy is not None:
            yield ["services", name, "deploy"], block.deploy


def _host_ports(config: Config) -> Iterator[tuple[list[Any], str]]:
    taken: dict[int, str] = {}
    for at, deploy in _deploys(config):
        port = deploy.docker.host_port if deploy.docker is not None else None
        if not port:
            continue
        where = ".".join(str(part) for part in [*at, "docker", "host_port"])
        if port in taken:
            yield [*at, "docker", "host_port"], f"{where}: host port {port} is also {taken[port]}'s"
        else:
            taken[port] = where.rsplit(".deploy", 1)[0]


def _probes(config: Config) -> Iterator[tuple[list[Any], ProbeConfig]]:
    yield ["probe"], config.probe
    for name, block in (config.services or {}).items():
        yield ["services", name, "probe"], block.probe


def _check_names(config: Config) -> Iterator[tuple[list[Any], str]]:
    """Check names are the project's, not a service's: the history compares checks by name."""
    owner: dict[str, str] = {}
    for at, probe in _probes(config):
        for position, check in enumerate(probe.checks):
            where = at[1] if len(at) > 1 else "the top level"
            if check.name in owner and owner[check.name] != where:
                yield (
                    [*at, "checks", position, "name"],
                    (
                        f"{'.'.join(map(str, at))}.checks[{position}].name: check name {check.name!r} is also used by "
                        f"{owner[check.name]}: check names are unique in a project"
                    ),
                )
            owner.setdefault(check.name, where)


def _references(config: Config) -> Iterator[tuple[list[Any], str]]:
    services = config.services or {}
    for at, deploy in _deploys(config):
        own = at[1] if len(at) > 1 else None
        block = deploy.docker or deploy.cloudrun
        env = block.env if block is not None else {}
        for key, value in env.items():
            for match in SERVICE_REF.finditer(value if isinstance(value, str) else ""):
                where = f"{'.'.join(map(str, at))}.{deploy.target}.env.{key}"
                name = match[1]
                if name not in services:
                    yield [*at, deploy.target, "env", key], f"{where}: no service named {name!r}"
                elif own is None or name not in services[own].depends_on:
                    yield (
                        [*at, deploy.target, "env", key],
                        (
                            f"{where}: {match[0]} is known only once {name} is deployed: add {name} to "
                            f"services.{own}.depends_on"
                        ),
                    )
                elif deploy.target == "cloudrun" and _on_this_machine(services[name].deploy):
                    yield (
                        [*at, deploy.target, "env", key],
                        (
                            f"{where}: {name} runs on this machine's engine, which Cloud Run cannot reach: deploy "
                            f"{name} to Cloud Run too, or give its public URL"
                        ),
                    )


def _on_this_machine(deploy: DeployConfig | None) -> bool:
    return deploy is not None and deploy.target in ("docker", "compose")
