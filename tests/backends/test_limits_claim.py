"""The SQL engine's limited claim (issue 20, item 4), on each dialect: a claimer of a
limited queue at its limit looks at the queue's use without a lock and leaves it, rather
than queueing on the limit's row lock (PostgreSQL, MariaDB) or on the write lock
(SQLite) behind the claim a freed slot is waiting for."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.backends.test_sql_layout import Raw, dialect, namespace, opened, raw
from tests.helpers import new_job
from wg_core.backend import QueueLimit
from wg_core.backends.sqlite import SqliteBackend

__all__ = ["dialect", "namespace", "raw"]  # the fixtures, shared with test_sql_layout

LOCK = {
    # Another transaction holding the queue's limit row (a limited claim in progress).
    "postgres": ("BEGIN", 'SELECT 1 FROM "{ns}_limits" WHERE queue = %s FOR UPDATE'),
    "mysql": ("START TRANSACTION", "SELECT 1 FROM `{ns}_limits` WHERE queue = %s FOR UPDATE"),
    # SQLite's claims take the write lock: another writer holds it.
    "sqlite": ("BEGIN IMMEDIATE",),
}
PATIENCE = 20.0  # seconds: far more than a claim takes, far less than forever


async def test_a_full_limited_queue_is_left_without_waiting_for_its_lock(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    backend = await opened(dialect, namespace, tmp_path)
    try:
        # With a rate (never reached here) too: PostgreSQL leases a limit of concurrency
        # alone in one round trip that holds the lock only while the server runs it.
        await backend.set_limit(QueueLimit(queue="api", concurrency=1, rate=1000, per=1))
        await backend.enqueue([new_job(payload={"n": n}, queue="api") for n in range(2)])
        [running] = await backend.claim(limit=5, lease=30, worker_id="w1", queues=["api"])
        begin, *lock = LOCK[dialect]
        raw.run(begin)
        try:
            for statement in lock:
                raw.run(statement.replace("{ns}", namespace), ("api",))
            # The queue is full: the claim says so without waiting for that lock.
            claim = backend.claim(limit=5, lease=30, worker_id="w2", queues=["api"])
            assert await asyncio.wait_for(claim, PATIENCE) == []
        finally:
            raw.run("ROLLBACK")
        # Once the slot frees, the next job is claimed (the locked claim, as before).
        assert await backend.complete([running]) == 1
        [following] = await backend.claim(limit=5, lease=30, worker_id="w2", queues=["api"])
        assert following.key != running.key
        assert await backend.claim(limit=5, lease=30, worker_id="w3", queues=["api"]) == []
    finally:
        await backend.close()


async def test_a_full_rate_limited_queue_says_when_it_frees_a_start(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    """A claimer held back by a rate waits for its window, not its whole wait, also
    when the unlocked look found the queue full."""
    backend = await opened(dialect, namespace, tmp_path)
    try:
        await backend.set_limit(QueueLimit(queue="api", rate=1, per=0.5))
        await backend.enqueue([new_job(payload={"n": n}, queue="api") for n in range(2)])
        assert len(await backend.claim(limit=5, lease=30, worker_id="w1", queues=["api"])) == 1
        # Within the window's half second plus a loaded machine's slack, not PATIENCE.
        claim = backend.claim(limit=5, lease=30, worker_id="w2", queues=["api"], wait=PATIENCE)
        assert len(await asyncio.wait_for(claim, PATIENCE / 2)) == 1
    finally:
        await backend.close()


async def test_sqlite_logs_a_limited_claim_at_the_time_it_got_the_write_lock(
    tmp_path: Path,
) -> None:
    """Not when it was queued: a start logged with a time from before it waited for the
    lock could sit among starts another process pruned with a later time meanwhile,
    and a window of the log then held more starts than the rate (seen as 22-24 claims
    in one second, rarely, in ``benchmarks.limits busy sqlite`` under load)."""
    now = [1_000.0]
    backend = SqliteBackend(f"sqlite:{tmp_path}/limits.db", "lim", clock=lambda: now[0])
    await backend.open()
    blocker = sqlite3.connect(tmp_path / "limits.db", isolation_level=None)
    try:
        await backend.set_limit(QueueLimit(queue="api", rate=1, per=10))
        [job_id] = await backend.enqueue([new_job(queue="api")])
        blocker.execute("BEGIN IMMEDIATE")  # another process's write transaction
        claim = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", queues=["api"]))
        await asyncio.sleep(0.2)  # the claim is queued behind that lock by now
        now[0] = 1_005.0
        blocker.execute("COMMIT")
        assert len(await asyncio.wait_for(claim, PATIENCE)) == 1
        info = await backend.get_job(job_id)
        assert info is not None
        assert info.started_at == 1_005.0
    finally:
        blocker.close()
        await backend.destroy()
        await backend.close()
