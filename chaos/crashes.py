"""12. The database server itself crashes or restarts mid-drain, twice, on a private server.

The harness starts a server of its own (``chaos.servers``), enqueues work, starts two
worker processes and, while they drain the queue, injects each of the server's faults
``server_crash_rounds`` times:

* **PostgreSQL**: ``pg_ctl stop -m immediate`` (a crash: WAL recovery at the restart)
  and ``pg_ctl restart -m fast``;
* **MariaDB**: SIGKILL of ``mariadbd``, restarted on the same data (InnoDB recovery);
* **Redis**: ``SHUTDOWN NOSAVE`` with AOF (``appendfsync everysec``), restarted on the
  same directory: what comes back is what the AOF persisted.

Pass: 0 lost, nothing stuck, no worker process exits (they reconnect), and every
duplicate run is of a job *in flight* at a fault: RUNNING just before it, or RUNNING
in the restarted server's recovered state (claimed, never acknowledged) — so
duplicates ≤ in-flight. The server is stopped by pid whatever happens, and a process
of it left alive fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

from chaos.checker import Verdict, check
from chaos.effects import EffectsLog, Run
from chaos.harness import BackendMissing, Harness
from chaos.profiles import Profile
from chaos.scenarios import LEASE, MAX_RETRIES, QUIET, REAPER, enqueue_work
from chaos.servers import PrivateServer, ServerMissing, private_server
from wg_core import JobState
from wg_core.backend import JobQuery
from wg_core.errors import BackendError

__all__ = ["acked_at_the_crash", "attempt_repeated", "claimed_after_snapshot", "server_crash"]

NAME = "12-server-crash"
FORGETS_CLAIMS = frozenset({"postgres"})
"""Backends that commit claims without waiting for durability (documented)."""
VISIBLE_BEFORE_DURABLE = frozenset({"mysql"})
"""Backends whose readers may see a commit before it is durable: InnoDB without a binary
log makes a transaction visible, then flushes its redo log (MySQL bug #74303), so a
crash in between undoes a write a RUNNING snapshot already saw."""
ACK_WINDOW = LEASE
"""How long before a fault an acknowledgement may have committed without yet being
durable (a redo-log flush under load; generously)."""
RECONNECT_LIMIT = 30.0
"""How long the harness's own client may take to see the restarted server."""


async def server_crash(harness: Harness, profile: Profile) -> Verdict:
    """Run scenario 12 for ``harness``'s backend on a private server of that kind."""
    try:
        server = private_server(harness.backend_name)
    except ServerMissing as exc:
        raise BackendMissing(str(exc)) from exc
    verdict = Verdict(NAME, harness.backend_name, harness.seed)
    try:
        await server.start()
        private = Harness(
            harness.backend_name, harness.workdir / "private", harness.seed, url=server.url
        )
        try:
            await private.open()
            await _crash_mid_drain(verdict, private, profile, server)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(private.close(), 30)
    finally:
        await server.stop()
    left = server.leftovers()
    if left:
        verdict.fail(f"server processes left alive after the stop: {sorted(left)}")
    return verdict


def claimed_after_snapshot(
    effects: EffectsLog, fault_times: list[tuple[float, float, float]]
) -> set[str]:
    """Jobs with a run started between the RUNNING snapshot before a fault and the end
    of that fault, and the next run after the fault began (a handler may start on a
    claim while the server is going down).

    ``fault_times`` holds ``(snapshot, begun, end)``: when the RUNNING snapshot before
    the fault was asked for, when the fault began and when it was over. A run that
    started before the snapshot was claimed before it, so the snapshot showed its job
    RUNNING unless the job had finished (and a finish is a durable write, which no
    crash forgets): only jobs claimed after the snapshot can be in flight at the fault
    without a snapshot showing them — whether the restarted server has them RUNNING
    (the workers' reapers may run them again and finish before the harness reads it)
    or QUEUED (a claim the crash forgot)."""
    found: set[str] = set()
    for job_id, runs in effects.runs.items():
        for first, second in itertools.pairwise(runs):
            if any(
                snapshot <= first.start < end and second.start > begun
                for snapshot, begun, end in fault_times
            ):
                found.add(job_id)
    return found


def acked_at_the_crash(
    effects: EffectsLog, fault_times: list[tuple[float, float, float]], window: float
) -> set[str]:
    """Jobs with a run that returned within ``window`` seconds before a fault began
    and a next run after it began: their acknowledgement may have been a commit the
    snapshot saw (the job gone) and the crash undid (see ``VISIBLE_BEFORE_DURABLE``)."""
    found: set[str] = set()
    for job_id, runs in effects.runs.items():
        for first, second in itertools.pairwise(runs):
            if first.end is not None and any(
                begun - window <= first.end <= begun < second.start for _, begun, _ in fault_times
            ):
                found.add(job_id)
    return found


def attempt_repeated(runs: list[Run], fault_times: list[tuple[float, float, float]]) -> bool:
    """Whether a run of a job and its next had the same attempt number, the first
    started before a fault was over and the next after it began: a claim the crash
    forgot (PostgreSQL's claims commit before they are durable, and are visible to a
    snapshot meanwhile)."""
    return any(
        first.attempt == second.attempt
        and any(first.start < end and second.start > begun for _, begun, end in fault_times)
        for first, second in itertools.pairwise(runs)
    )


async def _running_ids(harness: Harness) -> set[str]:
    """Ids of the RUNNING jobs, waiting for the harness's own connection to recover."""
    deadline = time.monotonic() + RECONNECT_LIMIT
    while True:
        try:
            jobs = await harness.backend.list_jobs(JobQuery(state=JobState.RUNNING, limit=100_000))
        except BackendError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        return {job.job_id for job in jobs}


async def _crash_mid_drain(
    verdict: Verdict, harness: Harness, profile: Profile, server: PrivateServer
) -> None:
    harness.worker_args = (
        "--workers", "8", "--lease", str(LEASE), "--reaper-interval", str(REAPER),
    )  # fmt: skip
    ids = await enqueue_work(harness, profile.server_crash_jobs, ms=(20, 80))
    for _ in range(2):
        harness.spawn()
    # Faults start once both pools are up: a pool that cannot reach its backend at
    # start-up waits for it by design; staying up through a crash is what is measured.
    deadline = time.monotonic() + 60
    while len(await harness.client.workers()) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    faults = [fault for _ in range(profile.server_crash_rounds) for fault in server.faults]
    step = max(1, profile.server_crash_jobs // (len(faults) + 1))
    in_flight: set[str] = set()
    fault_times: list[tuple[float, float, float]] = []
    outage = 0.0
    for number, fault in enumerate(faults):
        await harness.wait_for_starts((number + 1) * step, timeout=QUIET * 4)
        # Mid-drain: handlers are running and acknowledgements are on their way.
        snapshot = time.time()  # comparable with the effects log
        before = await _running_ids(harness)
        begun = time.monotonic()
        fault_begun = time.time()
        await server.fault(fault)
        fault_times.append((snapshot, fault_begun, time.time()))
        outage = max(outage, time.monotonic() - begun)
        # What the restarted server recovered as RUNNING: claimed, never acknowledged.
        after = await _running_ids(harness)
        in_flight |= before | after
        verdict.faults += 1
        verdict.details[fault] = verdict.details.get(fault, 0) + 1
        # Heartbeats and acknowledgements were cut off: the reaper may rightly run
        # those jobs again. Every live worker was.
        harness.disturbed.update(worker.pid for worker in harness.live)
    verdict.details["max_outage_s"] = round(outage, 2)
    settled = await harness.settle(quiet_for=QUIET)
    harness.reap_exits()
    exits = dict(harness.exits)
    await harness.stop_all()
    # Claimed after the snapshot and still running (or unacknowledged) at the fault:
    # in flight, though neither snapshot may show it (see claimed_after_snapshot). A
    # job in flight is normally run again as a new attempt (reaped: a failed attempt).
    # But a claim the crashed server forgot leaves it queued under the same attempt
    # number, whether a snapshot saw the claim or not: PostgreSQL claims with
    # synchronous_commit=off by design (docs/postgres.md); at-least-once holds, and the
    # job was in flight. Only there may an attempt run twice.
    effects = harness.effects()
    claimed_late = claimed_after_snapshot(effects, fault_times) - in_flight
    forgotten = {
        job_id
        for job_id in in_flight | claimed_late
        if attempt_repeated(effects.runs.get(job_id, []), fault_times)
    }
    allowed = forgotten if harness.backend_name in FORGETS_CLAIMS else set()
    log, _ = await check(
        verdict,
        harness,
        good=ids,
        max_runs=MAX_RETRIES + 1,
        settled=settled,
        reclaimed_ok=allowed,
    )
    if forgotten:
        verdict.details["claims_forgotten"] = len(forgotten)
    if claimed_late - forgotten:
        verdict.details["claimed_after_snapshot"] = len(claimed_late - forgotten)
    in_flight |= claimed_late
    # Finished just before the fault, its acknowledgement committed but not yet durable:
    # the snapshot no longer showed the job, the recovered server has it RUNNING again,
    # and a reaper may run it again before the harness reads that state. The rerun is
    # a new attempt (reaped), which the check above holds it to.
    if harness.backend_name in VISIBLE_BEFORE_DURABLE:
        undone = acked_at_the_crash(effects, fault_times, ACK_WINDOW) - in_flight
        if undone:
            verdict.details["acks_undone"] = len(undone)
        in_flight |= undone
    verdict.details["in_flight_at_faults"] = len(in_flight)
    duplicated = {job_id for job_id, runs in log.runs.items() if len(runs) > 1}
    if verdict.duplicates > len(in_flight):
        verdict.fail(f"{verdict.duplicates} duplicates > {len(in_flight)} jobs in flight")
    unexplained = duplicated - in_flight
    if unexplained:
        verdict.fail(f"{len(unexplained)} jobs ran twice that were not in flight at a fault")
    if exits:
        verdict.fail(f"workers exited during the server faults: {exits}")
