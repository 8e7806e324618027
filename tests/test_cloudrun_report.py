"""The report's Cloud Run lines: the revision's logs, the service's console page, and what loopctl changed."""

from __future__ import annotations

from loopctl.reports.markdown import render_markdown
from tests.support.records import http_check, make_record

LOGS = (
    "https://console.cloud.google.com/logs/viewer?project=my-proj&resource=cloud_run_revision/service_name/"
    "backend-staging/revision_name/backend-staging-00153-v9v"
)
CONSOLE = "https://console.cloud.google.com/run/detail/us-central1/backend-staging/revisions?project=my-proj"


def deploy_row(**deploy: object) -> str:
    base = {
        "target": "cloudrun",
        "service": "backend-staging",
        "revision": "backend-staging-00153-v9v",
        "url": "https://backend-staging-701982941522.us-central1.run.app",
    }
    report = render_markdown(make_record(1, "success", checks=[http_check()], deploy={**base, **deploy}), None)
    return next(line for line in report.splitlines() if line.startswith("| deploy"))


def test_the_deploy_row_links_the_logs_and_the_console_page() -> None:
    row = deploy_row(log_uri=LOGS, console_url=CONSOLE)
    assert f"[logs]({LOGS})" in row and f"[console]({CONSOLE})" in row


def test_the_deploy_row_says_what_loopctl_changed_in_traffic_and_access() -> None:
    row = deploy_row(restored_latest="backend-staging-00151-abc", made_public=True)
    assert "traffic back on LATEST 100% (loopctl's rollback had pinned `backend-staging-00151-abc`)" in row
    assert "made public (allUsers may invoke)" in row


def test_a_link_that_is_not_the_console_or_could_break_the_table_is_left_out() -> None:
    row = deploy_row(log_uri="https://evil.example/x", console_url=CONSOLE + ") | [click](https://evil.example")
    assert "logs]" not in row and "console]" not in row and "evil" not in row
