"""Runs one emulated Cloud Build on the local Docker Engine: fetch the source, run docker steps, push `images:`.

Each line a step prints goes to the log object as Cloud Build writes it (`Step #N - "ID": text`), appended while
the build runs so a client can tail it. Status, step status, timing and results follow the shapes cited in
cloudbuild_emulator.py.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from tests.support.cloudbuild_emulator import CloudBuildEmulator, now
from tests.support.realparts import docker_client

DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
_DENIED = ("denied", "unauthorized", "no basic auth", "authentication required")


class StepFailed(Exception):
    pass


class Stopped(Exception):
    """Cancelled, or past the build's timeout."""


class BuildWorker(threading.Thread):
    def __init__(self, emulator: CloudBuildEmulator, build_id: str) -> None:
        super().__init__(name=f"cloudbuild-{build_id[:8]}", daemon=True)
        self.emulator = emulator
        self.build_id = build_id
        self.cancelled = emulator.cancelled[build_id]
        spec = emulator.build(build_id)
        self.timeout_s = _seconds(spec["timeout"])
        self.queue_ttl_s = _seconds(spec["queueTtl"])
        bucket, _, prefix = spec["logsBucket"].removeprefix("gs://").partition("/")
        self.log_bucket, self.log_name = bucket, f"{prefix.rstrip('/')}/log-{build_id}.txt".lstrip("/")
        self.created = time.monotonic()
        self.started = 0.0

    def run(self) -> None:
        try:
            self._queue()
            self._work()
        except Stopped:
            pass
        except Exception as err:  # the emulator's own trouble shows as Cloud Build's INTERNAL_ERROR
            self._finish("INTERNAL_ERROR", f"emulator: {type(err).__name__}: {err}")

    # --- the life of a build ---------------------------------------------------------------------

    def _queue(self) -> None:
        while self.emulator.hold_queue:
            if self.cancelled.is_set():
                raise Stopped
            if time.monotonic() - self.created > self.queue_ttl_s:
                self._finish(
                    "EXPIRED", f"Build expired: it was queued longer than its queue TTL of {self.queue_ttl_s:g}s."
                )
                raise Stopped
            time.sleep(0.05)

    def _work(self) -> None:
        self.started = time.monotonic()
        self.emulator.update(self.build_id, status="WORKING", startTime=now())
        self._log(f'starting build "{self.build_id}"', "", "FETCHSOURCE")
        spec = self.emulator.build(self.build_id)
        source = spec["source"]["storageSource"]
        fetched = _Span()
        # StorageSource.generation: "If the generation is omitted, the latest generation will be used."
        if self.emulator.deny_source_fetch:
            account = str(spec.get("serviceAccount") or self.emulator.default_account).rsplit("/", 1)[-1]
            self._finish(
                "FAILURE",
                f"AccessDeniedException: 403 {account} does not have storage.objects.get access to the Google Cloud "
                f"Storage object gs://{source['bucket']}/{source['object']}.",
                kind="FETCH_SOURCE_FAILED",
            )
            return
        context = self.emulator.storage.read(source["bucket"], source["object"], source.get("generation"))
        if context is None:
            where = f"gs://{source['bucket']}/{source['object']}" + (
                f"#{source['generation']}" if source.get("generation") else ""
            )
            self._finish("FAILURE", f"failed to fetch {where}", kind="FETCH_SOURCE_FAILED")
            return
        self._log(f"Fetching storage object: gs://{source['bucket']}/{source['object']}", "BUILD")
        timing: dict[str, Any] = {"FETCHSOURCE": fetched.close()}
        built = _Span()
        for index, step in enumerate(spec["steps"]):
            self._wait_while_held()
            if not self._run_step(index, step, context):
                return
        timing["BUILD"] = built.close()
        self._log("PUSH")
        pushed = _Span()
        results = self._push(spec.get("images", []))
        if results is None:
            return
        timing["PUSH"] = pushed.close()
        self._log("DONE")
        self.emulator.update(self.build_id, results={"images": results}, timing=timing)
        self._finish("SUCCESS", "")

    def _wait_while_held(self) -> None:
        while self.emulator.hold_work.is_set():
            self._check()
            time.sleep(0.05)
        self._check()

    def _check(self) -> None:
        if self.cancelled.is_set():
            raise Stopped
        if time.monotonic() - self.started > self.timeout_s:
            self._log("TIMEOUT", f"ERROR: context deadline exceeded after {self.timeout_s:g}s")
            self._finish("TIMEOUT", f"Build timeout of {self.timeout_s:g}s exceeded.")
            raise Stopped

    # --- steps ---------------------------------------------------------------------------------

    def _run_step(self, index: int, step: dict[str, Any], context: bytes) -> bool:
        label = f"Step #{index}" + (f' - "{step["id"]}"' if step.get("id") else "")
        self._step_status(index, "WORKING")
        self._log(f"Starting {label}")
        span = _Span()
        try:
            if step.get("name") != DOCKER_BUILDER:
                raise StepFailed(f"this emulator runs only {DOCKER_BUILDER} steps, not {step.get('name')}")
            args = list(step.get("args", []))
            if args[:1] == ["pull"]:
                self._pull(label, args[1])
            elif args[:1] == ["build"]:
                self._build(label, args[1:], context)
            else:
                raise StepFailed(f"this emulator understands docker build and pull, not {args[:1]}")
        except StepFailed as err:
            self._log(f"{label}: {err}", f"Finished {label}")
            self._step_status(index, "FAILURE", timing=span.close())
            if step.get("allowFailure"):
                return True
            failed = f'build step {index} "{step.get("name")}" failed: step exited with non-zero status: 1'
            detail = f"Build step failure: {failed}"
            self._log("ERROR", f"ERROR: {failed}")
            self._finish("FAILURE", detail, kind="USER_BUILD_STEP")
            return False
        self._log(f"Finished {label}")
        self._step_status(index, "SUCCESS", timing=span.close())
        return True

    def _pull(self, label: str, reference: str) -> None:
        import docker.errors

        try:
            for chunk in docker_client().api.pull(reference, stream=True, decode=True):
                self._check()
                if chunk.get("status") and not chunk.get("progressDetail"):
                    self._log(f"{label}: {chunk.get('status')}")
        except docker.errors.APIError as err:
            raise StepFailed(f"Error response from daemon: {err.explanation or err}") from None

    def _build(self, label: str, args: list[str], context: bytes) -> None:
        options = _build_options(args)
        tags = options.pop("tags")
        api = docker_client().api
        stream = api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            encoding="gzip",
            tag=tags[0],
            decode=True,
            rm=True,
            forcerm=True,
            pull=False,
            **options,
        )
        image_id = ""
        for chunk in stream:
            self._check()
            for line in str(chunk.get("stream") or "").splitlines():
                self._log(f"{label}: {line}")
            if "errorDetail" in chunk or "error" in chunk:
                raise StepFailed(str((chunk.get("errorDetail") or {}).get("message") or chunk.get("error")))
            aux = chunk.get("aux") or {}
            image_id = aux.get("ID") or image_id
        for tag in tags[1:]:
            repository, _, name = tag.rpartition(":")
            api.tag(image_id or tags[0], repository, name)
        with self.emulator.lock:
            self.emulator.tagged.extend(tags)

    # --- push ----------------------------------------------------------------------------------

    def _push(self, references: list[str]) -> list[dict[str, Any]] | None:
        api = docker_client().api
        results = []
        for reference in references:
            repository, _, tag = reference.rpartition(":")
            span = _Span()
            self._log(f"Pushing {reference}")
            digest, error = "", ""
            for chunk in api.push(repository, tag=tag, stream=True, decode=True, auth_config={}):
                self._check()
                if "errorDetail" in chunk or "error" in chunk:
                    error = str((chunk.get("errorDetail") or {}).get("message") or chunk.get("error"))
                digest = str((chunk.get("aux") or {}).get("Digest") or digest)
                if chunk.get("status") and not chunk.get("progressDetail"):
                    self._log(f"{chunk.get('id', '')} {chunk['status']}".strip())
            if error or not digest:
                self._log(error, "ERROR", f"ERROR: failed to push because we ran out of retries: {error}")
                denied = any(word in error.lower() for word in _DENIED)
                kind = "PUSH_NOT_AUTHORIZED" if denied else "PUSH_FAILED"
                self._finish("FAILURE", f"failed to push {reference}: {error}", kind=kind)
                return None
            results.append(
                {"name": reference, "digest": self.emulator.report_digest or digest, "pushTiming": span.close()}
            )
        return results

    # --- bookkeeping ---------------------------------------------------------------------------

    def _log(self, *lines: str) -> None:
        payload = "".join(line + "\n" for line in lines).encode()
        self.emulator.storage.append(self.log_bucket, self.log_name, payload)

    def _step_status(self, index: int, status: str, *, timing: dict[str, str] | None = None) -> None:
        with self.emulator.lock:
            step = self.emulator.builds[self.build_id]["steps"][index]
            if step["status"] != "CANCELLED":
                step["status"] = status
            if timing:
                step["timing"] = timing

    def _finish(self, status: str, detail: str, *, kind: str | None = None) -> None:
        with self.emulator.lock:
            build = self.emulator.builds[self.build_id]
            if build["status"] not in ("QUEUED", "WORKING"):
                return  # cancelled meanwhile: the cancel call already ended it
            build.update(status=status, finishTime=now())
            if detail:
                build["statusDetail"] = detail
            if kind:
                build["failureInfo"] = {"type": kind, "detail": detail}
            if self.started:
                self.emulator.build_seconds.append(time.monotonic() - self.started)


class _Span:
    def __init__(self) -> None:
        self.start = now()

    def close(self) -> dict[str, str]:
        return {"startTime": self.start, "endTime": now()}


def _build_options(args: list[str]) -> dict[str, Any]:
    """`docker build` flags as the docker SDK's keyword arguments; the context is the uploaded source, always `.`."""
    options: dict[str, Any] = {"tags": [], "buildargs": {}, "cache_from": []}
    pairs = iter(args)
    for flag in pairs:
        if flag == ".":
            continue
        value = next(pairs)
        if flag in ("--tag", "-t"):
            options["tags"].append(value)
        elif flag in ("--file", "-f"):
            options["dockerfile"] = value
        elif flag == "--platform":
            options["platform"] = value
        elif flag == "--target":
            options["target"] = value
        elif flag == "--build-arg":
            name, _, setting = value.partition("=")
            options["buildargs"][name] = setting
        elif flag == "--cache-from":
            options["cache_from"].append(value)
        else:
            raise StepFailed(f"unknown flag: {flag}")
    return options


def _seconds(duration: str) -> float:
    return float(str(duration).removesuffix("s"))
