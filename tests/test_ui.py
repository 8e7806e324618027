"""Human output off a terminal: plain lines on stderr, no rich, outside text printed as it is."""

from __future__ import annotations

import pytest
from rich.markup import escape, render

from loopctl.errors import UsageError
from loopctl.ui import PlainConsole, render_error, stderr_console


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
