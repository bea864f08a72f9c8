"""``wg periodic ls`` and ``wg periodic run NAME`` (issue 19), through ``CliRunner``."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Wg
from tests.cli.processes import wait_for, wg_command
from wg_core import Client, JobInfo, JobState, Periodic, PeriodicInfo, WorkerPool
from wg_core.worker.periodic import PeriodicScheduler


def register(wg: Wg, *entries: Periodic) -> None:
    """Register ``entries`` as a pool starting now would."""

    async def body(client: Client) -> None:
        pool = PeriodicScheduler(client.backend, entries, max_payload_bytes=65536)
        await pool.register()

    wg.core(body)


def test_ls_lists_the_registered_entries(wg: Wg) -> None:
    register(
        wg,
        Periodic({"to": "ops"}, cron="0 9 * * *", name="digest", timezone="Europe/Berlin"),
        Periodic({}, every=30, name="ping", job_name="ping", queue="health", priority=5),
    )
    said = wg("periodic", "ls")
    assert said.exit_code == 0, said.stderr
    # (At CliRunner's 80 columns the schedule's time zone wraps to a line of its own.)
    for text in ("digest", "0 9 * * *", "Europe/Berlin", "ping", "every 30s", "health (+5)"):
        assert text in said.stdout
    assert "never" in said.stdout
    doc = wg.json("periodic", "ls")
    assert [entry["name"] for entry in doc["periodic"]] == ["digest", "ping"]
    ping = doc["periodic"][1]
    assert (ping["schedule"], ping["job_name"], ping["queue"], ping["priority"]) == (
        "every 30s",
        "ping",
        "health",
        5,
    )
    assert ping["last_run_at"] is None
    assert ping["last_job_id"] is None
    assert ping["next_run"].endswith("Z")
    assert wg("periodic", "ls", "-o", "id").stdout.split() == ["digest", "ping"]


def test_ls_lists_a_started_pools_entries_before_their_first_tick(wg: Wg) -> None:
    daily = Periodic({"to": "ops"}, every=86400, name="daily", job_name="digest")
    hourly = Periodic({}, every=3600, name="hourly", job_name="ping")

    async def nothing(payload: object) -> None:
        return None

    async def body(client: Client) -> tuple[Any, str]:
        pool = WorkerPool(
            handlers={"digest": nothing, "ping": nothing},
            url=wg.url,
            namespace=wg.namespace,
            periodic=[daily, hourly],
        )
        await pool.start()
        try:
            # The CLI runs in its own thread and event loop while this loop is blocked:
            # it sees what start() did, and nothing the pool's background tasks do.
            with ThreadPoolExecutor(1) as thread:
                doc = thread.submit(wg.json, "periodic", "ls").result()
                table = thread.submit(wg, "periodic", "ls").result().stdout
        finally:
            pool.shutdown()
            await pool.wait_closed()
        return doc, table

    doc, table = wg.core(body)
    assert [(e["name"], e["schedule"], e["job_name"]) for e in doc["periodic"]] == [
        ("daily", "every 86400s", "digest"),
        ("hourly", "every 3600s", "ping"),
    ]
    assert all(e["next_run"] and e["last_run_at"] is None for e in doc["periodic"])
    assert "daily" in table
    assert "hourly" in table


def test_ls_of_a_namespace_without_entries_says_so(wg: Wg) -> None:
    said = wg("periodic", "ls")
    assert said.exit_code == 0
    assert "No periodic entries" in said.stdout
    assert wg.json("periodic", "ls")["periodic"] == []


def test_run_enqueues_the_registered_job_now_and_records_it(wg: Wg) -> None:
    register(
        wg,
        Periodic(
            {"to": "ops"}, every=3600, name="digest", job_name="mail", queue="reports", priority=2
        ),
    )
    said = wg("periodic", "run", "digest")
    assert said.exit_code == 0, said.stderr
    job_id = said.stdout.strip()

    async def body(client: Client) -> tuple[JobInfo | None, PeriodicInfo]:
        return await client.get_job(job_id), (await client.periodic_entries())[0]

    job, entry = wg.core(body)
    assert job is not None
    assert (job.state, job.queue, job.priority, job.job_name) == (
        JobState.QUEUED,
        "reports",
        2,
        "mail",
    )
    assert job.payload == {"to": "ops"}
    assert entry.last_job_id == job_id
    assert entry.last_run_at is not None
    assert abs(entry.last_run_at - time.time()) < 60
    doc = wg.json("periodic", "run", "digest")
    assert doc["periodic"] == "digest"
    assert doc["id"] != job_id


def test_run_of_an_unknown_entry_is_exit_4(wg: Wg) -> None:
    register(wg, Periodic({}, every=60, name="digest"))
    said = wg("periodic", "run", "nope")
    assert said.exit_code == 4
    assert "no periodic entry named 'nope'" in said.stderr


ENTRIES = textwrap.dedent(
    """
    from pathlib import Path
    from wg_core import Periodic

    def tick(job: dict) -> None:
        Path(job["dir"], "ticked").touch()

    PERIODIC = [Periodic({"dir": DIR}, every=0.2, name="tick", job_name="tick")]
    """
)


@pytest.mark.slow
def test_a_worker_runs_the_periodic_entries_it_is_given(wg: Wg, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "cli_periodic_jobs.py").write_text(ENTRIES.replace("DIR", repr(str(marks))))
    process = subprocess.Popen(
        [
            *wg_command(),
            *("-u", wg.url, "-n", wg.namespace, "worker", "cli_periodic_jobs:tick"),
            *("--periodic", "cli_periodic_jobs:PERIODIC", "--scheduler-interval", "0.05"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (marks / "ticked").exists(), what="a periodic run")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    [entry] = wg.json("periodic", "ls")["periodic"]
    assert (entry["name"], entry["schedule"], entry["job_name"]) == ("tick", "every 0.2s", "tick")
    assert entry["last_job_id"] is not None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("wg_cli.demo_jobs", "expected MODULE:ENTRIES"),
        ("wg_cli.demo_jobs:handlers", "is neither a Periodic nor a list of them"),
        ("wg_cli.demo_jobs:nope", "has no attribute 'nope'"),
    ],
)
def test_a_bad_periodic_target_is_a_usage_error(wg: Wg, target: str, message: str) -> None:
    result = wg("worker", "wg_cli.demo_jobs:handlers", "--periodic", target)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
