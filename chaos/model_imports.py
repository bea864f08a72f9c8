"""Imports in the Hypothesis model (chaos/model.py): ``import_jobs`` (``ImportedJob``,
what ``wg migrate`` writes) of jobs in every state but RUNNING, into random queues and
priorities, with or without a limit key, mixed with ids the namespace already holds
(skipped: stored once). The model puts each new one in its state (QUEUED at the back
of its queue and priority, in the batch's order; RETRY due at once or far off;
COMPLETED with its result, kept for ever), so every invariant and claim check covers
them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Final

from hypothesis import strategies as st
from hypothesis.stateful import rule

from chaos.model_checks import ModelChecks
from chaos.model_jobs import FAR, GONE, RETRY_DUE, ModelJob, priorities, queues, raw_envelope
from chaos.model_limits import limit_keys
from wg_core import JobState
from wg_core.backend import ImportedJob

__all__ = ["ModelImports"]

IMPORTED: Final = (
    JobState.QUEUED.value,
    JobState.SCHEDULED.value,
    JobState.RETRY.value,
    RETRY_DUE,
    JobState.DEAD.value,
    JobState.COMPLETED.value,
    JobState.CANCELLED.value,
)
"""The states a job is imported in (the model's: RETRY far off, or RETRY_DUE)."""
RESULT: Final = '{"imported":true}'
REASON: Final = "imported"


def imported(job_id: str, state: str, queue: str, priority: int, key: str | None) -> ImportedJob:
    """The ``ImportedJob`` of a job the model puts in ``state``."""
    now = time.time()
    stored = JobState.RETRY if state == RETRY_DUE else JobState(state)
    due = {JobState.SCHEDULED: now + FAR, JobState.RETRY: now + FAR}.get(stored)
    if state == RETRY_DUE:
        due = now - 60.0  # passed: due at once
    finished = stored in (JobState.COMPLETED, JobState.CANCELLED)
    failed = stored in (JobState.RETRY, JobState.DEAD, JobState.CANCELLED)
    return ImportedJob(
        job_id=job_id,
        job_name="model",
        raw=raw_envelope(job_id, 0),
        state=stored,
        queue=queue,
        priority=priority,
        due_at=due,
        last_error=REASON if failed else None,
        result=RESULT if stored is JobState.COMPLETED else None,
        started_at=now - 1.0 if finished else None,
        finished_at=now if finished else None,
        expires_at=now + FAR if finished else None,
        limit_key=key,
    )


class ModelImports(ModelChecks):
    """The import rule of ``BackendMachine`` (which holds this state)."""

    seq: Iterator[int]
    ids_per_queue: bool

    @rule(
        data=st.data(),
        new=st.lists(
            st.tuples(st.sampled_from(IMPORTED), queues, priorities, limit_keys),
            min_size=1,
            max_size=4,
        ),
        again=st.integers(0, 2),
    )
    def import_jobs(
        self,
        data: st.DataObject,
        new: list[tuple[str, str, int, str | None]],
        again: int,
    ) -> None:
        """Import new jobs, and ``again`` of those stored already (skipped)."""
        stored = [job_id for job_id, job in self.jobs.items() if job.state != GONE]
        fresh = [(imported(str(uuid.uuid4()), *job), job[0]) for job in new]
        batch = [job for job, _ in fresh]
        if stored and again:
            for job_id in data.draw(st.lists(st.sampled_from(stored), max_size=again, unique=True)):
                # Where ids are unique per queue, a stored id is skipped in its own queue.
                queue = self.jobs[job_id].queue if self.ids_per_queue else "default"
                skipped = imported(job_id, JobState.QUEUED.value, queue, 0, None)
                batch.insert(data.draw(st.integers(0, len(batch))), skipped)
        count = self._run(self.backend.import_jobs(batch))
        assert count == len(fresh), f"import_jobs stored {count} of {len(fresh)} new jobs"
        for job, state in fresh:  # in the batch's order: QUEUED ones line up so
            model = ModelJob(
                state, job.queue, job.priority, next(self.seq), limit_key=job.limit_key
            )
            model.result = job.result
            model.error = REASON if job.state is JobState.CANCELLED else None
            self.jobs[job.job_id] = model
