"""Server logs on the docker target: the container's stdout and stderr for a window, with the engine's timestamps."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from loopctl.evidence.extract import LogLine
from loopctl.evidence.window import LogRead, LogsUnavailable, Window, parse_stamp

HEAD_BYTES = 1 << 20  # the window's start is kept: the first error is often the cause of what follows
TAIL_BYTES = 4 << 20  # and its end, where the error that ended the check usually is
CHUNK_BYTES = 1 << 16
READ_TIMEOUT_S = 30.0  # between two chunks of the engine's answer
SETTLE_S = 0.1  # the engine writes a container's output to its log within milliseconds; one more look after this


class DockerLogs:
    """One container's log, read through the docker SDK as a stream, keeping a bounded head and tail."""

    def __init__(self, container_id: str, *, name: str = "", tty: bool | None = None) -> None:
        self.container_id = container_id
        self.name = name or container_id[:12]
        self._tty = tty  # asked of the engine once, when the caller has not inspected the container already

    def read(self, window: Window, *, enough: Callable[[Sequence[LogLine]], bool] = lambda lines: False) -> LogRead:
        """Read right away; when nothing telling is there yet, once more a moment later (never the window's end)."""
        first = self._read(window)
        if enough(first.lines):
            return first
        time.sleep(SETTLE_S)
        return self._read(window)

    def last(self, count: int) -> tuple[str, ...]:
        """The container's last `count` lines, whenever written, through the same bounded stream as a window."""
        kept = Bounded(0, TAIL_BYTES)
        for chunk in self._stream({"tail": count}):
            kept.add(chunk)
        return tuple(line.text for line in kept.lines())[-count:]

    def _read(self, window: Window) -> LogRead:
        kept = Bounded(HEAD_BYTES, TAIL_BYTES)
        since, until = (f"{moment.timestamp():.6f}" for moment in (window.start, window.end))
        for chunk in self._stream({"since": since, "until": until}):
            kept.add(chunk)
        source = f"docker logs of {self.name} ({self.container_id[:12]})"
        return LogRead(kept.lines(), source, partial=kept.partial())

    def _stream(self, which: dict[str, int | str]) -> Iterator[bytes]:
        """The engine's log response, read in chunks as it arrives: never the whole window in memory at once."""
        import docker.errors
        import requests
        import urllib3

        from loopctl.clients.docker_engine import docker_client

        try:
            api = docker_client().api
            if self._tty is None:
                self._tty = bool(api.inspect_container(self.container_id)["Config"].get("Tty"))
            url = f"{api.base_url}/v{api.api_version}/containers/{self.container_id}/logs"
            params: dict[str, int | str] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 0, **which}
            with api.get(url, params=params, stream=True, timeout=READ_TIMEOUT_S) as response:
                response.raise_for_status()
                chunks = iter(lambda: response.raw.read(CHUNK_BYTES), b"")  # whole pieces, not the engine's chunks
                yield from chunks if self._tty else demultiplexed(chunks)
        except docker.errors.NotFound:
            raise LogsUnavailable(f"container {self.name} is gone: its log cannot be read") from None
        except (
            docker.errors.DockerException,
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
        ) as err:
            # the raw stream raises urllib3's own errors (a reset, a read timeout), not requests' wrappers
            raise LogsUnavailable(f"the Docker Engine did not give {self.name}'s log: {err}") from None


def demultiplexed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The payloads of the engine's stdout/stderr stream: 8-byte headers (stream, 0, 0, 0, big-endian size).

    The format: https://docs.docker.com/reference/api/engine/version/v1.47/#tag/Container/operation/ContainerAttach
    """
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        offset, payloads = 0, []
        while len(pending) - offset >= 8:
            size = int.from_bytes(pending[offset + 4 : offset + 8], "big")
            if len(pending) - offset - 8 < size:
                break
            payloads.append(pending[offset + 8 : offset + 8 + size])
            offset += 8 + size
        del pending[:offset]
        yield b"".join(payloads)  # one piece per chunk read, however many small frames it held


class Bounded:
    """A byte stream kept as its first `head` and last `tail` bytes, whatever its length, and the count of all."""

    def __init__(self, head: int, tail: int) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head, self.tail = bytearray(), bytearray()
        self.total = self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.tail_limit + (self.tail_limit >> 2):  # trimmed in batches, not on every chunk
            self.dropped += len(self.tail) - self.tail_limit
            del self.tail[: -self.tail_limit]

    @property
    def skipped(self) -> int:
        return self.dropped + max(0, len(self.tail) - self.tail_limit)

    def lines(self) -> tuple[LogLine, ...]:
        """The kept lines (the buffers are let go); a line cut by the gap is left out, and the gap is said there."""
        skipped = self.dropped = self.skipped
        head, tail = bytes(self.head), bytes(self.tail[-self.tail_limit :])
        self.head, self.tail = bytearray(), bytearray()
        if not skipped:
            return tuple(_parsed(head + tail))
        gap = LogLine(f"[… {megabytes(skipped)} of log not read …]")
        return (*_parsed(head.rpartition(b"\n")[0]), gap, *_parsed(tail.partition(b"\n")[2]))

    def partial(self) -> str:
        """What part of the window's log was read, when not all of it; empty when all of it was."""
        if not self.skipped:
            return ""
        return (
            f"the first {megabytes(self.head_limit)} and the last {megabytes(self.tail_limit)} of "
            f"{megabytes(self.total)} logged in the window"
        )


def megabytes(count: int) -> str:
    return f"{count / (1 << 20):.1f} MB"


def _parsed(raw: bytes) -> Iterator[LogLine]:
    """Line by line, so the kept bytes are never held twice more as one decoded text and its list of lines."""
    for line in io.BytesIO(raw):
        yield parse_line(line.decode("utf-8", "replace").rstrip("\r\n"))


def parse_line(text: str) -> LogLine:
    """`2026-12-01T05:20:45.123456789Z message` as the engine writes it with timestamps on."""
    stamp, _, rest = text.partition(" ")
    try:
        return LogLine(rest, timestamp=parse_stamp(stamp))
    except ValueError:
        return LogLine(text)
