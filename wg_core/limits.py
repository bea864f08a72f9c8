"""Global concurrency and rate limits per queue, and per key (issue 20): the records
and the checks, shared by ``Client``, the checked-dispatch layer and every backend.

A ``QueueLimit`` is stored in the backend, for the whole namespace: every pool of the
namespace obeys it, because the backend enforces it *at claim time, atomically with the
claim* (one SQL transaction holding the limit's row lock; one Lua call). Two limits:

* ``concurrency``: at most that many jobs of the queue RUNNING under a live lease at
  any instant. Running jobs are counted, never a counter kept beside them, so a slot
  comes back with every completion, failure, release and cancel, and a crashed
  worker's slots come back when its leases expire (the reaper's own re-lease holds a
  slot for the moment it decides the job's fate).
* ``rate`` per ``per`` seconds: at most ``rate`` jobs of the queue *start* in any window
  of ``per`` seconds (a sliding log of start times, pruned as it goes: no burst of 2×
  at a window's edge). A reclaim by the reaper is not a start.

With ``per_key``, each limit applies to each ``limit_key`` separately (jobs enqueued
with ``limit_key="customer:7"``): jobs of different keys run side by side, jobs of one
key within its own limit, in the queue's order. A job without a key counts under the
empty key ``""``. A ``limit_key`` on a queue without a per-key limit is accepted and
stored (it takes effect if a per-key limit is set later); limits may be set on a queue
that holds no job yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

from wg_core.errors import ConfigError
from wg_core.options import Duration, to_seconds
from wg_core.queues import validate_queue

__all__ = [
    "MAX_LIMIT_KEY_LENGTH",
    "QueueLimit",
    "make_limit",
    "validate_limit",
    "validate_limit_key",
]

MAX_LIMIT_KEY_LENGTH: Final = 255
"""Characters a ``limit_key`` may have (it is indexed on every SQL engine)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueLimit:
    """The limits of one queue, and (from ``limits()``) how much of them is in use.

    ``concurrency``: jobs running at once (``None``: no such limit); ``rate`` jobs
    started per ``per`` seconds (both ``None``: no rate limit); ``per_key``: each limit
    applies to each ``limit_key`` on its own. ``running`` and ``started`` are filled by
    ``limits()``: jobs of the queue running under a live lease now, and jobs started
    within the last ``per`` seconds (0 without a rate), over all keys; ``keys`` is how
    many keys have a job running (per-key limits only)."""

    queue: str
    concurrency: int | None = None
    rate: int | None = None
    per: float | None = None
    per_key: bool = False
    running: int = 0
    started: int = 0
    keys: int = 0

    def with_use(self, *, running: int, started: int, keys: int) -> QueueLimit:
        """This limit with its use (``started`` only under a rate, ``keys`` only per
        key: 0 otherwise, whatever a backend counted)."""
        return replace(
            self,
            running=running,
            started=started if self.rate is not None else 0,
            keys=keys if self.per_key else 0,
        )


def _positive_count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return value


def validate_limit(limit: QueueLimit) -> QueueLimit:
    """``limit`` if it is a limit a backend can store, else ``ValueError``
    (``ConfigError``): a valid queue name, at least one limit, counts > 0, a window
    > 0 given exactly with a rate."""
    validate_queue(limit.queue)
    if limit.concurrency is None and limit.rate is None:
        raise ConfigError("give a concurrency, a rate, or both (clear_limit removes a limit)")
    if limit.concurrency is not None:
        _positive_count("concurrency", limit.concurrency)
    if limit.rate is not None:
        _positive_count("rate", limit.rate)
        per = limit.per
        if (
            not isinstance(per, int | float)
            or isinstance(per, bool)
            or math.isnan(per)
            or math.isinf(per)
            or per <= 0
        ):
            raise ConfigError(f"a rate's window (per) must be a positive duration, not {per!r}")
    elif limit.per is not None:
        raise ConfigError("per is the window of a rate: give rate too")
    return limit


def make_limit(
    queue: str,
    *,
    concurrency: int | None = None,
    rate: int | None = None,
    per: Duration | None = None,
    per_key: bool = False,
) -> QueueLimit:
    """The checked ``QueueLimit`` of ``Client.set_limit``'s arguments (``per``: seconds
    or a ``timedelta``; 1 second when a rate is given without one)."""
    window: float | None = None
    if per is not None:
        window = to_seconds(per, name="per")
        if window <= 0:
            raise ConfigError(f"a rate's window (per) must be a positive duration, not {per!r}")
    elif rate is not None:
        window = 1.0
    return validate_limit(
        QueueLimit(
            queue=queue, concurrency=concurrency, rate=rate, per=window, per_key=bool(per_key)
        )
    )


def validate_limit_key(key: object) -> str | None:
    """``key`` if it is a valid ``limit_key`` (``None``, or a non-empty string of at
    most ``MAX_LIMIT_KEY_LENGTH`` characters), else ``ConfigError``."""
    if key is None:
        return None
    if not isinstance(key, str):
        raise ConfigError(f"limit_key must be a string, not {type(key).__name__}")
    if not key or len(key) > MAX_LIMIT_KEY_LENGTH:
        raise ConfigError(f"limit_key must have 1 to {MAX_LIMIT_KEY_LENGTH} characters")
    return key
