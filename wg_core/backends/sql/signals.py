"""``Signal``: an in-process wake-up with a generation, for callers that look, then wait.

The SQL engine keeps two: jobs finished (``wait_finished``) and cancel requests
(``wait_cancel_request``). A waiter reads ``generation``, looks at the database, and
waits with that generation: a wake-up between its look and its wait is not lost (the
generation moved on, so the wait returns at once). Waiters may sit on different event
loops and threads (the worker pool's lease keeper runs its own), so each is woken
through its own loop.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["Signal"]


class Signal:
    """Wakes every waiter, from any thread; counts its wake-ups."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    @property
    def generation(self) -> int:
        """How many wake-ups there were (compare before and after looking)."""
        return self._generation

    def wake(self) -> None:
        """Wake every waiter, and the next one whose generation is now old."""
        with self._lock:
            self._generation += 1
            waiting = list(self._waiting)
            self._waiting.clear()
        for loop, future in waiting:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, generation: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up after ``generation``; True if
        there was one (at once if there was one already)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if self._generation != generation:
                return True
            self._waiting.add(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiting.discard(entry)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
