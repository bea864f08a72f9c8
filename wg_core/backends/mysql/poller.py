"""The MySQL backend's poller: how idle claimers learn of jobs other processes enqueued
(MySQL has no notifications).

While at least one claimer waits, one dedicated link (its own connection and thread,
so it never queues behind busy pooled connections nor wakes the event loop for
nothing) runs a cheap probe, a single indexed ``SELECT`` without locks or transaction.
Only when the probe sees a claimable job does it run the locking claim, itself, on its
connection (the same statements, each waiting claimer's own limit and lease, oldest
claimer first), and hand the attempts to that claimer: no wake-up, no hand-off to a
pooled link, no gap between probe and claim.

Each waiting claimer is a ``Request`` that moves, under the poller's lock, through
``WAITING`` (queued) → ``TAKEN`` (the poller claims for it) → ``DELIVERED`` (attempts
set) → ``DONE``; whoever moves it on owns the attempts. A claimer that is cancelled
while taken becomes ``GONE``: the poller releases what its claim brings, at once (the
jobs go back to the front of the queue and local claimers are woken), so nothing waits
out a lease. A claimer whose wait ends while it is taken waits for that claim and takes
its attempts. A local wake-up (``wake_all``) ends every wait: those claimers look for
themselves.

Limited queues (issue 20): their claims are the backend's limited claim, which the
poller does not run; jobs waiting in such a queue are not "found". The probe also reads
a *mark* of the waited limited queues (their limits, the ids of their jobs running
under a live lease, under a per-key limit the newest job id) and whether one holds
ready jobs: when that changes (a job of theirs finished, was released, started, its
lease ran out, jobs came into an empty one, a limit changed), the poller wakes this
process's claimers, which run the limited claim. The last mark is
kept while the poller stops, so a change made meanwhile is seen by its next probe; a
change seen before a claimer enlisted moved the backend's wake generation, which that
claimer's wait checks first. A claimer held back by a *rate* waits only until the
window lets the next job start (the engine's claim loop), not for the poller.

Cadence: every ``min_interval`` while jobs were found in the last ``idle_after``
seconds, then doubling up to ``max_interval``; every ``held_interval`` (at most) while a
waited limited queue holds ready jobs (a slot that frees in another process is then
seen within that time: the probe is a few index reads, about 0.1 ms of each side's
CPU); the poller stops while no claimer waits.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, Final

from wg_core.backend import Attempt
from wg_core.backends.mysql.link import Link
from wg_core.backends.mysql.sessions import fetch_one, run
from wg_core.backends.sql.session import Params
from wg_core.errors import BackendError

__all__ = ["HELD_INTERVAL", "Poller", "Request"]

HELD_INTERVAL: Final = 0.005
"""Seconds between probes, at most, while a waited limited queue holds ready jobs."""
_UNSEEN: Final = object()  # the mark before the first probe: any mark is news

WAITING: Final = "waiting"  # in the poller's queue
TAKEN: Final = "taken"  # the poller runs a claim for it
DELIVERED: Final = "delivered"  # the poller's claim is done: attempts are set
DONE: Final = "done"  # nothing more will come (woken, timed out or answered)
GONE: Final = "gone"  # the claimer left while taken: the poller releases its claim

ClaimOn = Callable[[Any, int, float, str, Sequence[str]], list[Attempt]]
"""``claim(connection, limit, lease, worker_id, queues)``: the claim on a link's
connection."""


class Request:
    """A claimer waiting for the poller, and what it asks for. ``state`` and
    ``attempts`` change only under the poller's lock: whoever moves the request on owns
    the attempts (the claimer returns them, or the poller releases them)."""

    __slots__ = ("attempts", "future", "lease", "limit", "loop", "queues", "state", "worker_id")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        lease: float,
        worker_id: str,
        queues: tuple[str, ...],
    ) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.limit = limit
        self.lease = lease
        self.worker_id = worker_id
        self.queues = queues
        self.state: str = WAITING
        self.attempts: list[Attempt] = []

    def wake(self) -> bool:
        """Resolve the claimer's future from any thread; False if its loop is closed."""
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # the loop is closed: nobody waits there any more
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Poller:
    """One backend's poller (see the module docstring).

    ``sql`` holds the backend's blocks (``probe``, ``release``); ``claim`` runs a claim
    on a connection; ``handles`` gives the release statement's parameters for
    attempts; ``wake`` wakes this process's idle claimers (after a release);
    ``give_back`` releases attempts from the claimer's loop, in the background (for a
    claimer cancelled after its attempts were delivered)."""

    def __init__(
        self,
        sql: dict[str, str],
        *,
        claim: ClaimOn,
        handles: Callable[[Sequence[Attempt]], Params],
        wake: Callable[[], None],
        give_back: Callable[[list[Attempt]], None],
        min_interval: float,
        idle_after: float,
        max_interval: float,
        held_interval: float = HELD_INTERVAL,
    ) -> None:
        self._sql = sql
        self._claim = claim
        self._handles = handles
        self._wake = wake
        self._give_back = give_back
        self._min_poll = min_interval
        self._max_poll = max_interval
        self._idle_after = idle_after
        self._held_poll = max(held_interval, min_interval)
        self._poll = min_interval  # the current interval (backs off)
        self._mark: object = _UNSEEN  # (held, mark) of the waited limited queues, last probe
        self._last_found = 0.0  # monotonic time a claim or probe last found jobs
        # Its link, whether its loop runs, the claimers that wait for it.
        self._link: Link | None = None
        self._lock = threading.Lock()
        self._polling = False
        self._requests: collections.deque[Request] = collections.deque()  # oldest first
        self._stop = threading.Event()

    @property
    def link(self) -> Link | None:
        """The poller's link while the backend is open."""
        return self._link

    def start(self, link: Link) -> None:
        """Poll on ``link`` (the backend opened); polling itself starts with a wait."""
        with self._lock:
            self._stop = threading.Event()
            self._polling = False
            self._link = link

    def stop(self) -> Link | None:
        """Stop polling (the backend closes); the link, for the caller to close."""
        with self._lock:
            self._stop.set()
            link, self._link = self._link, None
        return link

    def found_jobs(self) -> None:
        """A claim found jobs: keep the fast cadence."""
        self._last_found = time.monotonic()

    # -- on the claimer's loop -----------------------------------------------------------

    async def wait(
        self,
        timeout: float,
        limit: int,
        lease: float,
        worker_id: str,
        queues: tuple[str, ...] = ("default",),
    ) -> list[Attempt]:
        """Wait up to ``timeout`` for a wake-up or for the jobs the poller claims for
        us ([] unless it did) from ``queues``. Whatever the poller claimed for us is
        never stranded: it is returned, or, if we are cancelled, released at once."""
        request = Request(asyncio.get_running_loop(), limit, lease, worker_id, queues)
        self._enlist(request)
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(request.future), timeout)
            with self._lock:
                if request.state == WAITING:
                    self._requests.remove(request)
                    request.state = DONE
                taken = request.state == TAKEN
            if taken:
                # Timed out just as the poller took us: its claim (two round trips) is
                # on its way, and ours to take.
                await asyncio.shield(request.future)
            with self._lock:
                attempts, request.attempts = request.attempts, []
                request.state = DONE
            return attempts
        except BaseException:  # cancelled (or worse): give back what came for us
            with self._lock:
                attempts, request.attempts = request.attempts, []
                if request.state == WAITING:
                    self._requests.remove(request)
                # Taken: the poller's claim lands after we left, so it releases it.
                request.state = GONE if request.state == TAKEN else DONE
            if attempts:
                self._give_back(attempts)
            raise

    def wake_all(self) -> None:
        """End every wait (they look for themselves; the poller no longer claims for
        them)."""
        with self._lock:
            woken = list(self._requests)
            self._requests.clear()
            for request in woken:
                request.state = DONE
        for request in woken:
            request.wake()

    def _enlist(self, request: Request) -> None:
        """Queue ``request`` for the poller, starting it if it is not running."""
        with self._lock:
            self._requests.append(request)
            if self._polling or self._link is None:
                return
            self._polling = True
            link, stop = self._link, self._stop
        with suppress(BackendError):  # closed meanwhile: nobody to poll for
            link.submit(lambda: self._poll_loop(link, stop))

    # -- on the poller's thread ----------------------------------------------------------

    def _poll_loop(self, link: Link, stop: threading.Event) -> None:
        """While claimers wait: probe; when it found a claimable job, claim for the
        waiting claimers; sleep the adaptive interval; again."""
        try:
            self._polling_on(link, stop)
        finally:
            with self._lock:
                if stop is self._stop:  # else a later open() has its own poller
                    self._polling = False

    def _polling_on(self, link: Link, stop: threading.Event) -> None:
        probe_sql = self._sql["probe"]
        if time.monotonic() - self._last_found < self._idle_after:
            self._poll = self._min_poll
        # Sleep first: the claimer that started us has just looked.
        while not stop.wait(self._poll):
            with self._lock:
                if not self._requests:
                    if stop is self._stop:
                        self._polling = False  # with the check: a new claimer restarts us
                    return
                # The queues someone waits for, in no particular order.
                queues = sorted({queue for request in self._requests for queue in request.queues})
            try:
                row = link.call(fetch_one, probe_sql, {"queues": queues})
            except Exception:  # the claimers' own claims report server trouble
                self._poll = min(self._poll * 2, self._max_poll)  # don't hammer a sick server
                continue
            found, held, mark = row if row is not None else (False, False, None)
            now = time.monotonic()
            if found:
                self._last_found = now
                self._poll = self._min_poll
                self._claim_for_waiting(link)
            elif now - self._last_found > self._idle_after:
                self._poll = min(self._poll * 2, self._max_poll)
            else:
                self._poll = self._min_poll
            if held:
                self._poll = min(self._poll, self._held_poll)
            if (held, mark) != self._mark:
                # Room may have come in a limited queue, or jobs into an empty one (or
                # a limit changed): the claimers look, with the limited claim (this
                # also moves the wake generation for one about to wait).
                self._mark = (held, mark)
                if mark is not None:
                    self._wake()

    def _claim_for_waiting(self, link: Link) -> None:
        """Run the claim for the oldest waiting claimer, with its limit and lease, on
        the poller's connection and hand it the attempts (saving its wake-up and a
        hand-off to a pooled link); then for the next one while claims come back full.
        Attempts whose claimer left meanwhile are released at once."""
        while True:
            with self._lock:
                if not self._requests:
                    return
                request = self._requests.popleft()
                request.state = TAKEN
            try:
                attempts = link.call(
                    self._claim, request.limit, request.lease, request.worker_id, request.queues
                )
            except Exception:  # the claimer, woken empty-handed, claims and reports it
                attempts = []
            with self._lock:
                delivered = request.state == TAKEN
                if delivered:
                    request.state = DELIVERED
                    request.attempts = attempts
            if not (delivered and request.wake()) and attempts:
                self._release_on(link, attempts)
            if len(attempts) < request.limit:
                with self._lock:
                    others = any(r.queues != request.queues for r in self._requests)
                if not others:
                    return  # its queues ran dry (or the claim failed): back to probing
                # Claimers of other queues wait: the jobs the probe saw may be theirs.

    def _release_on(self, link: Link, attempts: list[Attempt]) -> None:
        """Release attempts nobody took, on the poller's connection, and wake the
        claimers for them (if this fails, their leases expire: nothing is lost)."""
        with suppress(Exception):
            link.call(run, self._sql["release"], self._handles(attempts), False)
        self._wake()
