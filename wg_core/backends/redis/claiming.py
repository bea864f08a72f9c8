"""Blocking claims: an idle claimer waits on the server and wakes up with its job.

After an empty claim, a claimer sends one pipeline on the blocking connection: ``arm``
(lists its own claiming list in ``{ns}:claimers`` with a deadline), ``BLMOVE {ns}:jobs
<claiming list>``, and the claim script. BLMOVE returns as soon as anything is pushed
(wg's enqueue, promote and release, or a Rust producer's LPUSH) and moves the job into
the claiming list, a list on the server; Redis then runs the claim script, which leases
it from there, so the handler starts after one round trip. The job never leaves Redis:
a claimer that dies between the two leaves it in its claiming list, which
``reclaim_expired`` empties back to the front of the queue once the deadline has
passed, and ``get_job`` still finds it there as queued. A cancelled wait is ended with
``CLIENT UNBLOCK`` and gives back what it took. Paused claimers block on
``{ns}:resumed`` (BLMOVE onto itself, which moves nothing), which resuming creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from redis import exceptions as redis_errors

from wg_core.backend import Attempt
from wg_core.backends.redis.keys import Keys
from wg_core.backends.redis.scripts import ARM
from wg_core.backends.redis.transport import Lane, Transport, read_reply
from wg_core.errors import BackendError
from wg_core.urls import scrub_secrets

__all__ = ["BLOCK_SLICE", "MIN_BLOCK", "BlockingClaims", "claim_reply"]

_log = logging.getLogger(__name__)

# A blocking wait is cut into slices no longer than this, and the deadline of the call
# is longer by a margin (a blocking command must not outlast its client-side timeout,
# cf. redis-py issue #2807).
BLOCK_SLICE: Final = 10.0
_BLOCK_SOCKET_MARGIN: Final = 10.0
_ABANDON_TIMEOUT: Final = 2.0  # to end a cancelled blocking claim before closing its connection
MIN_BLOCK: Final = 0.01  # BLMOVE's timeout 0 means "forever": never send less than this


def claim_reply(reply: list[Any]) -> tuple[bool, list[Attempt]]:
    """(paused, attempts) from the claim script's reply."""
    attempts = [
        Attempt(key=reply[i], token=reply[i + 1], raw=reply[i + 2]) for i in range(1, len(reply), 3)
    ]
    return bool(reply[0]), attempts


