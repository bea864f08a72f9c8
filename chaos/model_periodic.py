"""The periodic rules of the Hypothesis model (chaos/model.py, issue 19): register a
set of periodic entries (the registry then holds exactly them), and fire ticks of
registered, removed and unknown entries, by hand or old, new and repeated ticks, with
or without the firing pool's definition (which re-creates a missing entry); each
checked against the model's registry (name -> schedule and last tick). A fire that
stores its job puts it QUEUED in the model, so every invariant of the machine (counts,
claim order, states) covers it too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Final

from hypothesis import strategies as st
from hypothesis.stateful import rule

from chaos.model_checks import ModelChecks
from chaos.model_jobs import ModelJob, priorities, queues, raw_envelope
from wg_core import JobState
from wg_core.backend import NewJob, PeriodicEntry

__all__ = ["ModelPeriodic"]

NAMES: Final = ("digest", "ping", "sweep")
SCHEDULES: Final = ("every 1s", "every 2s")
TICKS: Final = st.one_of(st.none(), st.integers(0, 8).map(float))
"""A tick (small whole numbers: old, new and repeated ones come up) or ``None`` (a run
by hand)."""


class ModelPeriodic(ModelChecks):
    """The periodic rules of ``BackendMachine``; the model's registry is
    ``registry``: entry name -> (schedule, last tick)."""

    seq: Iterator[int]

    def __init__(self) -> None:
        super().__init__()
        self.registry: dict[str, tuple[str, float | None]] = {}

    @rule(
        declared=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(SCHEDULES), max_size=3),
        baseline=st.one_of(st.none(), st.integers(0, 4).map(float)),
    )
    def register_periodic(self, declared: dict[str, str], baseline: float | None) -> None:
        entries = [
            PeriodicEntry(name=name, schedule=schedule, job_name="model", baseline=baseline)
            for name, schedule in declared.items()
        ]
        self._run(self.backend.register_periodic(entries, now=1.0))
        registry = {}
        for name, schedule in declared.items():
            known = self.registry.get(name)
            fresh = known is None or known[0] != schedule
            registry[name] = (schedule, baseline if fresh or known is None else known[1])
        self.registry = registry
        self._check_registry()

    @rule(
        name=st.sampled_from((*NAMES, "unknown")),
        tick=TICKS,
        queue=queues,
        priority=priorities,
        defined=st.one_of(st.none(), st.sampled_from(SCHEDULES)),
    )
    def fire_periodic(
        self, name: str, tick: float | None, queue: str, priority: int, defined: str | None
    ) -> None:
        """Fire a tick; with ``defined`` (and a tick) the fire carries the pool's
        definition, which re-creates the entry when it is missing."""
        job_id = str(uuid.uuid4())
        job = NewJob(job_id, "model", raw_envelope(job_id, 0), queue=queue, priority=priority)
        entry = None
        if defined is not None and tick is not None:
            entry = PeriodicEntry(name=name, schedule=defined, job_name="model", baseline=9.0)
        known = self.registry.get(name)
        if known is None and entry is not None:
            known = (defined or "", None)  # re-created from this tick, not its baseline
        expected = known is not None and (tick is None or known[1] is None or tick > known[1])
        fired = self._run(
            self.backend.fire_periodic(
                name, tick=tick, job=job, now=2.0, next_run=None, entry=entry
            )
        )
        assert fired == expected, f"fire of {name!r} at {tick}: {fired}, expected {expected}"
        if expected and known is not None:
            self.jobs[job_id] = ModelJob(JobState.QUEUED.value, queue, priority, next(self.seq))
            if tick is not None:
                self.registry[name] = (known[0], tick)
        self._check_registry()

    def _check_registry(self) -> None:
        stored = {
            info.name: (info.schedule, info.last_tick)
            for info in self._run(self.backend.periodic_entries())
        }
        assert stored == self.registry, f"registry {stored} != model {self.registry}"
