"""The iterations folder: numbering, the lock, atomic writes, and reading records back safely."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loopctl.errors import ErrorKind, UsageError
from loopctl.outside_text import one_line, printable

if TYPE_CHECKING:  # `history` reads cached rows without building a record: pydantic loads only when one is read
    from loopctl.records.record import Record

_RECORD_NAME = re.compile(r"^(\d{4,})\.json$")
# What write_atomic's mkstemp names a temporary file: `.` NAME `.` eight random characters `.tmp`.
_TEMPORARY = re.compile(r"^(\..+)\.[a-z0-9_]{8}\.tmp$")
_UNLOCKED_TEMPORARY_AGE_S = 3600
# The bounds docs/reliability.md lists: change them there too.
RECORD_LIMIT = 16 * 1024**2  # bytes of a record file; a bigger one is skipped unread
_LOCK = ".lock"
_COUNTER = ".last"
# Missing numbers in a row after which reading from the tail lists the folder instead of probing on.
_TAIL_GAP = 64


@dataclass(frozen=True)
class Unreadable:
    """A record file that could not be used, and why (reported, never a crash)."""

    path: Path
    reason: str


class Store:
    """One iterations folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def record_path(self, number: int) -> Path:
        return self.root / f"{number:04d}.json"

    def report_path(self, number: int) -> Path:
        return self.root / f"{number:04d}.md"

    def artifact_path(self, number: int, suffix: str) -> Path:
        return self.root / f"{number:04d}.{suffix}"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock for one iteration; a second `iterate` fails fast instead of waiting."""
        path = self.root / _LOCK
        with store_errors(f"cannot use {self.root} as the iterations folder"):
            self._make_root()
            try:
                # Never through a symlink: `.lock -> somefile` would let loopctl truncate a file it does not own.
                fd = open_regular(path, os.O_RDWR | os.O_CREAT)
            except NotRegular as err:
                raise StoreError(
                    f"{path} is {err.reason}",
                    hint=f"remove it (rm {path}): loopctl makes its own lock file",
                ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = printable(os.read(fd, 32).decode("ascii", "replace")).strip() or "another process"
                raise UsageError(
                    f"another loopctl iteration is running in {self.root} (pid {holder})",
                    hint="wait for it to finish; the lock frees itself when that process ends",
                ) from None
            with contextlib.suppress(OSError):  # the pid is a courtesy to the next reader: a full disk may refuse it
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            remove_stale_temporaries(self.root, now=time.time())
            yield
        finally:
            os.close(fd)

    def _make_root(self) -> None:
        if self.root.is_symlink() and not self.root.exists():
            raise StoreError(
                f"{self.root} is a symbolic link to {os.readlink(self.root)}, which does not exist",
                hint="create the folder it points to, or remove the link",
            )
        self.root.mkdir(parents=True, exist_ok=True)

    def reserve_number(self) -> int:
        """The next number, never one used before (even by an iteration that died unwritten). Call under lock.

        Counted on from `.last`, so a folder of 100,000 records is not listed for it; the folder is listed only
        when the counter is missing or garbled. A record already sitting past the counter (copied in by hand) is
        stepped over, never overwritten.
        """
        top = self._top()
        number = (top if top is not None else max(self.numbers(), default=0)) + 1
        # Written before anything runs: if the folder refuses it, nothing ran and no number was handed out.
        with store_errors(f"cannot write {self.root / _COUNTER}"):
            write_atomic(self.root / _COUNTER, f"{number}\n")
        return number

    def last_number(self) -> int | None:
        """The counter in `.last`: the highest number handed out, or None when there is no usable counter."""
        try:
            last = int(read_regular(self.root / _COUNTER, 64).decode("ascii").strip())
        except (OSError, NotRegular, ValueError, UnicodeDecodeError):
            return None
        return last if last >= 0 else None

    def _top(self) -> int | None:
        """The highest record number, counted on from `.last` past records copied in by hand; None without it."""
        top = self.last_number()
        while top is not None and self.record_path(top + 1).exists():
            top += 1
        return top

    def numbers(self) -> list[int]:
        """Every record number in the folder, ascending: a full listing, for the few callers that need all."""
        if not self.root.is_dir():
            return []
        return sorted(int(match[1]) for entry in self.root.iterdir() if (match := _RECORD_NAME.match(entry.name)))

    def newest_first(self, *, before: int | None = None) -> Iterator[int]:
        """Numbers of the record files that exist, newest first, below `before`: read from the tail.

        Walks down from the counter checking each file, so what it costs follows what the caller takes, not how
        many records are stored. Without a counter, or after a long run of missing numbers (records deleted by
        hand), it falls back to one listing of the folder.
        """
        top = self._top()
        if top is None:
            yield from self._listed_newest_first(before)
            return
        number = top if before is None else min(top, before - 1)
        misses = 0
        while number > 0:
            if self.record_path(number).exists():
                misses = 0
                yield number
            else:
                misses += 1
                if misses > _TAIL_GAP:
                    yield from self._listed_newest_first(number)
                    return
            number -= 1

    def _listed_newest_first(self, before: int | None) -> Iterator[int]:
        numbers = self.numbers()
        yield from (number for number in reversed(numbers) if before is None or number < before)

    def save(self, record: Record, report: str | None) -> None:
        """Write the record, then its report; each atomically."""
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            # Records and reports are worth keeping in git; the lock and the history cache are not.
            with contextlib.suppress(OSError):
                write_atomic(ignore, ".lock\n.history-cache.jsonl\n")
        document = json.dumps(record.to_json_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        with store_errors(f"cannot write iteration {record.number} to {self.root}"):
            write_atomic(self.record_path(record.number), document)
            if report is not None:
                write_atomic(self.report_path(record.number), report)

    def load(self, number: int) -> Record:
        path = self.record_path(number)
        if not path.exists():
            known = self.numbers()
            hint = f"iterations here: {known[0]}–{known[-1]}" if known else "run `loopctl iterate` first"
            raise UsageError(f"no iteration {number} in {self.root}", hint=hint)
        record = read_record(path)
        if isinstance(record, Unreadable):
            raise UsageError(f"cannot read {path}: {record.reason}", hint="the file was edited or truncated")
        return record

    def recent(self, limit: int | None, *, before: int | None = None) -> tuple[list[Record], list[Unreadable]]:
        """The last `limit` readable records (all with None) numbered below `before`, oldest first.

        Reads from the newest backwards and stops once it has enough, so a long history costs
        what is shown, not what is stored.
        """
        records: list[Record] = []
        skipped: list[Unreadable] = []
        with collector_paused():
            self._read_back(records, skipped, limit, before)
        return records[::-1], skipped[::-1]

    def _read_back(
        self, records: list[Record], skipped: list[Unreadable], limit: int | None, before: int | None
    ) -> None:
        for number in self.newest_first(before=before):
            if limit is not None and len(records) >= limit:
                break
            result = read_record(self.record_path(number))
            if isinstance(result, Unreadable):
                skipped.append(result)
            else:
                records.append(result)

    def previous_probed(self, number: int, *, read: Sequence[Record] = ()) -> Record | None:
        """The most recent readable record before `number` that ran the probe: what an iteration compares with.

        `read` is what `recent(..., before=number)` returned: those records are looked at, not parsed again.
        """
        for record in reversed(read):
            if record.probed:
                return record
        for earlier in self.newest_first(before=read[0].number if read else number):
            result = read_record(self.record_path(earlier))
            if not isinstance(result, Unreadable) and result.probed:
                return result
        return None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Parsing thousands of records makes the cyclic collector rescan a growing heap: none of it is cyclic garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_record(path: Path) -> Record | Unreadable:
    """A record file as a Record, or why it cannot be one: whatever is in the file, this never raises."""
    from pydantic import ValidationError

    from loopctl.records.record import RECORD_SCHEMA, Record

    try:
        text = read_regular(path, RECORD_LIMIT).decode("utf-8")
    except NotRegular as err:
        return Unreadable(path, err.reason)
    except OSError as err:
        return Unreadable(path, f"cannot read it ({err.strerror or type(err).__name__})")
    except UnicodeDecodeError:
        return Unreadable(path, "not valid JSON (not UTF-8)")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        return Unreadable(path, f"not valid JSON ({type(err).__name__})")
    except RecursionError:
        return Unreadable(path, "nested too deeply to be a record")
    if not isinstance(raw, dict):
        return Unreadable(path, "not a JSON object")
    schema = raw.get("schema")
    if isinstance(schema, int) and schema > RECORD_SCHEMA:
        return Unreadable(path, f"written by a newer loopctl (schema {schema}; this one reads {RECORD_SCHEMA})")
    try:
        return Record.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return Unreadable(path, one_line(f"{where}: {first['msg']}"))
    except (RecursionError, ValueError, TypeError) as err:
        return Unreadable(path, f"not a record ({type(err).__name__})")


class NotRegular(Exception):
    """A file in the iterations folder that loopctl will not read: a link, a FIFO, a device, or far too big."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}


