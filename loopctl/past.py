"""Reading past iterations for `report` and `history`: the store, warnings for skipped files, rendering."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from loopctl.compare import find_previous
from loopctl.errors import UsageError
from loopctl.record import Record
from loopctl.store import Store
from loopctl.ui import stderr_console

if TYPE_CHECKING:
    from loopctl.history import HistoryRow


def open_store(config_path: Path) -> tuple[Store, int]:
    """The iterations folder named by the config (or ./iterations without one), and the report trend length."""
    if config_path.exists():
        from loopctl.config import load_config

        config = load_config(config_path, check_env=False)
        return Store(config.path(config.iterations_dir)), config.report.trend
    return Store(Path("iterations")), 10


def _load(store: Store) -> list[Record]:
    records, skipped = store.load_all()
    console = stderr_console()
    for unreadable in skipped:
        console.print(f"warning: skipped {unreadable.path}: {unreadable.reason}", markup=False)
    return records


def past_report(config_path: Path, number: int | None, *, emoji: bool) -> tuple[Record, str]:
    from loopctl.report import render_markdown

    store, trend_length = open_store(config_path)
    records = _load(store)
    if number is None:
        if not records:
            raise UsageError(f"no iterations in {store.root}", hint="run `loopctl iterate` first")
        record = records[-1]
    else:
        record = store.load(number)
    previous = find_previous(record.number, records)
    trend = [past for past in records if past.number <= record.number][-trend_length:]
    return record, render_markdown(record, previous, trend=trend, emoji=emoji)


def past_rows(config_path: Path, last: int) -> list[HistoryRow]:
    from loopctl.history import history_rows

    store, _ = open_store(config_path)
    return history_rows(_load(store)[-last:])
