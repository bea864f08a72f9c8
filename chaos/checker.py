"""The checker: compare the backend's final state with the effects log.

Definitions (per job the harness enqueued):

* **lost** — neither completed nor dead: gone from the backend with no run of its
  handler ever returning, or (for a job expected to complete) buried for no reason
  the scenario explains, or cancelled though nobody cancelled it. A completed job is
  either gone (kept for 0 s) or kept ``completed`` with its result (issue 18).
* **cancelled** (issue 18) — jobs the scenario cancelled, with what ``cancel`` said and
  when it returned: one cancelled while waiting must end ``cancelled`` and no run of
  it may start after its cancel returned (illegal otherwise); one cancelled while
  running must end ``cancelled`` or ``completed`` (or ``dead``: it failed first).
* **duplicates** — handler runs beyond the first, not counting runs the pool cancelled
  and released at shutdown (those did not finish, and are meant to run again).
  A duplicate is *explained* when all runs but one were in workers the harness killed,
  stopped, terminated or cut off from the backend, or that crashed; at-least-once
  delivery allows exactly those.
* **illegal** — transitions the contract forbids: the ``processed`` counter disagrees
  with the jobs that left the backend completed (a second completion or a stale write
  accepted), one attempt number run by two workers (an attempt claimed twice), an
  attempt number above ``max_retries + 1``, or an unexplained duplicate.
* **stuck** — still queued, scheduled, retrying or running once the backend has been
  quiet for a lease, a reaper interval and a drain margin.

Queues and priorities (``chaos.placement``): every job still stored must be in the
queue, at the priority, it was enqueued with (illegal otherwise: a retry, a reap or a
release moved it), and each queue's ``processed`` counter must equal the number of
that queue's jobs that completed (a job whose placement the harness does not know was
enqueued in ``default``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.effects import EffectsLog
from chaos.harness import Harness
from wg_core import DEFAULT_QUEUE, JobInfo, JobState
from wg_core.backend import CancelOutcome, Counters, JobQuery, StoredJob

__all__ = ["Cancelled", "Verdict", "check", "final_state"]

_PAGE = 500
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Verdict:
    """One scenario's measured outcome on one backend."""

    scenario: str
    backend: str
    seed: int
    jobs: int = 0
    faults: int = 0
    lost: int = 0
    duplicates: int = 0
    illegal: int = 0
    stuck: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run met the pass criteria (no problem recorded)."""
        return not self.problems

    def fail(self, problem: str) -> None:
        """Record a violated pass criterion."""
        self.problems.append(problem)

    def summary(self) -> str:
        """One line for humans, seed included so a failure can be replayed."""
        status = "PASS" if self.ok else "FAIL"
        extra = " ".join(f"{k}={v}" for k, v in self.details.items())
        line = (
            f"{status} {self.scenario} [{self.backend}] seed={self.seed} jobs={self.jobs} "
            f"faults={self.faults} lost={self.lost} duplicates={self.duplicates} "
            f"illegal={self.illegal} stuck={self.stuck} {extra}"
        )
        return line + "".join(f"\n    - {problem}" for problem in self.problems)


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A cancel the scenario made: what the backend said, and when (``time.time()``,
    comparable with the effects log's times) the call returned."""

    outcome: CancelOutcome
    returned_at: float


async def final_state(harness: Harness) -> dict[str, StoredJob]:
    """Every job still stored in the namespace, by job id."""
    stored: dict[str, StoredJob] = {}
    for state in JobState:
        offset = 0
        while True:
            page = await harness.backend.list_jobs(
                JobQuery(state=state, limit=_PAGE, offset=offset)
            )
            for job in page:
                stored[job.job_id] = job
            if len(page) < _PAGE:
                break
            offset += _PAGE
    return stored


