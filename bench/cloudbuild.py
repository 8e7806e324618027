"""`loopctl iterate` with `builder: cloudbuild` after a one-file change, against the emulator's own build time."""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import yaml
from sandbox import Sandbox, phase_line
from timing import figure, median, require_venv, say, verdict

from loopctl.config import BuildConfig
from loopctl.phases.cloudbuild.source import pack_context
from tests.support.cloudbuild_emulator import CloudBuildEmulator
from tests.support.gcs_emulator import GcsEmulator

ROUNDS = 5
GOAL_FACTOR = 1.2
UPLOADS = 5


def write_config(box: Sandbox, cloudbuild: CloudBuildEmulator) -> Path:
    """The repo's config.yaml, built on Cloud Build (the emulators) and pushed; no deploy, probe or suites."""
    base = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yaml").read_text())
    config = {"project": base["project"], "iterations_dir": "iterations-cloudbuild", "build": dict(base["build"])}
    config["build"].update(
        context="service",
        image=box.repository("cloudbuild"),
        builder="cloudbuild",
        cloudbuild={
            "project": "bench",
            "api_endpoint": cloudbuild.endpoint,
            "storage_endpoint": cloudbuild.storage.endpoint,
        },
    )
    config["push"] = {"auth": "none"}
    path = box.root / "cloudbuild.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def upload_seconds(box: Sandbox, config: Path, gcs: GcsEmulator) -> float:
    """What one upload of this context costs with the storage client, measured apart (median of a few)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    build = BuildConfig.model_validate(yaml.safe_load(config.read_text())["build"])
    sink = io.BytesIO()
    pack_context(box.service, build, sink)
    payload = sink.getvalue()
    client = storage.Client(
        project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.endpoint}
    )
    bucket = client.create_bucket("bench-upload-yardstick")
    times = []
    for attempt in range(UPLOADS):
        began = time.perf_counter()
        bucket.blob(f"probe-{attempt}.tar.gz").upload_from_string(payload, content_type="application/gzip")
        times.append(time.perf_counter() - began)
    say(f"context: {len(payload) / 1024:.1f} KiB; upload median {median(times) * 1000:.0f} ms")
    return median(times)


def main() -> None:
    require_venv()
    with Sandbox("cloudbuild") as box, GcsEmulator() as gcs, CloudBuildEmulator(gcs) as cloudbuild:
        config = write_config(box, cloudbuild)
        box.touch()
        box.iterate(config, build_only=True)  # warm-up: the engine's layer cache, the imports' page cache
        walls, builds = [], []
        for round_number in range(1, ROUNDS + 1):
            box.touch()
            before = len(cloudbuild.build_seconds)
            wall, record = box.iterate(config, build_only=True)
            build = record["build"]
            assert build["cached"] == "no" and len(cloudbuild.build_seconds) == before + 1, "no build ran"
            walls.append(wall)
            builds.append(cloudbuild.build_seconds[-1])
            say(
                f"round {round_number}: loopctl {wall:.2f}s; emulator build {builds[-1]:.2f}s; "
                f"record queued {build['queued_s']}s working {build['working_s']}s"
            )
            say("  " + phase_line(record, wall))
        upload = upload_seconds(box, config, gcs)
        wall, build_s = median(walls), median(builds)
        allowed = GOAL_FACTOR * build_s + upload
        say(f"spread: loopctl {statistics.pstdev(walls):.2f}s, build {statistics.pstdev(builds):.2f}s")
        fixed = median([each - built for each, built in zip(walls, builds, strict=True)]) - upload
        say(
            f"what loopctl adds: {fixed:.2f}s (interpreter, imports of the Google clients, input digest, registry "
            f"checks, report); the goal holds for builds of {fixed / (GOAL_FACTOR - 1):.1f}s or longer"
        )
        figure(
            f"cloudbuild: loopctl {wall:.2f}s vs emulator build {build_s:.2f}s = {wall / build_s:.2f}x "
            f"(goal <= {GOAL_FACTOR}x + upload {upload:.2f}s = {allowed:.2f}s) {verdict(wall <= allowed)}"
        )


if __name__ == "__main__":
    main()
