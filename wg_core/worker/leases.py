"""The lease keeper: renews the leases of every held attempt and keeps the worker
registered; an attempt whose lease was lost is cancelled (someone else owns it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from wg_core.backend import Backend, HeartbeatReply, WorkerInfo
from wg_core.errors import BackendError
from wg_core.options import WorkerConfig
from wg_core.worker.ledger import Ledger

__all__ = ["LeaseKeeper"]

logger = logging.getLogger("wg.pool")


class LeaseKeeper:
    """Heartbeats every ``heartbeat_interval``: renews the held attempts' leases,
    refreshes the registry entry ``worker_info()`` describes, and acts on the reply
    (lost leases cancel their jobs; an operator's stop request calls ``request_stop``).
    ``renewed_at`` is the monotonic time of the last heartbeat that renewed leases."""

    __slots__ = (
        "_backend",
        "_call",
        "_config",
        "_ledger",
        "_request_stop",
        "_worker_info",
        "renewed_at",
    )

    def __init__(
        self,
        *,
        backend: Backend,
        config: WorkerConfig,
        ledger: Ledger,
        worker_info: Callable[[], WorkerInfo],
        request_stop: Callable[[], None],
    ) -> None:
        self._backend = backend
        self._config = config
        self._ledger = ledger
        self._worker_info = worker_info
        self._request_stop = request_stop
        self._call: asyncio.Task[HeartbeatReply] | None = None
        self.renewed_at = 0.0

    async def run(self) -> None:
        """Heartbeat until cancelled (a background task of the pool)."""
        config = self._config
        while True:
            # The write runs in its own task so that stopping the loop never leaves it
            # half-sent: unregistering waits for it, or it could re-register us after.
            self._call = asyncio.create_task(
                self._backend.heartbeat(
                    self._worker_info(), attempts=self._ledger.held(), lease=config.lease
                ),
                name="wg-heartbeat-write",
            )
            sent_at = time.monotonic()
            try:
                reply = await asyncio.shield(self._call)
            except BackendError as exc:
                logger.warning("heartbeat failed: %s", exc)
            else:
                self.renewed_at = sent_at
                self._on_reply(reply)
            await asyncio.sleep(config.heartbeat_interval)

    def _on_reply(self, reply: HeartbeatReply) -> None:
        ledger = self._ledger
        for token in reply.lost:
            ledger.drop(token)
            task = ledger.active.get(token)
            if task is not None:
                logger.warning("lease lost for a running job: cancelling it")
                task.cancel()
        if reply.stop_requested:
            self._request_stop()

    async def settle(self) -> None:
        """Wait for a heartbeat still being written (before unregistering)."""
        if self._call is not None:
            with contextlib.suppress(BackendError):
                await self._call
