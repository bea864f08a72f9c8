"""What is specific to the SQLite backend: URLs, files, readers, the spec's tables, Rust
interop, several instances and processes on one file. The contract itself is the
conformance suite's (tests/conformance)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import fresh_namespace
from tests.helpers import envelope, new_job, wait_until
from wg_core.backend import Attempt, JobQuery, JobState, Move, NewJob, WorkerInfo
from wg_core.backends.resources import load_blocks
from wg_core.backends.sql import SHARED_BLOCKS
from wg_core.backends.sql.schema import TABLES
from wg_core.backends.sqlite import SqliteBackend
from wg_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    NamespaceNotFoundError,
    SchemaError,
)
from wg_core.urls import backend_from_url

REPO = Path(__file__).resolve().parents[2]
SPEC_TABLES = set(TABLES)  # every table of a namespace (schema.py)

# The Rust wg's own table definitions (its SQLite backend creates exactly these).
RUST_DDL = """
CREATE TABLE {ns}_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    created_at TEXT DEFAULT (datetime('now')));
CREATE TABLE {ns}_scheduled (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    run_at INTEGER NOT NULL, created_at TEXT DEFAULT (datetime('now')));
CREATE INDEX idx_{ns}_run_at ON {ns}_scheduled (run_at);
CREATE TABLE {ns}_retry (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    retry_at INTEGER NOT NULL, created_at TEXT DEFAULT (datetime('now')));
CREATE TABLE {ns}_dead (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    created_at TEXT DEFAULT (datetime('now')));
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "wg.db"


@pytest.fixture
async def backend(db: Path) -> AsyncIterator[SqliteBackend]:
    opened = SqliteBackend(f"sqlite:{db}", fresh_namespace())
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def tables(db: Path, namespace: str) -> set[str]:
    with sqlite3.connect(db) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    prefix = f"{namespace}_"
    return {name[len(prefix) :] for name in names if name.startswith(prefix)}


def snapshot(path: Path) -> list[tuple[str, bytes]]:
    """Everything under ``path``: each file with its bytes, each directory with none."""
    return sorted((str(f), f.read_bytes() if f.is_file() else b"") for f in path.rglob("*"))


def raw_sql(db: Path, statement: str, *params: object) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(statement, params)


