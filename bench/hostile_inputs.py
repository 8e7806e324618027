"""What a hostile repo costs, in-process: the tree snapshot beside a 3 GB untracked file, .dockerignore patterns that
backtrack, `init`'s EXPOSE parse of a 200 KB blank Dockerfile, and the Cloud Build source of a 1 GB file (peak memory,
in a child process). Sparse files: no GB is written to disk.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timing import PYTHON, REPO, figure, require_venv, say, verdict

sys.path.insert(0, str(REPO))

from loopctl.git_snapshot import snapshot_tree
from loopctl.init_template import exposed_port
from loopctl.phases.dockerignore import exclude_paths

GOAL_S = 1.0  # each of the in-process figures
GOAL_PEAK_MIB = 200  # packing a 1 GB file for Cloud Build

PACK = """
import resource, sys, tempfile
from pathlib import Path
from loopctl.config import BuildConfig
from loopctl.phases.cloudbuild.source import pack_context
build = BuildConfig.model_validate(
    {"image": "e.pkg.dev/p/r/a", "builder": "cloudbuild", "cloudbuild": {"project": "p"}}
)
with tempfile.TemporaryFile() as spool:
    pack_context(Path(sys.argv[1]), build, spool)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def seconds(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def sparse(path: Path, size: int) -> None:
    with path.open("wb") as stream:
        stream.truncate(size)


def git_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in (folder / ".git" / "objects").rglob("*") if path.is_file())


def snapshot_figure(root: Path) -> float:
    repo = root / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("print('hi')\n")
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=b", "-c", "user.email=b@example.invalid", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    sparse(repo / "dump.bin", 3 * 1024**3)
    before = git_bytes(repo)
    elapsed = seconds(lambda: snapshot_tree(repo, [repo]))
    say(f"tree snapshot beside a 3 GB untracked file: {elapsed:.2f} s, .git grew {git_bytes(repo) - before} bytes")
    return elapsed


def pattern_figures(root: Path) -> list[float]:
    context = root / "context"
    deep = context / ("a" * 60) / ("a/" * 20) / ("a" * 100)
    deep.parent.mkdir(parents=True)
    deep.write_text("x")
    (context / "Dockerfile").write_text("FROM x\n")
    figures = []
    for label, pattern in (("*a*a*a…b (40 stars)", "*a" * 40 + "b"), ("16-deep **/**/…", "/".join(["**"] * 16) + "/x")):
        figures.append(seconds(lambda pattern=pattern: exclude_paths(str(context), [pattern])))
        say(f".dockerignore {label}: {figures[-1]:.3f} s")
    return figures


def expose_figure() -> float:
    dockerfile = "FROM x\n" + " \n" * 100_000 + "EXPOSE 9000\n"
    elapsed = seconds(lambda: exposed_port(dockerfile))
    say(f"EXPOSE in a 200 KB blank Dockerfile: {elapsed:.4f} s")
    return elapsed


def pack_figure(root: Path) -> int:
    context = root / "source"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM x\n")
    sparse(context / "model.bin", 1024**3)
    done = subprocess.run([str(PYTHON), "-c", PACK, str(context)], capture_output=True, text=True, check=True, cwd=REPO)
    peak = int(done.stdout.split()[-1])
    say(f"Cloud Build source of a 1 GB file: peak {peak} MiB")
    return peak


def main() -> None:
    require_venv()
    with tempfile.TemporaryDirectory(prefix="loopctl-bench-hostile-") as scratch:
        root = Path(scratch)
        times = [snapshot_figure(root), *pattern_figures(root), expose_figure()]
        peak = pack_figure(root)
    met = max(times) < GOAL_S and peak < GOAL_PEAK_MIB
    figure(
        f"hostile inputs: slowest {max(times):.2f} s (goal < {GOAL_S:.0f} s), pack peak {peak} MiB "
        f"(goal < {GOAL_PEAK_MIB} MiB) {verdict(met)}"
    )


if __name__ == "__main__":
    main()
