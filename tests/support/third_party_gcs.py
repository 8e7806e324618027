"""gcp-storage-emulator (PyPI), a Cloud Storage emulator loopctl's authors did not write: a second opinion on the
storage calls, served in memory on 127.0.0.1 and driven through the real `google-cloud-storage` client.

What it does not do, so the tests that need it run against tests/support/gcs_emulator.py only: it ignores a
`generation` on reads and sends no X-Goog-Generation, ignores `ifGenerationMatch`, keeps every bucket in one
project (the bucket list is not per project) and always answers location US.
"""

from __future__ import annotations

import contextlib
import socket
from types import TracebackType
from typing import Any, Self


class ThirdPartyGcs:
    """The same test-facing calls as GcsEmulator (create_bucket, put, append, read, generation), made with the
    real client against gcp-storage-emulator."""

    def __init__(self) -> None:
        from gcp_storage_emulator.server import create_server

        with socket.socket() as probe:  # its server takes a port number, not 0
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.server = create_server("127.0.0.1", port, in_memory=True)

    def __enter__(self) -> Self:
        self.server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.stop()

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        options = {"api_endpoint": self.endpoint}
        return storage.Client(project="proj", credentials=AnonymousCredentials(), client_options=options)

    def create_bucket(self, name: str) -> None:
        from google.api_core.exceptions import Conflict

        with contextlib.suppress(Conflict):  # there already
            self.client().create_bucket(name)

    def put(self, bucket: str, name: str, data: bytes, content_type: str) -> None:
        self.client().bucket(bucket).blob(name).upload_from_string(data, content_type=content_type)

    def append(self, bucket: str, name: str, data: bytes) -> None:
        """Rewrite the object with `data` added: a new generation each time, as Cloud Build writes its log."""
        self.create_bucket(bucket)
        self.put(bucket, name, (self.read(bucket, name) or b"") + data, "text/plain")

    def read(self, bucket: str, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self.client().bucket(bucket).blob(name).download_as_bytes())
        except NotFound:
            return None

    def generation(self, bucket: str, name: str) -> int | None:
        blob = self.client().bucket(bucket).get_blob(name)
        return int(blob.generation) if blob is not None else None
