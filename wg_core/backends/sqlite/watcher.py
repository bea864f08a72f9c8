"""Wake-ups for commits made by other processes (``PRAGMA data_version``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["CommitWatcher"]

_BUSY_WINDOW: Final = 1.0  # seconds after a commit during which the watcher polls faster


class CommitWatcher:
    """Wakes idle claimers when another connection (another process) commits.

    A thread polls ``PRAGMA data_version`` on its own connection every ``interval``
    seconds (a few microseconds each: it reads shared memory, not the file) and calls
    ``on_change`` (from its thread) for each change it sees. Within a second of a
    change it polls five times as often: work tends to come in runs, and a quiet queue
    costs the slower rate only.
    It polls only while a claimer is idle (between ``enter`` and ``leave``): a busy
    worker's claims find the work themselves, and its own commits would otherwise keep
    the watcher polling at the fast rate for nothing.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        query: str,
        on_change: Callable[[], object],
        interval: float,
    ) -> None:
        self.ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._connect = connect
        self._query = query
        self._on_change = on_change
        self._interval = interval
        self._stopping = threading.Event()
        self._wanted = threading.Event()  # set when a claimer goes idle
        self._idle = 0  # claimers between enter() and leave()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wg-sqlite-watch", daemon=True)
        self._thread.start()

    def enter(self) -> None:
        """A claimer found no work and is about to wait: watch (at once) until it leaves."""
        with self._lock:
            self._idle += 1
        self._wanted.set()

    def leave(self) -> None:
        """The claimer stopped waiting."""
        with self._lock:
            self._idle -= 1

    async def stop(self) -> None:
        """Stop the thread (and close its connection)."""
        self._stopping.set()
        self._wanted.set()
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            connection = self._connect()
        except sqlite3.Error:
            self._set_ready()  # claimers look again when their wait ends
            return
        except BaseException:
            self._set_ready()  # never leave a claimer waiting on a dead thread
            raise
        try:
            last = self._version(connection)
            self._set_ready()
            busy_until = 0.0
            interval = self._interval
            while not self._stopping.is_set():
                if not self._idle:
                    # Nobody waits: sleep until a claimer goes idle, then look at once
                    # (commits made meanwhile show as one change).
                    self._wanted.wait()
                    self._wanted.clear()
                    if self._stopping.is_set():
                        break
                elif self._stopping.wait(interval):
                    break
                current = self._version(connection)
                now = time.monotonic()
                if current != last:
                    last = current
                    self._on_change()
                    busy_until = now + _BUSY_WINDOW
                interval = self._interval / 5 if now < busy_until else self._interval
        finally:
            connection.close()

    def _set_ready(self) -> None:
        # The claimer that started the watcher awaits ``ready`` through
        # ``asyncio.wrap_future``: a claimer cancelled meanwhile (shutdown) cancels it.
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            self.ready.set_result(None)

    def _version(self, connection: sqlite3.Connection) -> int | None:
        try:
            value: int = connection.execute(self._query).fetchone()[0]
        except sqlite3.Error:
            return None  # locked for a moment (timeout=0): look again next time
        return value
