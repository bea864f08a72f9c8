"""The queue limits of the Hypothesis model (chaos/model.py, issue 20): set and clear
limits (concurrency, rate, per key), and the rule every claim is checked against.

The model's rule, written here on its own (not the backends' ``LimitGate``): a job of
a limited queue may start when its bucket (its ``limit_key`` under a per-key limit,
else the queue as a whole; a job without a key counts under ``""``) has fewer jobs
RUNNING than the concurrency and fewer starts in the window than the rate. Starts are
logged per (queue, bucket as it was at the start) only while the queue has a rate, kept
when the limit is replaced and dropped when it is cleared; a job taken over from an
expired lease is not a new start.

Windows: where the machine steps the backend's clock, a rate's window (``CLOCKED_PER``)
is shorter than one step, so every start made before time last passed is out of it;
on a server's clock the window is an hour, so no start leaves it during a run.

A job taken over by ``reclaim_expired`` holds a slot on some backends only (documented
in docs/limits.md: SQL and memory count it until it is retried or buried, as the
reaper does at once; Redis does not), so the machine never lets such a job run on
under a limit: it fails it at once (as the pool's reaper does) if its queue is
limited, and leaves a queue alone that holds one when drawing a limit to set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from chaos.model_checks import ModelChecks
from chaos.model_jobs import QUEUES, STEP, ModelJob
from wg_core import JobState
from wg_core.limits import QueueLimit

__all__ = ["CLOCKED_PER", "REAL_PER", "ModelGate", "ModelLimits", "first_limits", "limit_keys"]

CLOCKED_PER: Final = STEP * 0.9
"""A rate's window where the clock steps: shorter than a step, far longer than the real
time between two steps."""
REAL_PER: Final = 3600.0
"""A rate's window on a server's clock: longer than any run."""

limit_keys = st.sampled_from((None, None, "k1", "k2"))
"""The limit key a job is enqueued with (often none)."""
concurrencies = st.none() | st.integers(1, 2)
rates = st.none() | st.integers(1, 3)
first_limits = st.none() | st.tuples(st.sampled_from(QUEUES), concurrencies, rates, st.booleans())
"""A limit set as a run opens (half the runs), so that most claims meet one."""


def bucket(limit: QueueLimit, key: str | None) -> str:
    """What a job of ``key`` (or a start logged under ``key``) counts under."""
    return (key or "") if limit.per_key else ""


@dataclass
class ModelGate:
    """One limited queue's room now, counted as the claim admits jobs."""

    limit: QueueLimit
    running: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)

    def admit(self, key: str | None) -> bool:
        """Whether a job of ``key`` may start; if so it is counted."""
        limit, where = self.limit, bucket(self.limit, key)
        if limit.concurrency is not None and self.running[where] >= limit.concurrency:
            return False
        if limit.rate is not None and self.started[where] >= limit.rate:
            return False
        self.running[where] += 1
        if limit.rate is not None:
            self.started[where] += 1
        return True


class ModelLimits(ModelChecks):
    """The limit rules and invariant of ``BackendMachine`` (which holds this state):
    ``limits`` by queue and ``starts``, the log of (queue, bucket, clock epoch)."""

    steps_clock: bool
    epoch: int

    def __init__(self) -> None:
        super().__init__()
        self.limits: dict[str, QueueLimit] = {}
        self.starts: list[tuple[str, str, int]] = []

    def _per(self) -> float:
        return CLOCKED_PER if self.steps_clock else REAL_PER

    def _running(self, queue: str) -> list[ModelJob]:
        return [
            job
            for job in self.jobs.values()
            if job.state == JobState.RUNNING.value and job.queue == queue
        ]

    def _windowed(self, queue: str) -> list[str]:
        """The buckets (as logged) of ``queue``'s starts within the window now."""
        return [
            logged
            for q, logged, epoch in self.starts
            if q == queue and (epoch == self.epoch or not self.steps_clock)
        ]

    def _starts_in_window(self) -> bool:
        """Whether some start is in a window that a step of the clock would end."""
        return self.steps_clock and any(epoch == self.epoch for _, _, epoch in self.starts)

    def gate(self, queue: str) -> ModelGate | None:
        """``queue``'s room now (``None``: it has no limit)."""
        limit = self.limits.get(queue)
        if limit is None:
            return None
        gate = ModelGate(limit)
        for job in self._running(queue):
            gate.running[bucket(limit, job.limit_key)] += 1
        for logged in self._windowed(queue):
            gate.started[bucket(limit, logged)] += 1
        return gate

    def started(self, job: ModelJob) -> None:
        """Log the start of ``job`` (just claimed), if its queue has a rate."""
        limit = self.limits.get(job.queue)
        if limit is not None and limit.rate is not None:
            self.starts.append((job.queue, bucket(limit, job.limit_key), self.epoch))

    # -- the rules -----------------------------------------------------------------------

    @rule(
        queue=st.sampled_from(QUEUES), concurrency=concurrencies, rate=rates, per_key=st.booleans()
    )
    def set_limit(
        self, queue: str, concurrency: int | None, rate: int | None, per_key: bool
    ) -> None:
        """Set (or replace) a queue's limit, before or after its jobs exist."""
        if any(job.reclaimed for job in self._running(queue)):
            return  # counted on some backends only (see the module docstring)
        if concurrency is None and rate is None:
            concurrency = 1
        limit = QueueLimit(
            queue=queue,
            concurrency=concurrency,
            rate=rate,
            per=None if rate is None else self._per(),
            per_key=per_key,
        )
        self._run(self.backend.set_limit(limit))
        self.limits[queue] = limit

    @precondition(lambda self: bool(self.limits))
    @rule(data=st.data(), unknown=st.booleans())
    def clear_limit(self, data: st.DataObject, unknown: bool) -> None:
        """Clear a limit (or, now and then, a queue's that has none): its log goes."""
        others = [queue for queue in QUEUES if queue not in self.limits]
        queue = data.draw(st.sampled_from(others if unknown and others else list(self.limits)))
        had = self._run(self.backend.clear_limit(queue))
        assert had == (queue in self.limits), f"clear_limit({queue!r}) said {had}"
        self.limits.pop(queue, None)
        self.starts = [start for start in self.starts if start[0] != queue]

    # -- the invariant -------------------------------------------------------------------

    @invariant()
    def limits_match_model(self) -> None:
        """``limits()`` lists each limit with its use: jobs running, starts in the
        window, keys with a job running."""
        if not hasattr(self, "jobs") or self.loop.is_closed():
            return
        expected = []
        for queue in sorted(self.limits):
            running = self._running(queue)
            expected.append(
                self.limits[queue].with_use(
                    running=len(running),
                    started=len(self._windowed(queue)),
                    keys=len({job.limit_key or "" for job in running}),
                )
            )
        listed = self._run(self.backend.limits())
        assert listed == expected, f"limits() {listed} != model {expected}"
