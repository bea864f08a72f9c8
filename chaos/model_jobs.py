"""The Hypothesis model's side of the story (chaos/model.py): what it knows about each
job, the values its rules draw from, and the envelopes it stores."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from hypothesis import strategies as st

from wg_core import Envelope, JobState
from wg_core.backend import Attempt
from wg_core.queues import DEFAULT_QUEUE, MAX_PRIORITY, MIN_PRIORITY

__all__ = [
    "ENDINGS",
    "FAR",
    "FINISHED",
    "GONE",
    "HOLDING",
    "LONG_LEASE",
    "MAX_RETRIES",
    "QUEUES",
    "REAL_SHORT_KEEP",
    "RELEASED",
    "RETRY_DUE",
    "SHORT_LEASE",
    "STEP",
    "WAITING",
    "Keep",
    "ModelJob",
    "job_id_of",
    "keeps",
    "movable_states",
    "priorities",
    "queue_lists",
    "queues",
    "raw_envelope",
]

FAR: Final = 10_000_000.0
"""A delay (or a keep) that never runs out during a run, however far the clock steps."""
LONG_LEASE: Final = 3600.0
"""Longer than all the clock steps of a run together: only ``SHORT_LEASE`` expires."""
SHORT_LEASE: Final = 0.05
MAX_RETRIES: Final = 2

GONE: Final = "gone"
"""A job no longer stored: completed or cancelled with keep 0, purged, deleted, pruned."""
FINISHED: Final = (JobState.COMPLETED.value, JobState.CANCELLED.value)
"""The states a job is kept in for a while once it ended, then pruned."""
RETRY_DUE: Final = "retry-due"
"""A stored RETRY job that is due (the model's own distinction)."""

STEP: Final = 60.0
"""How far a stepped clock moves when time passes (a short keep is half of it)."""
REAL_SHORT_KEEP: Final = 0.05
"""A short keep on a real clock: time passing sleeps three times as long."""
WAITING: Final = (
    JobState.QUEUED.value,
    JobState.SCHEDULED.value,
    JobState.RETRY.value,
    RETRY_DUE,
    JobState.DEAD.value,
)
HOLDING: Final = (
    JobState.QUEUED.value,
    JobState.SCHEDULED.value,
    JobState.RETRY.value,
    RETRY_DUE,
    JobState.RUNNING.value,
)
"""The states in which a job holds its unique key (``wg_core.unique``)."""
ENDINGS: Final = ("complete", "cancelled", "completed first", "released", "failed")
"""How ``run_one`` ends a run (all but the first after a cancel request)."""
movable_states = st.sampled_from(
    (JobState.DEAD, JobState.SCHEDULED, JobState.RETRY, JobState.COMPLETED, JobState.CANCELLED)
)


QUEUES: Final = (DEFAULT_QUEUE, "emails", "reports")
PRIORITIES: Final = (0, 1, -1, MIN_PRIORITY, MAX_PRIORITY)
RELEASED: Final = 0
"""The place in line of a released job: before every other (sequence numbers start at
1), tied with the other released jobs of its queue and priority."""

# Few values, skewed to the defaults, so that jobs often share a queue and a priority
# (FIFO and the front of the line get exercised).
queues = st.just(DEFAULT_QUEUE) | st.sampled_from(QUEUES)
priorities = st.just(0) | st.sampled_from(PRIORITIES)
queue_lists = st.lists(st.sampled_from(QUEUES), min_size=1, max_size=len(QUEUES), unique=True)


class Keep:
    """How long a finished job is kept, as the model draws it: not at all, until the
    clock next steps (``SHORT``: the machine turns it into seconds), or for ever."""

    NONE: Final = "none"
    SHORT: Final = "short"
    FAR: Final = "far"


keeps = st.sampled_from((Keep.NONE, Keep.SHORT, Keep.FAR))


@dataclass
class ModelJob:
    """One job as the model expects the backend to hold it."""

    state: str  # a JobState value, RETRY_DUE or GONE
    queue: str
    priority: int
    seq: int  # place in line while QUEUED: lower runs first (within a queue and priority)
    retry_count: int = 0
    token: str | None = None
    cancel_requested: bool = False
    cancel_keep: str = Keep.FAR  # the keep its (first) cancel request asked for
    result: str | None = None  # of a COMPLETED job
    error: str | None = None  # of a CANCELLED job, recorded beside the envelope
    finish_rank: int = 0  # finishing order (equal within one verb call)
    short_epoch: int | None = None  # kept SHORT: the clock epoch it finished in
    limit_key: str | None = None  # what a per-key limit counts it under
    reclaimed: bool = False  # RUNNING under an attempt taken over by reclaim_expired

    def run_again(self) -> None:
        """Forget the last run's outcome (requeued)."""
        self.cancel_requested = False
        self.cancel_keep = Keep.FAR
        self.result = self.error = None
        self.short_epoch = None


def raw_envelope(job_id: str, retry_count: int) -> str:
    """The envelope the model stores for ``job_id`` at ``retry_count``."""
    return Envelope(
        id=job_id,
        job_name="model",
        payload={"n": 1},
        max_retries=MAX_RETRIES,
        retry_count=retry_count,
        timeout=60.0,
        retry_delay=1.0,
        status="Pending" if retry_count == 0 else "Retry",
        created_at=int(time.time()),
    ).encode()


def job_id_of(attempt: Attempt) -> str:
    """The id of the job ``attempt`` runs."""
    return Envelope.decode(attempt.raw).id
