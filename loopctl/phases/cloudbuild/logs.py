"""Cloud Build's log, tailed from the logs bucket by Range request: escape sequences stripped, steps told apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from loopctl.errors import LoopctlError
from loopctl.outside_text import one_line
from loopctl.phases.cloudbuild.api import CloudBuildApi

# CSI and OSC sequences (colours, cursor moves, titles), then every other control character but tab.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")
# Cloud Build prefixes what a step prints with `Step #N - "ID": ` (no `- "ID"` when the step has no id).
_STEP_LINE = re.compile(r'^Step #(?P<index>\d+)(?: - "(?P<id>[^"]*)")?: ?(?P<text>.*)$')
# Lines that say nothing about why a build failed.
_NOISE = re.compile(
    r"^(?:-+>|Removing intermediate container|Sending build context|Step \d+/\d+ : (?:COPY|ENV|WORKDIR|EXPOSE|CMD)"
    r"|Successfully (?:built|tagged)|\s*$)"
)
_DOCKERFILE_STEP = re.compile(r"^Step \d+/\d+ : ")
SHOWN_WIDTH = 160
# Cloud Build ends its log with one of these lines (then `ERROR: …` after ERROR and TIMEOUT).
_LAST_BANNERS = ("DONE", "ERROR", "TIMEOUT")


def clean(line: str) -> str:
    """One log line without escape sequences or control characters (carriage-return progress keeps its last frame)."""
    line = line.rstrip("\r")
    return _ESCAPES.sub("", line.rsplit("\r", 1)[-1])


class LogTail:
    """Reads `log-<id>.txt` from the build's logs bucket a chunk at a time, as `gcloud builds submit` streams it."""

    def __init__(self, api: CloudBuildApi, logs_bucket: str, build_id: str, show: Callable[[str], None]) -> None:
        bucket, _, prefix = logs_bucket.removeprefix("gs://").partition("/")
        self.bucket = bucket
        self.name = f"{prefix.rstrip('/')}/log-{build_id}.txt".lstrip("/")
        self.api = api
        self.show = show
        self.offset = 0
        self.ended = False  # the log's last banner arrived: the build's status is about to be final
        self.unreadable = False
        self.lines: list[str] = []
        self._partial = b""

    def poll(self, *, final: bool = False) -> None:
        """Fetch what was appended since the last poll; `final` also flushes a last line without a newline.

        A log that cannot be read does not stop the wait: the build goes on, and its status still decides.
        """
        if self.unreadable:
            return
        try:
            chunk = self._fetch()
        except LoopctlError as err:
            self.unreadable = True
            self.show(f"the build log cannot be read, waiting without it: {err.message}")
            return
        self.offset += len(chunk)
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        if final and self._partial:
            complete, self._partial = [*complete, self._partial], b""
        for raw in complete:
            line = clean(raw.decode("utf-8", errors="replace"))
            self.lines.append(line)
            self.ended = self.ended or line in _LAST_BANNERS
            if line.strip():
                self.show(one_line(line, SHOWN_WIDTH))

    def _fetch(self) -> bytes:
        from google.api_core import exceptions

        def read() -> bytes:
            # A new handle each read: a download remembers the generation it got and pins later reads to it, but
            # Cloud Build rewrites the object as the build runs and the old generation is gone (404).
            blob: Any = self.api.storage.bucket(self.bucket).blob(self.name)
            try:
                return bytes(blob.download_as_bytes(start=self.offset, checksum=None, retry=None))
            except (exceptions.NotFound, exceptions.RequestRangeNotSatisfiable):
                return b""  # not written yet, or nothing new since the last poll

        return self.api.call("Cloud Storage", "read the build log", read)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    def step_lines(self, index: int) -> list[str]:
        """What step `index` printed, without Cloud Build's prefix."""
        found = []
        for line in self.lines:
            match = _STEP_LINE.match(line)
            if match and int(match["index"]) == index:
                found.append(match["text"])
        return found


def meaningful_tail(lines: list[str], count: int = 5) -> list[str]:
    """The last lines worth quoting: what the failing instruction printed, without docker's bookkeeping."""
    starts = [index for index, line in enumerate(lines) if _DOCKERFILE_STEP.match(line.strip())]
    after = lines[starts[-1] + 1 :] if starts else lines
    kept = [line.strip() for line in after if not _NOISE.match(line.strip())]
    return kept[-count:]


def last_dockerfile_step(lines: list[str]) -> str:
    """The last `Step N/M : INSTRUCTION` the classic builder printed: where a failed build stopped."""
    steps = [line.strip() for line in lines if _DOCKERFILE_STEP.match(line.strip())]
    return steps[-1] if steps else ""
