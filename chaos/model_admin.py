"""The admin rules of the Hypothesis model (chaos/model.py): pause and resume the
namespace and its queues, requeue (from the job's state, or refused from another),
purge a state (of one queue or all) and delete jobs, each checked against the model."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from chaos.model_checks import ModelChecks
from chaos.model_jobs import (
    FINISHED,
    GONE,
    QUEUES,
    RETRY_DUE,
    ModelJob,
    movable_states,
    raw_envelope,
)
from wg_core import JobState
from wg_core.backend import Move

__all__ = ["ModelAdmin"]


class ModelAdmin(ModelChecks):
    """The admin rules of ``BackendMachine`` (which holds this state); built on
    ``ModelChecks`` for its ``_run`` and ``_in``."""

    seq: Iterator[int]

    def _enqueued(self, job: ModelJob) -> None:
        job.state, job.token, job.seq = JobState.QUEUED.value, None, next(self.seq)

    @rule(queue=st.sampled_from(QUEUES), paused=st.booleans())
    def pause_queue(self, queue: str, paused: bool) -> None:
        self._run(self.backend.set_paused(paused, queue=queue))
        if paused:
            self.paused_queues.add(queue)
        else:
            self.paused_queues.discard(queue)

    # Resuming twice as likely as pausing: a namespace paused half the time would leave
    # few runs that claim anything.
    @rule(paused=st.sampled_from((False, True, False)))
    def pause_namespace(self, paused: bool) -> None:
        self._run(self.backend.set_paused(paused))
        self.paused = paused

    def _movable(self) -> list[str]:
        return self._in(
            JobState.DEAD.value,
            JobState.SCHEDULED.value,
            JobState.RETRY.value,
            RETRY_DUE,
            *FINISHED,
        )

    @precondition(lambda self: bool(self._movable()))
    @rule(data=st.data(), from_state=movable_states)
    def requeue(self, data: st.DataObject, from_state: JobState) -> None:
        """An admin move to the back of the job's queue (requeue dead, run now, run a
        finished job again), from the state the job is in or (refused) another."""
        job_id = data.draw(st.sampled_from(self._movable()))
        job = self.jobs[job_id]
        stored_state = JobState.RETRY.value if job.state == RETRY_DUE else job.state
        moved = self._run(
            self.backend.move_to_queue([Move(job_id, from_state, raw_envelope(job_id, 0))])
        )
        assert moved == (1 if stored_state == from_state.value else 0)
        if moved:
            self._enqueued(job)
            job.retry_count = 0
            job.run_again()

    @precondition(lambda self: bool(self._movable() or self._in(JobState.QUEUED.value)))
    @rule(
        state=st.sampled_from([s for s in JobState if s is not JobState.RUNNING]),
        queue=st.none() | st.sampled_from(QUEUES),
    )
    def purge(self, state: JobState, queue: str | None) -> None:
        states = (state.value, RETRY_DUE) if state is JobState.RETRY else (state.value,)
        doomed = self._in(*states, queue=queue)
        assert self._run(self.backend.purge(state, queue=queue)) == len(doomed)
        for job_id in doomed:
            self.jobs[job_id].state, self.jobs[job_id].short_epoch = GONE, None

    @precondition(lambda self: bool(self.jobs))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(list(self.jobs)))
        job = self.jobs[job_id]
        deletable = job.state not in (JobState.RUNNING.value, GONE)
        assert self._run(self.backend.delete_jobs([job_id])) == (1 if deletable else 0)
        if deletable:
            job.state, job.short_epoch = GONE, None
