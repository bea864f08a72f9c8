"""5. The backend drops wg's connections under load; the server or writer restarts.

* **Redis**: a private ``redis-server`` on a free port (AOF, ``appendfsync always``), in
  turn SIGKILLed and restarted on the same data, and told to ``CLIENT KILL`` every
  client connection. The shared server is never touched.
* **PostgreSQL**: ``pg_terminate_backend`` on the server sessions of *our* worker
  processes only (matched by their client ports, read from ``/proc``).
* **MySQL/MariaDB**: ``KILL CONNECTION`` on our workers' sessions, matched the same way.
* **SQLite** (no server): a producer process SIGKILLed in the middle of its enqueues,
  and restarted; every batch it saw acknowledged must be processed.

Pass: 0 lost, nothing stuck, no worker process exits (they reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from chaos.checker import Verdict, check
from chaos.harness import ROOT, Harness, _child_env
from chaos.placement import placement_of
from chaos.profiles import Profile
from chaos.scenarios import LEASE, MAX_RETRIES, QUIET, REAPER, enqueue_work
from chaos.servers import PrivateRedis

__all__ = ["client_ports", "outage"]


def client_ports(pids: list[int]) -> set[int]:
    """Local TCP ports of the sockets the processes ``pids`` hold open."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _drop_sql_sessions(kind: str, url: str, ports: set[int]) -> int:
    """Terminate the server sessions whose client port is one of ``ports``."""
    if not ports:
        return 0
    if kind == "postgres":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE client_port = ANY(%s) AND pid <> pg_backend_pid()",
                (sorted(ports),),
            ).fetchall()
            return len(rows)
    import pymysql

    parts = urlsplit(url)
    mysql = pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        autocommit=True,
    )
    killed = 0
    try:
        with mysql.cursor() as cursor:
            cursor.execute("SELECT ID, HOST FROM information_schema.PROCESSLIST")
            for session_id, host in cursor.fetchall():
                if ":" in str(host) and int(str(host).rsplit(":", 1)[1]) in ports:
                    with contextlib.suppress(pymysql.MySQLError):
                        cursor.execute(f"KILL CONNECTION {int(session_id)}")
                        killed += 1
    finally:
        mysql.close()
    return killed


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, env=_child_env())


def _worker_args() -> tuple[str, ...]:
    return ("--workers", "8", "--lease", str(LEASE), "--reaper-interval", str(REAPER))


async def outage(harness: Harness, profile: Profile) -> Verdict:
    """Run scenario 5 for ``harness``'s backend."""
    if harness.backend_name == "sqlite":
        return await _sqlite_writer_killed(harness, profile)
    if harness.backend_name == "redis":
        server = PrivateRedis(fsync="always")
        try:
            await server.start()
            private = Harness("redis", harness.workdir / "private", harness.seed, url=server.url)
            try:
                await private.open()
                return await _drops(private, profile, server)
            finally:
                await private.close()
        finally:
            await server.stop()
    return await _drops(harness, profile, None)


async def _drops(harness: Harness, profile: Profile, server: PrivateRedis | None) -> Verdict:
    verdict = Verdict("5-conn-drop", harness.backend_name, harness.seed)
    harness.worker_args = _worker_args()
    ids = await enqueue_work(harness, profile.outage_jobs, ms=(20, 80))
    for _ in range(2):
        harness.spawn()
    step = max(1, profile.outage_jobs // (profile.outages + 1))
    dropped = 0
    # Faults start once both pools are up: a pool that cannot reach its backend at
    # start-up fails fast by design; staying up through an outage is what is measured.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(await harness.client.workers()) >= 2:
            break
        await asyncio.sleep(0.05)
    for fault in range(profile.outages):
        await harness.wait_for_starts((fault + 1) * step)
        if server is not None and fault % 2 == 0:
            # The server crashes, is down for 0.3 s, and comes back with every
            # acknowledged write.
            await server.fault("kill9")
            verdict.details["restarts"] = verdict.details.get("restarts", 0) + 1
        elif server is not None:
            await server.fault("drop-clients")
        else:
            ports = client_ports([worker.pid for worker in harness.live])
            dropped += await asyncio.to_thread(
                _drop_sql_sessions, harness.backend_name, harness.url, ports
            )
        verdict.faults += 1
        # A dropped connection may hold up a heartbeat past the (short) lease: the
        # reaper then rightly runs the job again. Every live worker was cut off.
        harness.disturbed.update(worker.pid for worker in harness.live)
    if dropped:
        verdict.details["sessions_killed"] = dropped
    settled = await harness.settle(quiet_for=QUIET)
    harness.reap_exits()
    exits = dict(harness.exits)
    await harness.stop_all()
    await check(verdict, harness, good=ids, max_runs=MAX_RETRIES + 1, settled=settled)
    if exits:
        verdict.fail(f"workers exited during the outages: {exits}")
    return verdict


async def _sqlite_writer_killed(harness: Harness, profile: Profile) -> Verdict:
    verdict = Verdict("5-writer-killed", harness.backend_name, harness.seed)
    harness.worker_args = _worker_args()
    journal = harness.workdir / "producer.journal"
    batches = max(1, profile.outage_jobs // 10)
    command = [sys.executable, "-m", "chaos.producer", harness.url, harness.namespace,
               str(journal), "--batches", str(batches), "--size", "10"]  # fmt: skip
    for _ in range(2):
        harness.spawn()
    for _ in range(profile.outages):
        before = _lines(journal)
        producer = _start(command)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _lines(journal) >= before + 2:
                break  # it is writing: now kill it mid-stream
            await asyncio.sleep(0.01)
        await asyncio.sleep(harness.rng.uniform(0, 0.05))
        producer.send_signal(signal.SIGKILL)
        await asyncio.to_thread(producer.wait)
        verdict.faults += 1
    last = _start(command)
    await asyncio.to_thread(last.wait)
    acknowledged: set[str] = set()
    intended: set[str] = set()
    for line in journal.read_text().splitlines():
        kind, _, ids = line.partition(" ")
        batch = [job_id for job_id in ids.split(",") if job_id]
        (acknowledged if kind == "A" else intended).update(batch)
        # The producer placed the n-th job of each batch by placement_of(n).
        harness.placement.update((job_id, placement_of(n)) for n, job_id in enumerate(batch))
    settled = await harness.settle(quiet_for=QUIET)
    harness.reap_exits()
    exits = dict(harness.exits)
    await harness.stop_all()
    log = harness.effects()
    # A batch in flight when its producer died was stored whole or not at all; either is
    # fine, but if any of it ran, all of it must have.
    ran = {job_id for job_id in intended - acknowledged if job_id in log.runs}
    verdict.details["acknowledged"] = len(acknowledged)
    verdict.details["unacknowledged_but_stored"] = len(ran)
    await check(
        verdict, harness, good=acknowledged | ran, max_runs=MAX_RETRIES + 1, settled=settled
    )
    if exits:
        verdict.fail(f"workers exited: {exits}")
    return verdict
