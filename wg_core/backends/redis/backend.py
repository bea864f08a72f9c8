"""``RedisBackend``: the backend contract on Redis, and its working verbs.

The package docstring (``wg_core.backends.redis``) says which guarantees it gives and
how. This module holds the class, its lifecycle and the verbs a worker and a producer
call (enqueue, claim, the acknowledgements); the pools' upkeep (heartbeat, promote,
reclaim) is ``RedisUpkeep``'s (upkeep.py), the admin verbs ``RedisAdmin``'s
(admin.py), the blocking claims ``BlockingClaims``' (claiming.py), the connections and
error handling ``Transport``'s (transport.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any, Final

from wg_core.backend import Attempt, Completion, NewJob
from wg_core.backends.redis.admin import RedisAdmin
from wg_core.backends.redis.claiming import (
    BLOCK_SLICE,
    MIN_BLOCK,
    BlockingClaims,
    ClaimPlan,
    claim_reply,
)
from wg_core.backends.redis.history import RedisHistory
from wg_core.backends.redis.imports import RedisImports
from wg_core.backends.redis.keys import (
    TOKEN_QUEUE_MARK,
    Keys,
    split_hash_tag,
    split_slots,
    token_queue,
)
from wg_core.backends.redis.layout import open_layout, read_layout, refuse_slot_per_queue
from wg_core.backends.redis.limiting import RedisLimits
from wg_core.backends.redis.periodic import RedisPeriodic
from wg_core.backends.redis.scripts import load_scripts
from wg_core.backends.redis.signals import Signals
from wg_core.backends.redis.transport import Transport
from wg_core.backends.redis.upkeep import RedisUpkeep
from wg_core.errors import BackendError, ConfigError, DuplicateJobError, WgError
from wg_core.namespace import validate_namespace
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["RedisBackend"]

# Lua's unpack() is bounded by the C stack (about 8000 values): batches stay well below.
_MAX_BATCH: Final = 1000


def _attempts(items: Sequence[Attempt | Completion]) -> list[Attempt]:
    return [item.attempt if isinstance(item, Completion) else item for item in items]


class RedisBackend(RedisPeriodic, RedisLimits, RedisHistory, RedisUpkeep, RedisAdmin, RedisImports):
    """wg's backend on Redis ≥ 6.2. See the package docstring for the guarantees.

    ``url``: a ``redis://`` or ``rediss://`` URL (database, password and TLS options as
    redis-py reads them), ``redis+sentinel://`` (sentinel.py) or ``redis+cluster://``
    (cluster.py; the hash tag is then always on). ``hash_tag``: name keys ``{ns}:…``
    so that the namespace lives in one Redis Cluster slot; ``?hash_tag=true`` in the URL
    does the same, for the CLI and TUI. ``socket_timeout`` bounds every non-blocking command.
    ``slot`` (``RedisQueueSlots``' own, slots.py): ``""`` the namespace slot of a
    namespace with a slot per queue, a queue's name that queue's slot (``{ns:queue}``).
    """

    supports_transactional_enqueue: Final = False  # Redis has no transaction to join

    def __init__(
        self,
        url: str,
        namespace: str = "wg",
        *,
        hash_tag: bool = False,
        socket_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_connections: int | None = None,
        slot: str | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "hash_tag": hash_tag,
            "slot": slot,
            "socket_timeout": socket_timeout,
            "connect_timeout": connect_timeout,
            "max_connections": max_connections,
        }
        self._given_url = url
        untagged, url_hash_tag = split_hash_tag(url)
        tag_refused = untagged != url and not url_hash_tag
        url, per_queue = split_slots(untagged)
        if per_queue and slot is None:
            raise ConfigError("slots=queue is RedisQueueSlots': open it with backend_from_url")
        self._slot = slot
        self.namespace: Final = validate_namespace(namespace)
        self._transport = Transport(
            url,
            self.namespace,
            scripts=load_scripts(),
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
        )
        # A slot-per-queue namespace names every key with a hash tag, on a single
        # server too: the same keys as on a cluster.
        self._hash_tag = hash_tag or url_hash_tag or slot is not None
        if self._transport.clustered:
            if tag_refused:
                raise ConfigError(
                    "hash_tag=false cannot be used with Redis Cluster: a namespace's keys "
                    "must share one slot there"
                )
            # On a cluster every script's keys must share a slot: the namespace's tag.
            self._hash_tag = True
        self._keys = Keys.for_namespace(self.namespace, hash_tag=self._hash_tag, slot=slot)
        self._transport.slot_key = self._keys.meta
        self._claims = BlockingClaims(self._transport, self._keys, self.release)
        self._signals = Signals(self._transport, self._keys, cancel=False)
        self._cancel_signals = Signals(self._transport, self._keys, cancel=True)
        k = self._keys
        self._enqueue_one_keys = (k.jobs, k.ids, k.aliases)
        self._enqueue_keys = (k.ids, k.aliases, k.placements, k.queues, k.order)
        self._claim_plans: dict[tuple[str, ...], ClaimPlan] = {}
        self._completed_keys: dict[str, str] = {}

    # -- properties ----------------------------------------------------------------------

    @property
    def display_url(self) -> str:
        return self._transport.display_url

    @property
    def keys(self) -> tuple[str, ...]:
        """Every fixed Redis key of this namespace (the spec's four first). Blocking claims
        also use short-lived claiming lists, ``{ns}:claiming:…``, listed in ``{ns}:claimers``."""
        return self._keys.all()

    def __repr__(self) -> str:
        return (
            f"RedisBackend({self.display_url!r}, namespace={self.namespace!r}, "
            f"hash_tag={self._hash_tag})"
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, *, create: bool = True) -> None:
        """Connect. A writer (``create=True``) creates the namespace at the current
        layout (``{ns}:meta``) or upgrades an older one in place (layout.py); a reader
        writes nothing, and raises ``NamespaceNotFoundError`` when no key of the
        namespace is there, ``SchemaOutdatedError`` when its layout is older."""
        transport = self._transport
        await transport.open()
        try:
            await open_layout(transport, self._keys, create=create, where=self.display_url)
            if self._slot is None:
                await refuse_slot_per_queue(transport, self._keys, where=self.display_url)
        except BaseException:
            await self.close()
            raise

    async def layout_version(self) -> int:
        """The layout version recorded for this namespace (0: none recorded)."""
        return await read_layout(self._transport, self._keys) or 0

    def clone(self) -> RedisBackend:
        """A new, unopened backend on the same server and namespace, same settings."""
        return RedisBackend(self._given_url, self.namespace, **self._options)

    async def close(self) -> None:
        await self._signals.close()
        await self._cancel_signals.close()
        await self._transport.close(self._claims.give_back_on_close())

    async def destroy(self) -> None:
        k = self._keys
        claiming = await self._transport.command("ZRANGE", k.claimers, 0, -1)
        names = {DEFAULT_QUEUE, *await self._transport.command("SMEMBERS", k.queues)}
        queue_keys = [key for name in names for key in k.queue(name).all()]
        await self._transport.command("UNLINK", *k.all(), *claiming, *queue_keys)

    # -- producing -----------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        keys: tuple[str, ...]
        args: list[Any]
        first = jobs[0]
        unique = any(job.unique_key is not None for job in jobs)
        one = len(jobs) == 1 and first.delay <= 0 and first.queue == DEFAULT_QUEUE
        if one and not first.priority and not unique:
            name, keys, args = "enqueue_one", self._enqueue_one_keys, [first.job_id, first.raw]
        elif one and not first.priority:
            name, keys = "enqueue_one_unique", (*self._enqueue_one_keys, self._keys.unique)
            args = [first.job_id, first.raw, first.unique_key, repr(first.unique_for)]
        else:
            name = "enqueue"
            keys, args = self._enqueue_script(jobs)
        keyed = any(job.limit_key is not None for job in jobs)
        if keyed:
            await self._store_limit_keys(jobs, after=False)
        try:
            # Repeating the call is harmless: the scripts recognise jobs they already stored.
            reply = await self._transport.run_idempotent(name, keys, args)
        except BackendError as exc:
            raise self._duplicate(exc, jobs) from None
        if keyed:
            await self._store_limit_keys(jobs, after=True)
        if not unique:
            return [job.job_id for job in jobs]
        if name == "enqueue_one_unique":  # 1 (stored) or the id holding the key
            return [first.job_id if reply == 1 else reply]
        # Per job: '' (stored) or the id of the job holding its unique key.
        return [holder or job.job_id for job, holder in zip(jobs, reply, strict=True)]

    def _duplicate(self, exc: BackendError, jobs: Sequence[NewJob]) -> WgError:
        """``DuplicateJobError`` naming the job a script refused as a duplicate (its
        ``WGDUP`` error), else ``exc`` itself."""
        message = str(exc)
        named = [job.job_id for job in jobs if f"WGDUP {job.job_id}" in message]
        if named:
            duplicate = max(named, key=len)  # "a" is in "WGDUP ab" too
            return DuplicateJobError(f"job id already stored: {duplicate}")
        return exc

    def _enqueue_script(self, jobs: Sequence[NewJob]) -> tuple[tuple[str, ...], list[Any]]:
        """The keys and arguments of the ``enqueue`` script for ``jobs``."""
        # Columns rather than rows: ids, envelopes, queue numbers, priorities, then
        # (if any job is scheduled) delays, which the script reads in chunks, then
        # (if any job has one) unique keys and their holds.
        timed = any(job.delay > 0 for job in jobs)
        names = list(dict.fromkeys(job.queue for job in jobs))
        # A batch of one queue at priority 0 (the usual bulk) sends no such columns.
        mixed = len(names) > 1 or any(job.priority for job in jobs)
        keys: tuple[str, ...] = self._enqueue_keys
        for queue in names:
            q = self._keys.queue(queue)
            keys += (q.jobs, q.prio, q.schedule, q.wake)
        args: list[Any] = [
            len(jobs),
            "1" if timed else "0",
            "1" if mixed else "0",
            len(names),
            *names,
        ]
        args += [job.job_id for job in jobs]
        args += [job.raw for job in jobs]
        if mixed:
            number = {queue: str(index) for index, queue in enumerate(names, start=1)}
            args += [number[job.queue] for job in jobs]
            args += [str(job.priority) for job in jobs]
        if timed:
            args += [repr(job.delay) if job.delay > 0 else "0" for job in jobs]
        if any(job.unique_key is not None for job in jobs):
            keys += (self._keys.unique,)
            args += [job.unique_key or "" for job in jobs]
            args += [repr(job.unique_for) for job in jobs]
        return keys, args

    # -- working -------------------------------------------------------------------------

    async def claim(
        self,
        *,
        limit: int,
        lease: float,
        worker_id: str,
        wait: float = 0.0,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> list[Attempt]:
        limit = min(limit, _MAX_BATCH)
        queues = tuple(queues)
        deadline = time.monotonic() + wait
        if await self._limits_view(queues, short=False):
            return await self._claim_limited(queues, limit, lease, worker_id, wait)
        plan = self._plan(queues)
        while True:
            if self._transport.closing:
                return []  # closed while waiting, as the memory backend's close() wakes it
            paused, attempts, idle = await self._claim_now(plan, limit, lease, worker_id)
            if len(attempts) < limit and await self._limits_view(queues, short=True):
                # A queue became limited: the plain claim skipped it.
                remaining = max(0.0, deadline - time.monotonic()) if not attempts else 0.0
                more = await self._claim_limited(
                    queues, limit - len(attempts), lease, worker_id, remaining
                )
                return attempts + more
            if attempts:
                return attempts
            remaining = deadline - time.monotonic()
            if remaining < MIN_BLOCK or self._transport.closing:
                return []
            if paused:
                await self._claims.block_until_pushed(
                    self._keys.resumed, min(remaining, BLOCK_SLICE)
                )
                continue
            paused, attempts = await self._claims.claim(
                plan, idle, limit, lease, worker_id, min(remaining, BLOCK_SLICE)
            )
            if attempts:
                return attempts

    def _plan(self, queues: tuple[str, ...]) -> ClaimPlan:
        plan = self._claim_plans.get(queues)
        if plan is None:
            plan = self._claim_plans[queues] = ClaimPlan.for_queues(self._keys, queues)
        return plan

    async def _claim_now(
        self, plan: ClaimPlan, limit: int, lease: float, worker_id: str
    ) -> tuple[bool, list[Attempt], list[Any]]:
        call = asyncio.ensure_future(
            self._transport.run("claim", plan.keys, plan.args(limit, lease, worker_id, False))
        )
        try:
            reply = await asyncio.shield(call)
        except asyncio.CancelledError:
            # The script may have leased jobs already: let the call finish and put them
            # back at the front, rather than leave them to wait for their lease to expire.
            with contextlib.suppress(Exception):
                _, leased, _ = claim_reply(await call)
                if leased:
                    await self.release(leased)
            raise
        return claim_reply(reply)

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        # Jobs that keep nothing (bare attempts, keep 0) take the script of layout 2,
        # unchanged: retention costs the hot path nothing when it is off.
        tokens: list[str] = []
        kept: list[Completion] = []
        for item in attempts:
            if isinstance(item, Completion):
                if item.keep > 0:
                    kept.append(item)
                    continue
                item = item.attempt
            tokens.append(item.token)
        k = self._keys
        done = 0
        for start in range(0, len(tokens), _MAX_BATCH):
            done += await self._transport.run(
                "complete",
                (k.running, k.leases, k.attempts, k.ids, k.stats, k.placements, k.running_counts),
                tokens[start : start + _MAX_BATCH],
            )
        for start in range(0, len(kept), _MAX_BATCH):
            done += await self._complete_kept(kept[start : start + _MAX_BATCH])
        if self._limited:
            await self._slots_freed(token_queue(item.token) for item in _attempts(attempts))
        return done

    async def _complete_kept(self, completions: Sequence[Completion]) -> int:
        k = self._keys
        names: dict[str, None] = {}
        first = completions[0].keep
        common = all(item.keep == first for item in completions)
        args: list[Any] = []
        for item in completions:
            token, result = item.attempt.token, item.result
            if TOKEN_QUEUE_MARK in token:
                names[token_queue(token)] = None
            if common:
                args += (token, "" if result is None else "v" + result)
            else:
                args += (token, "" if result is None else "v" + result, repr(float(item.keep)))
        queues = [DEFAULT_QUEUE, *names] if DEFAULT_QUEUE not in names else list(names)
        keys: tuple[str, ...] = (k.running, k.leases, k.attempts, k.ids, k.stats)
        keys += (k.running_counts, k.finished, k.expiry)
        keys += tuple(self._completed_key(name) for name in queues)
        keep = repr(float(first)) if common else ""
        head: list[Any] = [k.finished_channel, len(queues), *queues, keep]
        done: int = await self._transport.run("complete_kept", keys, head + args)
        return done

    def _completed_key(self, queue: str) -> str:
        key = self._completed_keys.get(queue)
        if key is None:
            key = self._completed_keys[queue] = self._keys.queue(queue).completed
        return key

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        k = self._keys
        q = k.queue(token_queue(attempt.token))
        keys: tuple[str, ...] = (k.running, k.leases, k.attempts, k.ids, k.stats, q.retry)
        keys += (k.running_counts,)
        keys += (k.finished, k.expiry, k.placements, k.aliases, q.cancelled)
        moved = await self._transport.run(
            "retry", keys, (attempt.token, raw, repr(float(delay)), k.finished_channel)
        )
        await self._slots_freed((token_queue(attempt.token),))
        return bool(moved)

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        k = self._keys
        dead = k.queue(token_queue(attempt.token)).dead
        held = (k.running, k.leases, k.attempts, k.ids, k.stats)
        moved = await self._transport.run(
            "bury",
            (*held, dead, k.died, k.aliases, k.running_counts),
            (attempt.token, raw, k.finished_channel),
        )
        await self._slots_freed((token_queue(attempt.token),))
        return bool(moved)

    async def release(self, attempts: Sequence[Attempt]) -> int:
        k = self._keys
        names = list(dict.fromkeys(token_queue(attempt.token) for attempt in attempts))
        keys: tuple[str, ...] = (k.running, k.leases, k.attempts, k.ids, k.order)
        keys += (k.running_counts, k.finished, k.expiry, k.placements, k.aliases)
        for name in names:
            q = k.queue(name)
            keys += (q.jobs, q.prio, q.wake, q.cancelled)
        tokens = (attempt.token for attempt in attempts)
        released: int = await self._transport.run(
            "release", keys, [k.finished_channel, len(names), *names, *tokens]
        )
        await self._slots_freed(names)
        return released

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        done = await super().finish_cancelled(attempt, keep=keep, error=error)
        await self._slots_freed((token_queue(attempt.token),))
        return done

    async def prune(self, *, limit: int) -> int:
        pruned = await super().prune(limit=limit)
        await self._prune_limit_keys()  # a step of the walk over the limit keys
        return pruned
