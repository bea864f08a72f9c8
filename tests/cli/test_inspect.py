"""``wg inspect``: states, one job, workers — JSON documents checked field by field."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from tests.cli.conftest import Wg
from wg_core import Client, WorkerInfo
from wg_core.backend import NewJob

MISSING = "00000000-0000-4000-8000-000000000001"  # a well-formed id no job has
RAW_ID = "00000000-0000-4000-8000-000000000002"


def _rfc3339_utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def test_inspect_dead_document(wg: Wg) -> None:
    first = wg.enqueue("send_email", {"to": "x"})
    wg.enqueue("resize", {"w": 1})
    assert wg.kill(1, "SMTP [bold]refused[/bold]") == [first]
    doc = wg.json("inspect", "dead")
    assert doc["version"] == 3
    assert doc["namespace"] == wg.namespace
    assert doc["state"] == "dead"
    assert doc["order"] == "oldest"
    assert doc["limit"] == 50
    assert doc["offset"] == 0
    assert doc["filters"] == {
        "job_name": None,
        "error_contains": None,
        "search": None,
        "queue": None,
    }
    assert doc["count"] == 1
    assert doc["total"] == 1
    assert doc["next_offset"] is None
    (job,) = doc["jobs"]
    assert job["id"] == first
    assert job["job_name"] == "send_email"
    assert job["state"] == "dead"
    assert job["status"] == "Dead"
    assert job["payload"] == {"to": "x"}
    assert job["last_error"] == "SMTP [bold]refused[/bold]"  # user data, never markup
    assert job["decode_error"] is None
    assert job["retry_count"] == 0
    assert job["max_retries"] == 3
    assert job["scheduled_at"] is None
    assert job["lease_until"] is None
    created = _rfc3339_utc(job["created_at"])
    assert abs(created.timestamp() - time.time()) < 60
    _rfc3339_utc(job["updated_at"])


def test_table_shows_user_text_literally(wg: Wg) -> None:
    wg.enqueue("send_email", {"to": "x"})
    wg.kill(1, "SMTP [bold]refused[/bold]")
    result = wg("inspect", "dead")
    assert result.exit_code == 0
    assert "[bold]refused" in result.stdout


def test_empty_state_is_success(wg: Wg) -> None:
    result = wg("inspect", "retry")
    assert result.exit_code == 0
    assert "No retry jobs" in result.stdout
    assert wg.json("inspect", "retry")["jobs"] == []
    assert wg("inspect", "retry", "-o", "id").stdout == ""


def test_limit_offset_and_order(wg: Wg) -> None:
    ids = [wg.enqueue("n", {"i": i}) for i in range(5)]
    page = wg.json("inspect", "queued", "--limit", "2")
    assert [job["id"] for job in page["jobs"]] == ids[:2]
    assert page["next_offset"] == 2
    assert page["total"] == 5
    page = wg.json("inspect", "queued", "--limit", "2", "--offset", "4")
    assert [job["id"] for job in page["jobs"]] == ids[4:]
    assert page["next_offset"] is None
    newest = wg.json("inspect", "queued", "--order", "newest", "--limit", "3")
    assert [job["id"] for job in newest["jobs"]] == ids[::-1][:3]
    assert wg.json("inspect", "queued", "--all")["count"] == 5


def test_filters(wg: Wg) -> None:
    a = wg.enqueue("alpha", {})
    b = wg.enqueue("beta", {})
    c = wg.enqueue("alpha", {})
    wg.kill(1, "Connection RESET by peer")
    wg.kill(1, "timeout")
    assert [j["id"] for j in wg.json("inspect", "queued", "--job-name", "alpha")["jobs"]] == [c]
    doc = wg.json("inspect", "dead", "--error-contains", "reset")
    assert [job["id"] for job in doc["jobs"]] == [a]
    assert doc["total"] is None  # unknown with filters
    assert doc["filters"] == {
        "job_name": None,
        "error_contains": "reset",
        "search": None,
        "queue": None,
    }
    doc = wg.json("inspect", "dead", "-j", "beta")
    assert [job["id"] for job in doc["jobs"]] == [b]


def test_id_and_jsonl_output_stream_every_job(wg: Wg) -> None:
    ids = [wg.enqueue("n", {"i": i}) for i in range(60)]  # more than the table's 50
    result = wg("inspect", "queued", "-o", "id")
    assert result.exit_code == 0
    assert result.stdout.split() == ids
    lines = wg("inspect", "queued", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    assert wg("inspect", "queued", "-o", "id", "--limit", "3").stdout.split() == ids[:3]


def test_options_after_the_command_override_the_global_ones(wg: Wg) -> None:
    wg.enqueue("n", {})
    assert wg("-n", "someotherns", "init").exit_code == 0  # readers create nothing
    other = wg("inspect", "queued", "-n", "someotherns", "-o", "id")
    assert other.exit_code == 0
    assert other.stdout == ""


def test_inspect_job_table_raw_and_json(wg: Wg) -> None:
    job_id = wg.enqueue("send_email", {"to": "ada@example.com"})
    table = wg("inspect", "job", job_id)
    assert table.exit_code == 0
    assert job_id in table.stdout
    assert "ada@example.com" in table.stdout
    raw = wg("inspect", "job", job_id, "--raw")
    stored = json.loads(raw.stdout)
    assert stored["id"] == job_id
    assert stored["status"] == "Pending"
    doc = wg.json("inspect", "job", job_id)
    assert doc["job"]["envelope"] == stored
    assert wg("inspect", "job", job_id, "-o", "id").stdout.strip() == job_id


def test_inspect_unknown_job_is_exit_4(wg: Wg) -> None:
    result = wg("inspect", "job", MISSING)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: no job '{MISSING}' in namespace '{wg.namespace}'"
    as_json = wg("inspect", "job", MISSING, "--json")
    assert json.loads(as_json.stderr)["error"] == {
        "code": 4,
        "kind": "not_found",
        "message": f"no job '{MISSING}' in namespace '{wg.namespace}'",
    }


@pytest.mark.parametrize("state", ["deadd", "finished", "all"])
def test_unknown_state_is_a_usage_error(wg: Wg, state: str) -> None:
    result = wg("inspect", state)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "No such command" in result.stderr


def test_inspect_workers(wg: Wg) -> None:
    assert wg.json("inspect", "workers")["workers"] == []
    started = time.time() - 5

    async def register(client: Client) -> None:
        info = WorkerInfo(
            worker_id="host-1-abc",
            host="host",
            pid=1,
            concurrency=4,
            running=1,
            started_at=started,
            job_names=("send_email",),
        )
        await client.backend.heartbeat(info, attempts=[], lease=30)

    wg.core(register)
    doc = wg.json("inspect", "workers")
    assert doc["paused"] is False
    (worker,) = doc["workers"]
    assert worker["worker_id"] == "host-1-abc"
    assert (worker["host"], worker["pid"], worker["concurrency"]) == ("host", 1, 4)
    assert worker["running"] == 1
    assert worker["state"] == "running"
    assert worker["stop_requested"] is False
    assert worker["job_names"] == ["send_email"]
    assert abs(_rfc3339_utc(worker["started_at"]).timestamp() - started) < 1
    assert abs(_rfc3339_utc(worker["last_seen"]).timestamp() - time.time()) < 60
    assert wg("inspect", "workers", "-o", "id").stdout.split() == ["host-1-abc"]
    assert "host-1-abc" in wg("inspect", "workers").stdout


def test_inspect_running_shows_worker_and_lease(wg: Wg) -> None:
    job_id = wg.enqueue("slow", {})

    async def claim(client: Client) -> None:
        await client.backend.claim(limit=1, lease=300, worker_id="worker-7")

    wg.core(claim)
    (job,) = wg.json("inspect", "running")["jobs"]
    assert (job["id"], job["state"], job["worker_id"]) == (job_id, "running", "worker-7")
    lease = _rfc3339_utc(job["lease_until"]).timestamp()
    assert 0 < lease - time.time() <= 300
    assert "worker-7" in wg("inspect", "running").stdout


def test_undecodable_jobs_are_shown_not_fatal(wg: Wg) -> None:
    """A job written by another program that is not a valid envelope."""

    async def store(client: Client) -> None:
        await client.backend.enqueue([NewJob(job_id=RAW_ID, job_name="x", raw="not json {")])

    wg.core(store)
    (job,) = wg.json("inspect", "queued")["jobs"]
    assert job["id"] == RAW_ID
    assert job["job_name"] is None
    assert job["payload"] is None
    assert job["decode_error"].startswith("envelope is not JSON")
    assert job["last_error"] == job["decode_error"]
    assert "(undecodable)" in wg("inspect", "queued").stdout
    assert wg("inspect", "job", RAW_ID, "--raw").stdout == "not json {\n"
    assert wg.json("inspect", "job", RAW_ID)["job"]["envelope"] is None
    shown = wg("inspect", "job", RAW_ID)
    assert shown.exit_code == 0
    assert "not a valid envelope" in shown.stdout
