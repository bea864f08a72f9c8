"""``RedisQueueSlots``: a namespace whose every queue has a Redis Cluster slot of its own.

A namespace of ``RedisBackend`` lives in one slot (``{ns}:…``). Here the queue
``default`` and the namespace's registries (meta, workers, periodic entries, the
namespace pause flag) keep that slot, with the spec's key names, and every other queue
``q`` gets the keys of a whole namespace under the tag ``{ns:q}`` (its jobs AND its
bookkeeping: running attempts, leases, attempt records, id index, finished jobs,
counters, limits), so that the scripts, unchanged and single-slot, serve each queue in
its own slot, and different queues hash to different slots (to different masters of a
cluster). One ``RedisBackend`` per slot does the work (``slot=``); this class routes
each call to the slot of the queue it names (an attempt token names its queue) and
merges what the namespace-wide calls read from every slot. docs/redis.md says which
guarantees hold across queues; in short:

- a job id and a unique key are unique *within a queue* (each queue's own index);
- an enqueue or import of several queues is all or nothing per queue, one script per
  queue in the order the queues first appear;
- a claim over several queues is one script per queue, in the queues' order (strict
  order within one call; a waiting claim waits on every slot at once and the first
  slot to answer wins);
- a look-up by id asks each queue of the registry (``{ns}:queue_slots``);
- the namespace pause flag is written to the namespace slot, then to each registered
  queue's slot; a queue is registered before its slot copies the flag, so that either
  the pause sees the queue or the queue sees the pause;
- a periodic tick of an entry whose queue is not ``default``: the tick is claimed in
  the namespace slot (exactly once across pools) and recorded pending there, then its
  job is stored in the queue's slot under the id the tick recorded, then the record is
  deleted; a pool that dies in between leaves the record, and a later fire finishes it
  (slot_ticks.py): never lost, run twice only if the pool died after storing the job
  and the job was already forgotten when the record was finished.

A namespace keeps the layout it was created with: ``{ns}:meta`` records ``slots`` =
``queue`` when this class creates it; opened here, a namespace created with one slot
stays one slot (every queue routed to ``RedisBackend``), and ``RedisBackend`` refuses a
namespace created with a slot per queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from wg_core.backend import (
    Attempt,
    Completion,
    HeartbeatReply,
    ImportedJob,
    JobState,
    NewJob,
    Progress,
    WorkerInfo,
)
from wg_core.backends.redis.backend import RedisBackend
from wg_core.backends.redis.claiming import MIN_BLOCK
from wg_core.backends.redis.keys import Keys, split_slots, token_queue
from wg_core.backends.redis.layout import slots_recorded
from wg_core.backends.redis.slot_reads import SlotReads
from wg_core.backends.redis.slot_ticks import TICK_GRACE, SlotTicks
from wg_core.errors import ConfigError, NamespaceNotFoundError
from wg_core.namespace import validate_namespace
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["RedisQueueSlots"]

T = TypeVar("T")

_SLOTS_FIELD: Final = "slots"
_PER_QUEUE: Final = "queue"


def _by_queue(items: Iterable[T], queue_of: Callable[[T], str]) -> dict[str, list[T]]:
    """``items`` grouped by queue, the queues in order of first appearance."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(queue_of(item), []).append(item)
    return groups


def _token_queue(item: Attempt | Completion) -> str:
    attempt = item.attempt if isinstance(item, Completion) else item
    return token_queue(attempt.token)


