"""History rows remembered per record file, read from the cache's tail, so a long history costs what is shown.

The cache is a file of JSON lines, one per record file as it was when its row was made:
`{"schema": 2, "number": 12, "key": [mtime_ns, size, inode], "row": {...}}` (or `"unreadable": reason`).
New and changed rows are appended; a later line for a number wins. `history --last 20` stats its 20 record
files and reads the cache backwards only until it has their lines, or for a few lines per row wanted: a record
newer than the cache (the iteration just made) has no line to find, so the reading stops there, its row is made
and appended, and the file is never rewritten for it. The rows it finds go out as stored.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopctl.records.history import history_row
from loopctl.records.store import (
    NotRegular,
    Store,
    Unreadable,
    collector_paused,
    open_regular,
    read_record,
    write_atomic,
)

if TYPE_CHECKING:
    from loopctl.records.record import Record

CACHE_NAME = ".history-cache.jsonl"
# Rows go out as stored: a line made by a loopctl whose rows had other fields is made again, not printed.
LINE_SCHEMA = 2  # 2: the commit column carries the dirty mark
_OLD_CACHE = ".history-cache.json"  # one JSON document over every record: replaced, removed when seen
_BLOCK = 1 << 16
_LINE_LIMIT = 1 << 20  # bytes of one cache line; rows are a few hundred
# A lookup reads at most this many lines per row it wants (plus _SLACK_LINES): whatever it has not found by
# then is made from its record and appended, so it is found at the tail next time.
_SLACK = 4
_SLACK_LINES = 64


def cached_rows(store: Store, last: int) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """The last `last` rows (as `HistoryRow` dicts), oldest first; a record is parsed only when its file changed."""
    extra = 16
    while True:
        wanted = _tail_keys(store, last + extra)
        with collector_paused():
            rows, skipped = _rows(store, wanted, last)
        # More unreadable files in the window than it had to spare: widen it (rare; hand-broken records).
        if len(rows) >= last or len(wanted) < last + extra:
            return rows[::-1], skipped[::-1]
        extra *= 4


def _rows(store: Store, wanted: dict[int, list[int]], last: int) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Rows newest first from the cache, parsing the records it has no current line for, and remembering those."""
    cache = CacheFile(store.root / CACHE_NAME)
    found = cache.lookup(wanted)
    rows: list[dict[str, Any]] = []
    skipped: list[Unreadable] = []
    fresh: list[dict[str, Any]] = []
    for number, key in wanted.items():
        if len(rows) >= last:
            break
        entry = found.get(number)
        if entry is None:
            entry = _entry(number, read_record(store.record_path(number)), key)
            fresh.append(entry)
        if "row" in entry:
            rows.append(entry["row"])
        else:
            skipped.append(Unreadable(store.record_path(number), str(entry.get("unreadable"))))
    cache.append(fresh[::-1])  # oldest first: the newest rows end up at the tail, where reading starts
    return rows, skipped


def _tail_keys(store: Store, count: int) -> dict[int, list[int]]:
    """The newest `count` record files, newest first, with what identifies their content."""
    keys: dict[int, list[int]] = {}
    for number in store.newest_first():
        try:
            info = store.record_path(number).stat()
        except OSError:
            continue
        keys[number] = [info.st_mtime_ns, info.st_size, info.st_ino]  # a rewrite (atomic rename) is a new inode
        if len(keys) >= count:
            break
    return keys


def _entry(number: int, result: Record | Unreadable, key: list[int]) -> dict[str, Any]:
    if isinstance(result, Unreadable):
        return {"schema": LINE_SCHEMA, "number": number, "key": key, "unreadable": result.reason}
    return {"schema": LINE_SCHEMA, "number": number, "key": key, "row": asdict(history_row(result))}


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


def _sound(entry: dict[str, Any]) -> bool:
    """A line is what loopctl writes: an unreadable reason, or a row with exactly the row's fields and types."""
    if "row" not in entry:
        return isinstance(entry.get("unreadable"), str)
    row = entry["row"]
    if not isinstance(row, dict) or row.keys() != _ROW_TYPES.keys():
        return False
    return all(isinstance(row[name], types) and not isinstance(row[name], bool) for name, types in _ROW_TYPES.items())


