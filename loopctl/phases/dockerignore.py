""".dockerignore matching as the docker SDK's build does it, without importing the SDK (and requests) for it.

A port of `docker.utils.build.exclude_paths` and `docker.utils.fnmatch` (docker-py 7, Apache-2.0), which follow
moby's `fileutils` matcher: the same normalisation (`.`/`..` removed, leading and trailing slashes dropped), the
same last-match-wins order, the same case-insensitive matching, `**` spanning folders, a parent folder's match
covering what is inside it, and `!.dockerignore` plus `!<Dockerfile>` appended. The unchanged path of an iteration
hashes the context with it, so it must agree with what the engine receives file for file; a test holds it to the
SDK's own function on a set of tricky patterns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache


def exclude_paths(root: str, patterns: Sequence[str], *, dockerfile: str = "Dockerfile") -> set[str]:
    """Every path (files and folders) below `root`, relative to it, that the patterns do not exclude."""
    return set(ignore_matcher(patterns, dockerfile=dockerfile).walk(root))


def ignore_matcher(patterns: Sequence[str], *, dockerfile: str = "Dockerfile") -> Matcher:
    """The patterns of a `.dockerignore` as the engine applies them, the Dockerfile and `.dockerignore` kept."""
    return Matcher([*patterns, f"!{dockerfile}"])


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether `.dockerignore` patterns leave `path` (relative to the context) out of what the engine receives."""
    return Matcher(patterns).matches(path)


def _split_path(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


class _Pattern:
    def __init__(self, text: str) -> None:
        self.exclusion = text.startswith("!")
        self.dirs = _normalize(text[1:] if self.exclusion else text)
        self.cleaned = "/".join(self.dirs)
        self._regex = _compiled(self.cleaned.lower())

    def match(self, path: str) -> bool:
        return self._regex.match(path.lower())


def _normalize(text: str) -> list[str]:
    # "." parts and surrounding slashes do not matter; ".." removes the part before it, existing or not.
    parts = _split_path(text.strip())
    position = 0
    while position < len(parts):
        if parts[position] == "..":
            del parts[position]
            if position > 0:
                del parts[position - 1]
                position -= 1
        else:
            position += 1
    return parts


class Matcher:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [pattern for pattern in map(_Pattern, patterns) if pattern.dirs]
        self.patterns.append(_Pattern("!.dockerignore"))

    def matches(self, path: str) -> bool:
        """Whether `path` is excluded: the last pattern that matches it, or one of its parents, decides."""
        matched = False
        parent = os.path.dirname(path)
        parent_dirs = _split_path(parent)
        for pattern in self.patterns:
            match = pattern.match(path)
            if not match and parent != "" and len(pattern.dirs) <= len(parent_dirs):
                match = pattern.match(os.path.sep.join(parent_dirs[: len(pattern.dirs)]))
            if match:
                matched = not pattern.exclusion
        return matched

    def walk(self, root: str, excluded: Callable[[str], bool] | None = None) -> Iterator[str]:
        """Paths below `root` not `excluded` (by default: what the patterns exclude), without entering dead folders."""
        leaves_out = excluded or self.matches

        def walk_folder(current: str) -> Iterator[str]:
            for name in os.listdir(current):
                path = os.path.join(os.path.relpath(current, root), name)
                if path.startswith(f".{os.path.sep}"):
                    path = path[2:]
                left_out = leaves_out(path)
                if not left_out:
                    yield path
                full = os.path.join(root, path)
                if not os.path.isdir(full) or os.path.islink(full):
                    continue
                # An excluded folder is still entered when a `!pattern` may take something inside it back.
                if left_out and not any(p.exclusion and p.cleaned.startswith(path) for p in self.patterns):
                    continue
                yield from walk_folder(full)

        return walk_folder(root)


class _Linear:
    """A regular expression run by RE2, whose time is linear in the path whatever the pattern."""

    def __init__(self, regex: str) -> None:
        import re2  # type: ignore[import-untyped]  # only for patterns with two wildcards or more

        self._regex = re2.compile(regex.encode("utf-8", "surrogateescape"))

    def match(self, path: str) -> bool:
        return self._regex.match(path.encode("utf-8", "surrogateescape")) is not None


class _Backtracking:
    """Python's own engine, faster per call: used only where backtracking is bounded (at most one wildcard)."""

    def __init__(self, regex: str) -> None:
        self._regex = re.compile(regex)

    def match(self, path: str) -> bool:
        return self._regex.match(path) is not None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> _Linear | _Backtracking:
    # `*a*a*a…b` or `**/**/…` makes a backtracking engine try every split of the path among the wildcards:
    # minutes for one path. With one wildcard there is only one way to place it per start: linear.
    regex, wildcards = _translate(pattern)
    return _Linear(regex) if wildcards > 1 else _Backtracking(regex)


def _translate(pattern: str) -> tuple[str, int]:
    """A shell pattern as a regular expression (`*` and `?` stop at `/`, `**` spans folders, no escaping), and how
    many unbounded wildcards it holds. Literals are `\\xHH` escapes, which Python's engine and RE2 read alike."""
    position, end = 0, len(pattern)
    regex, wildcards = "^", 0
    while position < end:
        char = pattern[position]
        position += 1
        if char == "*":
            wildcards += 1
            if position < end and pattern[position] == "*":
                position += 1
                if position < end and pattern[position] == "/":
                    position += 1  # "**/" is "**"
                regex += ".*" if position >= end else "(.*/)?"
            else:
                regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            regex, position = _bracket(pattern, position, regex)
        else:
            regex += _literal(char)
    return regex + "$", wildcards


def _literal(char: str) -> str:
    return char if char.isalnum() or char == "_" or ord(char) > 0x7F else f"\\x{ord(char):02x}"


def _bracket(pattern: str, position: int, regex: str) -> tuple[str, int]:
    """A `[...]` class (`[!...]` negated); an unclosed `[` is a literal bracket."""
    end = len(pattern)
    closing = position
    if closing < end and pattern[closing] == "!":
        closing += 1
    if closing < end and pattern[closing] == "]":
        closing += 1
    while closing < end and pattern[closing] != "]":
        closing += 1
    if closing >= end:
        return regex + "\\[", position
    members = pattern[position:closing].replace("\\", "\\\\")
    if members[0] == "!":
        members = "^" + members[1:]
    elif members[0] == "^":
        members = "\\" + members
    return f"{regex}[{members}]", closing + 1
