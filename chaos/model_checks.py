"""What the Hypothesis model (chaos/model.py) compares with the backend after every
step: counts per state and counters, of the namespace and of each queue, the list of
queues with their pause flags, and every job as the model expects it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from hypothesis.stateful import invariant

from chaos.model_jobs import FINISHED, GONE, MAX_RETRIES, QUEUES, RETRY_DUE, ModelJob
from wg_core import Backend, Envelope, JobState
from wg_core.backend import Counters
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["ModelChecks"]

_T = TypeVar("_T")


class ModelChecks:
    """The invariants of ``BackendMachine`` (which holds this state)."""

    loop: asyncio.AbstractEventLoop
    backend: Backend
    jobs: dict[str, ModelJob]
    processed: dict[str, int]
    failed: dict[str, int]
    paused: bool
    paused_queues: set[str]
    checks: int

    def _run(self, awaitable: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await awaitable

        return self.loop.run_until_complete(wrapped())

    def _in(self, *states: str, queue: str | None = None) -> list[str]:
        return [
            job_id
            for job_id, job in self.jobs.items()
            if job.state in states and (queue is None or job.queue == queue)
        ]

    # -- the invariant -------------------------------------------------------------------

    def _expected_counts(self, queue: str | None) -> dict[JobState, int]:
        expected: dict[JobState, int] = {
            state: len(self._in(state.value, queue=queue))
            for state in JobState
            if state is not JobState.RETRY
        }
        expected[JobState.RETRY] = len(self._in(JobState.RETRY.value, RETRY_DUE, queue=queue))
        return expected

    @invariant()
    def backend_matches_model(self) -> None:
        if not hasattr(self, "jobs") or self.loop.is_closed():
            return
        # The namespace, and one queue per step in turn (queues() covers them all).
        self.checks += 1
        for queue in (None, QUEUES[self.checks % len(QUEUES)]):
            counts = self._run(self.backend.counts(queue=queue))
            actual = {state: getattr(counts, state.value) for state in JobState}
            expected = self._expected_counts(queue)
            assert actual == expected, f"counts of {queue}: {actual} != model {expected}"
            counters = self._run(self.backend.counters(queue=queue))
            assert counters == self._expected_counters(queue), f"counters of {queue}"
        for job_id, job in self.jobs.items():
            self._check_job(job_id, job)

    def _check_job(self, job_id: str, job: ModelJob) -> None:
        stored = self._run(self.backend.get_job(job_id))
        if job.state == GONE:
            assert stored is None, f"deleted job {job_id} is back as {stored}"
            return
        assert stored is not None, f"job {job_id} ({job.state}) vanished"
        want = JobState.RETRY.value if job.state == RETRY_DUE else job.state
        assert stored.state.value == want, f"{job_id}: {stored.state} != model {want}"
        assert (stored.queue, stored.priority) == (job.queue, job.priority), job_id
        assert stored.limit_key == job.limit_key, f"{job_id}: limit key {stored.limit_key!r}"
        assert stored.cancel_requested == job.cancel_requested, f"{job_id} cancel request"
        if job.state == JobState.COMPLETED.value:
            assert stored.result == job.result, f"{job_id}: result {stored.result!r}"
        if job.state in FINISHED:
            assert stored.finished_at is not None, f"{job_id} has no finish time"
            assert stored.expires_at is not None, f"{job_id} has no expiry"
        if job.state == JobState.CANCELLED.value:
            # A cancelled job's envelope is as it was; its count of retries is the
            # backend's business once the cancel won over a retry.
            assert job.error is None or stored.last_error == job.error, f"{job_id} error"
            return
        retry_count = Envelope.decode(stored.raw).retry_count
        assert retry_count == job.retry_count <= MAX_RETRIES + 1

    def _expected_counters(self, queue: str | None) -> Counters:
        if queue is None:
            return Counters(sum(self.processed.values()), sum(self.failed.values()))
        return Counters(self.processed[queue], self.failed[queue])

    @invariant()
    def queues_and_pauses_match_model(self) -> None:
        if not hasattr(self, "jobs") or self.loop.is_closed():
            return
        assert self._run(self.backend.is_paused()) == self.paused
        infos = self._run(self.backend.queues())
        names = [info.name for info in infos]
        assert names == sorted(names), f"queues not sorted by name: {names}"
        # Listed: every queue with a job, a pause flag or a counter, and default. A
        # backend may also list a queue that had those once (never any other).
        needed = {DEFAULT_QUEUE, *self.paused_queues}
        needed |= {q for q in QUEUES if self._expected_counters(q) != Counters()}
        needed |= {job.queue for job in self.jobs.values() if job.state != GONE}
        assert needed <= set(names) <= set(QUEUES), f"queues {names}, the model needs {needed}"
        for info in infos:
            actual = {state: getattr(info.counts, state.value) for state in JobState}
            assert actual == self._expected_counts(info.name), f"queues() counts of {info.name}"
            assert info.counters == self._expected_counters(info.name), info.name
            assert info.paused == (info.name in self.paused_queues), f"paused flag {info.name}"
        queue = QUEUES[self.checks % len(QUEUES)]
        assert self._run(self.backend.is_paused(queue=queue)) == (queue in self.paused_queues)