class CacheFile:
    """The JSON-lines file: read backwards for the lines wanted, appended to with what was missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines_read = 0
        # The last lookup gave up with most rows not found near the end: the file is out of order.
        self._unsorted = False

    def lookup(self, wanted: dict[int, list[int]]) -> dict[int, dict[str, Any]]:
        """The newest line of each wanted number whose key still matches its file.

        Reading stops once every wanted number is decided, or after a budget of lines: a number with no line
        near the tail (a new record) is as good as missing, and making its row costs one record, not the file.
        """
        found: dict[int, dict[str, Any]] = {}
        decided: set[int] = set()
        budget = _SLACK * len(wanted) + _SLACK_LINES
        for entry in self._entries_backwards() if wanted else ():
            number = entry.get("number")
            if isinstance(number, int) and number in wanted and number not in decided:
                decided.add(number)
                usable = entry.get("schema") == LINE_SCHEMA and _sound(entry)
                if usable and entry.get("key") == wanted[number]:
                    found[number] = entry
            if len(decided) == len(wanted):
                break
            if self.lines_read >= budget:
                self._unsorted = len(found) * 2 < len(wanted)
                break
        return found

    def append(self, entries: Iterable[dict[str, Any]]) -> None:
        """Add lines for rows made now; first rewrite the file in number order if most rows were not near the end."""
        text = "".join(json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n" for entry in entries)
        # A read-only iterations folder (a CI artifact) still gets its history, just uncached.
        with contextlib.suppress(OSError):
            if self._unsorted:
                # Older rows were appended after newer ones (`--last 5000` after `--last 20`), or many lines are
                # superseded: sorted again, the next lookup finds the newest rows at the end. A few new records
                # missing from an otherwise found tail never get here: they are appended.
                self._compact()
            if not text:
                return
            # Never through a link, never onto a FIFO: a cache that is not a plain file is left alone.
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
            with contextlib.suppress(NotRegular), os.fdopen(open_regular(self.path, flags), "ab") as stream:
                end = stream.tell()
                if end and os.pread(stream.fileno(), 1, end - 1) != b"\n":
                    text = "\n" + text  # a line cut short by a crash must not swallow the next one
                stream.write(text.encode("utf-8"))
            with contextlib.suppress(FileNotFoundError):
                (self.path.parent / _OLD_CACHE).unlink()

    def _entries_backwards(self) -> Iterable[dict[str, Any]]:
        for line in _lines_backwards(self.path):
            self.lines_read += 1
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):  # a hand-edited line, nested past any parser
                continue
            if isinstance(entry, dict):
                yield entry

    def _compact(self) -> None:
        """Keep only the newest line of each number, in the order they were written."""
        newest: dict[int, bytes] = {}
        for line in _lines_backwards(self.path):
            with contextlib.suppress(ValueError, RecursionError, AttributeError):
                number = json.loads(line).get("number")
                if isinstance(number, int) and number not in newest:
                    newest[number] = line
        text = b"".join(newest[number] + b"\n" for number in sorted(newest))
        write_atomic(self.path, text.decode("utf-8"))


def _lines_backwards(path: Path) -> Iterable[bytes]:
    """The file's lines, last first, read in blocks from the end; nothing when it does not exist."""
    try:
        stream = os.fdopen(open_regular(path), "rb")
    except (OSError, NotRegular):
        return
    with stream:
        position = stream.seek(0, os.SEEK_END)
        pending = b""
        while position > 0:
            step = min(_BLOCK, position)
            position -= step
            stream.seek(position)
            pending = stream.read(step) + pending
            *complete, pending = _split_keep_head(pending)
            yield from reversed(complete)
            if len(pending) > _LINE_LIMIT:  # no row is this long: drop it rather than hold it whole
                pending = b"\x00"  # a marker no JSON parses, so its line start is skipped too
        if pending.strip():
            yield pending


def _split_keep_head(buffer: bytes) -> list[bytes]:
    """Split into lines, with the (possibly partial) first line last: it may continue in the block before."""
    head, _, rest = buffer.partition(b"\n")
    lines = [line for line in rest.split(b"\n") if line.strip()] if rest else []
    return [*lines, head]
