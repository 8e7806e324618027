"""Retiring the container a new one replaced: renamed out of the way at once, stopped and removed in the background.

The new container already answers, so nothing waits for the old one's graceful stop: it runs beside the probe. The
process waits for it at exit (the thread is not a daemon); one it never finished is removed by the next deploy.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

RETIRED = "-retired-"  # `NAME-retired-<id>`: what the next deploy removes if it is still there

_pending: list[threading.Thread] = []


def retire(container: Any, name: str, *, stop_timeout: int) -> None:
    """Free `name` now; stop (SIGTERM, then `stop_timeout` seconds) and remove the container in the background."""
    from docker.errors import NotFound

    try:
        container.rename(f"{name}{RETIRED}{container.id[:12]}")
    except NotFound:  # gone meanwhile: nothing left to retire
        return
    thread = threading.Thread(target=_stop_and_remove, args=(container.id, stop_timeout), name="loopctl-retire")
    thread.start()
    _pending.append(thread)


def retired_name(found: str, name: str) -> bool:
    return found.startswith(f"{name}{RETIRED}")


def finish_retiring() -> None:
    """Wait until every container retired by this process is gone."""
    while _pending:
        _pending.pop().join()


def _stop_and_remove(container_id: str, stop_timeout: int) -> None:
    import docker

    # Its own client: the phase that runs meanwhile keeps using the shared one. Whatever fails here, the next
    # deploy removes the container by its name: a background thread has nobody to tell.
    with contextlib.suppress(Exception):
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto", timeout=stop_timeout + 30)
        with contextlib.suppress(docker.errors.NotFound):
            client.stop(container_id, timeout=stop_timeout)
        client.remove_container(container_id, force=True)
        client.close()
