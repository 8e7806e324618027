"""Reading past iterations for `report` and `history`: the store, warnings for skipped files, rendering."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopctl.errors import UsageError
from loopctl.records.store import Store, Unreadable
from loopctl.terminal.console import stderr_console

if TYPE_CHECKING:
    from loopctl.config import ReportConfig
    from loopctl.records.record import Record


def open_store(config_path: Path) -> tuple[Store, ReportConfig]:
    """The iterations folder named by the config (or ./iterations without one), and the report settings."""
    from loopctl.config import ReportConfig, load_config

    if config_path.exists():
        config = load_config(config_path, check_env=False)
        return Store(config.path(config.iterations_dir)), config.report
    return Store(Path("iterations")), ReportConfig()


def history_store(config_path: Path) -> Store:
    """The iterations folder for `history`, which needs nothing else from the config.

    Only `iterations_dir` is read (the file must still be valid YAML without repeated keys), so listing past
    iterations neither builds nor validates the whole config model; anything odd there takes the full path,
    which says what is wrong.
    """
    if not config_path.exists():
        return Store(Path("iterations"))
    from loopctl.yaml_lines import read_yaml

    raw, _ = read_yaml(config_path)
    folder = raw.get("iterations_dir", "iterations") if isinstance(raw, dict) else None
    if not isinstance(folder, str):
        return open_store(config_path)[0]
    relative = Path(folder)
    return Store(relative if relative.is_absolute() else config_path.parent / relative)


def _warn(skipped: list[Unreadable]) -> None:
    console = stderr_console()
    for unreadable in skipped:
        console.print(f"warning: skipped {unreadable.path}: {unreadable.reason}", markup=False)


def past_report(config_path: Path, number: int | None, *, emoji: bool) -> tuple[Record, str]:
    from loopctl.reports.markdown import render_markdown

    store, settings = open_store(config_path)
    trend_length, emoji = settings.trend, emoji and settings.emoji
    if number is None:
        latest, skipped = store.recent(1)
        _warn(skipped)
        if not latest:
            raise UsageError(f"no readable iterations in {store.root}", hint="run `loopctl iterate` first")
        record = latest[0]
    else:
        record = store.load(number)
    earlier, skipped = store.recent(trend_length - 1, before=record.number)
    if number is not None:
        _warn(skipped)
    previous = store.previous_probed(record.number, read=earlier)
    return record, render_markdown(record, previous, trend=[*earlier, record], emoji=emoji)


def past_rows(config_path: Path, last: int) -> list[dict[str, Any]]:
    """The last `last` history rows as the cache keeps them (`HistoryRow` fields): printed as they are."""
    from loopctl.records.history_cache import cached_rows

    rows, skipped = cached_rows(history_store(config_path), last)
    _warn(skipped)
    return rows
