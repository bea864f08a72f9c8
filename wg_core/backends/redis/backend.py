"""``RedisBackend``: the backend contract on Redis, and its working verbs.

The package docstring (``wg_core.backends.redis``) says which guarantees it gives and
how. This module holds the class, its lifecycle and the verbs a worker and a producer
call (enqueue, claim, the acknowledgements, heartbeat, promote, reclaim); the admin
verbs are ``RedisAdmin``'s (admin.py), the blocking claims ``BlockingClaims``'
(claiming.py), the connections and error handling ``Transport``'s (transport.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any, Final

from wg_core.backend import Attempt, HeartbeatReply, JobState, NewJob, WorkerInfo
from wg_core.backends.common import WORKER_FORGET_AFTER_LEASES, registry_fields
from wg_core.backends.redis.admin import RedisAdmin
from wg_core.backends.redis.claiming import BLOCK_SLICE, MIN_BLOCK, BlockingClaims, claim_reply
from wg_core.backends.redis.keys import STATE_LETTER, Keys, split_hash_tag
from wg_core.backends.redis.scripts import load_scripts
from wg_core.backends.redis.transport import Transport
from wg_core.errors import BackendError, DuplicateJobError, NamespaceNotFoundError
from wg_core.namespace import validate_namespace

__all__ = ["RedisBackend"]

_LAYOUT: Final = "1"
"""The key layout this code writes, recorded in ``{ns}:meta`` (field ``layout``)."""

# Lua's unpack() is bounded by the C stack (about 8000 values): batches stay well below.
_MAX_BATCH: Final = 1000


class RedisBackend(RedisAdmin):
    """wg's backend on Redis ≥ 6.2. See the package docstring for the guarantees.

    ``url``: a ``redis://`` or ``rediss://`` URL (database, password and TLS options as
    redis-py reads them). ``hash_tag``: name keys ``{ns}:…`` so that the namespace lives
    in one Redis Cluster slot; ``?hash_tag=true`` in the URL does the same, for the CLI
    and TUI. ``socket_timeout`` bounds every non-blocking command.
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
    ) -> None:
        self._options: dict[str, Any] = {
            "hash_tag": hash_tag,
            "socket_timeout": socket_timeout,
            "connect_timeout": connect_timeout,
            "max_connections": max_connections,
        }
        self._given_url = url
        url, url_hash_tag = split_hash_tag(url)
        self.namespace: Final = validate_namespace(namespace)
        self._hash_tag = hash_tag or url_hash_tag
        self._keys = Keys.for_namespace(self.namespace, hash_tag=self._hash_tag)
        self._transport = Transport(
            url,
            self.namespace,
            scripts=load_scripts(),
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
        )
        self._claims = BlockingClaims(self._transport, self._keys, self.release)
        k = self._keys
        self._enqueue_one_keys = (k.jobs, k.ids, k.aliases)
        self._enqueue_keys = (k.jobs, k.schedule, k.ids, k.aliases)
        self._claim_keys: tuple[str, ...] = (k.jobs, k.running, k.leases, k.attempts, k.ids)
        self._claim_keys += (k.seq, k.paused, k.resumed, k.aliases)

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
        """Connect. A writer (``create=True``) marks the namespace as existing (the
        ``{ns}:meta`` key); a reader creates nothing, and raises
        ``NamespaceNotFoundError`` when no key of the namespace is there."""
        transport = self._transport
        await transport.open()
        k = self._keys
        if create:
            await transport.command("HSETNX", k.meta, "layout", _LAYOUT)
            return
        if not await transport.command("EXISTS", *k.existing_marks()):
            await self.close()
            raise NamespaceNotFoundError(
                f"no wg namespace {self.namespace!r} at {self.display_url}: nothing is "
                "stored there (nothing was created)"
            )

    def clone(self) -> RedisBackend:
        """A new, unopened backend on the same server and namespace, same settings."""
        return RedisBackend(self._given_url, self.namespace, **self._options)

    async def close(self) -> None:
        await self._transport.close(self._claims.give_back_on_close())

    async def destroy(self) -> None:
        claiming = await self._transport.command("ZRANGE", self._keys.claimers, 0, -1)
        await self._transport.command("UNLINK", *self._keys.all(), *claiming)

    # -- producing -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: object | None = None) -> None:
        keys: tuple[str, ...]
        args: list[Any]
        if len(jobs) == 1 and jobs[0].delay <= 0:
            name, keys, args = "enqueue_one", self._enqueue_one_keys, [jobs[0].job_id, jobs[0].raw]
        else:
            # Columns rather than rows: ids, then envelopes, then (if any job is
            # scheduled) delays, which the script reads in chunks of many jobs.
            timed = any(job.delay > 0 for job in jobs)
            name, keys = "enqueue", self._enqueue_keys
            args = [len(jobs), "1" if timed else "0"]
            args += [job.job_id for job in jobs]
            args += [job.raw for job in jobs]
            if timed:
                args += [repr(job.delay) if job.delay > 0 else "0" for job in jobs]
        try:
            # Repeating the call is harmless: the scripts recognise jobs they already stored.
            await self._transport.run_idempotent(name, keys, args)
        except BackendError as exc:
            message = str(exc)
            named = [job.job_id for job in jobs if f"WGDUP {job.job_id}" in message]
            if named:
                duplicate = max(named, key=len)  # "a" is in "WGDUP ab" too
                raise DuplicateJobError(f"job id already stored: {duplicate}") from None
            raise

    # -- working -------------------------------------------------------------------------

    async def claim(
        self, *, limit: int, lease: float, worker_id: str, wait: float = 0.0
    ) -> list[Attempt]:
        limit = min(limit, _MAX_BATCH)
        deadline = time.monotonic() + wait
        while True:
            if self._transport.closing:
                return []  # closed while waiting, as the memory backend's close() wakes it
            paused, attempts = await self._claim_now(limit, lease, worker_id)
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
                limit, lease, worker_id, min(remaining, BLOCK_SLICE)
            )
            if attempts:
                return attempts

    async def _claim_now(
        self, limit: int, lease: float, worker_id: str
    ) -> tuple[bool, list[Attempt]]:
        call = asyncio.ensure_future(
            self._transport.run(
                "claim",
                self._claim_keys,
                (limit, repr(float(lease)), worker_id),
            )
        )
        try:
            reply = await asyncio.shield(call)
        except asyncio.CancelledError:
            # The script may have leased jobs already: let the call finish and put them
            # back at the front, rather than leave them to wait for their lease to expire.
            with contextlib.suppress(Exception):
                _, leased = claim_reply(await call)
                if leased:
                    await self.release(leased)
            raise
        return claim_reply(reply)

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        k = self._keys
        done = 0
        for start in range(0, len(attempts), _MAX_BATCH):
            done += await self._transport.run(
                "complete",
                (k.running, k.leases, k.attempts, k.ids, k.stats),
                [attempt.token for attempt in attempts[start : start + _MAX_BATCH]],
            )
        return done

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        k = self._keys
        moved = await self._transport.run(
            "retry",
            (k.running, k.leases, k.attempts, k.ids, k.stats, k.retry),
            (attempt.token, raw, repr(float(delay))),
        )
        return bool(moved)

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        k = self._keys
        moved = await self._transport.run(
            "bury",
            (k.running, k.leases, k.attempts, k.ids, k.stats, k.dead, k.died, k.aliases),
            (attempt.token, raw),
        )
        return bool(moved)

    async def release(self, attempts: Sequence[Attempt]) -> int:
        k = self._keys
        released: int = await self._transport.run(
            "release",
            (k.running, k.leases, k.attempts, k.ids, k.jobs),
            [attempt.token for attempt in attempts],
        )
        return released

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        k = self._keys
        document = json.dumps(registry_fields(worker), separators=(",", ":"))
        reply = await self._transport.run_idempotent(
            "heartbeat",
            (k.running, k.leases, k.workers, k.seen, k.stopping),
            (
                repr(float(lease)),
                worker.worker_id,
                document,
                "1" if worker.stop_requested else "0",
                *(attempt.token for attempt in attempts),
            ),
        )
        return HeartbeatReply(lost=frozenset(reply[1:]), stop_requested=bool(reply[0]))

    async def unregister_worker(self, worker_id: str) -> None:
        k = self._keys
        await self._transport.run_idempotent(
            "unregister_worker", (k.workers, k.seen, k.stopping), (worker_id,)
        )

    async def promote(self, state: JobState, *, limit: int) -> int:
        source = self._keys.schedule if state is JobState.SCHEDULED else self._keys.retry
        moved: int = await self._transport.run_idempotent(
            "promote",
            (source, self._keys.jobs, self._keys.ids, self._keys.aliases),
            (limit, STATE_LETTER[state]),
        )
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        k = self._keys
        held = (k.running, k.leases, k.attempts, k.ids, k.seq)
        registry = (k.workers, k.seen, k.stopping, k.claimers)
        reply = await self._transport.run(
            "reclaim_expired",
            (*held, *registry, k.jobs, k.aliases),
            (
                limit,
                repr(float(lease)),
                worker_id,
                repr(WORKER_FORGET_AFTER_LEASES * float(lease)),
                "" if silent_after is None else repr(float(silent_after)),
            ),
        )
        return [
            Attempt(key=reply[i], token=reply[i + 1], raw=reply[i + 2])
            for i in range(0, len(reply), 3)
        ]
