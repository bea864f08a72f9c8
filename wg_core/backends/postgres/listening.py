"""How the PostgreSQL backend waits (mixed into ``PostgresBackend``): one LISTEN
connection per backend on the namespace's channels (``{ns}_jobs``: jobs became ready;
``{ns}_finished``: jobs finished; ``{ns}_cancel``: a cancel was requested), each
notification waking this process's idle claimers, ``wait_finished`` or
``wait_cancel_request``; while it is down, they poll."""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from wg_core.backend import Attempt
from wg_core.backends.common import scrub_exception
from wg_core.backends.postgres.driver import load_psycopg, query
from wg_core.backends.sql.base import SqlBackend

__all__ = ["Listening"]

logger = logging.getLogger("wg.postgres")


class Listening(SqlBackend):
    """Waiting on LISTEN/NOTIFY; ``PostgresBackend`` provides the connections."""

    _listener: asyncio.Task[None] | None
    _listening: bool
    _listener_ready: asyncio.Event | None
    _poll_interval: float

    @abc.abstractmethod
    def _connect_kwargs(self) -> dict[str, Any]:
        """libpq settings of wg's connections (see ``PostgresBackend``)."""

    async def _wait_for_work(
        self,
        timeout: float,
        generation: int,
        limit: int,
        lease: float,
        worker_id: str,
        queues: Sequence[str],
    ) -> list[Attempt]:
        if self._wake_generation != generation:
            return []  # woken while the claim ran: look again at once
        if await self._start_listener(min(timeout, 2.0)):
            return []  # LISTEN is in place now: anything enqueued before it needs a look
        if self._wake_generation != generation:
            return []
        await self._waiters.wait(timeout if self._listening else min(timeout, self._poll_interval))
        return []

    async def _start_listener(self, wait: float) -> bool:
        """Start the LISTEN connection unless it runs (waiting up to ``wait`` seconds
        for it to listen); whether it was started now."""
        if self._listener is not None and not self._listener.done():
            return False
        self._listener_ready = asyncio.Event()
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        with suppress(TimeoutError):
            await asyncio.wait_for(self._listener_ready.wait(), wait)
        return True

    async def _start_signals(self) -> None:
        await self._start_listener(2.0)

    def _signals_live(self) -> bool:
        return self._listening

    def _wake_everyone(self) -> None:
        """Notifications may have been missed (LISTEN connection new or lost): idle
        claimers and ``wait_finished`` look again. (A cancel request missed meanwhile
        reaches its worker at its next regular heartbeat.)"""
        self._signal()
        self._finished.wake()

    async def _listen(self) -> None:
        """Keep one LISTEN connection up on the namespace's channels: ready jobs wake
        local claimers, finished jobs ``wait_finished``, cancel requests
        ``wait_cancel_request``."""
        channels = {
            f"{self.namespace}_jobs": self._signal,
            f"{self.namespace}_finished": self._finished.wake,
            f"{self.namespace}_cancel": self._cancels.wake,
        }
        psycopg, _ = load_psycopg()
        backoff = 0.05
        while self._opened:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self._url, **self._connect_kwargs()
                )
                async with connection:
                    await connection.execute(query(self._sql["listen"]))
                    self._listening = True
                    if self._listener_ready is not None:
                        self._listener_ready.set()
                    self._wake_everyone()  # notifications may have been missed while down
                    backoff = 0.05
                    async for notify in connection.notifies():
                        channels.get(notify.channel, self._signal)()
            except psycopg.Error as exc:
                logger.warning(
                    "LISTEN connection to %s lost: %s",
                    self.display_url,
                    scrub_exception(exc, self._url),
                )
            finally:
                self._listening = False
            self._wake_everyone()  # waiters fall back to polling
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 5.0)
