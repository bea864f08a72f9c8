"""Completed and cancelled jobs through the CLI: ``inspect completed|cancelled``, the
history fields of ``inspect job``, the counts of ``status``, ``purge``, ``delete`` and
``retry`` (run again) of finished jobs."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.cli.conftest import Wg
from wg_core import Client
from wg_core.backend import Progress

LONG = {"rows": list(range(200)), "note": "[bold]not markup[/bold]"}


def _time(text: str) -> float:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text).timestamp()


def test_inspect_completed_carries_the_whole_result(wgq: Wg) -> None:
    first = wgq.enqueue("resize", {"w": 1})
    wgq.enqueue("resize", {"w": 2})
    assert wgq.complete([LONG, None])[0] == first
    doc = wgq.json("inspect", "completed")
    assert doc["version"] == 3
    assert (doc["state"], doc["count"], doc["total"]) == ("completed", 2, 2)
    by_id = {job["id"]: job for job in doc["jobs"]}
    job = by_id[first]
    assert job["state"] == "completed"
    assert job["result"] == LONG  # whole in JSON, whatever its size
    assert job["payload"] == {"w": 1}
    finished = _time(job["finished_at"])
    assert abs(finished - time.time()) < 60
    assert 3590 < _time(job["expires_at"]) - finished <= 3600
    assert job["run_time_seconds"] is None or job["run_time_seconds"] >= 0
    assert job["cancel_requested"] is False
    [other] = [j for j in doc["jobs"] if j["id"] != first]
    assert other["result"] is None


def test_completed_table_cuts_the_result_and_shows_it_literally(wgq: Wg) -> None:
    job_id = wgq.enqueue("resize", {"w": 1})
    wgq.complete([LONG])
    table = wgq("inspect", "completed")
    assert table.exit_code == 0, table.stderr
    assert job_id in table.stdout
    assert "finished" in table.stdout
    assert '{"rows":[0,1,2' in table.stdout
    assert "199" not in table.stdout  # cut to the column: wg result prints it whole
    assert "…" in table.stdout


def test_inspect_cancelled(wgq: Wg) -> None:
    job_id = wgq.enqueue("report", {"day": 1})
    assert wgq("cancel", job_id).exit_code == 0
    (job,) = wgq.json("inspect", "cancelled")["jobs"]
    assert (job["id"], job["state"], job["result"]) == (job_id, "cancelled", None)
    assert job["finished_at"] is not None
    assert job["started_at"] is None  # it never ran
    table = wgq("inspect", "cancelled")
    assert job_id in table.stdout
    assert '{"day":1}' in table.stdout


def test_inspect_job_shows_result_times_and_expiry(wgq: Wg) -> None:
    job_id = wgq.enqueue("resize", {"w": 1})
    wgq.complete([{"thumbnail": "s3://bucket/cat.png"}])
    shown = wgq("inspect", "job", job_id)
    assert shown.exit_code == 0, shown.stderr
    for label in ("finished", "expires", "result", "s3://bucket/cat.png"):
        assert label in shown.stdout
    job = wgq.json("inspect", "job", job_id)["job"]
    assert job["result"] == {"thumbnail": "s3://bucket/cat.png"}
    assert job["envelope"]["id"] == job_id


def test_inspect_job_shows_progress_and_a_cancel_request(
    wgq: Wg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # room for the running table's progress column
    job_id = wgq.enqueue("transcode", {})
    [attempt] = wgq.claim()

    async def report(client: Client) -> None:
        assert await client.backend.set_progress(attempt, Progress(0.4, "resized 40 of 100"))

    wgq.core(report)
    job = wgq.json("inspect", "job", job_id)["job"]
    assert job["progress"]["fraction"] == 0.4
    assert job["progress"]["message"] == "resized 40 of 100"
    assert job["progress"]["updated_at"].endswith("Z")
    assert job["cancel_requested"] is False
    assert "40% resized 40 of 100" in wgq("inspect", "job", job_id).stdout
    running = wgq("inspect", "running")
    assert "progress" in running.stdout
    assert "40%" in running.stdout
    monkeypatch.setenv("COLUMNS", "80")
    narrow = wgq("inspect", "running").stdout
    assert job_id in narrow  # never cut: the progress column goes first

    assert wgq("cancel", job_id).exit_code == 0
    job = wgq.json("inspect", "job", job_id)["job"]
    assert (job["state"], job["cancel_requested"]) == ("running", True)
    assert "requested" in wgq("inspect", "job", job_id).stdout


def test_status_counts_completed_and_cancelled(wgq: Wg) -> None:
    wgq.enqueue("a", {})
    wgq.enqueue("b", {})
    cancelled = wgq.enqueue("c", {}, queue="emails")
    wgq.complete([1])
    assert wgq("cancel", cancelled).exit_code == 0
    doc = wgq.json("status")
    assert doc["counts"] == {
        "queued": 1,
        "scheduled": 0,
        "retry": 0,
        "running": 0,
        "dead": 0,
        "completed": 1,
        "cancelled": 1,
        "total": 1,  # jobs not finished
    }
    emails = next(q for q in doc["queues"] if q["name"] == "emails")
    assert emails["counts"]["cancelled"] == 1
    table = wgq("status").stdout
    assert "completed" in table
    assert "cancelled" in table


def test_queues_table_has_history_columns_only_when_kept(wgq: Wg) -> None:
    wgq.enqueue("a", {})
    assert "completed" not in wgq("queues").stdout
    wgq.complete(["done"])
    assert "completed" in wgq("queues").stdout


@pytest.mark.parametrize("state", ["completed", "cancelled"])
def test_purge_a_finished_state(wgq: Wg, state: str) -> None:
    kept = wgq.enqueue("keep", {})
    finished = wgq.enqueue("done", {}, queue="emails")
    if state == "completed":
        wgq.complete([1], queues=("emails",))
    else:
        assert wgq("cancel", finished).exit_code == 0
    dry = wgq.json("purge", state, "--dry-run")
    assert dry["matched"] == {state: 1}
    doc = wgq.json("purge", state, "--yes")
    assert doc["deleted"] == {state: 1}
    assert wgq.json("inspect", "job", kept)["job"]["state"] == "queued"
    assert wgq("inspect", "job", finished).exit_code == 4


def test_purge_all_includes_the_history(wgq: Wg) -> None:
    wgq.enqueue("a", {})
    wgq.enqueue("b", {})
    wgq.complete([1])
    doc = wgq.json("purge", "all", "--yes")
    assert doc["deleted"]["completed"] == 1
    assert doc["deleted"]["queued"] == 1
    assert doc["total"] == 2


def test_delete_and_retry_finished_jobs(wgq: Wg) -> None:
    done = wgq.enqueue("a", {"n": 1})
    wgq.complete(["first run"])
    cancelled = wgq.enqueue("b", {"n": 2})
    assert wgq("cancel", cancelled).exit_code == 0
    doc = wgq.json("retry", done, cancelled)
    assert (doc["retried"], doc["failed"]) == (2, [])
    for job_id in (done, cancelled):
        job = wgq.json("inspect", "job", job_id)["job"]
        assert (job["state"], job["status"]) == ("queued", "Pending")
    wgq.complete(["second run", "again"])
    assert wgq.json("delete", done, "--yes")["deleted"] == 1
    assert wgq("inspect", "job", done).exit_code == 4


def test_retry_all_from_completed(wgq: Wg) -> None:
    wgq.enqueue("a", {})
    wgq.complete([1])
    doc = wgq.json("retry", "--all", "--from", "completed", "--yes")
    assert doc["retried"] == 1
    assert wgq.counts()["queued"] == 1


@pytest.mark.parametrize("value", ["soon", "-5s"])
def test_worker_refuses_a_bad_keep_finished(wg: Wg, value: str) -> None:
    result = wg("worker", "wg_cli.demo_jobs:send_email", f"--keep-finished={value}")
    assert result.exit_code == 2
    assert "--keep-finished" in result.stderr
    assert "not a duration" in result.stderr