class RedisQueueSlots(SlotReads, SlotTicks):
    """wg's backend on Redis with a slot per queue (see the module docstring).

    ``url`` as ``RedisBackend``'s (``slots=queue`` in it is accepted and dropped);
    ``tick_grace``: seconds after which another pool finishes a periodic tick whose job
    its pool did not store (slot_ticks.py); the other options go to each slot's
    ``RedisBackend``.
    """

    supports_transactional_enqueue: Final = False

    def __init__(
        self, url: str, namespace: str = "wg", *, tick_grace: float = TICK_GRACE, **options: Any
    ) -> None:
        self._url, _ = split_slots(url)
        self._tick_grace = tick_grace
        self._given_url = url
        self._options = options
        self.namespace: Final = validate_namespace(namespace)
        self._home = RedisBackend(self._url, self.namespace, slot="", **options)
        self._keys = self._home._keys
        self._registry = f"{self._keys.prefix}:queue_slots"
        self._slots: dict[str, RedisBackend] = {}
        self._opening: dict[str, asyncio.Future[RedisBackend]] = {}
        self._create = True
        self._per_queue = True

    # -- properties and lifecycle ---------------------------------------------------------

    @property
    def display_url(self) -> str:
        return self._home.display_url

    def __repr__(self) -> str:
        return f"RedisQueueSlots({self.display_url!r}, namespace={self.namespace!r})"

    async def open(self, *, create: bool = True) -> None:
        """Open the namespace slot (creating it, recording ``slots=queue``, when
        nothing is there and ``create``). A writer also opens, and so upgrades, every
        registered queue's slot; a reader opens them on first use."""
        self._create = create
        transport = self._home._transport
        await transport.open()
        try:
            if create:
                recorded = await transport.command("HGET", self._keys.meta, _SLOTS_FIELD)
                if recorded is None and not await transport.command(
                    "EXISTS", *self._keys.existing_marks()
                ):
                    await self._refuse_untagged()
                    # A new namespace: record the layout before anything else is written
                    # (HSETNX: of several openers, the first one's record holds).
                    await transport.command("HSETNX", self._keys.meta, _SLOTS_FIELD, _PER_QUEUE)
            await self._home.open(create=create)
            self._per_queue = await slots_recorded(transport, self._keys)
            if create:
                # Each queue's slot records its own layout version: a writer's open
                # upgrades them all, as it does one namespace (readers then find them
                # current).
                for name in await self._registered():
                    await self._slot(name)
        except BaseException:
            await self.close()
            raise

    async def _refuse_untagged(self) -> None:
        """Refuse to create the namespace beside one of the same name stored without the
        hash tag (``ns:jobs``…, a single server's default): its jobs would not be seen."""
        if self._home._transport.clustered:
            return  # a cluster never holds a namespace without the tag
        untagged = Keys.for_namespace(self.namespace, hash_tag=False).existing_marks()
        if await self._home._transport.command("EXISTS", *untagged):
            raise ConfigError(
                f"namespace {self.namespace!r} at {self.display_url} exists without the hash "
                "tag (one slot): it keeps that layout; open it without slots=queue"
            )

    async def layout_version(self) -> int:
        return await self._home.layout_version()

    def clone(self) -> RedisQueueSlots:
        return RedisQueueSlots(
            self._given_url, self.namespace, tick_grace=self._tick_grace, **self._options
        )

    async def close(self) -> None:
        slots = list(self._slots.values())
        self._slots.clear()
        for backend in slots:
            await backend.close()
        await self._home.close()

    async def destroy(self) -> None:
        for name in await self._registered():
            backend = await self._slot(name)
            if backend is not None:
                await backend.destroy()
        await self._home._transport.command("UNLINK", self._registry)
        await self._home.destroy()
        # The slots are made (and registered) again on their next use.
        slots = list(self._slots.values())
        self._slots.clear()
        for backend in slots:
            await backend.close()

    # -- the slots ----------------------------------------------------------------------

    async def _registered(self) -> list[str]:
        """The queues that have a slot of their own, by name."""
        if not self._per_queue:
            return []
        names = await self._home._transport.command("SMEMBERS", self._registry)
        return sorted(set(names) - {DEFAULT_QUEUE})

    async def _slot(self, queue: str) -> RedisBackend | None:
        """The backend of ``queue``'s slot, opened (and, for a writer, registered and
        given the namespace pause); None for a reader when the slot was never made."""
        if queue == DEFAULT_QUEUE or not self._per_queue:
            return self._home
        backend = self._slots.get(queue)
        if backend is not None:
            return backend
        pending = self._opening.get(queue)
        if pending is None:
            pending = self._opening[queue] = asyncio.ensure_future(self._open_slot(queue))
        try:
            return await asyncio.shield(pending)
        except NamespaceNotFoundError:
            return None
        finally:
            if pending.done():
                self._opening.pop(queue, None)

    async def _open_slot(self, queue: str) -> RedisBackend:
        backend = RedisBackend(self._url, self.namespace, slot=queue, **self._options)
        if self._home._transport.clustered:
            # Every slot's calls through the namespace's one RedisCluster client.
            backend._transport.shares = self._home._transport
        try:
            if self._create:
                # Registered before the flag is read: a pause written meanwhile either
                # finds the queue in the registry or is read here.
                await self._home._transport.command("SADD", self._registry, queue)
            await backend.open(create=self._create)
            if self._create and await self._home.is_paused() != await backend.is_paused():
                await backend.set_paused(await self._home.is_paused())
        except BaseException:
            await backend.close()
            raise
        self._slots[queue] = backend
        return backend

    async def _writer(self, queue: str) -> RedisBackend:
        backend = await self._slot(queue)
        assert backend is not None  # a writer makes every slot it asks for
        return backend

    async def _every(self) -> list[tuple[str, RedisBackend]]:
        """Each slot that exists, the namespace's first (its queue ``default``)."""
        slots = [(DEFAULT_QUEUE, self._home)]
        for name in await self._registered():
            backend = await self._slot(name)
            if backend is not None:
                slots.append((name, backend))
        return slots

    # -- producing ------------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        groups = _by_queue(jobs, lambda job: job.queue)
        if len(groups) == 1:
            return await (await self._writer(jobs[0].queue)).enqueue(jobs)
        # One script per queue: all or nothing per queue, not across queues.
        ids: dict[int, str] = {}
        for queue, group in groups.items():
            stored = await (await self._writer(queue)).enqueue(group)
            for job, job_id in zip(group, stored, strict=True):
                ids[id(job)] = job_id
        return [ids[id(job)] for job in jobs]

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        stored = 0
        for queue, group in _by_queue(jobs, lambda job: job.queue).items():
            stored += await (await self._writer(queue)).import_jobs(group)
        return stored

    # -- working --------------------------------------------------------------------------

    async def claim(
        self,
        *,
        limit: int,
        lease: float,
        worker_id: str,
        wait: float = 0.0,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> list[Attempt]:
        queues = tuple(dict.fromkeys(queues))
        if len(queues) == 1 or not self._per_queue:
            backend = await self._writer(queues[0])
            return await backend.claim(
                limit=limit, lease=lease, worker_id=worker_id, wait=wait, queues=queues
            )
        slots = [(queue, await self._writer(queue)) for queue in queues]
        deadline = time.monotonic() + wait
        while True:
            attempts: list[Attempt] = []
            try:
                for queue, backend in slots:  # strict order: one script per queue
                    attempts += await backend.claim(
                        limit=limit - len(attempts),
                        lease=lease,
                        worker_id=worker_id,
                        queues=(queue,),
                    )
                    if len(attempts) >= limit:
                        break
            except asyncio.CancelledError:
                # Cancelled after earlier queues leased: put those back at the front
                # rather than leave them to wait out their lease (each slot's own
                # claim does the same for what its script leased).
                if attempts:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self.release(attempts))
                raise
            remaining = deadline - time.monotonic()
            if attempts or remaining < MIN_BLOCK:
                return attempts
            attempts = await self._first_to_claim(slots, limit, lease, worker_id, remaining)
            if attempts:
                return attempts

    async def _first_to_claim(
        self,
        slots: Sequence[tuple[str, RedisBackend]],
        limit: int,
        lease: float,
        worker_id: str,
        wait: float,
    ) -> list[Attempt]:
        """A waiting claim on every slot at once: what the first to answer leased (and
        any other that answered meanwhile, up to ``limit``; the rest is released)."""
        tasks = [
            asyncio.ensure_future(
                backend.claim(
                    limit=limit, lease=lease, worker_id=worker_id, wait=wait, queues=(queue,)
                )
            )
            for queue, backend in slots
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()  # a cancelled claim puts back what it leased
            results = await asyncio.gather(*tasks, return_exceptions=True)
        attempts: list[Attempt] = []
        errors: list[BaseException] = []
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                continue
            if isinstance(result, BaseException):
                errors.append(result)
            else:
                attempts += result
        if attempts[limit:]:
            await self.release(attempts[limit:])
        if errors and not attempts:
            raise errors[0]
        return attempts[:limit]

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        done = 0
        for queue, group in _by_queue(attempts, _token_queue).items():
            done += await (await self._writer(queue)).complete(group)
        return done

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        backend = await self._writer(token_queue(attempt.token))
        return await backend.retry(attempt, raw=raw, delay=delay, error=error)

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        backend = await self._writer(token_queue(attempt.token))
        return await backend.bury(attempt, raw=raw, error=error)

    async def release(self, attempts: Sequence[Attempt]) -> int:
        released = 0
        for queue, group in _by_queue(attempts, _token_queue).items():
            released += await (await self._writer(queue)).release(group)
        return released

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        backend = await self._writer(token_queue(attempt.token))
        return await backend.finish_cancelled(attempt, keep=keep, error=error)

    async def set_progress(self, attempt: Attempt, progress: Progress) -> bool:
        backend = await self._writer(token_queue(attempt.token))
        return await backend.set_progress(attempt, progress)

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        # The namespace slot registers the worker (and says whether it was asked to
        # stop); each slot of a queue it serves or holds attempts of extends their
        # leases and registers it too: that slot's reclaim reads when it was last
        # seen, so a slot must hear from it even while it holds nothing there.
        groups = _by_queue(attempts, _token_queue)
        if self._per_queue:
            for queue in worker.queues:
                groups.setdefault(queue, [])
        reply = await self._home.heartbeat(
            worker, attempts=groups.pop(DEFAULT_QUEUE, []), lease=lease
        )
        lost, cancelled = set(reply.lost), set(reply.cancelled)
        for queue, group in groups.items():
            part = await (await self._writer(queue)).heartbeat(worker, attempts=group, lease=lease)
            lost |= part.lost
            cancelled |= part.cancelled
        return HeartbeatReply(
            lost=frozenset(lost),
            stop_requested=reply.stop_requested,
            cancelled=frozenset(cancelled),
        )

    async def wait_cancel_request(self, *, timeout: float) -> bool:
        slots = await self._every()
        if len(slots) == 1:
            return await self._home.wait_cancel_request(timeout=timeout)
        tasks = [
            asyncio.ensure_future(backend.wait_cancel_request(timeout=timeout))
            for _, backend in slots
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return any(task.result() for task in done if not task.cancelled())

    async def unregister_worker(self, worker_id: str) -> None:
        for _, backend in await self._every():
            await backend.unregister_worker(worker_id)

    async def promote(self, state: JobState, *, limit: int) -> int:
        moved = 0
        for _, backend in await self._every():
            if moved >= limit:
                break
            moved += await backend.promote(state, limit=limit - moved)
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        taken: list[Attempt] = []
        for _, backend in await self._every():
            if len(taken) >= limit:
                break
            taken += await backend.reclaim_expired(
                limit=limit - len(taken),
                lease=lease,
                worker_id=worker_id,
                silent_after=silent_after,
            )
        return taken
