"""A long history costs what is shown: numbering, `history --last` and an iteration's reads stay at the tail.

20,000 small records; the assertions count the record files opened and the folder listings made (through
Python's audit hooks), never time.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopctl.records.history_cache import CACHE_NAME, CacheFile, cached_rows
from loopctl.records.store import Store
from tests.support.records import http_check, make_record

RECORDS = 20_000
_watching: list[Counter[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watching:
        return
    if event == "open" and isinstance(args[0], str | Path):
        name = Path(args[0]).name
        _watching[-1]["record" if name[:4].isdigit() and name.endswith(".json") else name] += 1
    elif event in ("os.listdir", "os.scandir"):
        _watching[-1]["listing"] += 1


sys.addaudithook(_audit)  # hooks cannot be removed: it counts only while a test watches


class _Watch:
    def __enter__(self) -> Counter[str]:
        _watching.append(Counter())
        return _watching[-1]

    def __exit__(self, *exc: object) -> None:
        _watching.pop()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """20,000 records written as the store writes them (without an fsync each), the counter at the last."""
    root = tmp_path_factory.mktemp("iterations")
    probed = json.dumps(make_record(1, "failed", checks=[http_check()]).to_json_dict(), sort_keys=True)
    unprobed = json.dumps(make_record(1, "failed").to_json_dict(), sort_keys=True)
    for number in range(1, RECORDS + 1):
        text = probed if number % 100 == 0 else unprobed  # the last probed one is 20,000 - 100 below the top
        (root / f"{number:04d}.json").write_text(text.replace('"number": 1,', f'"number": {number},', 1))
    (root / ".last").write_text(f"{RECORDS}\n")
    yield root


def test_history_last_20_parses_20_records_then_none(folder: Path) -> None:
    store = Store(folder)
    (folder / CACHE_NAME).unlink(missing_ok=True)
    with _Watch() as cold:
        rows, skipped = cached_rows(store, 20)
    assert [row["number"] for row in rows] == list(range(RECORDS - 19, RECORDS + 1)) and not skipped
    assert cold["record"] == 20 and cold["listing"] == 0
    with _Watch() as warm:
        again, _ = cached_rows(store, 20)
    assert again == rows
    assert warm["record"] == 0 and warm["listing"] == 0 and warm[CACHE_NAME] == 1


def test_the_cache_is_read_from_its_tail(folder: Path) -> None:
    store = Store(folder)
    cached_rows(store, 3000)  # 2,980 older rows appended after the 20 newest: the next lookup digs, then tidies
    cached_rows(store, 20)
    wanted = {number: _key(folder / f"{number:04d}.json") for number in range(RECORDS, RECORDS - 20, -1)}
    cache = CacheFile(folder / CACHE_NAME)
    found = cache.lookup(wanted)
    assert sorted(found) == sorted(wanted)
    assert cache.lines_read == 20


def _key(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_mtime_ns, info.st_size, info.st_ino]


def test_numbering_counts_on_from_the_counter_without_listing(folder: Path) -> None:
    store = Store(folder)
    with _Watch() as counts:
        number = store.reserve_number()
    assert number == RECORDS + 1
    assert counts["listing"] == 0 and counts["record"] == 0
    (folder / ".last").write_text(f"{RECORDS}\n")  # leave the folder as the other tests expect it


def test_numbering_never_overwrites_and_survives_a_lost_counter(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in (1, 2, 3):
        store.save(make_record(number, "failed"), None)
    (tmp_path / ".last").write_text("1\n")  # behind the records (copied in by hand)
    assert store.reserve_number() == 4
    (tmp_path / ".last").write_text("garbage")
    assert store.reserve_number() == 4  # listed once, since the counter cannot be read
    (tmp_path / ".last").unlink()
    store.save(make_record(9, "failed"), None)
    assert store.reserve_number() == 10


def test_an_iterations_reads_stay_at_the_tail(folder: Path) -> None:
    store = Store(folder)
    with _Watch() as counts:
        trend, _ = store.recent(9, before=RECORDS + 1)
        previous = store.previous_probed(RECORDS + 1)
    assert [record.number for record in trend] == list(range(RECORDS - 8, RECORDS + 1))
    assert previous is not None and previous.number == RECORDS
    assert counts["listing"] == 0 and counts["record"] == 9 + 1
    with _Watch() as counts:
        trend, _ = store.recent(9, before=RECORDS + 1)
        previous = store.previous_probed(RECORDS + 1, read=trend)
    assert previous is not None and previous.number == RECORDS
    assert counts["record"] == 9  # what the trend read is not parsed again
    with _Watch() as counts:
        trend, _ = store.recent(9, before=RECORDS)
        earlier = store.previous_probed(RECORDS, read=trend)
    assert earlier is not None and earlier.number == RECORDS - 100
    assert counts["record"] == 100 and counts["listing"] == 0  # the walk goes on below the trend, not over it
    with _Watch() as counts:
        earlier = store.previous_probed(RECORDS)
    assert earlier is not None and earlier.number == RECORDS - 100
    assert counts["record"] == 100 and counts["listing"] == 0


def test_the_tail_walk_lists_the_folder_once_after_a_long_gap(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in (1, 2, 500):
        store.save(make_record(number, "failed"), None)
    (tmp_path / ".last").write_text("500\n")
    with _Watch() as counts:
        numbers = list(store.newest_first())
    assert numbers == [500, 2, 1] and counts["listing"] == 1
