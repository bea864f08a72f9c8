"""``wg inspect queued`` and ``wg inspect job ID`` show when a queued job was enqueued,
on every backend (Redis showed ``enqueued -``: its listings and look-ups carried no time
for queued jobs, though the envelope has one)."""

from __future__ import annotations

import time
from datetime import datetime

from tests.cli.conftest import Wg


def _seconds(text: str) -> float:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text).timestamp()


def test_queued_jobs_show_when_they_were_enqueued(wga: Wg) -> None:
    before = time.time()
    # Every place a queued job can be stored: the default queue at priority 0 (Redis:
    # the spec's list), a priority, a named queue (Redis: priority sets).
    ids = [
        wga.enqueue("plain"),
        wga.enqueue("urgent", priority=3),
        wga.enqueue("mail", queue="mail"),
    ]
    after = time.time()
    listed = wga.json("inspect", "queued")["jobs"]
    assert sorted(job["id"] for job in listed) == sorted(ids)
    shown = [wga.json("inspect", "job", job_id)["job"] for job_id in ids]
    for job in [*listed, *shown]:
        assert job["updated_at"] is not None, job
        # The envelope keeps whole seconds.
        assert before - 1 <= _seconds(job["updated_at"]) <= after + 1, job
    table = wga("inspect", "queued")
    assert table.exit_code == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines() if line[:36] in ids]
    assert len(rows) == 3, table.stdout
    assert all(row[-1] != "-" for row in rows), table.stdout