async def check(
    verdict: Verdict,
    harness: Harness,
    *,
    good: Iterable[str],
    bad: Mapping[str, str] = {},
    max_runs: int,
    settled: bool,
    released_ok: bool = False,
    reclaimed_ok: Collection[str] = (),
    cancelled: Mapping[str, Cancelled] = {},
) -> tuple[EffectsLog, dict[str, StoredJob]]:
    """Fill ``verdict`` from the backend's final state and the effects log.

    ``good``: ids expected to complete. ``bad``: ids expected to end dead, each with a
    fragment its ``last_error`` must contain (``A|B``: either; never empty in any case).
    ``max_runs``: ``max_retries + 1`` of the good jobs. ``released_ok``: workers were
    SIGTERMed past their shutdown timeout, so an attempt cut short by a terminated worker
    may run again under the same number. ``reclaimed_ok``: jobs whose claim a crashed
    server forgot (scenario 12), which may run again under the same attempt number.
    ``cancelled``: jobs among ``good`` the scenario cancelled (see the module docstring).
    """
    good_ids = set(good)
    log = harness.effects()
    stored = await final_state(harness)
    counters = await harness.client.counters()
    harness.reap_exits()
    crashed = {worker.pid for worker in harness.workers if worker.fate == "crashed"}
    faulted = harness.killed | harness.stopped | harness.terminated | harness.disturbed | crashed
    verdict.jobs = len(good_ids) + len(bad)
    verdict.details["starts"] = log.starts
    if log.torn_lines:
        verdict.details["torn_log_lines"] = log.torn_lines

    # A malformed job may be buried under a new id (the dead entry keeps the original
    # text under "raw", and every bad text here contains its job id): find it there.
    by_mention: dict[str, StoredJob] = {}
    if any(job_id not in stored for job_id in bad):
        for entry in stored.values():
            if entry.state is JobState.DEAD:
                for mentioned in _UUID.findall(entry.raw):
                    by_mention.setdefault(mentioned, entry)
    renamed = {
        job_id: by_mention[job_id]
        for job_id in bad
        if job_id not in stored and job_id in by_mention
    }
    if renamed:
        verdict.details["dead_under_new_id"] = len(renamed)
    stored = {**stored, **renamed}
    completed_ids = {
        job_id
        for job_id in good_ids | set(bad)
        if job_id not in stored or stored[job_id].state is JobState.COMPLETED
    }
    for job_id in good_ids:
        job = stored.get(job_id)
        if job is None or job.state is JobState.COMPLETED:
            if log.completed(job_id) == 0:
                verdict.lost += 1
                verdict.fail(f"job {job_id} completed without a finished run")
        elif job.state is JobState.CANCELLED:
            if job_id not in cancelled:
                verdict.lost += 1
                verdict.fail(f"job {job_id} is cancelled, but nobody cancelled it")
        elif job.state is JobState.DEAD and cancelled.get(job_id, _WAITING).outcome is (
            CancelOutcome.REQUESTED
        ):
            pass  # it failed for good before its worker learned of the cancel
        elif job.state is JobState.DEAD:
            verdict.lost += 1
            verdict.fail(f"good job {job_id} is dead: {_last_error(job)}")
        else:
            verdict.stuck += 1
    for job_id, reason in bad.items():
        job = stored.get(job_id)
        if job is None:
            verdict.lost += 1
            verdict.fail(f"bad job {job_id} left the backend instead of going dead ({reason})")
        elif job.state is not JobState.DEAD:
            verdict.stuck += 1
        elif not _last_error(job):
            verdict.fail(f"dead job {job_id} has no reason recorded (expected {reason!r})")
        elif not any(part.lower() in _last_error(job).lower() for part in reason.split("|")):
            verdict.fail(f"dead job {job_id}: reason {_last_error(job)!r} lacks {reason!r}")
    if verdict.stuck:
        verdict.fail(f"{verdict.stuck} jobs not terminal (settled={settled})")
    _check_cancelled(verdict, log, stored, cancelled)

    # A completion is a delete (or a move to completed) plus processed += 1, in one
    # step: any difference is a completion counted twice, or a stale write accepted.
    if counters.processed != len(completed_ids):
        verdict.illegal += abs(counters.processed - len(completed_ids))
        verdict.fail(
            f"processed counter {counters.processed} != {len(completed_ids)} jobs completed"
        )
    await _check_placement(verdict, harness, stored, completed_ids, counters)

    for job_id in good_ids:
        runs = log.runs.get(job_id, [])
        claimed = Counter(run.attempt for run in runs)
        reused = [
            attempt
            for attempt, times in claimed.items()
            if times > 1
            and not (
                released_ok
                and all(
                    run.pid in harness.terminated and run.end is None
                    for run in runs[:-1]
                    if run.attempt == attempt
                )
            )
        ]
        if reused and job_id not in reclaimed_ok:
            verdict.illegal += len(reused)
            verdict.fail(f"job {job_id}: attempt {reused} run by two workers: {runs}")
        if any(run.attempt > max_runs for run in runs):
            verdict.illegal += 1
            verdict.fail(f"job {job_id}: attempt above {max_runs}: {runs}")
        released = sum(1 for run in runs[:-1] if run.pid in harness.terminated and run.end is None)
        extra = max(0, len(runs) - 1 - released)
        verdict.duplicates += extra
        # Each extra run must be owed to a fault: at most one run in a healthy worker.
        # (Not necessarily the last one: a worker resumed after SIGSTOP may start a
        # handler for an attempt reaped and finished elsewhere meanwhile.)
        healthy = [run for run in runs if run.pid not in faulted]
        if extra and len(healthy) > 1:
            verdict.illegal += 1
            verdict.fail(f"job {job_id} ran again with no fault to explain it: {runs}")
    return log, stored