def open_regular(path: Path, flags: int = os.O_RDONLY) -> int:
    """A descriptor of `path` only if it is a regular file: never through a symlink, never waiting on a FIFO."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise NotRegular("a symbolic link: loopctl reads only the folder's own files") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(f"not a regular file ({_KINDS.get(stat.S_IFMT(mode), 'a folder')})")
    return fd


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see `open_regular`); NotRegular when bigger."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as stream:
        if os.fstat(fd).st_size > limit:
            raise NotRegular(f"over {limit // 1024**2} MiB: not a record loopctl wrote")
        content = stream.read(limit + 1)
    if len(content) > limit:  # grown since fstat
        raise NotRegular(f"over {limit // 1024**2} MiB: not a record loopctl wrote")
    return content


def remove_stale_temporaries(root: Path, *, now: float) -> None:
    """Remove what writes killed midway left (`.NAME.XXXXXXXX.tmp`). Call under the lock.

    Everything loopctl writes into the folder is written under the lock, except the history cache (a `history`
    run may be writing its temporary file right now): those go only once they are an hour old.
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            found = _TEMPORARY.match(entry.name)
            if found is None or not entry.is_file(follow_symlinks=False):
                continue
            unlocked = found[1].startswith(".history-cache")
            with contextlib.suppress(OSError):
                if not unlocked or now - entry.stat(follow_symlinks=False).st_mtime > _UNLOCKED_TEMPORARY_AGE_S:
                    os.unlink(entry.path)


class StoreError(UsageError):
    """The iterations folder cannot be used: read-only, full, missing, or a link to nowhere (exit 2)."""

    kind = ErrorKind.STORE


@contextlib.contextmanager
def store_errors(what: str, *, hint: str = "check the iterations folder") -> Iterator[None]:
    """An OSError from the iterations folder as one clear line: what could not be done, and the system's reason.

    `hint` is said when the reason is none of the usual ones (read-only, permissions, a full disk).
    """
    try:
        yield
    except OSError as err:
        reason = err.strerror or type(err).__name__
        hints = {
            errno.EROFS: "the folder is on a read-only file system: set iterations_dir to a writable folder",
            errno.EACCES: "loopctl may not write there: fix the folder's permissions or set iterations_dir",
            errno.ENOSPC: "the disk is full: free some space and run again",
            errno.EDQUOT: "the disk quota is used up: free some space and run again",
        }
        raise StoreError(f"{what}: {reason}", hint=hints.get(err.errno or 0, hint)) from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: Path, text: str, *, errors: str = "strict") -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file owner-only; records and reports are read by CI steps and colleagues.
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8", errors=errors) as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
