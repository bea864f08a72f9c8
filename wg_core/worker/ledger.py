"""What a pool holds and what it has done: its attempts, its job tasks, its counts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from wg_core.backend import Attempt

__all__ = ["COUNT_NAMES", "Ledger", "PoolStats"]

COUNT_NAMES: Final = (
    "processed",
    "failed",
    "retried",
    "dead",
    "cancelled",
    "stale_writes",
    "released",
)


@dataclass(frozen=True, slots=True)
class PoolStats:
    """What this pool has done since it started.

    ``failed`` counts failed attempts (``retried`` + those that went ``dead``);
    ``stale_writes`` counts outcomes the backend refused because the lease had been
    lost; ``released`` counts jobs put back unrun (at shutdown, and claimed-ahead jobs
    given back because they waited too long or the namespace was paused);
    ``cancelled`` counts jobs this pool finished as cancelled (their cancel was
    requested while it held them); ``buffered`` is how many claimed-ahead jobs are
    waiting for a free slot.
    """

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    stale_writes: int = 0
    cancelled: int = 0
    released: int = 0
    running: int = 0
    buffered: int = 0


class Ledger:
    """The pool's books.

    ``held``: every attempt the pool holds a lease on — buffered, running, or waiting
    for its acknowledgement — which the lease keeper renews. It is read from the lease
    keeper's thread, so it changes only under a lock (uncontended: a few tens of
    nanoseconds a job). ``active``: the task running each started job, by token (the
    event loop's alone). ``recording``: tokens whose outcome (retry or bury) is being
    written now — a heartbeat that raced that write reports them lost, and the write
    itself says whether it won (the event loop's alone). ``counts``: what
    ``PoolStats`` reports.
    """

    __slots__ = ("_held", "_lock", "active", "counts", "on_first_hold", "recording")

    def __init__(self) -> None:
        self.on_first_hold: Callable[[], None] | None = None
        """Called when the pool, holding nothing, holds an attempt (the lease keeper
        starts listening for cancel requests)."""
        self._held: dict[str, Attempt] = {}
        self._lock = threading.Lock()
        self.active: dict[str, asyncio.Task[None]] = {}
        self.recording: set[str] = set()
        self.counts: dict[str, int] = dict.fromkeys(COUNT_NAMES, 0)

    def hold(self, attempt: Attempt) -> None:
        """Start renewing ``attempt``'s lease."""
        with self._lock:
            first = not self._held
            self._held[attempt.token] = attempt
        if first and self.on_first_hold is not None:
            self.on_first_hold()

    def hold_all(self, attempts: list[Attempt]) -> None:
        """``hold`` each of ``attempts``."""
        with self._lock:
            held = self._held
            first = not held
            for attempt in attempts:
                held[attempt.token] = attempt
        if first and attempts and self.on_first_hold is not None:
            self.on_first_hold()

    def drop(self, token: str) -> None:
        """Stop renewing that attempt's lease (its outcome is written, or it is lost)."""
        with self._lock:
            self._held.pop(token, None)

    def drop_all(self, attempts: list[Attempt]) -> None:
        """``drop`` each of ``attempts``."""
        with self._lock:
            held = self._held
            for attempt in attempts:
                held.pop(attempt.token, None)

    @property
    def holding(self) -> bool:
        """Whether the pool holds any attempt (safe from any thread)."""
        return bool(self._held)

    def holds(self, token: str) -> bool:
        """Whether the pool still holds that attempt's lease."""
        return token in self._held

    def held(self) -> list[Attempt]:
        """A snapshot of the held attempts (safe from any thread)."""
        with self._lock:
            return list(self._held.values())

    def stats(self, *, buffered: int) -> PoolStats:
        """The counts as ``PoolStats``."""
        return PoolStats(running=len(self.active), buffered=buffered, **self.counts)
