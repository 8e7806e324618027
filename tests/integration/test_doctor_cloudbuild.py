"""`loopctl doctor` with `builder: cloudbuild`: credentials, the Cloud Build API and the bucket, each with its fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cloudbuild_emulator import CloudBuildEmulator
from tests.support.doctor import run_doctor
from tests.support.gcs_emulator import GcsEmulator

CONFIG = """\
project: t
build:
  context: .
  image: 127.0.0.1:5000/app
  builder: cloudbuild
  cloudbuild: {{project: proj, api_endpoint: "{api}", storage_endpoint: "{storage}"}}
"""


@pytest.fixture
def cloudbuild() -> Iterator[CloudBuildEmulator]:
    with GcsEmulator() as gcs, CloudBuildEmulator(gcs) as emulator:
        yield emulator


def doctor(
    folder: Path, cloudbuild: CloudBuildEmulator, *, api: str | None = None, **env: str
) -> tuple[int, dict[str, dict[str, object]]]:
    config = CONFIG.format(api=api or cloudbuild.endpoint, storage=cloudbuild.storage.endpoint)
    (folder / "config.yaml").write_text(config)
    code, findings, _ = run_doctor(folder / "config.yaml", **env)
    return code, findings


def test_emulators_that_answer_are_all_green_and_no_engine_is_needed(
    tmp_path: Path, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.default_account = "123456789012-compute@developer.gserviceaccount.com"  # a project made since 2024
    code, findings = doctor(tmp_path, cloudbuild)
    assert code == 0, findings
    assert set(findings) == {
        *("config", "records", "cloud build credentials", "cloud build api", "cloud build account", "source bucket")
    }
    assert "does not exist yet" in str(findings["source bucket"]["detail"])
    account = str(findings["cloud build account"]["detail"])
    assert account.startswith(
        "builds run as 123456789012-compute@developer.gserviceaccount.com (the project's default)"
    )
    cloudbuild.storage.create_bucket("proj_cloudbuild")
    _, findings = doctor(tmp_path, cloudbuild)
    assert findings["source bucket"]["detail"] == "gs://proj_cloudbuild is there"


def test_a_source_bucket_of_another_project_is_red(tmp_path: Path, cloudbuild: CloudBuildEmulator) -> None:
    cloudbuild.storage.create_bucket("proj_cloudbuild", project="someone-else")
    code, findings = doctor(tmp_path, cloudbuild)
    assert code == 1 and findings["source bucket"]["ok"] is False
    assert "belongs to another project" in str(findings["source bucket"]["detail"])


def test_a_disabled_cloud_build_api_says_how_to_enable_it(tmp_path: Path, cloudbuild: CloudBuildEmulator) -> None:
    cloudbuild.disable_api("proj")
    code, findings = doctor(tmp_path, cloudbuild)
    assert code == 1
    assert findings["cloud build api"]["ok"] is False
    assert "gcloud services enable cloudbuild.googleapis.com" in str(findings["cloud build api"]["fix"])
    assert findings["source bucket"]["ok"] is True


def test_no_credentials_for_a_real_endpoint_is_red_with_the_fix(tmp_path: Path, cloudbuild: CloudBuildEmulator) -> None:
    code, findings = doctor(
        tmp_path,
        cloudbuild,
        api="https://cloudbuild.googleapis.com",
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "none.json"),
    )
    assert code == 1
    assert findings["cloud build credentials"]["ok"] is False
    assert "gcloud auth application-default login" in str(findings["cloud build credentials"]["fix"])
    assert "cloud build api" not in findings  # the API checks would only repeat the same failure
