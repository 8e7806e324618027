"""History rows remembered per record file (by size and mtime), so a long history reads in a blink."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from typing import Any

from loopctl.records.history import HistoryRow, history_row
from loopctl.records.record import Record
from loopctl.records.store import Store, Unreadable, read_record, write_atomic

CACHE_NAME = ".history-cache.json"
_CACHE_SCHEMA = 2  # 2: the commit column carries the dirty mark


def cached_rows(store: Store, last: int) -> tuple[list[HistoryRow], list[Unreadable]]:
    """The last `last` rows, oldest first; a record is parsed only when its file changed since it was cached."""
    cache = _load(store)
    fresh: dict[str, Any] = {}
    rows: list[HistoryRow] = []
    skipped: list[Unreadable] = []
    for number in reversed(store.numbers()):
        if len(rows) >= last:
            break
        path = store.record_path(number)
        try:
            info = path.stat()
        except OSError:
            continue
        key = [info.st_mtime_ns, info.st_size, info.st_ino]  # a rewrite (atomic rename) is a new inode
        entry = cache.get(str(number))
        row = _cached(entry, key)
        if row is None:  # not cached, changed since, or a cache entry that is not what loopctl writes
            entry = _entry(read_record(path), key)
            row = _cached(entry, key)
        fresh[str(number)] = entry
        if isinstance(row, HistoryRow):
            rows.append(row)
        elif isinstance(row, str):
            skipped.append(Unreadable(path, row))
    if any(cache.get(number) != entry for number, entry in fresh.items()):
        _save(store, {**cache, **fresh})
    return rows[::-1], skipped[::-1]


_ROW_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int,),
    "date": (str,),
    "commit": (str, type(None)),
    "status": (str,),
    "category": (str, type(None)),
    "depth": (int, type(None)),
    "code": (int, type(None)),
    "p1_rate": (str,),
    "p1_percent": (int, type(None)),
}


def _cached(entry: Any, key: list[int]) -> HistoryRow | str | None:
    """The row (or the reason the record is unreadable) a cache entry holds for this file, if it is sound."""
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    if isinstance(entry.get("unreadable"), str):
        return str(entry["unreadable"])
    row = entry.get("row")
    if not isinstance(row, dict) or row.keys() != _ROW_TYPES.keys():
        return None
    for name, types in _ROW_TYPES.items():
        if not isinstance(row[name], types) or isinstance(row[name], bool):
            return None
    return HistoryRow(**row)


def _entry(result: Record | Unreadable, key: list[int]) -> dict[str, Any]:
    if isinstance(result, Unreadable):
        return {"key": key, "unreadable": result.reason}
    return {"key": key, "row": asdict(history_row(result))}


def _load(store: Store) -> dict[str, Any]:
    try:
        document = json.loads((store.root / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("schema") != _CACHE_SCHEMA:
        return {}
    entries = document.get("records")
    return entries if isinstance(entries, dict) else {}


def _save(store: Store, entries: dict[str, Any]) -> None:
    known = {str(number) for number in store.numbers()}
    document = {"schema": _CACHE_SCHEMA, "records": {n: e for n, e in entries.items() if n in known}}
    # A read-only iterations folder (a CI artifact) still gets its history, just uncached.
    with contextlib.suppress(OSError):
        write_atomic(store.root / CACHE_NAME, json.dumps(document, separators=(",", ":")))
