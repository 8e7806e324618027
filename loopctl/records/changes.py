"""What changed between the iteration compared with and this one: commits, files, config keys, or the input digest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from loopctl.clients import git_repo
from loopctl.clients.git_tree import FILE_LIMIT
from loopctl.outside_text import NAME_LIMIT, one_line
from loopctl.records.record import Record
from loopctl.records.sections import BuildSection

# The bounds docs/reliability.md lists: change them there too.
SUBJECT_LIMIT = 200  # characters of a commit subject
PATH_LIMIT = 300  # characters of a changed file's path


def watched_paths(base_dir: Path, contexts: Sequence[Path], config_file: Path | None) -> list[Path]:
    """What an iteration's changes are about: the build contexts (one per service that builds) and the config file."""
    return [*contexts, *([config_file] if config_file is not None else [])] or [base_dir]


def changes_since(
    previous: Record,
    record: Record,
    *,
    folder: Path,
    contexts: Mapping[str, Path],
    config_file: Path | None,
    excluded: list[Path] | None = None,
) -> dict[str, Any]:
    """The `changes` section; outside git, only whether the build's input digest moved."""
    base = {"since": previous.number}
    top = git_repo.top_level(folder)
    before, after = previous.git, record.git
    if top is None or not after.commit:
        return {**base, "in_git": False, "input_changed": _input_changed(previous, record), "note": _no_git(top)}
    if not before.commit or not git_repo.exists(top, before.commit):
        note = f"iteration {previous.number} has no commit this repository knows: files are not compared"
        return {**base, "to_commit": after.commit, "input_changed": _input_changed(previous, record), "note": note}
    specs = git_repo.pathspecs(top, watched_paths(folder, list(contexts.values()), config_file), excluded or [])
    config_spec = git_repo.pathspecs(top, [config_file]) if config_file is not None else []
    start = before.tree if before.tree and git_repo.exists(top, before.tree) else before.commit
    end = after.tree or after.commit
    files = git_repo.diff_files(top, start, end, specs)
    notes = [
        "" if start == before.tree or not before.dirty else _dirty_note(previous.number),
        "" if after.tree or not after.dirty else "this iteration's uncommitted changes could not be recorded",
        _large_note([item["path"] for item in files], {*before.large_files, *after.large_files}),
        _ignored_note(files, _input_changed(previous, record), after.tree),
    ]
    return {
        **base,
        "from_commit": before.commit,
        "to_commit": after.commit,
        **_commits(top, before.commit, after.commit),
        "files": _owned_files(files, top, contexts),
        "config_changed": _config_keys(top, start, end, config_spec),
        "input_changed": _input_changed(previous, record),
        "note": "; ".join(note for note in notes if note),
    }


def _owned_files(files: list[dict[str, Any]], top: Path, contexts: Mapping[str, Path]) -> list[dict[str, Any]]:
    """The changed files, clipped; with several services, each names the one whose build context holds it (the
    innermost, when one context holds another). Paths are compared as git gives them, under the resolved top."""
    roots = sorted(((path.resolve(), name) for name, path in contexts.items()), key=lambda pair: -len(pair[0].parts))
    base, owned = top.resolve(), []
    for item in files:
        found = {**item, "path": one_line(item["path"], PATH_LIMIT)}
        if len(roots) > 1:
            where = base / item["path"]  # as git names it: a link is where it is, not where it points
            owner = next((name for root, name in roots if where.is_relative_to(root)), None)
            found |= {"service": owner} if owner else {}
        owned.append(found)
    return owned


def _commits(top: Path, before: str, after: str) -> dict[str, Any]:
    """The newest subjects (clipped, cleaned), how many commits came since, and how many were gone back over."""
    subjects = [one_line(subject, SUBJECT_LIMIT) for subject in git_repo.commit_subjects(top, before, after)]
    back, ahead = git_repo.commit_counts(top, before, after) or (0, len(subjects))
    return {"commits": subjects, "commit_count": ahead, "commits_back": back}


def _input_changed(previous: Record, record: Record) -> bool | None:
    """Whether any service's input digest moved; None when no service has one on both sides."""
    olds, news = previous.service_sections, record.service_sections
    pairs = [(_digest(olds[name].build), _digest(new.build)) for name, new in news.items() if name in olds]
    moved = [before != after for before, after in pairs if before and after]
    return any(moved) if moved else None


def _digest(build: BuildSection | None) -> str | None:
    return build.input_digest if build is not None else None


def _no_git(top: Path | None) -> str:
    if top is None:
        return "not a git work tree: only the build context's input digest is compared"
    return "the repository has no commit yet: only the build context's input digest is compared"


def _dirty_note(number: int) -> str:
    return f"compared with iteration {number}'s commit: its uncommitted changes were not recorded"


def _ignored_note(files: list[dict[str, Any]], input_changed: bool | None, tree: str | None) -> str:
    if files or not input_changed or not tree:
        return ""
    return "the build's input digest moved, yet no file git sees changed: a git-ignored file of the context did"


def _large_note(changed: list[str], large: set[str]) -> str:
    named = [path for path in changed if path in large]
    if not named:
        return ""
    return f"{', '.join(named)}: over {FILE_LIMIT // 1024**2} MiB, compared by size and modification time, not content"


def _config_keys(top: Path, start: str, end: str, specs: list[str]) -> list[str] | None:
    """Dotted keys (two levels deep) whose values differ between the two config files; None when unknown."""
    if not specs:
        return None
    texts = [git_repo.file_at(top, revision, specs[0]) for revision in (start, end)]
    try:
        before, after = (yaml.safe_load(text) if text is not None else None for text in texts)
    except yaml.YAMLError:
        return None
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None if before is None or after is None else ["(whole file)"]
    return [one_line(key, NAME_LIMIT) for key in _differing(before, after, prefix="", depth=2)]


def _differing(before: dict[Any, Any], after: dict[Any, Any], *, prefix: str, depth: int) -> list[str]:
    keys: list[str] = []
    for key in sorted({*before, *after}, key=str):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        name = f"{prefix}{key}"
        if depth > 1 and isinstance(old, dict) and isinstance(new, dict):
            keys += _differing(old, new, prefix=f"{name}.", depth=depth - 1)
        else:
            keys.append(name)
    return keys
