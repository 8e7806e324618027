"""The README and the pages it links: every link resolves, and every command the quick start shows exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(f"{page.relative_to(root)}: {target}")
    return broken


def test_every_link_in_the_docs_resolves() -> None:
    assert len(PAGES) > 5
    assert [link for page in PAGES for link in broken_links(page)] == []


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# There\n")
    page.write_text(
        "[ok](there.md#there) [gone](missing.md) [no anchor](there.md#elsewhere)\n```\n[in code](x.md)\n```\n"
    )
    assert broken_links(page, tmp_path) == ["page.md: missing.md", "page.md: there.md#elsewhere"]


def quick_start_commands() -> list[list[str]]:
    """The `loopctl …` lines of the README's code blocks, as argument lists (comments dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("loopctl ")]


def test_every_command_the_quick_start_shows_exists_with_its_options() -> None:
    commands = quick_start_commands()
    assert ["init", "--target", "docker"] in commands and ["iterate"] in commands
    for args in commands:
        done = subprocess.run(
            [sys.executable, "-m", "loopctl", *args, "--help"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (args, done.stderr)
