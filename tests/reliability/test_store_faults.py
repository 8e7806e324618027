"""The iterations folder gone wrong: a symlinked lock, a link to nowhere, read-only, full. One clear line, exit 2,
no traceback, and a number is never handed out twice."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.reliability.harness import (
    EXIT_USAGE,
    assert_complete,
    assert_no_traceback,
    iterate,
    iterations,
    leftovers,
    url_config,
    write_config,
)
from tests.reliability.hostile import hostile_server

CHECK = "    - name: body\n      http: {path: /hostile, expect_status: 500, timeout: 3}\n"


@contextlib.contextmanager
def tmpfs(where: Path, *, size: str = "1m", read_only: bool = False) -> Iterator[Path]:
    """A small file system of its own at `where` (the tests run as root, like the engine they also need)."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(folder: Path) -> Path:
    """Write until the file system says it is full; the file that did it."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as stream:
        while True:
            stream.write(b"\0" * 4096)
            stream.flush()
    return filler


def test_a_symlinked_lock_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    iterations(tmp_path).mkdir()
    (iterations(tmp_path) / ".lock").symlink_to(victim)
    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", CHECK))
        refused = iterate(tmp_path, "--ci")
        assert refused.returncode == EXIT_USAGE, refused.stderr
        assert "is a symbolic link" in refused.stderr and "rm " in refused.stderr
        assert_no_traceback(refused.stderr)
        assert victim.read_text() == "keep me\n" and not list(iterations(tmp_path).glob("*.json"))
        (iterations(tmp_path) / ".lock").unlink()
        assert iterate(tmp_path, "--ci").returncode == 0
    assert_complete(tmp_path, 1, status="success", phases=[("deploy", "ok"), ("probe", "ok")])


def test_an_iterations_folder_that_links_to_nowhere_is_named(tmp_path: Path) -> None:
    iterations(tmp_path).symlink_to(tmp_path / "gone")
    write_config(tmp_path, url_config("http://127.0.0.1:9", CHECK))
    done = iterate(tmp_path, "--ci", "--json")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "symbolic link" in done.stderr and "does not exist" in done.stderr
    assert '"kind": "store"' in done.stdout
    assert_no_traceback(done.stderr)


def test_a_read_only_iterations_folder_is_one_clear_error(tmp_path: Path) -> None:
    write_config(tmp_path, url_config("http://127.0.0.1:9", CHECK))
    with tmpfs(iterations(tmp_path), read_only=True):
        done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Read-only file system" in done.stderr and "iterations_dir" in done.stderr
    assert_no_traceback(done.stderr)


def test_a_full_folder_refuses_before_anything_runs_and_no_number_is_used_up(tmp_path: Path) -> None:
    with hostile_server() as address, tmpfs(iterations(tmp_path), size="256k") as folder:
        write_config(tmp_path, url_config(f"http://{address}", CHECK))
        filler = fill(folder)
        full = iterate(tmp_path, "--ci")
        assert full.returncode == EXIT_USAGE, full.stderr
        assert "No space left on device" in full.stderr and "free some space" in full.stderr
        assert_no_traceback(full.stderr)
        filler.unlink()
        assert iterate(tmp_path, "--ci").returncode == 0
        assert_complete(tmp_path, 1, status="success", phases=[("deploy", "ok"), ("probe", "ok")])


def test_a_folder_that_fills_up_during_the_run_loses_that_iteration_cleanly_and_never_reuses_its_number(
    tmp_path: Path,
) -> None:
    filler = iterations(tmp_path) / "filler"
    suite = f"suites:\n  - name: filler\n    command: 'cat /dev/zero > {filler}; true'\n"
    with hostile_server() as address, tmpfs(iterations(tmp_path), size="256k"):
        write_config(tmp_path, url_config(f"http://{address}", CHECK) + suite)
        full = iterate(tmp_path, "--ci")
        assert full.returncode == EXIT_USAGE, full.stderr
        assert "cannot write iteration 1" in full.stderr and "No space left on device" in full.stderr
        assert_no_traceback(full.stderr)
        assert not leftovers(tmp_path) and not (iterations(tmp_path) / "0001.json").exists()
        filler.unlink()
        write_config(tmp_path, url_config(f"http://{address}", CHECK))
        again = iterate(tmp_path, "--ci")
        assert again.returncode == 0, again.stderr
        assert_complete(tmp_path, 2, status="success", phases=[("deploy", "ok"), ("probe", "ok")])
        assert sorted(path.name for path in iterations(tmp_path).glob("*.json")) == ["0002.json"]