async def _check_placement(
    verdict: Verdict,
    harness: Harness,
    stored: Mapping[str, StoredJob],
    completed_ids: Collection[str],
    counters: Counters,
) -> None:
    """Each job kept its queue and priority; each queue counted its own completions."""
    placement = harness.placement
    for job_id, job in stored.items():
        expected = placement.get(job_id)
        if expected is not None and (job.queue, job.priority) != expected:
            verdict.illegal += 1
            verdict.fail(
                f"job {job_id} ({job.state}) is in queue {job.queue!r} at priority "
                f"{job.priority}, enqueued in {expected[0]!r} at {expected[1]}"
            )
    queues = await harness.client.queues()
    processed = {info.name: info.counters.processed for info in queues}
    if sum(processed.values()) != counters.processed:
        verdict.illegal += 1
        verdict.fail(f"queues' processed counters {processed} do not add up to {counters}")
    expected_processed = Counter(
        placement.get(job_id, (DEFAULT_QUEUE, 0))[0] for job_id in completed_ids
    )
    for name in sorted(set(processed) | set(expected_processed)):
        if processed.get(name, 0) != expected_processed[name]:
            verdict.illegal += 1
            verdict.fail(
                f"queue {name!r} counted {processed.get(name, 0)} processed, "
                f"but {expected_processed[name]} of its jobs completed"
            )
    verdict.details["queues"] = len(queues)


_WAITING = Cancelled(CancelOutcome.CANCELLED, 0.0)


def _check_cancelled(
    verdict: Verdict,
    log: EffectsLog,
    stored: Mapping[str, StoredJob],
    cancelled: Mapping[str, Cancelled],
) -> None:
    """A job cancelled while waiting ends cancelled and never runs after its cancel
    returned; one cancelled while running ends cancelled, completed or dead."""
    if not cancelled:
        return
    outcomes = Counter(cancel.outcome for cancel in cancelled.values())
    verdict.details["cancels"] = ",".join(
        f"{outcome}:{outcomes[outcome]}" for outcome in CancelOutcome
    )
    for job_id, cancel in cancelled.items():
        job = stored.get(job_id)
        state = "gone" if job is None else job.state
        if cancel.outcome is CancelOutcome.CANCELLED:
            if state is not JobState.CANCELLED:
                verdict.illegal += 1
                verdict.fail(f"job {job_id} was cancelled while waiting, but is {state}")
            late = [run for run in log.runs.get(job_id, []) if run.start > cancel.returned_at]
            if late:
                verdict.illegal += 1
                verdict.fail(f"job {job_id} ran after its cancel returned True: {late}")
        elif cancel.outcome is CancelOutcome.REQUESTED and state not in (
            JobState.CANCELLED,
            JobState.COMPLETED,
            JobState.DEAD,
        ):
            verdict.fail(f"job {job_id} was cancelled while running, but is {state}")


def _last_error(job: StoredJob) -> str:
    return JobInfo.from_stored(job).last_error or ""
