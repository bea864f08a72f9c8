"""Wake-ups on Redis pub/sub: finished jobs (``wait_finished``) and cancel requests
(``wait_cancel_request``).

The scripts announce them with a ``PUBLISH`` on the namespace's two channels, in the
same script as the transition: ``{ns}:signal:finished`` (a JSON list of job ids, one
message per ``complete`` batch that keeps its jobs, and per cancel, ``finish_cancelled``
and burial) and ``{ns}:signal:cancel`` (the id of a running job whose cancel was
requested). A ``PUBLISH`` nobody listens to costs the server about a microsecond, and
``complete`` with ``keep`` 0 (a bare ``Attempt``) sends none.

A backend instance has two listeners, one per channel, each on a connection of its own
opened at its first wait: a worker pool waits only for cancel requests, and must not
receive (and decode) a message for every batch of jobs it completes; a client waiting
for a result listens to finished jobs only. Each listens from its first wait
and kept until ``close``, so that a wait costs no subscribe round trip and nothing
published between two waits is missed: a cancel request that arrives while nobody waits
makes the next ``wait_cancel_request`` return at once. Messages are delivered only
while connected; after a reconnect every waiter checks again (and a cancel wait
returns, so that the lease keeper heartbeats), and waiters re-check now and then in
any case (``wait_finished`` of a job completed with ``keep`` 0 sees it gone).
The connection has no socket timeout (see ``Transport.connect``): waits are bounded
with ``asyncio.timeout``, never by a blocking timeout racing redis-py's socket timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Final

from wg_core.backends.redis.keys import Keys
from wg_core.backends.redis.transport import Transport
from wg_core.urls import scrub_secrets

__all__ = ["Signals"]

_log = logging.getLogger(__name__)

_READY_WAIT: Final = 2.0  # how long a first wait waits for the subscription
_RETRY_FIRST: Final = 0.05
_RETRY_MAX: Final = 2.0


class Signals:
    """The pub/sub listener of one backend instance (used from one event loop)."""

    def __init__(self, transport: Transport, keys: Keys, *, cancel: bool) -> None:
        self._transport = transport
        self._finished_channel = keys.finished_channel
        self._cancel_channel = keys.cancel_channel
        # The one channel this listener subscribes to (see the module docstring).
        self._channel = keys.cancel_channel if cancel else keys.finished_channel
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._cancel = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Future[None] | None = None

    @property
    def ready(self) -> bool:
        """Whether the listener is subscribed now (messages are being delivered)."""
        return self._ready.is_set()

    async def listen(self, *, wait: float = _READY_WAIT) -> bool:
        """Start listening if not yet, waiting up to ``wait`` seconds (at most
        ``_READY_WAIT``) for the subscription; whether subscribed."""
        if self._task is None or self._task.done():
            self._cancel = asyncio.Event()
            self._ready = asyncio.Event()
            self._task = asyncio.ensure_future(self._listen())
        if not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, _READY_WAIT)):
                    await self._ready.wait()
        return self._ready.is_set()

    def watch(self, job_id: str) -> asyncio.Event:
        """An event set whenever job ``job_id`` is announced finished (or the listener
        reconnected); give it back with ``unwatch``."""
        event = asyncio.Event()
        self._watchers.setdefault(job_id, set()).add(event)
        return event

    def unwatch(self, job_id: str, event: asyncio.Event) -> None:
        """Stop delivering to ``event``."""
        events = self._watchers.get(job_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._watchers[job_id]

    async def wait_cancel(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a cancel request (one that arrived since
        the last wait counts at once)."""
        deadline = time.monotonic() + timeout
        await self.listen(wait=timeout)
        event = self._cancel
        if not event.is_set():
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await event.wait()
            except TimeoutError:
                return False
        event.clear()
        return True

    async def close(self) -> None:
        """Stop listening (``listen`` starts again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._ready.clear()

    # -- the listener ----------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = _RETRY_FIRST
        first = True
        while not self._transport.closing:
            client = self._transport.connect()
            pubsub: Any = client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._ready.set()
                        delay = _RETRY_FIRST
                        if not first:
                            # Messages sent while disconnected are lost: check again.
                            self._wake_everyone()
                        first = False
                    elif kind == "message":
                        self._deliver(message.get("channel"), message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.debug(
                    "pub/sub listener lost its connection: %s",
                    scrub_secrets(str(exc), self._transport.url),
                )
            finally:
                self._ready.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            self._wake_everyone()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _deliver(self, channel: Any, data: Any) -> None:
        if channel == self._cancel_channel:
            self._cancel.set()
            return
        try:
            job_ids = json.loads(data)
        except (TypeError, ValueError):
            return
        if not isinstance(job_ids, list):
            return
        watchers = self._watchers
        for job_id in job_ids:
            for event in watchers.get(job_id, ()) if isinstance(job_id, str) else ():
                event.set()

    def _wake_everyone(self) -> None:
        for events in self._watchers.values():
            for event in events:
                event.set()
        self._cancel.set()
