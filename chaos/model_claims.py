"""Claims in the Hypothesis model (chaos/model.py): the line a claim must take from,
the attempts the model hands out, and how a job leaves RUNNING; the rules that claim.

A claim is checked against the model's line: the queues in the pool's order, paused
ones left out; within a queue by priority, then FIFO (released jobs first, tied); a
limited queue only as far as its limit admits (``model_limits``), its later jobs of a
bucket with room still taken. Ties (equal ranks) may be claimed in any order, and a
claimed job must also be one the limit admits at that point, in the order claimed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from chaos.model_jobs import (
    FAR,
    GONE,
    LONG_LEASE,
    QUEUES,
    REAL_SHORT_KEEP,
    RELEASED,
    STEP,
    Keep,
    ModelJob,
    job_id_of,
    queue_lists,
    raw_envelope,
)
from chaos.model_limits import ModelGate, ModelLimits, limit_keys
from wg_core import JobState
from wg_core.backend import Attempt, NewJob

__all__ = ["ModelClaims"]

Rank = tuple[int, int, int]
"""A queued job's place in a claim's line: (queue's place, -priority, sequence)."""


class ModelClaims(ModelLimits):
    """The claim rules and the attempt bookkeeping of ``BackendMachine`` (which holds
    this state)."""

    issued: list[Attempt]
    seq: Iterator[int]

    def _enqueue_new(self, jobs: Sequence[tuple[str, int, str | None]]) -> None:
        """Enqueue new jobs of (queue, priority, limit key), QUEUED in the model."""
        new = []
        for queue, priority, key in jobs:
            job_id = str(uuid.uuid4())
            raw = raw_envelope(job_id, 0)
            new.append(NewJob(job_id, "model", raw, queue=queue, priority=priority, limit_key=key))
            self.jobs[job_id] = ModelJob(
                JobState.QUEUED.value, queue, priority, next(self.seq), limit_key=key
            )
        self._run(self.backend.enqueue(new))

    # -- attempts ------------------------------------------------------------------------

    def _held(self, attempt: Attempt) -> ModelJob | None:
        job = self.jobs.get(job_id_of(attempt))
        return job if job is not None and job.token == attempt.token else None

    def _seconds(self, keep: str) -> float:
        if keep == Keep.SHORT:
            return STEP / 2 if self.steps_clock else REAL_SHORT_KEEP
        return 0.0 if keep == Keep.NONE else FAR

    def _attempts(self) -> st.SearchStrategy[Attempt]:
        """Any attempt ever issued, held ones more often (stale ones change nothing)."""
        held = [a for a in self.issued if self._held(a) is not None]
        either = st.sampled_from(self.issued)
        return st.sampled_from(held) | either if held else either

    def _take(self, attempts: Sequence[Attempt], *, reclaimed: bool = False) -> None:
        for attempt in attempts:
            job = self.jobs[job_id_of(attempt)]
            job.state, job.token, job.reclaimed = JobState.RUNNING.value, attempt.token, reclaimed
            self.issued.append(attempt)

    def _released(self, job: ModelJob) -> None:
        if job.cancel_requested:  # never runs again: cancelled as the request asked
            self._finished(job, JobState.CANCELLED, job.cancel_keep, next(self.seq))
        else:
            job.state, job.token, job.seq = JobState.QUEUED.value, None, RELEASED

    def _finished(self, job: ModelJob, state: JobState, keep: str, rank: int) -> None:
        job.token = None
        job.cancel_requested = False
        job.finish_rank = rank
        job.state = GONE if keep == Keep.NONE else state.value
        job.short_epoch = self.epoch if keep == Keep.SHORT else None

    # -- the line ------------------------------------------------------------------------

    def _line(self, queues: Sequence[str]) -> dict[str, Rank]:
        """Every job a pool serving ``queues`` may find ready now (limits aside), with
        its rank: lower ranks first; equal ranks in any order."""
        if self.paused:
            return {}
        return {
            job_id: (queues.index(job.queue), -job.priority, job.seq)
            for job_id, job in self.jobs.items()
            if job.state == JobState.QUEUED.value
            and job.queue in queues
            and job.queue not in self.paused_queues
        }

    def _expected(self, line: dict[str, Rank], queues: Sequence[str], limit: int) -> list[Rank]:
        """The ranks a claim of up to ``limit`` jobs takes: in line, queue by queue, a
        limited queue's jobs only as far as its limit admits them."""
        gates = {queue: self.gate(queue) for queue in queues}
        taken: list[Rank] = []
        for rank, job_id in sorted((rank, job_id) for job_id, rank in line.items()):
            if len(taken) >= limit:
                break
            gate = gates[queues[rank[0]]]
            if gate is None or gate.admit(self.jobs[job_id].limit_key):
                taken.append(rank)
        return taken

    def _claim(self, queues: Sequence[str], limit: int, lease: float) -> list[Attempt]:
        """Claim from the backend and check the jobs against the model's line and
        limits."""
        line = self._line(queues)
        expected = self._expected(line, queues, limit)
        attempts = self._run(
            self.backend.claim(limit=limit, lease=lease, worker_id="m", queues=queues)
        )
        claimed = [job_id_of(a) for a in attempts]
        gates: dict[str, ModelGate | None] = {}
        for job_id in claimed:
            assert job_id in line, f"claimed {job_id}, which {queues} may not claim now"
            job = self.jobs[job_id]
            if job.queue not in gates:
                gates[job.queue] = self.gate(job.queue)
            gate = gates[job.queue]
            assert gate is None or gate.admit(job.limit_key), (
                f"claimed {job_id} of {job.queue} (key {job.limit_key!r}) over its limit "
                f"{gate.limit if gate else None}"
            )
        assert [line[job_id] for job_id in claimed] == expected, (
            f"claimed in the order {[line[j] for j in claimed]}, the model expects {expected}"
        )
        assert len({a.token for a in attempts}) == len(attempts)
        assert [a.queue for a in attempts] == [self.jobs[j].queue for j in claimed]
        assert not any(a.cancel_requested for a in attempts)
        for job_id in claimed:
            self.started(self.jobs[job_id])
        self._take(attempts)
        return attempts

    # -- the rules -----------------------------------------------------------------------

    @rule(limit=st.integers(1, 4), queues=queue_lists, give_back=st.integers(0, 2))
    def claim(self, limit: int, queues: list[str], give_back: int) -> None:
        """Claim; then maybe release some of it at once, as a pool stopping with jobs
        claimed ahead does (so that released jobs meet the rest of the line)."""
        attempts = self._claim(queues, limit, LONG_LEASE)[:give_back]
        if attempts:
            assert self._run(self.backend.release(attempts)) == len(attempts)
            for attempt in attempts:
                self._released(self.jobs[job_id_of(attempt)])

    @rule(limit=st.integers(1, 6))
    def claim_everything(self, limit: int) -> None:
        """A pool serving every queue, most urgent first."""
        self._claim(QUEUES[::-1], limit, LONG_LEASE)

    @precondition(lambda self: bool(self.limits))
    @rule(
        data=st.data(),
        keys=st.lists(limit_keys, min_size=1, max_size=4),
        limits=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    )
    def crowd_limited(self, data: st.DataObject, keys: list[str | None], limits: list[int]) -> None:
        """Jobs pile up in a limited queue and several claims meet them, the later ones
        while the earlier ones' jobs still run (so that limits hold jobs back often)."""
        queue = data.draw(st.sampled_from(sorted(self.limits)))
        self._enqueue_new([(queue, 0, key) for key in keys])
        for limit in limits:
            self._claim([queue], limit, LONG_LEASE)
