"""Where a stack frame is in the repo: its container path mapped to a file of the build context, from the repo root.

`app/api/ws_auth.py:26` is the tail of `/srv/app/api/ws_auth.py` in the container; the Changes table names the same
file `backend/app/api/ws_auth.py`. The longest tail (of two parts at least) of the frame's path that is a file of
the build context wins; else the Dockerfile's COPY (or ADD) that put it there; else a bundle the image built where a
COPY put the project (`dist/` is in no repo), or a frame not in the repo, and the location says so.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from loopctl.config import Config
from loopctl.evidence.extract import NAME_LIMIT, clean
from loopctl.records.record import Frame

MAX_PARTS = 24  # of a frame's path tried as tails: deeper paths are not a project's own
DOCKERFILE_LIMIT = 1 << 20  # bytes of the Dockerfile read for its COPY and WORKDIR lines
_INSTRUCTION = re.compile(r"^\s*(?P<name>COPY|ADD|WORKDIR)\s+(?P<args>.*?)\s*$", re.IGNORECASE)
_BUNDLE = re.compile(r"(?:^|/)(?:dist|build|out|\.next)/|\.(?:min|bundle|chunk)\.[cm]?js$")
BUNDLE_COLUMN = 500  # a column this far along line 1 is minified code


@dataclass(frozen=True)
class BuildContext:
    """The folder the image was built from, the repo root above it, and where the Dockerfile copied what."""

    folder: Path
    top: Path
    copies: tuple[tuple[str, str], ...] = ()  # (source in the context, destination in the image), longest first

    @classmethod
    def of(cls, config: Config) -> BuildContext | None:
        """The build context of `config`, or None when it builds nothing (or its context folder is gone)."""
        if config.build is None or not config.path(config.build.context).is_dir():
            return None
        folder = config.path(config.build.context).resolve()
        from loopctl.clients.git_repo import top_level

        return cls(folder, (top_level(folder) or folder).resolve(), _copies(folder / config.build.dockerfile))


def repo_location(frame: Frame, context: BuildContext) -> str:
    """`backend/app/api/ws_auth.py:26 in authenticate`; a frame in a bundle or outside the repo says so."""
    found = _by_tail(frame.path, context) or _by_copy(frame.path, context)
    built = _built(frame, context) if found is None else None
    where = found or built or _tail(frame.path)
    text = f"{where}:{frame.line}" + (f":{frame.column}" if frame.column else "")
    if frame.function and frame.function != "<module>":
        text += f" in {frame.function}"
    if built is not None:
        text += " (in a bundle built in the image: its source map names the source line)"
    elif found is None:
        text += " (outside the repo)"
    elif _bundle(found, frame):
        text += " (in a bundle: its source map names the source line)"
    return clean(text, NAME_LIMIT * 2)


def _bundle(path: str, frame: Frame) -> bool:
    return bool(_BUNDLE.search(path)) or (frame.line == "1" and int(frame.column or 0) >= BUNDLE_COLUMN)


def _built(frame: Frame, context: BuildContext) -> str | None:
    """The repo path of a bundle the image built where a COPY put the project (`dist/` is in no repo)."""
    for candidate in _copied(frame.path, context):
        if "node_modules" in candidate.parts or not _bundle(candidate.as_posix(), frame):
            continue
        with contextlib.suppress(OSError):
            if candidate.resolve().is_relative_to(context.folder) and not candidate.exists():
                return _from_top(candidate, context)
    return None


def _parts(path: str) -> list[str]:
    parts = [part for part in path.replace("\\", "/").split("/") if part and part != "."]
    return [] if ".." in parts else parts[-MAX_PARTS:]


def _by_tail(path: str, context: BuildContext) -> str | None:
    """The longest tail of `path` that names a file of the build context; of two parts at least when the path has
    them, so a library's `asyncio/tasks.py` is never the repo's own `tasks.py` (a COPY maps one-part tails)."""
    parts = _parts(path)
    for start in range(max(len(parts) - 1, 1)):
        candidate = context.folder.joinpath(*parts[start:])
        if _inside(candidate, context):
            return _from_top(candidate, context)
    return None


def _by_copy(path: str, context: BuildContext) -> str | None:
    """The file a COPY put at `path`: `COPY src/ /srv/` puts `src/app.py` at `/srv/app.py`."""
    for candidate in _copied(path, context):
        if _inside(candidate, context):
            return _from_top(candidate, context)
    return None


def _copied(path: str, context: BuildContext) -> Iterator[Path]:
    """Where in the context each COPY whose destination holds `path` took it from (it may be built in the image)."""
    for source, destination in context.copies:
        rest = "" if path == destination else _under(path, destination)
        if rest is None:
            continue
        origin = context.folder.joinpath(*_parts(source))
        if not origin.is_file():
            yield origin.joinpath(*_parts(rest))
        elif not rest or _parts(rest) == [origin.name]:  # `COPY main.py /opt/tool/` puts it at /opt/tool/main.py
            yield origin


def _under(path: str, folder: str) -> str | None:
    folder = folder.rstrip("/")
    return path[len(folder) :] if path.startswith(folder + "/") else None


def _inside(candidate: Path, context: BuildContext) -> bool:
    try:
        resolved = candidate.resolve()
    except OSError:
        return False
    return resolved.is_relative_to(context.folder) and resolved.is_file()


def _from_top(candidate: Path, context: BuildContext) -> str:
    resolved = candidate.resolve()
    return (resolved.relative_to(context.top) if resolved.is_relative_to(context.top) else resolved).as_posix()


def _tail(path: str) -> str:
    return "/".join(_parts(path)[-3:])


def _copies(dockerfile: Path) -> tuple[tuple[str, str], ...]:
    """(source, absolute destination) of each COPY/ADD from the context, WORKDIR applied; longest destination first."""
    try:
        with dockerfile.open("rb") as handle:
            text = handle.read(DOCKERFILE_LIMIT).decode("utf-8", "replace")
    except OSError:
        return ()
    workdir, pairs = PurePosixPath("/"), []
    for line in text.splitlines():
        found = _INSTRUCTION.match(line)
        if found is None:
            continue
        args = [arg for arg in found["args"].split() if not arg.startswith("--")]
        if found["name"].upper() == "WORKDIR" and args:
            workdir = workdir / args[-1]
        elif len(args) >= 2 and not args[0].startswith("["):
            destination = (workdir / args[-1]).as_posix()
            pairs += [(source, destination) for source in args[:-1] if "://" not in source]
    return tuple(sorted(pairs, key=lambda pair: -len(pair[1])))