# -- URLs and construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:jobs.db", "jobs.db"),
        ("sqlite://jobs.db", "jobs.db"),
        ("sqlite:sub/jobs.db?mode=rwc", "sub/jobs.db"),
        ("jobs.db", "jobs.db"),
    ],
)
def test_relative_urls_resolve_against_the_working_directory(
    url: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = SqliteBackend(url, "myapp")
    assert backend.path == tmp_path / expected
    assert backend.display_url == f"sqlite:{tmp_path / expected}"


def test_absolute_url_and_path_objects(tmp_path: Path) -> None:
    target = tmp_path / "abs.db"
    assert SqliteBackend(f"sqlite://{target}").path == target  # sqlite:///abs/path.db
    assert SqliteBackend(target).path == target
    assert SqliteBackend(str(target)).path == target


def test_backend_from_url_builds_a_sqlite_backend(tmp_path: Path) -> None:
    backend = backend_from_url(f"sqlite:{tmp_path / 'x.db'}", "myapp")
    assert isinstance(backend, SqliteBackend)
    assert backend.namespace == "myapp"


@pytest.mark.parametrize("url", ["sqlite:", "sqlite:jobs.db?cache=shared"])
def test_bad_urls_are_refused_before_any_io(url: str) -> None:
    with pytest.raises(ConfigError):
        SqliteBackend(url)


@pytest.mark.parametrize(
    "options", [{"synchronous": "off"}, {"busy_timeout": -1}, {"poll_interval": 0}]
)
def test_bad_options_are_refused(options: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SqliteBackend(tmp_path / "x.db", **options)  # type: ignore[arg-type]


async def test_synchronous_normal_is_a_working_backend(db: Path) -> None:
    backend = SqliteBackend(db, fresh_namespace(), synchronous="normal")
    await backend.open()
    try:
        await backend.enqueue([new_job()])
        [attempt] = await backend.claim(limit=5, lease=30, worker_id="w")
        assert await backend.complete([attempt]) == 1
    finally:
        await backend.close()


def test_bad_namespace_is_refused_before_any_io(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SqliteBackend(tmp_path / "x.db", "Robert'); DROP TABLE students;--")
    assert not (tmp_path / "x.db").exists()


async def test_in_memory_databases_are_private_to_their_backend() -> None:
    first = SqliteBackend.in_memory("myapp")
    second = SqliteBackend("sqlite::memory:", "myapp")
    assert first.path is None
    assert first.display_url == "sqlite::memory:"
    await first.open()
    await second.open()
    try:
        await first.enqueue([new_job()])
        assert (await first.counts()).queued == 1
        assert (await second.counts()).queued == 0
        [attempt] = await first.claim(limit=5, lease=30, worker_id="w")
        assert await first.complete([attempt]) == 1
    finally:
        await first.close()
        await second.close()


async def test_open_and_close_are_idempotent(db: Path) -> None:
    backend = SqliteBackend(db, fresh_namespace())
    await backend.open()
    await backend.open()
    await backend.enqueue([new_job()])
    await backend.close()
    await backend.close()
    with pytest.raises(BackendError, match="not open"):
        await backend.counts()
    await backend.open()  # reopening finds the job: it is on disk
    assert (await backend.counts()).queued == 1
    await backend.close()


async def test_a_file_that_cannot_be_opened_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "wg.db"
    backend = SqliteBackend(missing)
    with pytest.raises(BackendUnavailableError, match=str(missing.parent)):
        await backend.open()
    await backend.close()


async def test_too_old_sqlite_fails_clearly(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(BackendError, match=r"3\.35"):
        await SqliteBackend(db).open()


def test_the_sqlite_dialect_defines_the_engines_blocks() -> None:
    names = set(load_blocks("wg_core.backends.sql", "sqlite.sql"))
    assert names >= SHARED_BLOCKS, f"sqlite.sql lacks {sorted(SHARED_BLOCKS - names)}"
    assert names - SHARED_BLOCKS == SqliteBackend.EXTRA_BLOCKS


# -- readers ----------------------------------------------------------------------------------


async def test_a_reader_on_a_missing_file_creates_no_file(tmp_path: Path) -> None:
    for missing in (tmp_path / "absent.db", tmp_path / "no" / "dir" / "absent.db"):
        reader = SqliteBackend(missing, "myapp")
        with pytest.raises(NamespaceNotFoundError, match=str(missing)):
            await reader.open(create=False)
        await reader.close()
    assert snapshot(tmp_path) == []  # no database, journal or directory made


async def test_a_reader_upgrades_nothing(db: Path) -> None:
    namespace = fresh_namespace()
    with sqlite3.connect(db) as connection:
        connection.executescript(RUST_DDL.format(ns=namespace))
    before = snapshot(db.parent)
    reader = SqliteBackend(db, namespace)
    with pytest.raises(SchemaError, match="writer"):  # tells how to upgrade it
        await reader.open(create=False)
    await reader.close()
    assert snapshot(db.parent) == before
    assert tables(db, namespace) == {"jobs", "scheduled", "retry", "dead"}


async def test_a_reader_sees_a_writers_jobs_and_may_change_them(db: Path) -> None:
    namespace = fresh_namespace()
    writer = SqliteBackend(db, namespace)
    await writer.open()
    reader = SqliteBackend(db, namespace)
    try:
        await writer.enqueue([new_job()])
        await reader.open(create=False)
        assert (await reader.counts()).queued == 1
        await reader.set_paused(True)  # an operator's admin change through a reader
        assert await writer.is_paused()
    finally:
        await reader.close()
        await writer.close()


async def test_an_in_memory_clone_shares_its_database() -> None:
    backend = SqliteBackend.in_memory("myapp")
    await backend.open()
    clone = backend.clone()
    try:
        await clone.open()
        await clone.enqueue([new_job()])
        assert (await backend.counts()).queued == 1
        await clone.close()  # the database stays with the backend it was cloned from
        assert (await backend.counts()).queued == 1
    finally:
        await backend.close()


# -- the spec's tables ----------------------------------------------------------------------


async def test_the_specs_tables_exist_after_first_use(db: Path) -> None:
    namespace = fresh_namespace()
    backend = SqliteBackend(f"sqlite:{db}", namespace)
    await backend.open()
    try:
        assert tables(db, namespace) >= SPEC_TABLES
        await backend.enqueue([new_job(), new_job(delay=60)])
        with sqlite3.connect(db) as connection:
            (jobs,) = connection.execute(f"SELECT count(*) FROM {namespace}_jobs").fetchone()
            (run_at,) = connection.execute(f"SELECT run_at FROM {namespace}_scheduled").fetchone()
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        assert jobs == 1
        assert abs(run_at - (time.time() + 60)) < 5  # Unix seconds, as the Rust tables
        assert mode == "wal"
        await backend.destroy()
        assert tables(db, namespace) == set()
        await backend.open()  # usable again
        assert tables(db, namespace) >= SPEC_TABLES
        await backend.destroy()
    finally:
        await backend.close()


async def test_namespaces_share_a_file_without_seeing_each_other(db: Path) -> None:
    first, second = SqliteBackend(db, "first"), SqliteBackend(db, "second")
    await first.open()
    await second.open()
    try:
        await first.enqueue([new_job()])
        assert (await second.counts()).total == 0
        assert await second.claim(limit=5, lease=30, worker_id="w") == []
    finally:
        await first.close()
        await second.close()


async def test_a_rust_producers_plain_insert_is_claimable(backend: SqliteBackend, db: Path) -> None:
    ns = backend.namespace
    rust = envelope("send_email", {"to": "user@example.com"}).encode()
    raw_sql(db, f"INSERT INTO {ns}_jobs (job_json) VALUES (?)", rust)
    job_id = json.loads(rust)["id"]

    stored = await backend.get_job(job_id)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    assert [
        j.job_id for j in await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=5))
    ] == [job_id]
    [attempt] = await backend.claim(limit=5, lease=30, worker_id="w")
    assert attempt.raw == rust
    assert await backend.complete([attempt]) == 1
    assert (await backend.counts()).total == 0


async def test_rust_rows_in_every_table_are_found_by_their_envelope_id(
    backend: SqliteBackend, db: Path
) -> None:
    ns = backend.namespace
    older = envelope("ignored")  # the older Rust format has no job_name
    document = json.loads(older.encode())
    del document["job_name"]
    scheduled = json.dumps(document)
    dead = envelope("send_email").encode()
    raw_sql(db, f"INSERT INTO {ns}_scheduled (job_json, run_at) VALUES (?, ?)", scheduled, 0)
    raw_sql(db, f"INSERT INTO {ns}_dead (job_json) VALUES (?)", dead)

    found = await backend.get_job(older.id)
    assert found is not None
    assert found.state is JobState.SCHEDULED
    assert found.due_at == 0
    default_named = await backend.list_jobs(
        JobQuery(state=JobState.SCHEDULED, limit=5, job_name="default")
    )
    assert [j.job_id for j in default_named] == [older.id]
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 1

    dead_id = json.loads(dead)["id"]
    assert await backend.move_to_queue([Move(dead_id, JobState.DEAD, dead)]) == 1
    assert (await backend.counts()).queued == 2
    assert await backend.delete_jobs([dead_id, older.id]) == 2


async def test_tables_the_rust_wg_created_are_upgraded(db: Path) -> None:
    namespace = fresh_namespace()
    with sqlite3.connect(db) as connection:
        connection.executescript(RUST_DDL.format(ns=namespace))
        connection.execute(
            f"INSERT INTO {namespace}_jobs (job_json) VALUES (?)", (envelope().encode(),)
        )
    backend = SqliteBackend(db, namespace)
    await backend.open()
    try:
        await backend.enqueue([new_job()])
        attempts = await backend.claim(limit=5, lease=30, worker_id="w")
        assert len(attempts) == 2
        assert await backend.retry(attempts[0], raw=attempts[0].raw, delay=0, error=None) is True
        assert await backend.bury(attempts[1], raw=attempts[1].raw, error=None) is True
        assert await backend.promote(JobState.RETRY, limit=5) == 1
    finally:
        await backend.close()


async def test_a_table_of_the_wrong_shape_is_a_schema_error(db: Path) -> None:
    namespace = fresh_namespace()
    raw_sql(db, f"CREATE TABLE {namespace}_jobs (id INTEGER PRIMARY KEY, payload TEXT)")
    backend = SqliteBackend(db, namespace)
    with pytest.raises(SchemaError, match=f"{namespace}_jobs.*job_json"):
        await backend.open()
    await backend.close()


# -- several writers ------------------------------------------------------------------------


async def test_two_instances_on_one_file_never_claim_the_same_job(db: Path) -> None:
    namespace = fresh_namespace()
    first, second = SqliteBackend(db, namespace), SqliteBackend(db, namespace)
    await first.open()
    await second.open()
    jobs = [new_job(payload={"n": n}) for n in range(300)]
    claimed: list[str] = []

    async def claimer(backend: SqliteBackend) -> None:
        while attempts := await backend.claim(limit=3, lease=30, worker_id="w"):
            claimed.extend(a.raw for a in attempts)
            assert await backend.complete(attempts) == len(attempts)

    try:
        await first.enqueue(jobs)
        await asyncio.gather(*(claimer(b) for b in (first, second) for _ in range(4)))
        assert sorted(claimed) == sorted(job.raw for job in jobs)
        assert (await first.counters()).processed == len(jobs)
    finally:
        await first.close()
        await second.close()


async def test_concurrent_writes_fail_alone(backend: SqliteBackend) -> None:
    # Writes queued together share a transaction, each under its own savepoint: a
    # duplicate id refuses that one enqueue, not its neighbours.
    taken = new_job()
    await backend.enqueue([taken])
    duplicate = NewJob(taken.job_id, "job", taken.raw)
    others = [new_job() for _ in range(10)]
    results = await asyncio.gather(
        *(backend.enqueue([job]) for job in [*others[:5], duplicate, *others[5:]]),
        return_exceptions=True,
    )
    assert [type(r) for r in results].count(DuplicateJobError) == 1
    assert (await backend.counts()).queued == 11


async def test_transitions_of_any_number_of_jobs_match_exactly_those(
    backend: SqliteBackend,
) -> None:
    # Lists are bound as IN (?, ...) variants per size bucket (padded), and run in
    # chunks past the largest: every size must act on exactly the jobs given.
    await backend.enqueue([new_job() for _ in range(1300)])
    attempts = await backend.claim(limit=1300, lease=60, worker_id="w")
    assert len(attempts) == 1300
    worker = WorkerInfo(worker_id="w", host="h", pid=1, concurrency=1, started_at=1.0)
    stale = Attempt(key=attempts[0].key, token="not-its-token", raw=attempts[0].raw)
    reply = await backend.heartbeat(worker, attempts=[*attempts[:1100], stale], lease=60)
    assert reply.lost == frozenset({"not-its-token"})
    done = 0
    for size in (1, 3, 17, 1029):  # exact, exact, padded to 32, two chunks (one padded)
        done += await backend.complete(attempts[done : done + size])
        assert (await backend.counts()).running == 1300 - done
    assert await backend.release(attempts) == 1300 - done
    counts = await backend.counts()
    assert (counts.queued, counts.running) == (1300 - done, 0)
    assert (await backend.counters()).processed == done


async def test_an_id_taken_in_any_state_refuses_any_batch(backend: SqliteBackend, db: Path) -> None:
    # A single job is checked by its insert; a batch reads a small table's ids, or probes
    # a large one's index 512 ids at a time: an id taken in any state, sent alone, due
    # later, or deep in a large batch, is refused.
    queued, running, retry, dead, scheduled = (new_job() for _ in range(5))
    await backend.enqueue([running, retry, dead])
    attempts = await backend.claim(limit=3, lease=30, worker_id="w")
    by_id = {json.loads(a.raw)["id"]: a for a in attempts}
    assert await backend.retry(by_id[retry.job_id], raw=retry.raw, delay=3600, error=None)
    assert await backend.bury(by_id[dead.job_id], raw=dead.raw, error=None)
    await backend.enqueue([queued, NewJob(scheduled.job_id, "job", scheduled.raw, 3600)])
    before = await backend.counts()
    for taken in (queued, running, retry, dead, scheduled):
        for delay in (0.0, 60.0):
            again = NewJob(taken.job_id, "job", taken.raw, delay)
            with pytest.raises(DuplicateJobError, match=taken.job_id):  # named
                await backend.enqueue([again])
            batch = [new_job() for _ in range(700)]
            with pytest.raises(DuplicateJobError, match=taken.job_id):
                await backend.enqueue([*batch[:600], again, *batch[600:]])
    assert await backend.counts() == before
    # A table whose id range is wider than the batch is probed rather than read.
    buried = new_job()
    dead_table = f'"{backend.namespace}_dead"'
    raw_sql(db, f"INSERT INTO {dead_table} (id, job_json, job_id) VALUES (10000, ?, ?)",
            buried.raw, buried.job_id)  # fmt: skip
    for delay in (0.0, 60.0):
        batch = [new_job() for _ in range(700)]
        again = NewJob(buried.job_id, "job", buried.raw, delay)
        with pytest.raises(DuplicateJobError, match=buried.job_id):
            await backend.enqueue([*batch[:600], again, *batch[600:]])
    await backend.enqueue([new_job() for _ in range(700)])  # fresh ids still go in
    assert (await backend.counts()).queued == before.queued + 700


async def test_a_cancelled_claim_strands_no_job(backend: SqliteBackend) -> None:
    # Cancelled before it ran, the claim never runs; cancelled while it ran, what it
    # leased is released. Cancel at different moments to hit both.
    await backend.enqueue([new_job() for _ in range(20)])
    for step in range(20):
        task = asyncio.create_task(backend.claim(limit=5, lease=300, worker_id="w"))
        await asyncio.sleep(0.0003 * step)
        task.cancel()
        try:
            finished_first = await task
        except asyncio.CancelledError:
            continue
        await backend.release(finished_first)

    async def nothing_running() -> bool:
        counts = await backend.counts()
        return counts.running == 0 and counts.queued == 20

    await wait_until(nothing_running)


async def test_data_survives_reopening(db: Path) -> None:
    namespace = fresh_namespace()
    backend = SqliteBackend(db, namespace)
    await backend.open()
    await backend.enqueue([new_job(), new_job(delay=60)])
    [attempt] = await backend.claim(limit=5, lease=30, worker_id="w")
    await backend.close()
    await backend.open()
    try:
        counts = await backend.counts()
        assert (counts.running, counts.scheduled) == (1, 1)
        assert await backend.complete([attempt]) == 1  # the lease is on disk too
    finally:
        await backend.close()


# -- wake-ups -------------------------------------------------------------------------------


async def test_an_enqueue_wakes_another_instance_in_this_process(db: Path) -> None:
    namespace = fresh_namespace()
    # A polling interval far beyond the test's timeout: only the shared in-process
    # wake-up can deliver the job.
    waiting = SqliteBackend(db, namespace, poll_interval=3600)
    producer = SqliteBackend(db, namespace)
    await waiting.open()
    await producer.open()
    try:
        claim = asyncio.create_task(waiting.claim(limit=1, lease=30, worker_id="w", wait=3600))
        await asyncio.sleep(0.05)
        assert not claim.done()
        await producer.enqueue([new_job()])
        attempts = await asyncio.wait_for(claim, 30)
        assert len(attempts) == 1
    finally:
        await waiting.close()
        await producer.close()


ENQUEUE_FROM_ANOTHER_PROCESS = """
import asyncio, sys
from tests.helpers import new_job
from wg_core.backends.sqlite import SqliteBackend

async def main():
    backend = SqliteBackend(sys.argv[1], sys.argv[2])
    await backend.open()
    await backend.enqueue([new_job()])
    await backend.close()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_an_enqueue_in_another_process_wakes_a_waiting_claimer(
    backend: SqliteBackend, db: Path
) -> None:
    claim = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=3600))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ENQUEUE_FROM_ANOTHER_PROCESS, str(db), backend.namespace, cwd=REPO
    )
    assert await process.wait() == 0
    attempts = await asyncio.wait_for(claim, 30)  # by data_version polling, not the timeout
    assert len(attempts) == 1


OPEN_AT_ONCE = """
import asyncio, os, sys, time
from wg_core.backends.sqlite import SqliteBackend

async def main():
    open(sys.argv[4], "w").close()  # ready
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.001)
    backend = SqliteBackend(sys.argv[1], sys.argv[2])
    await backend.open()
    await backend.close()

asyncio.run(main())
"""


@pytest.mark.slow
def test_processes_creating_the_schema_at_once_all_succeed(db: Path, tmp_path: Path) -> None:
    namespace = fresh_namespace()
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{n}" for n in range(4)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, str(db), namespace, str(go), str(flag)],
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all of them open the file at once
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    assert tables(db, namespace) >= SPEC_TABLES


async def test_a_queue_paused_then_resumed_with_nothing_counted_is_not_listed(
    backend: SqliteBackend,
) -> None:
    # SQLite keeps a queue's pause flag and counters in one {ns}_queues row: a row whose
    # flag is off and whose counters are 0 names no queue worth listing.
    await backend.set_paused(True, queue="emails")
    assert [info.name for info in await backend.queues()] == ["default", "emails"]
    await backend.set_paused(False, queue="emails")
    assert [info.name for info in await backend.queues()] == ["default"]
