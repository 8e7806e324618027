"""The terminal sink: plain lines without rich off a terminal; errors, the live board and CI lines show outside text."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.markup import escape, render

from loopctl.errors import UsageError
from loopctl.phases.base import Event
from loopctl.terminal.console import PlainConsole, render_error, stderr_console
from loopctl.terminal.live import PhaseBoard, PlainLines
from tests.reliability.hostile import HOSTILE, INSTRUCTIONS

MARKUP = "[/] [bold red]red[/bold red]"


def test_an_error_message_with_rich_markup_and_escapes_is_printed_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    render_error(UsageError(f"bad key {MARKUP} {HOSTILE}", hint=f"see {MARKUP}"))
    shown = capsys.readouterr().err
    assert f"error: bad key {MARKUP}" in shown and f"hint: see {MARKUP}" in shown
    assert [marker for marker in INSTRUCTIONS if marker in shown] == []


def test_the_live_board_shows_a_build_line_with_markup_as_it_is() -> None:
    board = PhaseBoard(["build"])
    board(Event("start", "build"))
    board(Event("log", "build", f"Step 3/9 : RUN echo {MARKUP} \x1b[2J"))
    console = Console(record=True, width=200, force_terminal=True)
    console.print(board)  # a MarkupError here once froze the live view
    text = console.export_text()
    assert f"RUN echo {MARKUP}" in text and "\x1b[2J" not in console.export_text(styles=True)


def test_plain_lines_drop_escape_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    PlainLines(Console(stderr=True, no_color=True))(Event("end", "probe", HOSTILE, "failed", 1.0))
    shown = capsys.readouterr().err
    assert "# Owned heading" in shown and [marker for marker in INSTRUCTIONS if marker in shown] == []


def test_off_a_terminal_the_console_is_plain(capsys: pytest.CaptureFixture[str]) -> None:
    console = stderr_console()  # pytest's captured stderr is not a terminal
    assert isinstance(console, PlainConsole)
    console.print("[bold red]error:[/] it broke")
    console.print("[kept] as written", markup=False)
    assert capsys.readouterr().err == "error: it broke\n[kept] as written\n"


@pytest.mark.parametrize("message", ["plain", "list[0] is [bold]x[/]", "a\\[b]", "ends with \\", "[/]"])
def test_errors_print_outside_text_literally(capsys: pytest.CaptureFixture[str], message: str) -> None:
    render_error(UsageError(message, hint="try [again]"))
    assert capsys.readouterr().err == f"error: {message}\n  hint: try [again]\n"
    if not message.endswith("\\"):  # rich itself shows a trailing backslash twice
        assert render("[bold red]error:[/] " + escape(message)).plain == f"error: {message}"