class BlockingClaims:
    """The blocking claims of one backend instance, each with a claiming list of its own:
    a slot number within this instance, which is itself told apart from other
    processes' by a random name."""

    def __init__(
        self,
        transport: Transport,
        keys: Keys,
        release: Callable[[Sequence[Attempt]], Awaitable[int]],
    ) -> None:
        self._transport = transport
        self._keys = keys
        self._release = release
        self._instance = uuid.uuid4().hex[:8]
        self._free_slots: list[int] = []
        self._next_slot = 0
        self._in_use: set[str] = set()

    async def claim(
        self, limit: int, lease: float, worker_id: str, timeout: float
    ) -> tuple[bool, list[Attempt]]:
        """Wait for a job and lease it, in one round trip once it is pushed.

        One pipeline on the blocking connection: ``CLIENT ID``, ``arm`` (lists this
        claim's claiming list in ``claimers`` with a deadline), ``BLMOVE {ns}:jobs
        <claiming list>`` (blocks until a job is pushed, and takes it *into Redis's own
        claiming list*, so it never leaves the server), then the claim script, which
        leases it (plus more from the queue, up to ``limit``) and disarms the list. Redis
        runs the script as soon as BLMOVE returns, so both replies come back together.
        A job stranded by a claimer that died between the two is put back by
        ``reclaim_expired`` after the deadline; a claim that fails or is cancelled puts
        it back itself (``unclaim``), or releases what the script leased.
        """
        transport = self._transport
        for again in (False, True):
            try:
                return await self._claim_once(limit, lease, worker_id, timeout)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
                # Safe to call again: whatever the lost pipeline took is in Redis, leased
                # (its lease expires) or in the claiming list (reclaim_expired).
                await transport.drop_idle_connections()
                if transport.closing:
                    return False, []
                if again:
                    raise transport.translate(exc) from exc
            except redis_errors.RedisError as exc:
                raise transport.translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_claiming(self, worker_id: str) -> tuple[str, int]:
        slot = self._free_slots.pop() if self._free_slots else self._next_slot
        if slot == self._next_slot:
            self._next_slot += 1
        claiming = self._keys.claiming(worker_id, self._instance, slot)
        self._in_use.add(claiming)
        return claiming, slot

    def _give_back_claiming(self, claiming: str, slot: int) -> None:
        self._in_use.discard(claiming)
        self._free_slots.append(slot)

    async def _claim_once(
        self, limit: int, lease: float, worker_id: str, timeout: float
    ) -> tuple[bool, list[Attempt]]:
        transport = self._transport
        blocking: Any = transport.blocking
        client: Any = transport.client
        lane = transport.lane
        if blocking is None or client is None or lane is None:
            raise BackendError("the Redis backend is not open: call open() first")
        k = self._keys
        claiming, slot = self._take_claiming(worker_id)
        keys: tuple[str, ...] = (k.jobs, k.running, k.leases, k.attempts, k.ids, k.seq)
        keys += (k.paused, k.resumed, k.aliases, claiming, k.claimers)
        args = (limit, repr(float(lease)), worker_id)
        script = transport.scripts["claim"]
        pool = blocking.connection_pool
        connection = await pool.get_connection()
        replies: list[Any] = []
        try:
            packed = connection.pack_commands(
                [
                    ("CLIENT", "ID"),
                    ("EVAL", ARM, 1, k.claimers, claiming, repr(timeout + float(lease))),
                    ("BLMOVE", k.jobs, claiming, "RIGHT", "LEFT", f"{timeout:.3f}"),
                    ("EVALSHA", script.sha, len(keys), *keys, *args),
                ]
            )
            async with asyncio.timeout(timeout + _BLOCK_SOCKET_MARGIN):
                await connection.send_packed_command(packed, check_health=False)
                while len(replies) < 4:
                    replies.append(await read_reply(connection))
        except asyncio.CancelledError:
            # Hand the connection and the claiming list over to a task that cannot be
            # cancelled: it ends the wait and gives back whatever the claim took.
            cleanup = asyncio.ensure_future(
                self._abandon(client, lane, pool, connection, replies, claiming, slot)
            )
            with contextlib.suppress(BaseException):
                await asyncio.shield(cleanup)
            raise
        except BaseException:
            await connection.disconnect()
            await pool.release(connection)
            self._give_back_claiming(claiming, slot)
            raise
        await pool.release(connection)
        try:
            reply = replies[3]
            if isinstance(reply, redis_errors.NoScriptError):
                # A flushed or restarted server: the job waits in the claiming list, and
                # the claim script (loaded now) takes it from there.
                reply = await transport.run("claim", keys, args)
            elif isinstance(reply, Exception) or isinstance(replies[1], Exception):
                await self.unclaim(lane, claiming)
                error = reply if isinstance(reply, Exception) else replies[1]
                raise transport.translate(error)
        finally:
            self._give_back_claiming(claiming, slot)
        return claim_reply(reply)

    async def _abandon(
        self,
        client: Any,
        lane: Lane,
        pool: Any,
        connection: Any,
        replies: list[Any],
        claiming: str,
        slot: int,
    ) -> None:
        """End a cancelled blocking claim: unblock it (``CLIENT UNBLOCK`` its connection,
        whose id is the pipeline's first reply), read the rest of its replies and release
        what its script leased. If that fails, close the connection and put back what
        BLMOVE took; anything the server still does for the closed connection is put
        back by lease expiry or ``reclaim_expired``."""
        leased: list[Attempt] = []
        try:
            try:
                if not replies or not isinstance(replies[0], int):
                    raise BackendError("no client id")
                async with asyncio.timeout(_ABANDON_TIMEOUT):
                    await client.execute_command("CLIENT", "UNBLOCK", replies[0])
                    while len(replies) < 4:
                        replies.append(await read_reply(connection))
                if not isinstance(replies[3], list):
                    raise BackendError("the claim script did not run")
                leased = claim_reply(replies[3])[1]
            except Exception:
                await connection.disconnect()
                await self.unclaim(lane, claiming)
            if leased:
                await self._release(leased)
        except Exception as exc:  # pragma: no cover - the server went away meanwhile
            reason = scrub_secrets(str(exc), self._transport.url)
            _log.debug("a cancelled claim could not give back its job: %s", reason)
        finally:
            await pool.release(connection)
            self._give_back_claiming(claiming, slot)

    async def block_until_pushed(self, key: str, timeout: float) -> None:
        """Wait until ``key`` (a list) is non-empty, without taking anything from it."""
        transport = self._transport
        blocking: Any = transport.blocking
        if blocking is None:
            raise BackendError("the Redis backend is not open: call open() first")
        try:
            # Rotating the list's last element onto itself: returns at once when the list
            # has elements, blocks otherwise, and never moves a job anywhere.
            await transport.guard(
                lambda: blocking.execute_command(
                    "BLMOVE", key, key, "RIGHT", "RIGHT", f"{timeout:.3f}"
                ),
                idempotent=True,
                timeout=timeout + _BLOCK_SOCKET_MARGIN,
            )
        except BackendError:
            if transport.closing:
                return  # close() cut the connection under us: the claim ends empty
            raise

    async def unclaim(self, lane: Lane, claiming: str) -> int:
        """Put back what a blocking claim's BLMOVE took into ``claiming``."""
        k = self._keys
        script = self._transport.scripts["unclaim"]
        moved: int = await self._transport.guard(
            lambda: script(lane, (claiming, k.claimers, k.jobs), ()), idempotent=True
        )
        return moved

    def give_back_on_close(self) -> Callable[[Lane], Awaitable[None]]:
        """What ``close`` runs before closing the lane: put back what the blocking claims
        in flight *now* had taken, rather than leave it to ``reclaim_expired``. (Taken
        before the connections close: a claim that then fails gives its list up
        without emptying it.)"""
        in_use = list(self._in_use)

        async def give_back(lane: Lane) -> None:
            for claiming in in_use:
                with contextlib.suppress(Exception):
                    await self.unclaim(lane, claiming)

        return give_back
